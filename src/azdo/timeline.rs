//! Which stage of a YAML pipeline run waits for what: the run's timeline and its pending
//! approvals read into [`Stage`]s (`cd.rs`), in order. Pure.
//!
//! The timeline has a record per stage (`Stage`, ordered by `order`), under it a `Checkpoint`
//! record while checks run, and under that a record per check: `Checkpoint.Approval` for an
//! approval (its id is the approval's id) and other `Checkpoint.*` records for the rest. This is
//! how public clients read it; Microsoft does not document it as a contract.

use serde::Deserialize;

use super::cd::{ApprovalId, PendingApproval, Stage, StageStatus, Wait};
use super::client::IdentityDto;
use super::stages::approver_ref;

const APPROVAL: &str = "checkpoint.approval";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RecordDto {
    id: String,
    parent_id: Option<String>,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    name: String,
    identifier: Option<String>,
    order: Option<i64>,
    state: Option<String>,
    result: Option<String>,
}

impl RecordDto {
    fn is(&self, kind: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind)
    }

    fn in_progress(&self) -> bool {
        self.state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("inProgress"))
    }

    fn result_is(&self, result: &str) -> bool {
        self.result
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(result))
    }
}

/// An approval as `pipelines/approvals?$expand=steps` reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CheckApprovalDto {
    id: String,
    #[serde(default = "one")]
    min_required_approvers: u32,
    #[serde(default)]
    steps: Vec<StepDto>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StepDto {
    assigned_approver: Option<IdentityDto>,
    actual_approver: Option<IdentityDto>,
    #[serde(default)]
    status: String,
}

/// The ids of the approvals the run waits for now.
pub(super) fn pending_approval_ids(records: &[RecordDto]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.is(APPROVAL) && r.in_progress())
        .map(|r| r.id.clone())
        .collect()
}

/// The run's stages in order. A stage waits for people while one of its approvals is in
/// progress, and for checks while another of its checks is.
pub(super) fn stages(records: &[RecordDto], approvals: &[CheckApprovalDto]) -> Vec<Stage> {
    let mut stages: Vec<Stage> = records
        .iter()
        .filter(|r| r.is("Stage"))
        .map(|stage| {
            let checks: Vec<&RecordDto> = records
                .iter()
                .filter(|c| c.is("Checkpoint") && c.parent_id.as_deref() == Some(&stage.id))
                .flat_map(|checkpoint| {
                    records
                        .iter()
                        .filter(|r| r.parent_id.as_deref() == Some(&checkpoint.id))
                })
                .collect();
            let pending: Vec<PendingApproval> = checks
                .iter()
                .filter(|c| c.is(APPROVAL) && c.in_progress())
                .map(|c| pending(c, approvals))
                .collect();
            let holding: Vec<String> = checks
                .iter()
                .filter(|c| !c.is(APPROVAL) && c.in_progress())
                .map(|c| c.name.clone())
                .collect();
            let waiting = if !pending.is_empty() {
                Some(Wait::Approval(pending.clone()))
            } else if !holding.is_empty() {
                Some(Wait::Checks(holding))
            } else {
                None
            };
            let rejected = checks
                .iter()
                .any(|c| c.is(APPROVAL) && (c.result_is("failed") || c.result_is("rejected")));
            let status = status(stage, rejected);
            let rank = stage.order.unwrap_or_default();
            Stage {
                id: rank,
                name: stage.name.clone(),
                rank,
                last_operation: (status == StageStatus::Rejected).then(|| "rejected".to_owned()),
                status,
                waiting,
                approvers: pending.into_iter().flat_map(|p| p.approvers).collect(),
                ref_name: Some(
                    stage
                        .identifier
                        .clone()
                        .unwrap_or_else(|| stage.name.clone()),
                ),
            }
        })
        .collect();
    stages.sort_by_key(|s| s.rank);
    stages
}

fn pending(record: &RecordDto, approvals: &[CheckApprovalDto]) -> PendingApproval {
    let read = approvals
        .iter()
        .find(|a| a.id.eq_ignore_ascii_case(&record.id));
    PendingApproval {
        id: ApprovalId::new(record.id.clone()),
        approvers: read
            .iter()
            .flat_map(|a| &a.steps)
            .filter(|s| s.assigned_approver.is_some())
            .map(|s| approver_ref(s.assigned_approver.as_ref()))
            .fold(Vec::new(), |mut all, approver| {
                if !all.contains(&approver) {
                    all.push(approver);
                }
                all
            }),
        post_deploy: false,
        required: read.map_or(1, |a| a.min_required_approvers.max(1)),
        approved_by: read
            .iter()
            .flat_map(|a| &a.steps)
            .filter(|s| s.status.eq_ignore_ascii_case("approved"))
            .filter_map(|s| s.actual_approver.as_ref().map(|p| p.id.clone()))
            .collect(),
    }
}

