//! A CI run that deploys while the PR workflow watches it: a YAML pipeline whose stage waits for
//! an environment approval. The card asks Approve <stage> / Reject as a release does, the
//! decision is PATCHed to Azure DevOps once, and a run held in Azure DevOps (checks, other
//! approvers) is watched without counting toward CI_POLL_MAX_WAIT_SECONDS: `built_for` carries
//! the CI time used before the hold, and the watch resumes with it.

use chrono::{DateTime, TimeDelta, Utc};

use super::state::{PrRun, PrStep};
use super::{PrFlow, Step, pr_of};
use crate::azdo::{ApprovalId, Stage};
use crate::domain::{Decides, Line, Message, OptionStyle};
use crate::workflow::flow::option;
use crate::workflow::release::gates::{self, Gate};
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition, cd_approval};

pub const CI_STAGE_POINT: &str = "ci-stage";

/// What holds a running CI build in Azure DevOps.
enum CiHold {
    /// A stage waits for approvals the bot can ask about.
    Ask {
        stage: String,
        approvals: Vec<ApprovalId>,
        required: u32,
    },
    /// A stage waits for what nobody here decides: checks, or approvers besides the bot.
    Held(String),
}

/// A stage question of the CI run, as its steps store it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CiStage {
    pub stage: String,
    pub approvals: Vec<ApprovalId>,
    /// How many people Azure DevOps asks for.
    pub required: u32,
    /// Seconds of CI time used before the hold.
    pub built_for: i64,
}

impl PrFlow {
    async fn ci_hold(&self, run: &PrRun, build: i64) -> Result<Option<CiHold>, StepError> {
        let pr = pr_of(run)?;
        let stages: Vec<Stage> = self.azdo.run_stages(&pr.repo, build).await?;
        if !stages.iter().any(|s| s.waiting.is_some()) {
            return Ok(None);
        }
        let ordered: Vec<&Stage> = stages.iter().collect();
        Ok(match gates::next(&ordered, &[], &run.ci_approved) {
            Gate::Ask {
                stage, approvals, ..
            } => Some(CiHold::Ask {
                required: approvals.iter().map(|a| a.required).max().unwrap_or(1),
                approvals: approvals.into_iter().map(|a| a.id).collect(),
                stage,
            }),
            Gate::Wait { what } => Some(CiHold::Held(what)),
            _ => None,
        })
    }

    /// For a running build: the step that handles its hold in Azure DevOps, if it has one.
    pub(super) async fn held_build(
        &self,
        ctx: &StepContext<'_>,
        run: PrRun,
        since: DateTime<Utc>,
    ) -> Result<Result<Transition<PrRun>, PrRun>, StepError> {
        let Some(build) = run.build.clone() else {
            return Ok(Err(run));
        };
        let built_for = (ctx.now() - since).num_seconds().max(0);
        Ok(match self.ci_hold(&run, build.id).await? {
            None => Err(run),
            Some(CiHold::Ask {
                stage,
                approvals,
                required,
            }) => {
                let question = CiStage {
                    stage,
                    approvals,
                    required,
                    built_for,
                };
                Ok(Transition::go(run.at(PrStep::AskCiStage { question })))
            }
            Some(CiHold::Held(what)) => Ok(self.keep_holding(run, what, built_for)),
        })
    }

    fn keep_holding(&self, run: PrRun, what: String, built_for: i64) -> Transition<PrRun> {
        let interval = self.settings.ci_poll_interval;
        let max_polls = crate::workflow::ci::Patience {
            interval,
            max_wait: self.settings.auto_complete_max_wait,
            accept_partial: false,
        }
        .max_polls();
        Transition::poll(
            run.at(PrStep::CiHeld { what, built_for }),
            interval,
            max_polls,
        )
    }

    /// The CI run waits in Azure DevOps: look again, and resume the CI watch once it moves.
    pub(super) async fn ci_held(&self, ctx: &StepContext<'_>, run: PrRun, built_for: i64) -> Step {
        let since = resumed(ctx, built_for);
        Ok(match self.held_build(ctx, run, since).await? {
            Ok(next) => next,
            Err(run) => Transition::go(run.at(PrStep::WatchBuild { since })),
        })
    }

