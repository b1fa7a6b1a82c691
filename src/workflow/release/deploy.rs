//! The release after its merge: CI on the release branch, the CD release and its approval loop,
//! then Jira, the notes and the archive.

use chrono::{DateTime, Utc};

use super::gates::{self, Gate};
use super::state::{CdRelease, ReleaseRun, ReleaseStep};
use super::{ReleaseFlow, STAGE_POINT, Step, notes, retry, signoff};
use crate::azdo::Wait;
use crate::domain::{Line, Message, OptionStyle};
use crate::workflow::ci::{self, BuildOrder, BuildRef, Patience};
use crate::workflow::flow::option;
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition};

impl ReleaseFlow {
    fn ci_patience(&self) -> Patience {
        Patience {
            interval: self.pr.ci_poll_interval,
            max_wait: self.pr.ci_max_wait,
        }
    }

    fn cd_patience(&self) -> Patience {
        Patience {
            interval: self.settings.poll_interval,
            max_wait: self.settings.wait_max,
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
        let patience = self.ci_patience();
        let look = ci::look(self.azdo.as_ref(), tracked.id, since, ctx.now(), patience).await?;
        Ok(match look {
            ci::Look::Passed(build) => {
                let reply = ci::reply(&build, "passed; waiting for its CD release");
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
        let build = self.azdo.build(tracked.id).await?;
        let definition = self.repos_config.for_repo(&repo).release_definition;
        let patience = self.cd_patience();
        match self
            .azdo
            .release_for_build(&build, definition.as_deref())
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

    /// One look at the CD release: ask about the next stage that waits for people, start one
    /// after a skipped stage, wait while stages deploy, stop on a rejection, or go on when
    /// everything is deployed.
    pub(super) async fn stages(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        since: Option<DateTime<Utc>>,
    ) -> Step {
        let repo = self.repo(&run)?;
        let cd = cd_of(&run)?;
        let release = self.azdo.release(cd.id).await?;
        let order = self.repos_config.for_repo(&repo).stages;
        let ordered = gates::ordered(&release.stages, &order).map_err(StepError::permanent)?;
        run.stages = gates::seen(&ordered, &run.skipped);
        let max_rounds = 3 * u32::try_from(ordered.len()).unwrap_or(u32::MAX) + 3;
        let next = gates::next(&ordered, &run.skipped);
        if matches!(next, Gate::Ask { .. } | Gate::Start { .. }) {
            run.rounds += 1;
            if run.rounds > max_rounds {
                let reason = format!(
                    "the approval loop went round {max_rounds} times without finishing; it stopped"
                );
                return Err(StepError::permanent(reason));
            }
        }
        let look_again = || retry("Look at the CD release again?");
        Ok(match next {
            Gate::Deployed => Transition::go(run.at(ReleaseStep::Jira)),
            Gate::LastSkipped { stage } => {
                let reason = format!(
                    "{stage} was skipped, so the release stops before it: its tickets stay as they \
                     are, and `/release {}` later ships it",
                    run.repo
                );
                Transition::cancel(run, reason)
            }
            Gate::Stopped { reason, .. } => Transition::fail_with_retry(
                run.at(ReleaseStep::Stages { since: None }),
                reason,
                look_again(),
            ),
            Gate::Ask {
                stage,
                approvals,
                post_deploy,
            } => {
                run.watching = None;
                let approvals = approvals.into_iter().map(|a| a.id).collect();
                Transition::go(run.at(ReleaseStep::AskStage {
                    stage,
                    approvals,
                    post_deploy,
                }))
            }
            Gate::Start { stage, stage_id } => {
                run.watching = None;
                Transition::go(run.at(ReleaseStep::StartStage { stage, stage_id }))
            }
            Gate::Wait { what } => {
                let since = match (&run.watching, since) {
                    (Some(watching), Some(since)) if *watching == what => since,
                    _ => ctx.now(),
                };
                run.watching = Some(what.clone());
                let patience = self.cd_patience();
                if patience.over(since, ctx.now()) {
                    let reason = format!(
                        "{what} after {}; the bot stopped waiting",
                        ci::human(patience.max_wait)
                    );
                    Transition::fail_with_retry(
                        run.at(ReleaseStep::Stages { since: None }),
                        reason,
                        look_again(),
                    )
                } else {
                    let stages = u32::try_from(ordered.len()).unwrap_or(1).max(1);
                    let max_polls = patience.max_polls().saturating_mul(stages + 1);
                    let step = ReleaseStep::Stages { since: Some(since) };
                    Transition::poll(run.at(step), patience.interval, max_polls)
                }
            }
        })
    }

    /// Asks Slack to approve or skip a stage, and keeps looking at Azure DevOps meanwhile: an
    /// approval given or rejected there ends the question.
    pub(super) async fn ask_stage(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        stage: String,
        approvals: Vec<i64>,
        post_deploy: bool,
    ) -> Step {
        Ok(match ctx.decision(STAGE_POINT) {
            None => {
                let cd = cd_of(&run)?;
                let still_pending = self.pending_of(cd.id, &stage).await?;
                if !approvals.iter().all(|id| still_pending.contains(id)) {
                    let reply = Message::new([Line::new().plain(format!(
                        "{stage} was approved or rejected in Azure DevOps; the question here is closed."
                    ))]);
                    return Ok(
                        Transition::go(run.at(ReleaseStep::Stages { since: None })).reply(reply)
                    );
                }
                let last = run
                    .stages
                    .last()
                    .is_some_and(|s| s.name.eq_ignore_ascii_case(&stage));
                let when = if post_deploy {
                    " (after deployment)"
                } else {
                    ""
                };
                let skip = if last {
                    format!(
                        "Skip {stage}? The release then stops without reaching {stage}, and its \
                         tickets stay as they are."
                    )
                } else {
                    format!(
                        "Skip {stage}? The bot will not approve it, and starts the next stage \
                         itself if nothing else does."
                    )
                };
                let request = ApprovalRequest {
                    point: STAGE_POINT.into(),
                    prompt: format!("Approve {stage}{when} for {}?", run.name()),
                    options: vec![
                        option(
                            "approve",
                            format!("Approve {stage}"),
                            OptionStyle::Confirmed {
                                confirm: format!(
                                    "Approve {stage}{when} for {} in Azure DevOps, in your name?",
                                    run.name()
                                ),
                            },
                        ),
                        option("skip", "Skip", OptionStyle::Destructive { confirm: skip }),
                    ],
                };
                let step = ReleaseStep::AskStage {
                    stage,
                    approvals,
                    post_deploy,
                };
                Transition::wait_rechecking(run.at(step), request, self.settings.poll_interval)
            }
            Some(d) if d.option.as_str() == "approve" => {
                run.signoffs.push(signoff(d, format!("{stage} approved")));
                let by = d.who();
                Transition::go(run.at(ReleaseStep::ApproveStage {
                    stage,
                    approvals,
                    by,
                }))
            }
            Some(d) => {
                run.signoffs.push(signoff(d, format!("{stage} skipped")));
                run.skipped.push(stage);
                Transition::go(run.at(ReleaseStep::Stages { since: None }))
            }
        })
    }

    /// Approves the stage's pending approvals in Azure DevOps, each once, with a comment naming
    /// who approved in Slack. An approval someone already decided in Azure DevOps counts as done.
    pub(super) async fn approve_stage(
        &self,
        ctx: &StepContext<'_>,
        run: ReleaseRun,
        stage: &str,
        approvals: &[i64],
        by: &str,
    ) -> Step {
        let cd = cd_of(&run)?;
        let run_id = ctx.run_id().to_string();
        let comment = format!(
            "Approved in Slack by {by} via release-agent ({}, run {})",
            run.name(),
            run_id.get(..8).unwrap_or(&run_id)
        );
        let comment = comment.as_str();
        for &approval in approvals {
            let approved = ctx
                .once(&format!("approve:{approval}"), |attempt| async move {
                    if attempt.is_retry() && !self.pending(cd.id, approval).await? {
                        return Ok(());
                    }
                    match self.azdo.decide_approval(approval, true, comment).await {
                        Ok(()) => Ok(()),
                        Err(e) if e.is_transient() => Err(e.into()),
                        Err(_) if !self.pending(cd.id, approval).await? => Ok(()),
                        Err(e) => Err(StepError::permanent(e.to_string())),
                    }
                })
                .await;
            match approved {
                Ok(()) => {}
                Err(StepError::Permanent(reason)) => {
                    let reason = format!(
                        "Azure DevOps refused the approval of {stage}: {reason}. The identity of \
                         AZDO_PAT must be allowed to approve {stage}."
                    );
                    return Ok(Transition::fail_with_retry(
                        run.at(ReleaseStep::Stages { since: None }),
                        reason,
                        retry("Look at the CD release again?"),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        let reply = Message::new([Line::new().plain(format!(
            "{stage} approved in Azure DevOps for {by}; watching its deployment."
        ))]);
        Ok(Transition::go(run.at(ReleaseStep::Stages { since: None })).reply(reply))
    }

    async fn pending(&self, release: i64, approval: i64) -> Result<bool, StepError> {
        let release = self.azdo.release(release).await?;
        Ok(release.stages.iter().any(|s| {
            matches!(&s.waiting, Some(Wait::Approval(list)) if list.iter().any(|a| a.id == approval))
        }))
    }

    /// The ids of the approvals `stage` still waits for.
    async fn pending_of(&self, release: i64, stage: &str) -> Result<Vec<i64>, StepError> {
        let release = self.azdo.release(release).await?;
        Ok(release
            .stages
            .iter()
            .filter(|s| s.name.eq_ignore_ascii_case(stage))
            .filter_map(|s| match &s.waiting {
                Some(Wait::Approval(list)) => Some(list.iter().map(|a| a.id)),
                _ => None,
            })
            .flatten()
            .collect())
    }

    /// Starts a stage that follows a skipped one, since its trigger waits for the skipped stage.
    pub(super) async fn start_stage(
        &self,
        ctx: &StepContext<'_>,
        run: ReleaseRun,
        stage: &str,
        stage_id: i64,
    ) -> Step {
        let cd = cd_of(&run)?;
        let comment = format!(
            "Started by release-agent for {}: {} skipped in Slack",
            run.name(),
            run.skipped.join(", ")
        );
        ctx.once(&format!("start-stage:{stage_id}"), |_| async {
            Ok::<_, StepError>(self.azdo.start_stage(cd.id, stage_id, &comment).await?)
        })
        .await?;
        let reply = Message::new([Line::new().plain(format!(
            "Started the deployment to {stage}, since the stage before it was skipped."
        ))]);
        Ok(Transition::go(run.at(ReleaseStep::Stages { since: None })).reply(reply))
    }

    /// Moves every ticket of the release to the released status.
    pub(super) async fn released_jira(&self, mut run: ReleaseRun) -> Step {
        if let Some(jira) = &self.jira {
            self.describe(&mut run).await?;
            let status = &self.pr.status_released;
            for ticket in run.tickets.clone() {
                jira.move_ticket(&ticket.key, status, &mut run.notes)
                    .await?;
            }
        }
        Ok(Transition::go(run.at(ReleaseStep::Notes)))
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
        ctx.store()
            .archive_shipping(run.repo.as_str(), version, &run_id, released_at)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::NotFound(what) => StepError::permanent(what),
                other => other.into(),
            })?;
        Ok(Transition::done(run.at(ReleaseStep::Finished)))
    }
}

fn cd_of(run: &ReleaseRun) -> Result<CdRelease, StepError> {
    run.cd
        .clone()
        .ok_or_else(|| StepError::permanent("the run lost track of its CD release"))
}
