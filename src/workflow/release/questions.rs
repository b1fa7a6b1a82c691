//! The questions about a CD stage: approve or skip it, and start one that waited for a skipped
//! stage. Pure: what the card asks, and what the confirm dialogs say about whose account acts.

use super::state::ReleaseRun;
use super::{STAGE_POINT, START_POINT};
use crate::domain::{APPROVE, Deciders, Decides, OptionStyle};
use crate::workflow::ApprovalRequest;
use crate::workflow::flow::option;

/// Approve `stage` (in Azure DevOps, after a confirm) or skip it; skipping the last stage ends
/// the release before it.
pub(super) fn stage_request(run: &ReleaseRun, stage: &str, post_deploy: bool) -> ApprovalRequest {
    let last = run
        .stages
        .last()
        .is_some_and(|s| s.name.eq_ignore_ascii_case(stage));
    let when = if post_deploy {
        " (after deployment)"
    } else {
        ""
    };
    let skip = if last {
        format!(
            "Skip {stage}? Its approval is rejected in Azure DevOps; the release then stops \
             without reaching {stage}, and its tickets stay as they are."
        )
    } else {
        format!(
            "Skip {stage}? Its approval is rejected in Azure DevOps, so nothing deploys it; \
             the next stage is asked about here."
        )
    };
    let confirm = format!(
        "Approve {stage}{when} for {}? It is approved in Azure DevOps by the bot's account; \
         the comment names you.",
        run.name()
    );
    ApprovalRequest {
        point: STAGE_POINT.into(),
        decides: Decides::Stage(stage.to_owned()),
        author: None,
        deciders: run.asked_deciders.clone().map(Deciders::Only),
        prompt: format!("Approve {stage}{when} for {}?", run.name()),
        options: vec![
            option(
                "approve",
                format!("Approve {stage}"),
                OptionStyle::Confirmed { confirm },
            ),
            option("skip", "Skip", OptionStyle::Destructive { confirm: skip }),
        ],
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
