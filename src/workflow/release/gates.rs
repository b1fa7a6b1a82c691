//! The approval loop's decisions. Pure: from the CD release's (or YAML run's) stages, the order
//! the repository deploys them in, the stages skipped in Slack and the approvals the bot gave,
//! what happens next.

use crate::azdo::{ApprovalId, PendingApproval, Stage, StageStatus, Wait};

use super::state::StageSeen;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Every stage is deployed or skipped, and the last one was deployed.
    Deployed,
    /// The last stage was skipped, so the release reached no production.
    LastSkipped { stage: String },
    /// A stage was rejected, or its deployment failed.
    Stopped { stage: String, reason: String },
    /// A YAML stage failed; it can be retried by its name in the pipeline.
    Failed { stage: String, ref_name: String },
    /// People must approve `stage`.
    Ask {
        stage: String,
        approvals: Vec<PendingApproval>,
        post_deploy: bool,
    },
    /// `stage` follows a skipped stage and nothing else starts it, so the bot does.
    Start { stage: String, stage_id: i64 },
    /// Nothing to do but look again; `what` says why (`Sandbox is deploying`).
    Wait { what: String },
}

/// The stages in deployment order: the configured names (REPOS_CONFIG `stages`), else all of the
/// release's stages by rank. A configured name the release lacks is an error that lists them.
pub fn ordered<'a>(stages: &'a [Stage], order: &[String]) -> Result<Vec<&'a Stage>, String> {
    if order.is_empty() {
        let mut all: Vec<&Stage> = stages.iter().collect();
        all.sort_by_key(|s| s.rank);
        return Ok(all);
    }
    order
        .iter()
        .map(|name| {
            stages
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
                    format!(
                        "REPOS_CONFIG names the stage `{name}`, but the CD release has only {}",
                        if names.is_empty() {
                            "no stages".to_owned()
                        } else {
                            names.join(", ")
                        }
                    )
                })
        })
        .collect()
}

/// The build stages of a YAML CI run that also deploys: the stages `configured` (REPOS_CONFIG
/// `stages`) does not name, or else its first.
pub fn build_stages<'a>(stages: &'a [Stage], configured: &[String]) -> Vec<&'a Stage> {
    if configured.is_empty() {
        return stages.iter().min_by_key(|s| s.rank).into_iter().collect();
    }
    stages
        .iter()
        .filter(|s| !configured.iter().any(|n| n.eq_ignore_ascii_case(&s.name)))
        .collect()
}

fn is_skipped(stage: &Stage, skipped: &[String]) -> bool {
    skipped.iter().any(|s| s.eq_ignore_ascii_case(&stage.name))
}

