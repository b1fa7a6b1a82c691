//! Hotfixes: `/release hotfix <repo>` makes `hotfix/<next patch>` off the release branch's tip,
//! PRs into it are reviewed and merged like any PR (not staged: they ship here), and **Ship
//! hotfix** takes what was merged through the same release PR, tag, CI and stages into the
//! release branch. The archive marks it, and the back-merge offer brings it back to develop.
//!
//! ```text
//!  load (version: last + patch) ──► make hotfix/<version> ──► ask ship ⏸ ──► create PR ──► … as a release
//!                                   (once; an existing        (lists the PRs merged into the
//!                                    branch is reused)         branch, looking again meanwhile)
//! ```

use super::state::{ReleaseRun, ReleaseStep};
use super::{ReleaseFlow, SHIP_POINT, Step, last_version, signoff};
use crate::domain::{
    Bump, Decides, JiraKey, Line, Message, OptionStyle, RepoName, in_projects, tickets_in,
};
use crate::store::{StagedPr, StagingRelease};
use crate::workflow::flow::option;
use crate::workflow::pr::view::short;
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition};

impl ReleaseFlow {
    /// Names the hotfix: the last version (released, else tagged) plus a patch.
    pub(super) async fn load_hotfix(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        repo: RepoName,
    ) -> Step {
        run.to_branch = self.release_branch(&repo);
        let format = self.repos_config.for_repo(&repo).tag_format;
        let last = last_version(ctx.store(), &self.repos, &repo, &run.to_branch, &format).await?;
        run.repo = repo;
        let Some(last) = last else {
            let reason = format!(
                "nothing of {} was released or tagged yet: a hotfix starts from a released version",
                run.repo
            );
            return Ok(Transition::cancel(run, reason));
        };
        let version = last.bumped(Bump::Patch, false);
        run.version = Some(version.to_string());
        run.from_branch = format!("hotfix/{version}");
        if let Some(hotfix) = &mut run.hotfix {
            hotfix.branch.clone_from(&run.from_branch);
        }
        Ok(Transition::go(run.at(ReleaseStep::HotfixBranch)))
    }

    /// Makes the hotfix branch at the release branch's tip, once; a branch of that name made
    /// before (by an earlier attempt, or by hand) is used as it is.
    pub(super) async fn hotfix_branch(&self, ctx: &StepContext<'_>, run: ReleaseRun) -> Step {
        let repo = self.repo(&run)?;
        let (branch, from) = (run.from_branch.clone(), run.to_branch.clone());
        let made = ctx
            .once("hotfix-branch", |_| async {
                if let Some(at) = self.azdo.branch_head(&repo, &branch).await? {
                    return Ok::<_, StepError>((at, false));
                }
                let Some(tip) = self.azdo.branch_head(&repo, &from).await? else {
                    return Err(StepError::permanent(format!(
                        "{repo} has no branch {from} to make the hotfix from"
                    )));
                };
                self.azdo.create_branch(&repo, &branch, &tip).await?;
                Ok((tip, true))
            })
            .await?;
        let (at, created) = made;
        let verb = if created {
            format!("Created {branch} from {from} at ")
        } else {
            format!("{branch} exists already, at ")
        };
        let reply = Message::new([Line::new()
            .plain(verb)
            .code(short(&at))
            .plain(". `/review` the PRs into it; press Ship hotfix once they are merged.")]);
        Ok(Transition::go(run.at(ReleaseStep::AskShip)).reply(reply))
    }

    /// Lists what was merged into the hotfix branch and asks to ship it, looking again meanwhile.
    pub(super) async fn ask_ship(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
        match ctx.decision(SHIP_POINT) {
            None => {
                self.refresh(ctx, &mut run).await?;
                let request = ApprovalRequest {
                    point: SHIP_POINT.into(),
                    decides: Decides::Release,
                    author: None,
                    deciders: None,
                    prompt: format!(
                        "Ship {}? {} PRs are merged into {} so far; it goes through a release PR \
                         into {}, CI and every stage.",
                        run.title(),
                        run.prs.len(),
                        run.from_branch,
                        run.to_branch
                    ),
                    options: vec![
                        option("ship", "Ship hotfix", OptionStyle::Primary),
                        option("cancel", "Cancel", OptionStyle::Plain),
                    ],
                };
                Ok(Transition::wait_rechecking(
                    run.at(ReleaseStep::AskShip),
                    request,
                    self.settings.poll_interval,
                ))
            }
            Some(d) if d.option.as_str() == "ship" => {
                self.refresh(ctx, &mut run).await?;
                if run.prs.is_empty() {
                    let reason = format!(
                        "nothing was merged into {} yet, so there is nothing to ship; the branch \
                         stays in Azure DevOps for `/release hotfix {}` again",
                        run.from_branch, run.repo
                    );
                    return Ok(Transition::cancel(run, reason));
                }
                run.signoffs.push(signoff(d, "hotfix shipped"));
                Ok(Transition::go(run.at(ReleaseStep::CreatePr)))
            }
            Some(_) => Ok(Transition::cancel(
                run,
                "the hotfix was cancelled; its branch stays in Azure DevOps",
            )),
        }
    }

    /// The hotfix's PRs: those merged into its branch since it was made, as Azure DevOps lists
    /// them, with the tickets their branch names. `false` while there are none.
    pub(super) async fn hotfix_prs(&self, run: &mut ReleaseRun) -> Result<bool, StepError> {
        let Some(hotfix) = run.hotfix.clone() else {
            return Ok(false);
        };
        let repo = self.repo(run)?;
        let merged = self
            .azdo
            .completed_pull_requests(&repo, &hotfix.branch, hotfix.since)
            .await?;
        let projects = self
            .jira
            .as_ref()
            .map_or(&[][..], |j| j.projects.as_slice());
        let mut tickets: Vec<String> = Vec::new();
        let mut prs = Vec::new();
        for pr in merged {
            let (keys, _) = in_projects(
                tickets_in(&pr.source_branch, &self.pr.ticket_pattern),
                projects,
            );
            for key in keys.iter().map(JiraKey::as_str) {
                if !tickets.iter().any(|t| t == key) {
                    tickets.push(key.to_owned());
                }
            }
            prs.push(StagedPr::merged(
                i64::from(pr.id),
                &pr.title,
                &pr.description,
                &pr.labels,
            ));
        }
        prs.sort_by_key(|pr| pr.id);
        let release = StagingRelease {
            repo: repo.to_string(),
            version: run
                .version
                .as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(StepError::permanent)?,
            started_at: hotfix.since,
            tickets,
            prs,
        };
        run.take(&release);
        Ok(!run.prs.is_empty())
    }
}
