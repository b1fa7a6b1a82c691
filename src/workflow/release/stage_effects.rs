//! What the approval loop does in Azure DevOps once someone decided in Slack: approve or reject
//! a stage's approvals (each once), start a stage that waited for a skipped one, and retry a
//! failed YAML stage. Every effect is journaled.

use super::state::{ReleaseRun, ReleaseStep};
use super::{ReleaseFlow, Step, cd_of, retry};
use crate::azdo::{ApprovalId, Stage, StageStatus};
use crate::domain::{CdKind, Line, Message};
use crate::workflow::{StepContext, StepError, Transition, cd_approval};

/// Whether a stage's decision in Slack approves or rejects it in Azure DevOps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StageVerdict {
    Approve,
    Reject,
}

impl ReleaseFlow {
    /// Approves (or, for a Skip or Reject, rejects) the stage's pending approvals in Azure
    /// DevOps, each once, with a comment naming who decided in Slack. An approval someone
    /// already decided in Azure DevOps counts as done. A YAML stage rejected ends the release:
    /// Azure DevOps fails the run there.
    pub(super) async fn decide_stage(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        stage: &str,
        approvals: &[ApprovalId],
        by: &str,
        verdict: StageVerdict,
    ) -> Step {
        let cd = cd_of(&run)?;
        let run_id = ctx.run_id().to_string();
        let approve = verdict == StageVerdict::Approve;
        let (done, key) = match (approve, cd.kind) {
            (true, _) => ("Approved", "approve"),
            (false, CdKind::Classic) => ("Skipped, so rejected,", "reject"),
            (false, CdKind::Yaml) => ("Rejected", "reject"),
        };
        let comment = format!(
            "{done} in Slack by {by} via release-agent, with the bot's account ({}, run {})",
            run.name(),
            run_id.get(..8).unwrap_or(&run_id)
        );
        for approval in approvals {
            let (shipping, deploying, comment) = (&run, &cd, comment.as_str());
            let decided = cd_approval::decide_once(
                ctx,
                &format!("{key}:{approval}"),
                || self.decide(shipping, deploying, approval, approve, comment),
                || self.waits_for_bot(shipping, deploying, approval),
            )
            .await;
            match decided {
                Ok(()) => {}
                Err(StepError::Permanent(reason)) => {
                    let reason = format!(
                        "Azure DevOps refused the {key} of {stage}: {reason}. The identity of \
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
        if !approve && cd.kind == CdKind::Yaml {
            let reason = format!(
                "{stage} was rejected in Slack by {by}: Azure DevOps fails {} there, so nothing \
                 after it deploys; its tickets stay as they are, and `/release {}` later ships \
                 this release",
                cd.name, run.repo
            );
            return Ok(Transition::cancel(run, reason));
        }
        if approve {
            run.approved.extend(approvals.iter().cloned());
        }
        let reply = Message::new([Line::new().plain(decided_text(stage, by, verdict))]);
        Ok(Transition::go(run.at(ReleaseStep::Stages { since: None })).reply(reply))
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
            Ok::<_, StepError>(
                self.azdo
                    .start_stage(&run.repo, cd.id, stage_id, &comment)
                    .await?,
            )
        })
        .await?;
        let reply = Message::new([Line::new().plain(format!(
            "Started the deployment to {stage}, as asked in Slack (the stage before it was skipped)."
        ))]);
        Ok(Transition::go(run.at(ReleaseStep::Stages { since: None })).reply(reply))
    }

    /// Reruns a failed YAML stage, once per attempt; a stage that is no longer failed (someone
    /// retried it in Azure DevOps) is not retried again.
    pub(super) async fn retry_stage(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        stage: &str,
        ref_name: &str,
        attempt: u32,
    ) -> Step {
        let cd = cd_of(&run)?;
        let failed = |stages: &[Stage]| {
            stages
                .iter()
                .any(|s| s.name.eq_ignore_ascii_case(stage) && s.status == StageStatus::Failed)
        };
        let key = format!("retry-stage:{}:{ref_name}:{attempt}", cd.id);
        let retried = ctx
            .once(&key, |_| async {
                if !failed(&self.cd_stages(&run, &cd).await?) {
                    return Ok::<_, StepError>(false);
                }
                self.azdo
                    .retry_stage(&run.repo, cd.id, ref_name, false)
                    .await?;
                Ok(true)
            })
            .await?;
        run.stage_retries = attempt;
        let said = if retried {
            format!("Retrying the failed jobs of {stage} in Azure DevOps; watching it again.")
        } else {
            format!("{stage} was retried in Azure DevOps already; watching it again.")
        };
        let reply = Message::new([Line::new().plain(said)]);
        Ok(Transition::go(run.at(ReleaseStep::Stages { since: None })).reply(reply))
    }
}

fn decided_text(stage: &str, by: &str, verdict: StageVerdict) -> String {
    match verdict {
        StageVerdict::Approve => {
            format!("{stage} approved in Azure DevOps for {by}; watching its deployment.")
        }
        StageVerdict::Reject => format!(
            "{stage} skipped by {by}: its approval was rejected in Azure DevOps, so nothing \
             deploys it."
        ),
    }
}