/// What the loop does next, looking at the stages in order. `given`: the approvals the bot's
/// account gave, which Azure DevOps may still list while it waits for more approvers.
pub fn next(ordered: &[&Stage], skipped: &[String], given: &[ApprovalId]) -> Gate {
    let mut after_skip = false;
    for (i, stage) in ordered.iter().enumerate() {
        if is_skipped(stage, skipped) {
            after_skip = true;
            continue;
        }
        let name = stage.name.clone();
        let wait = |doing: &str| Gate::Wait {
            what: format!("{name} {doing}"),
        };
        match (&stage.waiting, &stage.status) {
            (Some(Wait::Approval(approvals)), _) => {
                let open: Vec<PendingApproval> = approvals
                    .iter()
                    .filter(|a| !given.contains(&a.id))
                    .cloned()
                    .collect();
                if open.is_empty() {
                    let required = approvals.iter().map(|a| a.required).max().unwrap_or(1);
                    return wait(&format!(
                        "waits for more approvers in Azure DevOps (it asks for {required}; the \
                         bot's account approved as one)"
                    ));
                }
                return Gate::Ask {
                    post_deploy: open.iter().all(|a| a.post_deploy),
                    approvals: open,
                    stage: name,
                };
            }
            (Some(Wait::Checks(checks)), _) => {
                return wait(&format!(
                    "waits for checks in Azure DevOps: {}",
                    checks.join(", ")
                ));
            }
            (Some(Wait::ManualIntervention), _) => {
                return wait("waits for a manual intervention in Azure DevOps");
            }
            (Some(Wait::Gates), _) => return wait("is evaluating its deployment gates"),
            (None, StageStatus::Succeeded | StageStatus::PartiallySucceeded) => {
                after_skip = false;
            }
            (None, StageStatus::Rejected) => {
                return Gate::Stopped {
                    reason: rejection(stage),
                    stage: name,
                };
            }
            (None, StageStatus::Failed) => {
                return Gate::Failed {
                    ref_name: stage.ref_name.clone().unwrap_or_else(|| name.clone()),
                    stage: name,
                };
            }
            (None, StageStatus::Skipped) if i + 1 == ordered.len() => {
                return Gate::Stopped {
                    reason: format!(
                        "Azure DevOps skipped {name} (its condition, or a stage before it \
                         failed), so nothing deployed it"
                    ),
                    stage: name,
                };
            }
            (None, StageStatus::Skipped) => {}
            (None, StageStatus::Canceled) => {
                return Gate::Stopped {
                    reason: format!("the deployment to {name} was canceled in Azure DevOps"),
                    stage: name,
                };
            }
            (None, StageStatus::NotStarted) if after_skip => {
                return Gate::Start {
                    stage: name,
                    stage_id: stage.id,
                };
            }
            (None, StageStatus::NotStarted) => return wait("has not started yet"),
            (None, StageStatus::Queued) => return wait("is queued"),
            (None, StageStatus::InProgress) => return wait("is deploying"),
            (None, StageStatus::Other(status)) => return wait(&format!("is {status}")),
        }
    }
    match ordered.last() {
        Some(last) if is_skipped(last, skipped) => Gate::LastSkipped {
            stage: last.name.clone(),
        },
        _ => Gate::Deployed,
    }
}

/// Azure DevOps shows a rejected approval and a failed deployment alike (`rejected`); the latest
/// deployment attempt tells them apart.
fn rejection(stage: &Stage) -> String {
    let name = &stage.name;
    match stage.last_operation.as_deref() {
        Some("rejected") => format!("{name} was rejected in Azure DevOps"),
        Some(operation) => format!("the deployment to {name} failed ({operation})"),
        None => format!("{name} was rejected, or its deployment failed, in Azure DevOps"),
    }
}

/// The stages as the card shows them.
pub fn seen(ordered: &[&Stage], skipped: &[String]) -> Vec<StageSeen> {
    ordered
        .iter()
        .map(|stage| {
            let state = if is_skipped(stage, skipped) {
                "skipped"
            } else {
                match (&stage.waiting, &stage.status) {
                    (Some(Wait::Approval(_)), _) => "waiting for approval",
                    (Some(Wait::ManualIntervention), _) => "waiting for a manual intervention",
                    (Some(Wait::Gates), _) => "evaluating gates",
                    (Some(Wait::Checks(names)), _) => {
                        return StageSeen {
                            name: stage.name.clone(),
                            state: format!("waiting for {}", names.join(", ")),
                        };
                    }
                    (None, StageStatus::Failed) => "failed",
                    (None, StageStatus::Skipped) => "skipped by Azure DevOps",
                    (None, StageStatus::Succeeded) => "deployed",
                    (None, StageStatus::PartiallySucceeded) => "partially deployed",
                    (None, StageStatus::Rejected) => "rejected or failed",
                    (None, StageStatus::Canceled) => "canceled",
                    (None, StageStatus::NotStarted) => "not started",
                    (None, StageStatus::Queued) => "queued",
                    (None, StageStatus::InProgress) => "deploying",
                    (None, StageStatus::Other(status)) => status.as_str(),
                }
            };
            StageSeen {
                name: stage.name.clone(),
                state: state.to_owned(),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "gates_tests.rs"]
mod tests;
