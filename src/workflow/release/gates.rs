//! The approval loop's decisions. Pure: from the CD release's stages, the order the repository
//! deploys them in and the stages skipped in Slack, what happens next.

use crate::azdo::{PendingApproval, Stage, StageStatus, Wait};

use super::state::StageSeen;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Every stage is deployed or skipped, and the last one was deployed.
    Deployed,
    /// The last stage was skipped, so the release reached no production.
    LastSkipped { stage: String },
    /// A stage was rejected, or its deployment failed.
    Stopped { stage: String, reason: String },
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

fn is_skipped(stage: &Stage, skipped: &[String]) -> bool {
    skipped.iter().any(|s| s.eq_ignore_ascii_case(&stage.name))
}

/// What the loop does next, looking at the stages in order.
pub fn next(ordered: &[&Stage], skipped: &[String]) -> Gate {
    let mut after_skip = false;
    for stage in ordered {
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
                return Gate::Ask {
                    post_deploy: approvals.iter().all(|a| a.post_deploy),
                    approvals: approvals.clone(),
                    stage: name,
                };
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
mod tests {
    use super::*;

    fn stage(name: &str, rank: i64, status: StageStatus) -> Stage {
        Stage {
            id: rank * 10,
            name: name.into(),
            rank,
            status,
            waiting: None,
            last_operation: None,
            approvers: Vec::new(),
        }
    }

    fn approval(id: i64) -> Wait {
        Wait::Approval(vec![PendingApproval {
            id,
            approver: crate::azdo::ApproverRef {
                id: String::new(),
                name: "Release Managers".into(),
                email: None,
                is_group: true,
            },
            post_deploy: false,
        }])
    }

    fn pipeline(sandbox: Stage, production: Stage) -> Vec<Stage> {
        vec![production, sandbox]
    }

    #[test]
    fn the_first_stage_that_waits_for_people_is_asked_about() {
        let mut sandbox = stage("Sandbox", 1, StageStatus::NotStarted);
        sandbox.waiting = Some(approval(5));
        let stages = pipeline(sandbox, stage("Production", 2, StageStatus::NotStarted));
        let order = ordered(&stages, &[]).unwrap();
        assert!(matches!(
            next(&order, &[]),
            Gate::Ask { ref stage, ref approvals, post_deploy: false } if stage == "Sandbox" && approvals[0].id == 5
        ));
    }

    #[test]
    fn deployed_stages_lead_to_the_next_and_finally_to_done() {
        let mut production = stage("Production", 2, StageStatus::InProgress);
        let stages = pipeline(
            stage("Sandbox", 1, StageStatus::Succeeded),
            production.clone(),
        );
        let order = ordered(&stages, &[]).unwrap();
        assert_eq!(
            next(&order, &[]),
            Gate::Wait {
                what: "Production is deploying".into()
            }
        );
        production.status = StageStatus::Succeeded;
        let stages = pipeline(stage("Sandbox", 1, StageStatus::Succeeded), production);
        assert_eq!(next(&ordered(&stages, &[]).unwrap(), &[]), Gate::Deployed);
    }

    #[test]
    fn after_a_skipped_stage_the_bot_starts_the_next() {
        let mut sandbox = stage("Sandbox", 1, StageStatus::NotStarted);
        sandbox.waiting = Some(approval(5));
        let stages = pipeline(sandbox, stage("Production", 2, StageStatus::NotStarted));
        let order = ordered(&stages, &[]).unwrap();
        let skipped = vec!["sandbox".to_owned()];
        assert_eq!(
            next(&order, &skipped),
            Gate::Start {
                stage: "Production".into(),
                stage_id: 20
            }
        );
        let seen = seen(&order, &skipped);
        assert_eq!(
            (seen[0].state.as_str(), seen[1].state.as_str()),
            ("skipped", "not started")
        );
        let all = vec!["Sandbox".to_owned(), "Production".to_owned()];
        assert_eq!(
            next(&order, &all),
            Gate::LastSkipped {
                stage: "Production".into()
            }
        );
    }

    #[test]
    fn a_rejection_and_a_failed_deployment_are_told_apart() {
        let mut production = stage("Production", 2, StageStatus::Rejected);
        production.last_operation = Some("rejected".into());
        let stages = pipeline(
            stage("Sandbox", 1, StageStatus::Succeeded),
            production.clone(),
        );
        assert_eq!(
            next(&ordered(&stages, &[]).unwrap(), &[]),
            Gate::Stopped {
                stage: "Production".into(),
                reason: "Production was rejected in Azure DevOps".into()
            }
        );
        production.last_operation = Some("phaseFailed".into());
        let stages = pipeline(stage("Sandbox", 1, StageStatus::Succeeded), production);
        assert!(matches!(
            next(&ordered(&stages, &[]).unwrap(), &[]),
            Gate::Stopped { ref reason, .. } if reason == "the deployment to Production failed (phaseFailed)"
        ));
    }

    #[test]
    fn the_configured_order_wins_and_unknown_names_are_explained() {
        let stages = pipeline(
            stage("Sandbox", 1, StageStatus::Succeeded),
            stage("Production", 2, StageStatus::NotStarted),
        );
        let order = ordered(&stages, &["production".into(), "sandbox".into()]).unwrap();
        assert_eq!(order[0].name, "Production");
        let missing = ordered(&stages, &["Staging".into()]).unwrap_err();
        assert_eq!(
            missing,
            "REPOS_CONFIG names the stage `Staging`, but the CD release has only Production, Sandbox"
        );
    }
}
