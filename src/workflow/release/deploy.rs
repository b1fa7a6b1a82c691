//! The CD release's approval loop: look at the stages, ask Slack about the next one that waits
//! for people, approve it in Azure DevOps (each approval once) or reject it when it is skipped,
//! ask before starting a stage that waited for a skipped one, and go on until every stage is
//! deployed. A Skip deploys nothing.

use chrono::{DateTime, Utc};

use super::gates::{self, Gate};
use super::questions::{StageQuestion, retry_stage_request};
use super::questions::{stage_request, start_request};
use super::state::{ReleaseRun, ReleaseStep};
use super::{ReleaseFlow, STAGE_POINT, START_POINT, Step, cd_of, retry, rollback, signoff};
use crate::azdo::{ApproverRef, StageStatus};
use crate::domain::{APPROVE, CdKind, Line, Message};
use crate::workflow::ci;
use crate::workflow::{StepContext, StepError, Transition};

impl ReleaseFlow {
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
        let stages = self.cd_stages(&run, &cd).await?;
        let order = self.repos_config.for_repo(&repo).stages;
        let ordered = gates::ordered(&stages, &order).map_err(StepError::permanent)?;
        let ordered = rollback::in_rollback(&run, ordered);
        run.stages = gates::seen(&ordered, &run.skipped);
        let next = gates::next(&ordered, &run.skipped, &run.approved);
        count_round(&mut run, &next, ordered.len())?;
        let look_again = || retry("Look at the CD release again?");
        Ok(match next {
            Gate::Deployed if run.rollback.is_some() => {
                Transition::go(run.at(ReleaseStep::NextRedeploy))
            }
            Gate::Deployed => Transition::go(run.at(ReleaseStep::Jira)),
            Gate::LastSkipped { stage } if run.rollback.is_some() => {
                let reason = format!("{stage} was skipped, so the rollback stops before it");
                Transition::cancel(run, reason)
            }
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
            Gate::Failed { stage, ref_name } => {
                let reason = format!(
                    "the {stage} stage of {} failed in Azure DevOps; Retry reruns its failed jobs",
                    cd.name
                );
                let request = retry_stage_request(&stage);
                let attempt = run.stage_retries + 1;
                let step = ReleaseStep::RetryStage {
                    stage,
                    ref_name,
                    attempt,
                };
                Transition::fail_with_retry(run.at(step), reason, request)
            }
            Gate::Ask {
                stage,
                approvals,
                post_deploy,
            } => {
                run.watching = None;
                let listed: Vec<ApproverRef> = approvals
                    .iter()
                    .flat_map(|a| a.approvers.iter().cloned())
                    .collect();
                run.asked_deciders = self.azdo_deciders(&repo, &stage, &listed).await?;
                let required = approvals.iter().map(|a| a.required).max().unwrap_or(1);
                let approvals = approvals.into_iter().map(|a| a.id).collect();
                Transition::go(run.at(ReleaseStep::AskStage {
                    stage,
                    approvals,
                    post_deploy,
                    required,
                }))
            }
            Gate::Start { stage, stage_id } => {
                run.watching = None;
                let listed = ordered
                    .iter()
                    .find(|s| s.id == stage_id)
                    .map(|s| s.approvers.clone())
                    .unwrap_or_default();
                run.asked_deciders = self.azdo_deciders(&repo, &stage, &listed).await?;
                Transition::go(run.at(ReleaseStep::AskStart { stage, stage_id }))
            }
            Gate::Wait { what } => self.wait_for_stage(ctx, run, what, since, ordered.len()),
        })
    }

    /// Something deploys, or waits for what nobody here decides: look again later, as long as
    /// RELEASE_WAIT_MAX_SECONDS allows for this same wait.
    fn wait_for_stage(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        what: String,
        since: Option<DateTime<Utc>>,
        stages: usize,
    ) -> Transition<ReleaseRun> {
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
            let look_again = retry("Look at the CD release again?");
            return Transition::fail_with_retry(
                run.at(ReleaseStep::Stages { since: None }),
                reason,
                look_again,
            );
        }
        let stages = u32::try_from(stages).unwrap_or(1).max(1);
        let max_polls = patience.max_polls().saturating_mul(stages + 1);
        let step = ReleaseStep::Stages { since: Some(since) };
        Transition::poll(run.at(step), patience.interval, max_polls)
    }

    /// Asks Slack to approve or skip (reject, in YAML) a stage, and keeps looking at Azure
    /// DevOps meanwhile: an approval given or rejected there ends the question.
    pub(super) async fn ask_stage(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        question: StageQuestion,
    ) -> Step {
        let StageQuestion {
            stage, approvals, ..
        } = question.clone();
        Ok(match ctx.decision(STAGE_POINT) {
            None => return self.ask_about_stage(run, question).await,
            Some(d) if d.option.as_str() == "approve" => {
                run.signoffs.push(signoff(d, format!("{stage} approved")));
                let by = d.who();
                Transition::go(run.at(ReleaseStep::ApproveStage {
                    stage,
                    approvals,
                    by,
                }))
            }
            Some(d) if cd_of(&run)?.kind == CdKind::Yaml => {
                run.signoffs.push(signoff(d, format!("{stage} rejected")));
                let by = d.who();
                Transition::go(run.at(ReleaseStep::RejectStage {
                    stage,
                    approvals,
                    by,
                }))
            }
            Some(d) => {
                run.signoffs.push(signoff(d, format!("{stage} skipped")));
                run.skipped.push(stage.clone());
                let by = d.who();
                Transition::go(run.at(ReleaseStep::RejectStage {
                    stage,
                    approvals,
                    by,
                }))
            }
        })
    }

    /// Asks whether to start `stage`, which waited for a skipped stage; keeps looking meanwhile,
    /// so a start in Azure DevOps ends the question.
    pub(super) async fn ask_start(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        stage: String,
        stage_id: i64,
    ) -> Step {
        Ok(match ctx.decision(START_POINT) {
            None => {
                let cd = cd_of(&run)?;
                let stages = self.cd_stages(&run, &cd).await?;
                let waiting = stages.iter().any(|s| {
                    s.id == stage_id && s.waiting.is_none() && s.status == StageStatus::NotStarted
                });
                if !waiting {
                    let said = format!("{stage} was started in Azure DevOps");
                    let reply = Message::new([
                        Line::new().plain(format!("{said}; the question here is closed."))
                    ]);
                    return Ok(Transition::go(run.at(ReleaseStep::Stages { since: None }))
                        .reply(reply)
                        .settled_in_azure_devops(said));
                }
                let request = start_request(&run, &stage);
                let step = ReleaseStep::AskStart { stage, stage_id };
                Transition::wait_rechecking(run.at(step), request, self.settings.poll_interval)
            }
            Some(d) if d.option.as_str() == APPROVE => {
                run.signoffs.push(signoff(d, format!("{stage} started")));
                Transition::go(run.at(ReleaseStep::StartStage { stage, stage_id }))
            }
            Some(d) => {
                run.signoffs.push(signoff(d, format!("{stage} skipped")));
                run.skipped.push(stage);
                Transition::go(run.at(ReleaseStep::Stages { since: None }))
            }
        })
    }

    /// The question about `stage`, asked (again) unless Azure DevOps settled it meanwhile.
    async fn ask_about_stage(&self, run: ReleaseRun, question: StageQuestion) -> Step {
        let cd = cd_of(&run)?;
        let stage = &question.stage;
        let still_pending = self.pending_of(&run, &cd, stage).await?;
        if !question
            .approvals
            .iter()
            .all(|id| still_pending.contains(id))
        {
            let said = format!("{stage} was approved or rejected in Azure DevOps");
            let reply =
                Message::new([Line::new().plain(format!("{said}; the question here is closed."))]);
            return Ok(Transition::go(run.at(ReleaseStep::Stages { since: None }))
                .reply(reply)
                .settled_in_azure_devops(said));
        }
        let request = stage_request(&run, &question, cd.kind);
        let step = question.into_step();
        Ok(Transition::wait_rechecking(
            run.at(step),
            request,
            self.settings.poll_interval,
        ))
    }
}

/// Each question or start is a round of the approval loop; a loop that goes round more often
/// than its stages allow is stopped.
fn count_round(run: &mut ReleaseRun, next: &Gate, stages: usize) -> Result<(), StepError> {
    if !matches!(next, Gate::Ask { .. } | Gate::Start { .. }) {
        return Ok(());
    }
    let max_rounds = 3 * u32::try_from(stages).unwrap_or(u32::MAX) + 3;
    run.rounds += 1;
    if run.rounds > max_rounds {
        return Err(StepError::permanent(format!(
            "the approval loop went round {max_rounds} times without finishing; it stopped"
        )));
    }
    Ok(())
}
