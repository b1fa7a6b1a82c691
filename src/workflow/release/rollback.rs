//! Rollback: an archived version's deployment (its classic release, or its YAML run's stages)
//! deployed again, stage by stage. Each stage is asked about first (its approvers decide), then
//! started again in Azure DevOps once (a classic environment redeployed, a YAML stage rerun with
//! all its jobs; not when deploying the stage before set it going already), and
//! then goes through the release's approval loop like any deployment, its pre-deployment
//! approvals asked here. When every stage is deployed again (or someone stops the rollback
//! after some), the rollback is recorded beside the archive with the version it left.
//!
//! ```text
//!  load ──► next stage ─┬─ all done ──► record ──► finished
//!              ▲        └─ ask redeploy ⏸ ─┬─ redeploy ──► start it again ──► stages (approval loop, this stage and those before)
//!              │                            └─ stop ──► record what was done (or cancel) │
//!              └──────────────────────────────────────────── all deployed again ◄───────┘
//! ```

use serde::{Deserialize, Serialize};

use super::state::{ReleaseRun, ReleaseStep};
use super::{REDEPLOY_POINT, ReleaseFlow, Step, cd_of, gates, signoff};
use crate::azdo::{Stage, StageStatus};
use crate::domain::{APPROVE, CdKind, Deciders, Decides, Line, Message, OptionStyle, Version};
use crate::store::Rollback;
use crate::workflow::flow::option;
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition};

/// What a rollback run deploys again, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackPlan {
    /// The archived version deployed again.
    pub to: Version,
    /// The version deployed before, which the rollback leaves.
    pub left: Version,
    /// The stages started again so far, in order.
    #[serde(default)]
    pub redeployed: Vec<String>,
}

impl ReleaseFlow {
    /// The next stage to deploy again, in the release's order; when none is left, the record.
    pub(super) async fn next_redeploy(&self, mut run: ReleaseRun) -> Step {
        let plan = plan_of(&run)?;
        let cd = cd_of(&run)?;
        let stages = self.cd_stages(&run, &cd).await?;
        let order = self.repos_config.for_repo(&run.repo).stages;
        let ordered = gates::ordered(&stages, &order).map_err(StepError::permanent)?;
        let next = ordered.iter().find(|s| {
            !plan
                .redeployed
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&s.name))
        });
        let Some(next) = next else {
            return Ok(Transition::go(run.at(ReleaseStep::RecordRollback)));
        };
        run.asked_deciders = self
            .azdo_deciders(&run.repo, &next.name, &next.approvers)
            .await?;
        let step = ReleaseStep::AskRedeploy {
            stage: next.name.clone(),
            stage_id: next.id,
        };
        Ok(Transition::go(run.at(step)))
    }

    pub(super) fn ask_redeploy(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        stage: String,
        stage_id: i64,
    ) -> Result<Transition<ReleaseRun>, StepError> {
        let plan = plan_of(&run)?;
        Ok(match ctx.decision(REDEPLOY_POINT) {
            None => {
                let request = redeploy_request(&run, &plan, &stage);
                let step = ReleaseStep::AskRedeploy { stage, stage_id };
                Transition::wait(run.at(step), request)
            }
            Some(d) if d.option.as_str() == APPROVE => {
                run.signoffs
                    .push(signoff(d, format!("{stage} rolled back to {}", plan.to)));
                let by = d.who();
                Transition::go(run.at(ReleaseStep::Redeploy {
                    stage,
                    stage_id,
                    by,
                }))
            }
            Some(d) => {
                run.signoffs.push(signoff(d, "rollback stopped"));
                if plan.redeployed.is_empty() {
                    let reason =
                        format!("the rollback was stopped before {stage}; nothing changed");
                    return Ok(Transition::cancel(run, reason));
                }
                Transition::go(run.at(ReleaseStep::RecordRollback))
            }
        })
    }

    /// Starts the stage's deployment of the archived release again, once.
    pub(super) async fn redeploy(
        &self,
        ctx: &StepContext<'_>,
        mut run: ReleaseRun,
        stage: &str,
        stage_id: i64,
        by: &str,
    ) -> Step {
        let cd = cd_of(&run)?;
        let mut plan = plan_of(&run)?;
        let comment = format!(
            "Rollback of {} to {} by release-agent, asked in Slack by {by}",
            run.repo, plan.to
        );
        ctx.once(&format!("redeploy:{}:{stage_id}", cd.id), |_| async {
            let stages = self.cd_stages(&run, &cd).await?;
            let Some(found) = stages.iter().find(|s| s.id == stage_id) else {
                return Err(StepError::permanent(format!(
                    "{stage} is no longer a stage of {}",
                    cd.name
                )));
            };
            // Deploying the stage before may have set this one going again already.
            if deploying_again(found) {
                return Ok(());
            }
            match (cd.kind, &found.ref_name) {
                (CdKind::Classic, _) => {
                    self.azdo
                        .start_stage(&run.repo, cd.id, stage_id, &comment)
                        .await?;
                }
                (CdKind::Yaml, Some(ref_name)) => {
                    self.azdo
                        .retry_stage(&run.repo, cd.id, ref_name, true)
                        .await?;
                }
                (CdKind::Yaml, None) => {
                    return Err(StepError::permanent(format!(
                        "Azure DevOps gave no identifier for {stage}, so it cannot be run again"
                    )));
                }
            }
            Ok(())
        })
        .await?;
        if !plan.redeployed.iter().any(|d| d == stage) {
            plan.redeployed.push(stage.to_owned());
        }
        let reply = Message::new([Line::new().plain(format!(
            "Deploying {} {} to {stage} again ({}); its approvals are asked here.",
            run.repo, plan.to, cd.name
        ))]);
        run.rollback = Some(plan);
        run.watching = None;
        Ok(Transition::go(run.at(ReleaseStep::Stages { since: None })).reply(reply))
    }

    /// Records the rollback beside the archive, once, and says so.
    pub(super) async fn record_rollback(&self, ctx: &StepContext<'_>, run: ReleaseRun) -> Step {
        let plan = plan_of(&run)?;
        let rollback = Rollback {
            run_id: ctx.run_id().to_string(),
            repo: run.repo.to_string(),
            version: plan.to,
            left: plan.left,
            stages: plan.redeployed.clone(),
            by: ctx.run().started_by.clone(),
            at: ctx.now(),
        };
        ctx.store().record_rollback(&rollback).await?;
        let reply = Message::new([Line::new()
            .plain(":leftwards_arrow_with_hook: ")
            .bold(format!("Rolled back {} to {}", run.repo, plan.to))
            .plain(format!(
                " in {}; it left {}.",
                plan.redeployed.join(", "),
                plan.left
            ))]);
        Ok(Transition::done(run.at(ReleaseStep::Finished)).reply(reply))
    }
}

