//! Which stage of a classic release waits for whom: the release's environments and its pending
//! approvals read into [`Stage`]s (`cd.rs`), in deployment order. Pure.

use serde::Deserialize;

use super::cd::{ApprovalId, PendingApproval, Stage, StageStatus, Wait};
use super::client::IdentityDto;
use super::*;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StageApprovalDto {
    id: i64,
    #[serde(default)]
    status: String,
    #[serde(default)]
    is_automated: bool,
    approver: Option<IdentityDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeployStepDto {
    #[serde(default)]
    attempt: i64,
    #[serde(default)]
    operation_status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnvironmentDto {
    id: i64,
    name: String,
    #[serde(default)]
    rank: i64,
    #[serde(default)]
    status: String,
    #[serde(default)]
    pre_deploy_approvals: Vec<StageApprovalDto>,
    #[serde(default)]
    post_deploy_approvals: Vec<StageApprovalDto>,
    #[serde(default)]
    deploy_steps: Vec<DeployStepDto>,
    pre_approvals_snapshot: Option<SnapshotDto>,
}

#[derive(Deserialize)]
struct SnapshotDto {
    #[serde(default)]
    approvals: Vec<SnapshotStepDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotStepDto {
    #[serde(default)]
    is_automated: bool,
    approver: Option<IdentityDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ApprovalDto {
    id: i64,
    #[serde(default)]
    approval_type: String,
    approver: Option<IdentityDto>,
    release_environment: Option<EnvironmentRef>,
}

#[derive(Deserialize)]
struct EnvironmentRef {
    id: i64,
}

/// The stages of a release in deployment order, each with what it waits for. A stage waits for
/// people when it has pending (non-automated) approvals: those listed by the approvals API for
/// it, or else those on the stage itself. Otherwise its latest deployment attempt tells whether
/// it waits for a manual intervention or for automated gates.
pub(super) fn stages(environments: Vec<EnvironmentDto>, pending: Vec<ApprovalDto>) -> Vec<Stage> {
    let mut stages: Vec<Stage> = environments
        .into_iter()
        .map(|env| {
            let listed: Vec<PendingApproval> = pending
                .iter()
                .filter(|a| {
                    a.release_environment
                        .as_ref()
                        .is_some_and(|e| e.id == env.id)
                })
                .map(|a| {
                    pending_approval(
                        a.id,
                        a.approver.as_ref(),
                        a.approval_type.eq_ignore_ascii_case("postDeploy"),
                    )
                })
                .collect();
            let approvals = if listed.is_empty() {
                stage_approvals(&env)
            } else {
                listed
            };
            let latest = env.deploy_steps.iter().max_by_key(|s| s.attempt);
            let waiting = if !approvals.is_empty() {
                Some(Wait::Approval(approvals))
            } else {
                match latest
                    .map(|s| s.operation_status.to_ascii_lowercase())
                    .as_deref()
                {
                    Some("manualinterventionpending") => Some(Wait::ManualIntervention),
                    Some("evaluatinggates") => Some(Wait::Gates),
                    _ => None,
                }
            };
            let approvers = snapshot_approvers(&env);
            Stage {
                id: env.id,
                name: env.name,
                rank: env.rank,
                approvers,
                status: StageStatus::parse(&env.status),
                waiting,
                last_operation: latest
                    .map(|s| s.operation_status.clone())
                    .filter(|s| !s.is_empty()),
                ref_name: None,
            }
        })
        .collect();
    stages.sort_by_key(|s| s.rank);
    stages
}

fn pending_approval(id: i64, approver: Option<&IdentityDto>, post_deploy: bool) -> PendingApproval {
    PendingApproval {
        id: ApprovalId::from(id),
        approvers: vec![approver_ref(approver)],
        post_deploy,
        required: 1,
        approved_by: Vec::new(),
    }
}

pub(super) fn approver_ref(identity: Option<&IdentityDto>) -> ApproverRef {
    ApproverRef {
        id: identity.map(|p| p.id.clone()).unwrap_or_default(),
        name: identity.map(|p| p.display_name.clone()).unwrap_or_default(),
        email: identity.and_then(IdentityDto::email),
        is_group: identity.is_some_and(|p| p.is_container),
    }
}

/// The approvers the stage's pre-deployment snapshot names.
fn snapshot_approvers(env: &EnvironmentDto) -> Vec<ApproverRef> {
    env.pre_approvals_snapshot
        .iter()
        .flat_map(|s| &s.approvals)
        .filter(|step| !step.is_automated && step.approver.is_some())
        .map(|step| approver_ref(step.approver.as_ref()))
        .collect()
}

fn stage_approvals(env: &EnvironmentDto) -> Vec<PendingApproval> {
    let pending = |list: &[StageApprovalDto], post_deploy: bool| -> Vec<PendingApproval> {
        list.iter()
            .filter(|a| a.status.eq_ignore_ascii_case("pending") && !a.is_automated)
            .map(|a| pending_approval(a.id, a.approver.as_ref(), post_deploy))
            .collect()
    };
    let mut all = pending(&env.pre_deploy_approvals, false);
    all.extend(pending(&env.post_deploy_approvals, true));
    all
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn env(json: serde_json::Value) -> EnvironmentDto {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn stage_statuses_are_read_whatever_their_case() {
        assert_eq!(StageStatus::parse("InProgress"), StageStatus::InProgress);
        assert_eq!(StageStatus::parse("SUCCEEDED"), StageStatus::Succeeded);
        assert_eq!(
            StageStatus::parse("partiallysucceeded"),
            StageStatus::PartiallySucceeded
        );
        assert_eq!(
            StageStatus::parse("Mystery"),
            StageStatus::Other("Mystery".into())
        );
    }

    #[test]
    fn a_stage_with_a_pending_approval_waits_for_its_approver() {
        let sandbox = env(json!({"id": 2, "name": "Sandbox", "rank": 1, "status": "succeeded"}));
        let production = env(
            json!({"id": 3, "name": "Production", "rank": 2, "status": "notStarted",
            "preDeployApprovals": [
                {"id": 77, "status": "pending", "isAutomated": false, "approver": {"displayName": "Release Managers"}},
                {"id": 78, "status": "approved", "isAutomated": false, "approver": {"displayName": "Ann"}}
            ]}),
        );
        let found = stages(vec![production, sandbox], Vec::new());
        assert_eq!(
            found.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["Sandbox", "Production"]
        );
        assert_eq!(found[0].waiting, None);
        assert_eq!(
            found[1].waiting,
            Some(Wait::Approval(vec![PendingApproval {
                id: ApprovalId::from(77),
                approvers: vec![ApproverRef {
                    id: String::new(),
                    name: "Release Managers".into(),
                    email: None,
                    is_group: false,
                }],
                post_deploy: false,
                required: 1,
                approved_by: Vec::new(),
            }]))
        );
    }

    #[test]
    fn the_approvals_api_wins_and_automated_approvals_are_ignored() {
        let stage = env(
            json!({"id": 3, "name": "Production", "rank": 2, "status": "inProgress",
            "preDeployApprovals": [{"id": 1, "status": "pending", "isAutomated": true}]}),
        );
        assert_eq!(stages(vec![stage], Vec::new())[0].waiting, None);
        let stage = env(json!({"id": 3, "name": "Production", "rank": 2, "status": "inProgress"}));
        let listed: ApprovalDto =
            serde_json::from_value(json!({"id": 9, "approvalType": "postDeploy",
            "approver": {"displayName": "Bo"}, "releaseEnvironment": {"id": 3}}))
            .unwrap();
        assert_eq!(
            stages(vec![stage], vec![listed])[0].waiting,
            Some(Wait::Approval(vec![PendingApproval {
                id: ApprovalId::from(9),
                approvers: vec![ApproverRef {
                    id: String::new(),
                    name: "Bo".into(),
                    email: None,
                    is_group: false,
                }],
                post_deploy: true,
                required: 1,
                approved_by: Vec::new(),
            }]))
        );
    }

    #[test]
    fn interventions_and_gates_are_read_from_the_latest_attempt() {
        let stage = |op: &str| {
            env(json!({"id": 1, "name": "S", "status": "inProgress",
                "deploySteps": [{"attempt": 1, "operationStatus": "approved"}, {"attempt": 2, "operationStatus": op}]}))
        };
        assert_eq!(
            stages(vec![stage("manualInterventionPending")], vec![])[0].waiting,
            Some(Wait::ManualIntervention)
        );
        assert_eq!(
            stages(vec![stage("evaluatingGates")], vec![])[0].waiting,
            Some(Wait::Gates)
        );
        assert_eq!(stages(vec![stage("inProgress")], vec![])[0].waiting, None);
    }
}
