//! Jira fix versions (REPOS_CONFIG `jira_fix_version`, on by default with Jira): once the release
//! PR is merged, a version named by `jira_version_format` is found or created in each project of
//! the release's tickets and set as their fix version; once everything is deployed it is marked
//! released on that day. Each call is journaled; Jira refusing one is a note, never a stop.

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use super::state::{ReleaseRun, ReleaseStep};
use super::{ReleaseFlow, Step};
use crate::domain::JiraKey;
use crate::workflow::tickets::{AT_ONCE, JiraSide};
use crate::workflow::{StepContext, StepError, Transition};

/// A Jira version the release set on its tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixVersion {
    pub project: String,
    pub id: String,
    pub name: String,
}

impl ReleaseFlow {
    fn fix_versions_on(&self, run: &ReleaseRun) -> Option<&JiraSide> {
        let settings = self.repos_config.for_repo(&run.repo);
        self.jira
            .as_ref()
            .filter(|_| settings.jira_fix_version.unwrap_or(true))
    }

    /// Finds or creates the version in each project of the tickets, and sets it on each ticket, a
    /// few tickets at once.
    pub(super) async fn set_fix_versions(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
    ) -> Step {
        let next = ReleaseStep::QueueBuild;
        let Some(jira) = self.fix_versions_on(&run) else {
            return Ok(Transition::go(run.at(next)));
        };
        let version = run.version.clone().unwrap_or_default();
        let name = self
            .repos_config
            .for_repo(&run.repo)
            .jira_version_name(&run.repo, &version);
        let mut projects: Vec<String> = run
            .tickets
            .iter()
            .map(|t| t.key.project().to_owned())
            .collect();
        projects.sort();
        projects.dedup();
        for project in projects {
            let effect = format!("jira-version:{project}:{name}");
            let found = ctx
                .once(&effect, |_| async {
                    let version = match jira.client.version(&project, &name).await? {
                        Some(version) => version,
                        None => jira.client.create_version(&project, &name).await?,
                    };
                    Ok::<_, StepError>(version.id)
                })
                .await;
            match noted(
                found,
                &mut run.notes,
                &format!("the Jira version {name} in {project}"),
            )? {
                Some(id) if !run.fix_versions.iter().any(|f| f.id == id) => {
                    run.fix_versions.push(FixVersion {
                        project: project.clone(),
                        id,
                        name: name.clone(),
                    });
                }
                _ => {}
            }
        }
        let due: Vec<JiraKey> = run
            .tickets
            .iter()
            .filter(|t| {
                run.fix_versions
                    .iter()
                    .any(|f| f.project == t.key.project())
            })
            .map(|t| t.key.clone())
            .collect();
        let name = name.as_str();
        for some in due.chunks(AT_ONCE) {
            let sets = join_all(some.iter().map(|key| async move {
                let effect = format!("fix-version:{key}:{name}");
                ctx.once(&effect, |_| async {
                    Ok::<_, StepError>(jira.client.add_fix_version(key, name).await?)
                })
                .await
            }))
            .await;
            for (key, set) in some.iter().zip(sets) {
                let what = format!("the fix version {name} on {key}");
                noted(set, &mut run.notes, &what)?;
            }
        }
        Ok(Transition::go(run.at(next)))
    }

    /// Marks the release's Jira versions released today.
    pub(super) async fn release_fix_versions(
        &self,
        ctx: &StepContext<'_>,
        run: &mut ReleaseRun,
    ) -> Result<(), StepError> {
        let Some(jira) = self.fix_versions_on(run) else {
            return Ok(());
        };
        let today = ctx.now().date_naive();
        for version in run.fix_versions.clone() {
            let released = ctx
                .once(
                    &format!("jira-version-released:{}", version.id),
                    |_| async {
                        Ok::<_, StepError>(jira.client.release_version(&version.id, today).await?)
                    },
                )
                .await;
            let what = format!("marking {} released in {}", version.name, version.project);
            noted(released, &mut run.notes, &what)?;
        }
        Ok(())
    }
}

/// A transient failure is tried again; any other is a note for the card, and `None`.
fn noted<T>(
    result: Result<T, StepError>,
    notes: &mut Vec<String>,
    what: &str,
) -> Result<Option<T>, StepError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StepError::Permanent(reason)) => {
            let note = format!("Jira refused {what}: {reason}");
            if !notes.contains(&note) {
                notes.push(note);
            }
            Ok(None)
        }
        Err(transient) => Err(transient),
    }
}
