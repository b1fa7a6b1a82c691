//! The release after its merge, up to its CD release: the CI build of the release branch (one
//! a CI trigger queued is adopted), then the classic release Azure DevOps creates from it.

use chrono::{DateTime, Utc};

use super::state::{CdRelease, ReleaseRun, ReleaseStep};
use super::{ReleaseFlow, Step, retry};
use crate::domain::{Line, Message, RepoName};
use crate::workflow::ci::{self, BuildOrder, BuildRef, Patience};
use crate::workflow::{StepContext, StepError, Transition};

impl ReleaseFlow {
    fn ci_patience(&self, repo: &RepoName) -> Patience {
        Patience {
            interval: self.pr.ci_poll_interval,
            max_wait: self.pr.ci_max_wait,
            accept_partial: self.repos_config.for_repo(repo).accept_partially_succeeded,
        }
    }

    pub(super) fn cd_patience(&self) -> Patience {
        Patience {
            interval: self.settings.poll_interval,
            max_wait: self.settings.wait_max,
            accept_partial: false,
        }
    }

    /// The CI build of the merge commit on the release branch. A CI trigger usually queues it
    /// within seconds of the merge, so the first look waits one poll for that build before
    /// queueing one; two builds would make two CD releases.
    pub(super) async fn queue_build(&self, ctx: &StepContext<'_>, mut run: ReleaseRun) -> Step {
        let repo = self.repo(&run)?;
        let configured = self.repos_config.for_repo(&repo).ci_definition;
        let commit = run.merge_commit.clone().unwrap_or_default();
        let order = BuildOrder {
            repo: &repo,
            definition: configured.as_deref(),
            branch: &run.to_branch,
            commit: &commit,
            failed: &run.failed_builds,
        };
        let grace = self.pr.ci_poll_interval;
        let merged_at = run.merged_at.unwrap_or_else(|| ctx.now());
        let first_look = run.failed_builds.is_empty()
            && (ctx.now() - merged_at).to_std().unwrap_or_default() < grace;
        let build = if first_look {
            match ci::already_queued(self.azdo.as_ref(), &order).await? {
                Some(build) => BuildRef::of(&build),
                None => return Ok(Transition::poll(run, grace, 3)),
            }
        } else {
            ci::queue_or_adopt(ctx, self.azdo.as_ref(), &order).await?
        };
        let reply = ci::reply(&build, &format!("on {}", run.to_branch));
        run.build = Some(build);
        Ok(Transition::go(run.at(ReleaseStep::WatchBuild { since: None })).reply(reply))
    }

    pub(super) async fn watch_build(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        since: Option<DateTime<Utc>>,
    ) -> Step {
        let tracked = run
            .build
            .clone()
            .ok_or_else(|| StepError::permanent("the run lost track of its build"))?;
        let since = since.unwrap_or_else(|| ctx.now());
        let patience = self.ci_patience(&run.repo);
        let look = ci::look(
            self.azdo.as_ref(),
            &run.repo,
            tracked.id,
            since,
            ctx.now(),
            patience,
        )
        .await?;
        Ok(match look {
            ci::Look::Passed(build) => {
                let reply = ci::reply(
                    &build,
                    &format!("{}; waiting for its CD release", build.state),
                );
                run.build = Some(build);
                Transition::go(run.at(ReleaseStep::FindCd { since: None })).reply(reply)
            }
            ci::Look::Stopped {
                build,
                failed,
                reason,
                reply,
            } => {
                // A failed build is built again on retry; one still running is waited for.
                let (step, prompt) = if failed {
                    run.failed_builds.push(build.id);
                    let prompt = format!("Queue the CI build of {} again?", run.to_branch);
                    (ReleaseStep::QueueBuild, prompt)
                } else {
                    let prompt = format!("Wait for build {} again?", build.number);
                    (ReleaseStep::WatchBuild { since: None }, prompt)
                };
                run.build = Some(build);
                Transition::fail_with_retry(run.at(step), reason, retry(&prompt)).reply(reply)
            }
            ci::Look::Running(build) => {
                run.build = Some(build);
                let step = ReleaseStep::WatchBuild { since: Some(since) };
                Transition::poll(run.at(step), patience.interval, patience.max_polls())
            }
        })
    }

    /// Waits for the classic release Azure DevOps creates from the build (its CD trigger).
    pub(super) async fn find_cd(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        since: Option<DateTime<Utc>>,
    ) -> Step {
        let repo = self.repo(&run)?;
        let tracked = run
            .build
            .clone()
            .ok_or_else(|| StepError::permanent("the run lost track of its build"))?;
        let since = since.unwrap_or_else(|| ctx.now());
        let build = self.azdo.build(&repo, tracked.id).await?;
        let definition = self.repos_config.for_repo(&repo).release_definition;
        let patience = self.cd_patience();
        match self
            .azdo
            .release_for_build(&repo, &build, definition.as_deref())
            .await?
        {
            Some(release) => {
                let cd = CdRelease {
                    id: release.id,
                    name: release.name,
                    url: release.web_url,
                };
                let reply = Message::new([Line::new()
                    .plain("CD: ")
                    .link(cd.url.clone(), cd.name.clone())
                    .plain(format!(" was created from build {}", tracked.number))]);
                run.cd = Some(cd);
                Ok(Transition::go(run.at(ReleaseStep::Stages { since: None })).reply(reply))
            }
            None if patience.over(since, ctx.now()) => {
                let reason = format!(
                    "no CD release was created from build {} within {}; is the release definition's \
                     continuous deployment trigger on?",
                    tracked.number,
                    ci::human(patience.max_wait)
                );
                Ok(Transition::fail_with_retry(
                    run.at(ReleaseStep::FindCd { since: None }),
                    reason,
                    retry("Look for the CD release again?"),
                ))
            }
            None => {
                let step = ReleaseStep::FindCd { since: Some(since) };
                Ok(Transition::poll(
                    run.at(step),
                    patience.interval,
                    patience.max_polls(),
                ))
            }
        }
    }
}