    /// Asks Slack to approve or reject the CI run's stage, looking at Azure DevOps meanwhile.
    pub(super) async fn ask_ci_stage(
        &self,
        ctx: &StepContext<'_>,
        mut run: PrRun,
        question: CiStage,
    ) -> Step {
        let since = resumed(ctx, question.built_for);
        let Some(decision) = ctx.decision(CI_STAGE_POINT) else {
            let pr = pr_of(&run)?;
            let build = run
                .build
                .clone()
                .ok_or_else(|| StepError::permanent("the run lost track of its build"))?;
            let stages = self.azdo.run_stages(&pr.repo, build.id).await?;
            let open = question
                .approvals
                .iter()
                .all(|id| cd_approval::pending(&stages, id).is_some());
            if !open {
                let said = format!(
                    "{} was approved or rejected in Azure DevOps",
                    question.stage
                );
                let reply = Message::new([
                    Line::new().plain(format!("{said}; the question here is closed."))
                ]);
                return Ok(Transition::go(run.at(PrStep::WatchBuild { since }))
                    .reply(reply)
                    .settled_in_azure_devops(said));
            }
            let request = request(&run, &question, &build.number);
            let step = PrStep::AskCiStage { question };
            return Ok(Transition::wait_rechecking(
                run.at(step),
                request,
                self.settings.ci_poll_interval,
            ));
        };
        let approve = decision.option.as_str() == "approve";
        let by = decision.who();
        let pr = pr_of(&run)?;
        let comment = format!(
            "{} in Slack by {by} via release-agent, with the bot's account (CI of PR {} in {})",
            if approve { "Approved" } else { "Rejected" },
            pr.id,
            pr.repo
        );
        let build = run
            .build
            .clone()
            .ok_or_else(|| StepError::permanent("the run lost track of its build"))?;
        let key = if approve { "ci-approve" } else { "ci-reject" };
        for approval in &question.approvals {
            let repo = &pr.repo;
            let decided = cd_approval::decide_once(
                ctx,
                &format!("{key}:{approval}"),
                || self.azdo.decide_check(repo, approval, approve, &comment),
                || async {
                    let stages = self.azdo.run_stages(repo, build.id).await?;
                    cd_approval::waits_for_bot(self.azdo.as_ref(), &stages, approval).await
                },
            )
            .await;
            match decided {
                Ok(()) => {}
                Err(StepError::Permanent(reason)) => {
                    let reason = format!(
                        "Azure DevOps refused the {} of {} in CI build {}: {reason}. The identity \
                         of AZDO_PAT must be allowed to approve it.",
                        if approve { "approval" } else { "rejection" },
                        question.stage,
                        build.number
                    );
                    return Ok(Transition::fail(run, reason));
                }
                Err(e) => return Err(e),
            }
        }
        let stage = &question.stage;
        let said = if approve {
            run.ci_approved.extend(question.approvals.iter().cloned());
            format!("{stage} approved in Azure DevOps for {by}; watching the CI run.")
        } else {
            format!("{stage} rejected in Azure DevOps for {by}: the CI run fails there.")
        };
        let reply = Message::new([Line::new().plain(said)]);
        Ok(Transition::go(run.at(PrStep::WatchBuild { since })).reply(reply))
    }
}

/// When the CI watch started, counting only the CI time used before the hold.
fn resumed(ctx: &StepContext<'_>, built_for: i64) -> DateTime<Utc> {
    ctx.now() - TimeDelta::seconds(built_for)
}

fn request(run: &PrRun, question: &CiStage, build: &str) -> ApprovalRequest {
    let stage = question.stage.as_str();
    let mut prompt = format!("CI build {build} waits for the approval of {stage}. Approve it?");
    prompt.push_str(&cd_approval::more_approvers(stage, question.required));
    ApprovalRequest {
        point: CI_STAGE_POINT.into(),
        decides: Decides::Stage(stage.to_owned()),
        author: run.pr.as_ref().and_then(|pr| pr.author_email.clone()),
        deciders: None,
        prompt,
        options: vec![
            option(
                "approve",
                format!("Approve {stage}"),
                OptionStyle::Confirmed {
                    confirm: format!(
                        "Approve {stage} for CI build {build}? It is approved in Azure DevOps by \
                         the bot's account; the comment names you."
                    ),
                },
            ),
            option(
                "reject",
                "Reject",
                OptionStyle::Destructive {
                    confirm: format!("Reject {stage}? Azure DevOps fails CI build {build} there."),
                },
            ),
        ],
    }
}
