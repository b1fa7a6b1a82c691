//! Deciding an Azure DevOps approval for someone who decided in Slack, as both workflows do
//! (a release's CD stages, a PR's CI run that deploys): once per approval, journaled, and
//! without deciding again what someone else settled meanwhile.

use std::future::Future;

use crate::azdo::{ApprovalId, AzdoError, AzureDevOps, PendingApproval, Stage, Wait};
use crate::workflow::{StepContext, StepError};

/// Decides one approval under the journal key `key`. A retry first asks `waits` whether the
/// approval still waits for the bot; a refusal of an approval that no longer does counts as
/// done. Any other refusal is permanent, with Azure DevOps' own message.
pub async fn decide_once<D, DF, W, WF>(
    ctx: &StepContext<'_>,
    key: &str,
    decide: D,
    waits: W,
) -> Result<(), StepError>
where
    D: FnOnce() -> DF,
    DF: Future<Output = Result<(), AzdoError>>,
    W: Fn() -> WF,
    WF: Future<Output = Result<bool, StepError>>,
{
    ctx.once(key, |attempt| async move {
        if attempt.is_retry() && !waits().await? {
            return Ok(());
        }
        match decide().await {
            Ok(()) => Ok(()),
            Err(e) if e.is_transient() => Err(e.into()),
            Err(_) if !waits().await? => Ok(()),
            Err(e) => Err(StepError::permanent(e.to_string())),
        }
    })
    .await
}

/// The pending approval `approval` among `stages`, if Azure DevOps still lists it.
pub fn pending<'a>(stages: &'a [Stage], approval: &ApprovalId) -> Option<&'a PendingApproval> {
    stages.iter().find_map(|s| match &s.waiting {
        Some(Wait::Approval(list)) => list.iter().find(|a| &a.id == approval),
        _ => None,
    })
}

/// Whether `approval` still waits for the bot's decision: Azure DevOps lists it among
/// `stages`, and the bot's account is not among those who approved it already.
pub async fn waits_for_bot(
    azdo: &dyn AzureDevOps,
    stages: &[Stage],
    approval: &ApprovalId,
) -> Result<bool, StepError> {
    let Some(found) = pending(stages, approval) else {
        return Ok(false);
    };
    if found.approved_by.is_empty() {
        return Ok(true);
    }
    let bot = azdo.whoami().await?;
    Ok(!found.approved_by.contains(&bot.id))
}

/// What a question adds when Azure DevOps asks for more approvers than the bot's account.
pub fn more_approvers(stage: &str, required: u32) -> String {
    if required > 1 {
        format!(
            " Azure DevOps asks for {required} approvers of {stage}: the bot's account counts as \
             one, and the others approve in Azure DevOps."
        )
    } else {
        String::new()
    }
}
