//! The release once every stage is deployed: its tickets move to the released status, the
//! notes go to the thread and the channel, and the release is archived.

use super::state::{ReleaseRun, ReleaseStep};
use super::{ReleaseFlow, Step, notes};
use crate::domain::{Line, Message};
use crate::store::{ArchivedRelease, StoreError};
use crate::workflow::{StepContext, StepError, Transition};

impl ReleaseFlow {
    /// Marks the Jira fix versions released, and moves every ticket of the release to the
    /// released status; says in the thread how many
    /// moved and lists each one that would not (which the release notes list too).
    pub(super) async fn released_jira(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
        let Some(jira) = &self.jira else {
            return Ok(Transition::go(run.at(ReleaseStep::Notes)));
        };
        self.describe(&mut run).await?;
        self.release_fix_versions(ctx, &mut run).await?;
        let status = &self.pr.status_released;
        let keys: Vec<_> = run.tickets.iter().map(|t| t.key.clone()).collect();
        run.stuck = jira.move_all(&keys, status, &mut run.notes).await?;
        let moved = run.tickets.len() - run.stuck.len();
        let mut lines = vec![Line::new().plain(format!(
            "Jira: {moved} of {} tickets are {status}.",
            run.tickets.len()
        ))];
        lines.extend(
            run.stuck
                .iter()
                .map(|w| Line::new().plain(format!(":warning: {w}"))),
        );
        Ok(Transition::go(run.at(ReleaseStep::Notes)).reply(Message::new(lines)))
    }

    /// Posts the release notes in the card's thread and the channel; the release counts as
    /// released from now (the engine's clock).
    pub(super) fn notes(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
    ) -> Transition<ReleaseRun> {
        run.released_at = Some(ctx.now());
        let repo = self.repo(&run).ok();
        let link = |id: i64| match &repo {
            Some(repo) => self.azdo.pull_request_link(repo, id),
            None => String::new(),
        };
        let message = notes::slack(&run, &link);
        Transition::go(run.at(ReleaseStep::Archive)).reply(message)
    }

    pub(super) async fn archive(&self, ctx: &StepContext<'_>, run: ReleaseRun) -> Step {
        let version = run
            .version
            .as_deref()
            .ok_or_else(|| StepError::permanent("the run lost track of its version"))?
            .parse()
            .map_err(StepError::permanent)?;
        let released_at = run.released_at.unwrap_or_else(|| ctx.now());
        let run_id = ctx.run_id().to_string();
        if let Some(hotfix) = &run.hotfix {
            let release = ArchivedRelease {
                repo: run.repo.to_string(),
                version,
                started_at: hotfix.since,
                tickets: run.tickets.iter().map(|t| t.key.to_string()).collect(),
                prs: run.prs.clone(),
                released_at,
                cd: run.cd.clone(),
                hotfix: Some(hotfix.branch.clone()),
            };
            ctx.store().archive_release(&release).await?;
            return Ok(Transition::go(run.at(ReleaseStep::BackMerge)));
        }
        ctx.store()
            .archive_shipping(
                run.repo.as_str(),
                version,
                &run_id,
                released_at,
                run.cd.as_ref(),
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound(what) => StepError::permanent(what),
                other => other.into(),
            })?;
        Ok(Transition::go(run.at(ReleaseStep::BackMerge)))
    }
}
