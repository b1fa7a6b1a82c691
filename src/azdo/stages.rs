//! Which stage of a classic release waits for whom: the release's environments and its pending
//! approvals read into [`Stage`]s, in deployment order. Pure.

use serde::Deserialize;

use super::client::IdentityDto;
use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageStatus {
    NotStarted,
    Queued,
    InProgress,
    Succeeded,
    PartiallySucceeded,
    Rejected,
    Canceled,
    Other(String),
}

impl StageStatus {
    /// Without regard to case, as servers differ.
    fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "notstarted" | "undefined" => Self::NotStarted,
            "queued" | "scheduled" => Self::Queued,
            "inprogress" => Self::InProgress,
            "succeeded" => Self::Succeeded,
            "partiallysucceeded" => Self::PartiallySucceeded,
            "rejected" => Self::Rejected,
            "canceled" => Self::Canceled,
            _ => Self::Other(text.to_owned()),
        }
    }
}

/// An approval a person still has to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingApproval {
    pub id: i64,
    /// Who may approve: a person or a group.
    pub approver: ApproverRef,
    /// After deployment rather than before.
    pub post_deploy: bool,
}

/// Why a stage does not move on by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    Approval(Vec<PendingApproval>),
    ManualIntervention,
    /// Automated gates are being evaluated; no person is asked.
    Gates,
}

/// One environment of a release, in deployment order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub id: i64,
    pub name: String,
    pub rank: i64,
    pub status: StageStatus,
    pub waiting: Option<Wait>,
    /// What the latest deployment attempt says (`rejected`, `phaseFailed`, `gateFailed`…), to
    /// tell a rejection from a failed deployment.
    pub last_operation: Option<String>,
    /// Who approves its deployment, as the release definition said when the release was
    /// created (`preApprovalsSnapshot`), automated approvals left out.
    pub approvers: Vec<ApproverRef>,
}

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
                    PendingApproval::new(
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
            }
        })
        .collect();
    stages.sort_by_key(|s| s.rank);
    stages
}

impl PendingApproval {
    fn new(id: i64, approver: Option<&IdentityDto>, post_deploy: bool) -> Self {
        Self {
            id,
            approver: approver_ref(approver),
            post_deploy,
        }
    }
}

fn approver_ref(identity: Option<&IdentityDto>) -> ApproverRef {
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
            .map(|a| PendingApproval::new(a.id, a.approver.as_ref(), post_deploy))
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
                id: 77,
                approver: ApproverRef {
                    id: String::new(),
                    name: "Release Managers".into(),
                    email: None,
                    is_group: false,
                },
                post_deploy: false
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
                id: 9,
                approver: ApproverRef {
                    id: String::new(),
                    name: "Bo".into(),
                    email: None,
                    is_group: false,
                },
                post_deploy: true
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
