//! The questions about a CD stage: approve or skip (reject, in YAML) it, start one that waited
//! for a skipped stage, retry a failed one. Pure: what the card asks, and what the confirm
//! dialogs say about whose account acts.

use super::state::{ReleaseRun, ReleaseStep};
use super::{RETRY_POINT, STAGE_POINT, START_POINT};
use crate::azdo::ApprovalId;
use crate::domain::ApprovalOption;
use crate::domain::{APPROVE, CdKind, Deciders, Decides, OptionStyle};
use crate::workflow::flow::option;
use crate::workflow::{ApprovalRequest, cd_approval};

/// Approve `stage` (in Azure DevOps, after a confirm) or skip it; skipping the last stage ends
/// the release before it. A YAML stage is rejected rather than skipped: Azure DevOps fails the
/// run there. When Azure DevOps asks for several approvers, the question says the bot's
/// account is only one of them.
pub(super) fn stage_request(
    run: &ReleaseRun,
    question: &StageQuestion,
    kind: CdKind,
) -> ApprovalRequest {
    let stage = question.stage.as_str();
    let when = if question.post_deploy {
        " (after deployment)"
    } else {
        ""
    };
    let last = run
        .stages
        .last()
        .is_some_and(|s| s.name.eq_ignore_ascii_case(stage));
    let no = match (kind, last) {
        (CdKind::Yaml, _) => option(
            "reject",
            "Reject",
            OptionStyle::Destructive {
                confirm: format!(
                    "Reject {stage}? Its approval is rejected in Azure DevOps, which fails the \
                     pipeline run there: nothing after it deploys, and the release stops."
                ),
            },
        ),
        (CdKind::Classic, true) => skip(format!(
            "Skip {stage}? Its approval is rejected in Azure DevOps; the release then stops \
             without reaching {stage}, and its tickets stay as they are."
        )),
        (CdKind::Classic, false) => skip(format!(
            "Skip {stage}? Its approval is rejected in Azure DevOps, so nothing deploys it; \
             the next stage is asked about here."
        )),
    };
    let confirm = format!(
        "Approve {stage}{when} for {}? It is approved in Azure DevOps by the bot's account; \
         the comment names you.",
        run.name()
    );
    let mut prompt = format!("Approve {stage}{when} for {}?", run.name());
    prompt.push_str(&cd_approval::more_approvers(stage, question.required));
    ApprovalRequest {
        point: STAGE_POINT.into(),
        decides: Decides::Stage(stage.to_owned()),
        author: None,
        deciders: run.asked_deciders.clone().map(Deciders::Only),
        prompt,
        options: vec![
            option(
                "approve",
                format!("Approve {stage}"),
                OptionStyle::Confirmed { confirm },
            ),
            no,
        ],
    }
}

fn skip(confirm: String) -> ApprovalOption {
    option("skip", "Skip", OptionStyle::Destructive { confirm })
}

/// Retry the failed jobs of a YAML stage: a Retry, so the release's deciders choose it.
pub(super) fn retry_stage_request(stage: &str) -> ApprovalRequest {
    ApprovalRequest {
        point: RETRY_POINT.into(),
        decides: Decides::Release,
        author: None,
        deciders: None,
        prompt: format!("Rerun the failed jobs of {stage} in Azure DevOps?"),
        options: vec![option(
            "retry",
            format!("Retry {stage}"),
            OptionStyle::Primary,
        )],
    }
}

/// Start `stage`, which waited for a skipped one, or skip it too.
pub(super) fn start_request(run: &ReleaseRun, stage: &str) -> ApprovalRequest {
    let confirm = format!(
        "Start the deployment to {stage} for {} in Azure DevOps? It is started by the bot's \
         account; the comment names you.",
        run.name()
    );
    ApprovalRequest {
        point: START_POINT.into(),
        decides: Decides::Stage(stage.to_owned()),
        author: None,
        deciders: run.asked_deciders.clone().map(Deciders::Only),
        prompt: format!(
            "The stage before {stage} was skipped, so {stage} waits. Start it for {}?",
            run.name()
        ),
        options: vec![
            option(
                APPROVE,
                format!("Start {stage}"),
                OptionStyle::Confirmed { confirm },
            ),
            option("skip", "Skip", OptionStyle::Plain),
        ],
    }
}

/// The question about a stage, as its step stores it.
#[derive(Debug, Clone)]
pub(super) struct StageQuestion {
    pub stage: String,
    pub approvals: Vec<ApprovalId>,
    pub post_deploy: bool,
    /// How many people Azure DevOps asks for.
    pub required: u32,
}

impl StageQuestion {
    pub(super) fn into_step(self) -> ReleaseStep {
        ReleaseStep::AskStage {
            stage: self.stage,
            approvals: self.approvals,
            post_deploy: self.post_deploy,
            required: self.required,
        }
    }
}