/// A stage record's state and result as a [`StageStatus`], without regard to case. A failed
/// stage whose approval failed was rejected (or its approval timed out).
fn status(stage: &RecordDto, rejected: bool) -> StageStatus {
    let state = stage
        .state
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let result = stage
        .result
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match (state.as_str(), result.as_str()) {
        ("pending", _) | ("", "") => StageStatus::NotStarted,
        ("inprogress", _) => StageStatus::InProgress,
        (_, "succeeded") => StageStatus::Succeeded,
        (_, "succeededwithissues") => StageStatus::PartiallySucceeded,
        (_, "failed") if rejected => StageStatus::Rejected,
        (_, "failed") => StageStatus::Failed,
        (_, "skipped") => StageStatus::Skipped,
        (_, "canceled" | "abandoned") => StageStatus::Canceled,
        (_, other) => StageStatus::Other(other.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn records(value: Value) -> Vec<RecordDto> {
        serde_json::from_value(value).unwrap()
    }

    /// A run past its build, Sandbox deployed, Production waiting for an approval that needs
    /// two people and for business hours.
    fn waiting_run() -> Vec<RecordDto> {
        records(json!([
            {"id": "s3", "type": "Stage", "name": "Production", "identifier": "production", "order": 3, "state": "pending"},
            {"id": "s1", "type": "Stage", "name": "Build", "identifier": "build", "order": 1, "state": "completed", "result": "succeeded"},
            {"id": "s2", "type": "Stage", "name": "Sandbox", "identifier": "sandbox", "order": 2, "state": "completed", "result": "succeeded"},
            {"id": "j1", "parentId": "s1", "type": "Phase", "name": "Build", "state": "completed", "result": "succeeded"},
            {"id": "c3", "parentId": "s3", "type": "Checkpoint", "name": "Checkpoint", "state": "inProgress"},
            {"id": "A-1", "parentId": "c3", "type": "Checkpoint.Approval", "name": "Checkpoint.Approval", "state": "inProgress"},
            {"id": "h-1", "parentId": "c3", "type": "Checkpoint.TaskCheck", "name": "Business hours", "state": "inProgress"}
        ]))
    }

    #[test]
    fn stages_come_in_order_and_a_waiting_one_names_its_approval() {
        let approvals: Vec<CheckApprovalDto> = serde_json::from_value(json!([
            {"id": "a-1", "minRequiredApprovers": 2, "status": "pending", "steps": [
                {"assignedApprover": {"id": "g-1", "displayName": "[Proj]\\Release Managers", "isContainer": true}, "status": "pending"},
                {"assignedApprover": {"id": "g-1", "displayName": "[Proj]\\Release Managers", "isContainer": true},
                 "actualApprover": {"id": "u-ann", "displayName": "Ann"}, "status": "Approved"}]}
        ]))
        .unwrap();
        let run = waiting_run();
        assert_eq!(pending_approval_ids(&run), ["A-1"]);
        let found = stages(&run, &approvals);
        let names: Vec<(&str, &StageStatus)> =
            found.iter().map(|s| (s.name.as_str(), &s.status)).collect();
        assert_eq!(
            names,
            [
                ("Build", &StageStatus::Succeeded),
                ("Sandbox", &StageStatus::Succeeded),
                ("Production", &StageStatus::NotStarted)
            ]
        );
        let Some(Wait::Approval(pending)) = &found[2].waiting else {
            panic!("{:?}", found[2].waiting);
        };
        assert_eq!(pending[0].id.as_str(), "A-1");
        assert_eq!(pending[0].required, 2);
        assert_eq!(pending[0].approved_by, ["u-ann"]);
        assert_eq!(
            pending[0].approvers.len(),
            1,
            "one group, however many steps"
        );
        assert_eq!(pending[0].approvers[0].name, "[Proj]\\Release Managers");
        assert!(pending[0].approvers[0].is_group);
        assert_eq!(found[2].ref_name.as_deref(), Some("production"));
    }

    #[test]
    fn other_checks_hold_a_stage_by_name_once_approvals_are_given() {
        let mut run = waiting_run();
        run.retain(|r| r.id != "A-1");
        assert_eq!(
            stages(&run, &[])[2].waiting,
            Some(Wait::Checks(vec!["Business hours".into()]))
        );
    }

    #[test]
    fn a_failed_stage_is_told_from_a_rejected_one_and_a_skipped_one() {
        let run = records(json!([
            {"id": "s1", "type": "Stage", "name": "Sandbox", "order": 1, "state": "completed", "result": "Failed"},
            {"id": "s2", "type": "Stage", "name": "Production", "order": 2, "state": "completed", "result": "skipped"},
            {"id": "c2", "parentId": "s2", "type": "Checkpoint", "state": "completed"},
            {"id": "a2", "parentId": "c2", "type": "Checkpoint.Approval", "state": "completed", "result": "skipped"}
        ]));
        let found = stages(&run, &[]);
        assert_eq!(found[0].status, StageStatus::Failed);
        assert_eq!(
            found[0].ref_name.as_deref(),
            Some("Sandbox"),
            "no identifier: the name"
        );
        assert_eq!(found[1].status, StageStatus::Skipped);
        let rejected = records(json!([
            {"id": "s1", "type": "Stage", "name": "Sandbox", "order": 1, "state": "completed", "result": "failed"},
            {"id": "c1", "parentId": "s1", "type": "Checkpoint", "state": "completed"},
            {"id": "a1", "parentId": "c1", "type": "Checkpoint.Approval", "state": "completed", "result": "failed"}
        ]));
        let found = stages(&rejected, &[]);
        assert_eq!(found[0].status, StageStatus::Rejected);
        assert_eq!(found[0].last_operation.as_deref(), Some("rejected"));
    }
}