/// A stage that waits for its approval or deploys: it is going again already.
fn deploying_again(stage: &Stage) -> bool {
    stage.waiting.is_some() || matches!(stage.status, StageStatus::Queued | StageStatus::InProgress)
}

/// Only the stages deployed again so far count in a rollback's approval loop: the others still
/// show the archived release's earlier deployment.
pub(super) fn in_rollback<'a>(run: &ReleaseRun, ordered: Vec<&'a Stage>) -> Vec<&'a Stage> {
    match &run.rollback {
        Some(plan) => ordered
            .into_iter()
            .filter(|s| {
                plan.redeployed
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&s.name))
            })
            .collect(),
        None => ordered,
    }
}

fn plan_of(run: &ReleaseRun) -> Result<RollbackPlan, StepError> {
    run.rollback
        .clone()
        .ok_or_else(|| StepError::permanent("the run lost track of its rollback"))
}

fn redeploy_request(run: &ReleaseRun, plan: &RollbackPlan, stage: &str) -> ApprovalRequest {
    let confirm = format!(
        "Deploy {} {} to {stage} again, replacing {}? It is started in Azure DevOps by the bot's \
         account; the comment names you.",
        run.repo, plan.to, plan.left
    );
    ApprovalRequest {
        point: REDEPLOY_POINT.into(),
        decides: Decides::Stage(stage.to_owned()),
        author: None,
        deciders: run.asked_deciders.clone().map(Deciders::Only),
        prompt: format!(
            "Roll back {stage} from {} to {} {}?",
            plan.left, run.repo, plan.to
        ),
        options: vec![
            option(
                APPROVE,
                format!("Roll back {stage}"),
                OptionStyle::Confirmed { confirm },
            ),
            option("stop", "Stop rollback", OptionStyle::Plain),
        ],
    }
}
