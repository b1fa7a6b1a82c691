//! The release after its merge, up to its CD: the CI build of the release branch (one a CI
//! trigger queued is adopted), then the classic release Azure DevOps creates from it, or the
//! YAML pipeline run that deploys it.

use chrono::{DateTime, Utc};

use super::state::{CdRelease, ReleaseRun, ReleaseStep};
use super::{ReleaseFlow, Step, gates, retry};
use crate::azdo::StageStatus;
use crate::domain::{CdKind, Line, Message, RepoName};
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
        if self.built_before_deploying(&run, &tracked).await? {
            let built = BuildRef {
                state: "built".into(),
                ..tracked
            };
            let reply = ci::reply(&built, "built; its later stages deploy");
            run.build = Some(built);
            return Ok(Transition::go(run.at(ReleaseStep::FindCd { since: None })).reply(reply));
        }
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

    /// Whether a YAML CI run that deploys itself has built: its build stages succeeded. Such a
    /// run only finishes after its approvals, which must not count as CI time.
    async fn built_before_deploying(
        &self,
        run: &ReleaseRun,
        tracked: &BuildRef,
    ) -> Result<bool, StepError> {
        let settings = self.repos_config.for_repo(&run.repo);
        if settings.cd != CdKind::Yaml || settings.cd_pipeline.is_some() {
            return Ok(false);
        }
        let stages = self.azdo.run_stages(&run.repo, tracked.id).await?;
        let build = gates::build_stages(&stages, &settings.stages);
        let green = |status: &StageStatus| match status {
            StageStatus::Succeeded => true,
            StageStatus::PartiallySucceeded => settings.accept_partially_succeeded,
            _ => false,
        };
        Ok(!build.is_empty() && build.iter().all(|s| green(&s.status)))
    }

    /// Waits for what deploys the build: the classic release Azure DevOps creates from it (its
    /// CD trigger), or with `cd = "yaml"` the build's own run or the CD pipeline's run it
    /// triggered.
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
        let settings = self.repos_config.for_repo(&repo);
        let patience = self.cd_patience();
        let wait = ci::human(patience.max_wait);
        let number = &tracked.number;
        let (found, missing) = match (settings.cd, &settings.cd_pipeline) {
            (CdKind::Classic, _) => {
                let build = self.azdo.build(&repo, tracked.id).await?;
                let definition = settings.release_definition.as_deref();
                let release = self
                    .azdo
                    .release_for_build(&repo, &build, definition)
                    .await?;
                let found = release.map(|r| CdRelease {
                    id: r.id,
                    name: r.name,
                    url: r.web_url,
                    kind: CdKind::Classic,
                });
                let missing = format!(
                    "no CD release was created from build {number} within {wait}; is the \
                     release definition's continuous deployment trigger on?"
                );
                (found, missing)
            }
            (CdKind::Yaml, None) => (Some(yaml_run(&tracked)), String::new()),
            (CdKind::Yaml, Some(pipeline)) => {
                let build = self.azdo.build(&repo, tracked.id).await?;
                let found = self.azdo.triggered_run(&repo, pipeline, &build).await?;
                let missing = format!(
                    "no run of the CD pipeline `{pipeline}` was triggered by build {number} \
                     within {wait}; does its `resources.pipelines` trigger name the CI pipeline?"
                );
                (found.map(|b| yaml_run(&BuildRef::of(&b))), missing)
            }
        };
        match found {
            Some(cd) => {
                let reply = Message::new([Line::new()
                    .plain("CD: ")
                    .link(cd.url.clone(), cd.name.clone())
                    .plain(format!(" deploys build {}", tracked.number))]);
                run.cd = Some(cd);
                Ok(Transition::go(run.at(ReleaseStep::Stages { since: None })).reply(reply))
            }
            None if patience.over(since, ctx.now()) => Ok(Transition::fail_with_retry(
                run.at(ReleaseStep::FindCd { since: None }),
                missing,
                retry("Look for the CD release again?"),
            )),
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

/// A YAML pipeline run that deploys, as the run follows it.
fn yaml_run(build: &BuildRef) -> CdRelease {
    CdRelease {
        id: build.id,
        name: format!("pipeline run {}", build.number),
        url: build.url.clone(),
        kind: CdKind::Yaml,
    }
}
