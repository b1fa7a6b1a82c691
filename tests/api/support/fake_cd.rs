//! Classic releases for the fake Azure DevOps: a CD release appears for every successful build on
//! the release branch, and its stages move as Azure DevOps moves them. A stage with an approver
//! waits for its pre-deployment approval; approving it starts the deployment, which succeeds (or
//! fails, as planned) after a few reads; a deployed stage triggers the next one.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::fake_azdo::{AzdoState, list, ok};

/// How one stage of the release definition behaves.
#[derive(Debug, Clone)]
pub struct StagePlan {
    pub name: &'static str,
    /// A pre-deployment approval is asked for before it deploys.
    pub approval: bool,
    /// Reads of the release while it deploys, before it finishes.
    pub deploy_reads: u32,
    /// `succeeded`, or the operation status a failed deployment ends with (`phaseFailed`).
    pub outcome: &'static str,
    /// Who approves it, as an IdentityRef: a group without an id unless a test gives one.
    pub approver: Value,
}

impl StagePlan {
    pub fn approved(name: &'static str) -> Self {
        Self {
            name,
            approval: true,
            deploy_reads: 1,
            outcome: "succeeded",
            approver: json!({"displayName": "Release Managers"}),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FakeStage {
    pub id: i64,
    pub plan: StagePlan,
    pub status: String,
    pub approval: Option<(i64, String)>,
    pub operation: Option<String>,
    pub reads: u32,
}

#[derive(Debug, Clone)]
pub struct FakeRelease {
    pub id: i64,
    pub build: i64,
    pub stages: Vec<FakeStage>,
}

/// The release definition and what happened to its releases.
#[derive(Debug, Default)]
pub struct CdState {
    /// The stages of the definition; none means no CD trigger (no release appears).
    pub plan: Vec<StagePlan>,
    /// The release branch whose successful builds create releases.
    pub branch: String,
    pub releases: Vec<FakeRelease>,
    /// (approval id, status, comment) for every approval PATCH.
    pub decisions: Vec<(i64, String, String)>,
    /// (release, stage id) for every stage started by hand.
    pub starts: Vec<(i64, i64)>,
}

impl CdState {
    fn stage_mut(&mut self, release: i64, stage: i64) -> Option<&mut FakeStage> {
        self.releases
            .iter_mut()
            .find(|r| r.id == release)?
            .stages
            .iter_mut()
            .find(|s| s.id == stage)
    }

    /// Rejects the pending approval of `stage` in Azure DevOps, as a person there would.
    pub fn reject(&mut self, stage: &str) {
        for release in &mut self.releases {
            for s in release.stages.iter_mut().filter(|s| s.plan.name == stage) {
                if let Some((_, status)) = &mut s.approval {
                    *status = "rejected".into();
                }
                s.status = "rejected".into();
                s.operation = Some("rejected".into());
            }
        }
    }
}

/// A stage that starts: it waits for its approval, or deploys at once.
fn trigger(stage: &mut FakeStage, next_approval: i64) {
    if stage.plan.approval {
        stage.approval = Some((next_approval, "pending".into()));
        stage.status = "notStarted".into();
        stage.operation = Some("pending".into());
    } else {
        stage.status = "inProgress".into();
        stage.operation = Some("deploying".into());
    }
}

/// A new approval's id: above every one given so far (a stage deployed again gets a new one).
fn next_approval_id(state: &CdState) -> i64 {
    state
        .releases
        .iter()
        .flat_map(|r| &r.stages)
        .filter_map(|s| s.approval.as_ref().map(|(id, _)| *id))
        .max()
        .map_or(500, |id| id + 1)
}

/// A read of the release moves deployments on.
fn advance(state: &mut CdState, release: i64) {
    let mut approval = next_approval_id(state);
    let Some(release) = state.releases.iter_mut().find(|r| r.id == release) else {
        return;
    };
    let mut trigger_next = None;
    for (i, stage) in release.stages.iter_mut().enumerate() {
        if stage.status == "inProgress" {
            stage.reads += 1;
            if stage.reads > stage.plan.deploy_reads {
                if stage.plan.outcome == "succeeded" {
                    stage.status = "succeeded".into();
                    stage.operation = Some("approved".into());
                    trigger_next = Some(i + 1);
                } else {
                    stage.status = "rejected".into();
                    stage.operation = Some(stage.plan.outcome.into());
                }
            }
        }
    }
    if let Some(next) = trigger_next
        && let Some(stage) = release.stages.get_mut(next)
        && stage.status == "notStarted"
        && stage.approval.is_none()
    {
        trigger(stage, approval);
        approval += 1;
    }
    let _ = approval;
}

fn release_json(release: &FakeRelease) -> Value {
    let environments: Vec<Value> = release
        .stages
        .iter()
        .enumerate()
        .map(|(rank, s)| {
            let approvals: Vec<Value> = s
                .approval
                .iter()
                .map(|(id, status)| json!({"id": id, "status": status, "isAutomated": false, "approver": s.plan.approver}))
                .collect();
            // ReleaseDefinitionApprovals (specification/release/7.1): an automated step names
            // no approver.
            let approver = if s.plan.approval { s.plan.approver.clone() } else { Value::Null };
            let snapshot = json!({"approvals": [{"rank": 1, "isAutomated": !s.plan.approval,
                "isNotificationOn": false, "approver": approver}]});
            json!({"id": s.id, "name": s.plan.name, "rank": rank + 1, "status": s.status,
                "preDeployApprovals": approvals, "preApprovalsSnapshot": snapshot,
                "deploySteps": s.operation.iter().map(|op| json!({"attempt": 1, "operationStatus": op})).collect::<Vec<_>>()})
        })
        .collect();
    json!({"id": release.id, "name": format!("Release-{}", release.id), "status": "active",
        "releaseDefinition": {"id": 5, "name": "Billo.Api-CD"},
        "_links": {"web": {"href": format!("https://dev.azure.com/org/Proj/_releaseProgress?releaseId={}", release.id)}},
        "environments": environments})
}

/// Answers the classic release calls; `None` when the request is not one of them.
pub fn route(
    state: &mut AzdoState,
    method: &str,
    parts: &[&str],
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Option<ResponseTemplate> {
    let answer = match (method, parts) {
        ("GET", ["org", "Proj", "_apis", "release", "releases"]) => {
            let build: i64 = query.get("artifactVersionId")?.parse().ok()?;
            let succeeded = state.builds.iter().any(|b| {
                b.id == build && b.branch == state.cd.branch && b.finished() == Some("succeeded")
            });
            if succeeded
                && !state.cd.plan.is_empty()
                && !state.cd.releases.iter().any(|r| r.build == build)
            {
                let id = 70 + state.cd.releases.len() as i64;
                let mut stages: Vec<FakeStage> = state
                    .cd
                    .plan
                    .iter()
                    .enumerate()
                    .map(|(i, plan)| FakeStage {
                        id: id * 100 + i as i64,
                        plan: plan.clone(),
                        status: "notStarted".into(),
                        approval: None,
                        operation: None,
                        reads: 0,
                    })
                    .collect();
                let approval = next_approval_id(&state.cd);
                trigger(&mut stages[0], approval);
                state.cd.releases.push(FakeRelease { id, build, stages });
            }
            let found = state
                .cd
                .releases
                .iter()
                .filter(|r| r.build == build)
                .map(|r| json!({"id": r.id, "name": format!("Release-{}", r.id), "releaseDefinition": {"id": 5, "name": "Billo.Api-CD"}}))
                .collect();
            list(found)
        }
        ("GET", ["org", "Proj", "_apis", "release", "releases", id]) => {
            let id: i64 = id.parse().ok()?;
            advance(&mut state.cd, id);
            match state.cd.releases.iter().find(|r| r.id == id) {
                Some(release) => ok(release_json(release)),
                None => ResponseTemplate::new(404),
            }
        }
        ("GET", ["org", "Proj", "_apis", "release", "approvals"]) => {
            let release: i64 = query.get("releaseIdsFilter")?.parse().ok()?;
            let pending = state
                .cd
                .releases
                .iter()
                .filter(|r| r.id == release)
                .flat_map(|r| &r.stages)
                .filter_map(|s| match &s.approval {
                    Some((id, status)) if status == "pending" => Some(json!({"id": id, "status": "pending", "approvalType": "preDeploy",
                        "approver": s.plan.approver, "releaseEnvironment": {"id": s.id, "name": s.plan.name}, "release": {"id": release}})),
                    _ => None,
                })
                .collect();
            list(pending)
        }
        ("PATCH", ["org", "Proj", "_apis", "release", "approvals", id]) => {
            let id: i64 = id.parse().ok()?;
            let status = body["status"].as_str().unwrap_or_default().to_owned();
            let comment = body["comments"].as_str().unwrap_or_default().to_owned();
            state.cd.decisions.push((id, status.clone(), comment));
            let stage = state
                .cd
                .releases
                .iter_mut()
                .flat_map(|r| r.stages.iter_mut())
                .find(|s| matches!(&s.approval, Some((a, _)) if *a == id))?;
            let pending = matches!(&stage.approval, Some((_, s)) if s == "pending");
            if !pending {
                return Some(ResponseTemplate::new(400).set_body_json(
                    json!({"message": "VS402914: This approval has already been completed."}),
                ));
            }
            stage.approval = Some((id, status.clone()));
            if status == "approved" {
                stage.status = "inProgress".into();
                stage.operation = Some("deploying".into());
            } else {
                stage.status = "rejected".into();
                stage.operation = Some("rejected".into());
            }
            ok(json!({"id": id, "status": status}))
        }
        (
            "PATCH",
            [
                "org",
                "Proj",
                "_apis",
                "release",
                "releases",
                release,
                "environments",
                stage,
            ],
        ) => {
            assert!(
                query
                    .get("api-version")
                    .is_some_and(|v| v.ends_with("-preview")),
                "starting a stage is a preview call"
            );
            let (release, stage): (i64, i64) = (release.parse().ok()?, stage.parse().ok()?);
            state.cd.starts.push((release, stage));
            let approval = next_approval_id(&state.cd);
            let found = state.cd.stage_mut(release, stage)?;
            trigger(found, approval);
            ok(json!({"id": stage, "status": "queued"}))
        }
        _ => return None,
    };
    Some(answer)
}
