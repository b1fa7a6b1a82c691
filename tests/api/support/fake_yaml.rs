//! YAML pipeline runs for the fake Azure DevOps: when a plan is set, every build of the release
//! branch is a run with a `Build` stage and then the planned deploying stages. A stage with an
//! approval waits for it (`Checkpoint` → `Checkpoint.Approval` in the timeline); approved by as
//! many people as it needs, it deploys for a few timeline reads and succeeds, or fails as
//! planned; a failed stage skips the rest until it is retried through the stages API.
//!
//! Routes follow the 7.1 specifications: `build/builds/{id}/timeline` (build), and
//! `pipelines/approvals` GET and PATCH (approvalsAndChecks, array body `[{approvalId, status,
//! comment}]`), `build/builds/{id}/stages/{stageRefName}` PATCH `{state: "retry"}`; the
//! approvals API is preview on every Server (the on-premises 7.0 specification says
//! `7.0-preview.1`), the stages API before 7.0. Approximations, since Microsoft documents
//! neither: how the timeline nests checks (as public clients read it), that an approval
//! assigned to a group gets a step per person who approves, and the error texts for deciding a
//! completed approval, approving twice with one identity, and retrying a stage that did not
//! fail; and what a completed stage rerun with `forceRetryAllJobs` does (it runs again from its
//! checks, and the stages after it follow).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::fake_azdo::{AzdoState, BuildPlan, FakeBuild, list, ok};
use super::fake_versions;

/// One deploying stage of the pipeline.
#[derive(Debug, Clone)]
pub struct YamlStagePlan {
    pub name: &'static str,
    /// People who must approve it (`minRequiredApprovers`); 0: no approval.
    pub approvers: u32,
    /// Timeline reads while it deploys, before it finishes.
    pub deploy_reads: u32,
    /// Its first `failures` attempts fail.
    pub failures: u32,
    /// Another check (business hours, say) that holds it until the test passes it.
    pub check: Option<&'static str>,
}

impl YamlStagePlan {
    pub fn approved(name: &'static str) -> Self {
        Self {
            name,
            approvers: 1,
            deploy_reads: 1,
            failures: 0,
            check: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckApproval {
    pub id: String,
    /// `pending`, `approved` or `rejected`.
    pub status: &'static str,
    /// (identity id, name) of each person who approved.
    pub approved_by: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct YamlStage {
    pub plan: YamlStagePlan,
    /// `pending`, `inProgress` or `completed`.
    pub state: &'static str,
    pub result: Option<&'static str>,
    pub approval: Option<CheckApproval>,
    pub reads: u32,
    pub attempt: u32,
    /// Its check (if it has one) passed.
    pub check_passed: bool,
}

/// The pipeline's deploying stages and what was done to its runs.
#[derive(Debug, Default)]
pub struct YamlState {
    /// Empty: builds are not YAML runs that deploy.
    pub plan: Vec<YamlStagePlan>,
    /// (approval id, status, comment) of every decision PATCHed.
    pub decisions: Vec<(String, String, String)>,
    /// (run, stage identifier) of every stage retried.
    pub retries: Vec<(i64, String)>,
    /// The stages belong to a separate CD pipeline ([`CD_PIPELINE`]), whose run a successful
    /// CI build of the release branch triggers (a pipeline resource trigger), rather than to the
    /// CI run itself.
    pub separate: bool,
}

/// The separate CD pipeline's definition: (id, name).
pub const CD_PIPELINE: (i64, &str) = (8, "Billo.Api-CD");

/// Queues the CD pipeline's run once CI build `ci` of the release branch succeeded, as its
/// pipeline resource trigger does; the run names the build in `triggeredByBuild` (an
/// approximation: Microsoft documents the field for build completion triggers).
pub fn trigger_cd(state: &mut AzdoState, ci: i64) {
    let Some(build) = state.builds.iter().find(|b| b.id == ci) else {
        return;
    };
    let wanted = state.yaml.separate
        && build.definition == 7
        && build.branch == state.cd.branch
        && build.finished() == Some("succeeded")
        && !state.builds.iter().any(|b| b.triggered_by == Some(ci));
    if !wanted {
        return;
    }
    let run = FakeBuild {
        id: 900 + state.builds.len() as i64,
        branch: build.branch.clone(),
        commit: build.commit.clone(),
        reads: 0,
        plan: BuildPlan::Finish {
            polls: 0,
            result: "succeeded",
        },
        yaml: stages_for(&state.yaml),
        definition: CD_PIPELINE.0,
        triggered_by: Some(ci),
    };
    state.builds.push(run);
}

/// The deploying stages a new run of the release branch gets.
pub fn stages_for(state: &YamlState) -> Vec<YamlStage> {
    state
        .plan
        .iter()
        .map(|plan| YamlStage {
            plan: plan.clone(),
            state: "pending",
            result: None,
            approval: None,
            reads: 0,
            attempt: 1,
            check_passed: false,
        })
        .collect()
}

fn identifier(stage: &YamlStage) -> String {
    stage.plan.name.to_ascii_lowercase()
}

/// A read of the run moves it on: once the build stage succeeded, the first stage not yet
/// deployed asks for its approval or deploys; a build that failed skips every stage.
pub fn advance(build: &mut FakeBuild) {
    let Some(built) = build.finished() else {
        return;
    };
    let id = build.id;
    let mut failed_at = None;
    for (i, stage) in build.yaml.iter_mut().enumerate() {
        if built != "succeeded" {
            if stage.state == "pending" {
                stage.finish("skipped");
            }
            continue;
        }
        match stage.state {
            "completed" if stage.result == Some("succeeded") => continue,
            "completed" => break,
            "pending" => {
                if stage.plan.approvers > 0 && stage.approval.is_none() {
                    stage.approval = Some(CheckApproval {
                        id: format!(
                            "{id:08x}-0000-4000-8000-{:012}",
                            i * 100 + stage.attempt as usize
                        ),
                        status: "pending",
                        approved_by: Vec::new(),
                    });
                }
                let approving = stage
                    .approval
                    .as_ref()
                    .is_some_and(|a| a.status == "pending");
                let checking = stage.plan.check.is_some() && !stage.check_passed;
                if !approving && !checking {
                    stage.state = "inProgress";
                }
                break;
            }
            _ => {
                stage.reads += 1;
                if stage.reads <= stage.plan.deploy_reads {
                    break;
                }
                let failed = stage.attempt <= stage.plan.failures;
                stage.finish(if failed { "failed" } else { "succeeded" });
                if failed {
                    failed_at = Some(i);
                    break;
                }
            }
        }
    }
    if let Some(i) = failed_at {
        skip_after(build, i);
    }
}

impl YamlStage {
    fn finish(&mut self, result: &'static str) {
        self.state = "completed";
        self.result = Some(result);
    }
}

fn skip_after(build: &mut FakeBuild, failed: usize) {
    for stage in build.yaml.iter_mut().skip(failed + 1) {
        stage.finish("skipped");
    }
}

/// The run's status and result: in progress until every stage completed.
pub fn status(build: &FakeBuild) -> Option<(&'static str, Option<&'static str>)> {
    if build.yaml.is_empty() || build.finished() != Some("succeeded") {
        return None;
    }
    if build.yaml.iter().any(|s| s.state != "completed") {
        return Some(("inProgress", None));
    }
    let all = build.yaml.iter().all(|s| s.result == Some("succeeded"));
    Some(("completed", Some(if all { "succeeded" } else { "failed" })))
}

fn timeline_json(build: &FakeBuild) -> Value {
    let built = build.finished();
    let (state, result) = match built {
        Some(result) => ("completed", Some(result)),
        None => ("inProgress", None),
    };
    // The separate CD pipeline has no build stage.
    let mut records = Vec::new();
    if build.definition != CD_PIPELINE.0 {
        records.push(
            json!({"id": "stage-build", "parentId": null, "type": "Stage", "name": "Build",
            "identifier": "build", "order": 1, "state": state, "result": result}),
        );
    }
    for (i, stage) in build.yaml.iter().enumerate() {
        let stage_id = format!("stage-{i}");
        records.push(json!({"id": stage_id, "parentId": null, "type": "Stage", "name": stage.plan.name,
            "identifier": identifier(stage), "order": i + 2, "state": stage.state, "result": stage.result}));
        if stage.approval.is_none() && (stage.plan.check.is_none() || stage.state != "pending") {
            continue;
        }
        let checkpoint = format!("checkpoint-{i}");
        let approving = stage
            .approval
            .as_ref()
            .is_some_and(|a| a.status == "pending");
        let checking = stage.plan.check.is_some() && !stage.check_passed;
        let holding = approving || checking;
        records.push(json!({"id": checkpoint, "parentId": stage_id, "type": "Checkpoint", "name": "Checkpoint",
            "state": if holding { "inProgress" } else { "completed" }}));
        if let Some(approval) = &stage.approval {
            let (state, result) = match approval.status {
                "pending" => ("inProgress", None),
                "approved" => ("completed", Some("succeeded")),
                _ => ("completed", Some("failed")),
            };
            records.push(
                json!({"id": approval.id, "parentId": checkpoint, "type": "Checkpoint.Approval",
                "name": "Checkpoint.Approval", "state": state, "result": result}),
            );
        }
        if let Some(check) = stage.plan.check {
            let state = if checking { "inProgress" } else { "completed" };
            records.push(json!({"id": format!("check-{i}"), "parentId": checkpoint,
                "type": "Checkpoint.TaskCheck", "name": check, "state": state}));
        }
    }
    json!({"records": records, "id": format!("timeline-{}", build.id), "changeId": build.reads})
}

fn approval_json(stage: &YamlStage, approval: &CheckApproval) -> Value {
    let group =
        json!({"id": "g-release", "displayName": "[Proj]\\Release Managers", "isContainer": true});
    let mut steps: Vec<Value> = approval
        .approved_by
        .iter()
        .map(|(id, name)| {
            json!({"assignedApprover": group, "actualApprover": {"id": id, "displayName": name},
            "status": "approved"})
        })
        .collect();
    if approval.status == "pending" {
        steps.push(json!({"assignedApprover": group, "status": "pending"}));
    }
    json!({"id": approval.id, "status": approval.status, "minRequiredApprovers": stage.plan.approvers,
        "executionOrder": "anyOrder", "blockedApprovers": [], "steps": steps})
}

/// The refusal of a call without the preview flag on a server older than `released`: the
/// approvals API is preview on every Server (7.0-preview.1 on Server 2022), stages before 7.0.
fn preview_refusal(
    state: &AzdoState,
    query: &BTreeMap<String, String>,
    released: (u32, u32),
) -> Option<ResponseTemplate> {
    let asked = query.get("api-version")?;
    let server = fake_versions::numbers(state.server_version.unwrap_or("7.1"));
    if server >= released || asked.contains("preview") {
        return None;
    }
    Some(ResponseTemplate::new(400).set_body_json(json!({
        "message": format!("The requested version \"{asked}\" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: \"{asked}-preview\""),
        "typeKey": "VssInvalidPreviewVersionException"})))
}

fn approval_mut<'a>(state: &'a mut AzdoState, id: &str) -> Option<(&'a mut FakeBuild, usize)> {
    state.builds.iter_mut().find_map(|b| {
        let i = b.yaml.iter().position(|s| {
            s.approval
                .as_ref()
                .is_some_and(|a| a.id.eq_ignore_ascii_case(id))
        })?;
        Some((b, i))
    })
}

/// Decides one approval as `who` (id, name); an error text when it cannot be.
pub fn decide(
    state: &mut AzdoState,
    id: &str,
    status: &str,
    who: (&str, &str),
) -> Result<Value, String> {
    let (build, i) =
        approval_mut(state, id).ok_or_else(|| format!("Approval {id} was not found."))?;
    let stage = &mut build.yaml[i];
    let approval = stage.approval.as_mut().unwrap();
    if approval.status != "pending" {
        return Err(format!("Approval {id} is already completed."));
    }
    if approval.approved_by.iter().any(|(by, _)| by == who.0) {
        return Err(format!("{} has already approved {id}.", who.1));
    }
    if status == "rejected" {
        approval.status = "rejected";
        stage.finish("failed");
        skip_after(build, i);
    } else {
        approval
            .approved_by
            .push((who.0.to_owned(), who.1.to_owned()));
        if approval.approved_by.len() as u32 >= stage.plan.approvers {
            approval.status = "approved";
        }
    }
    let stage = &build.yaml[i];
    Ok(approval_json(stage, stage.approval.as_ref().unwrap()))
}

/// Answers the YAML run calls; `None` when the request is not one of them.
pub fn route(
    state: &mut AzdoState,
    method: &str,
    parts: &[&str],
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Option<ResponseTemplate> {
    let answer = match (method, parts) {
        ("GET", ["org", "Proj", "_apis", "build", "definitions"])
            if query
                .get("name")
                .is_some_and(|n| n.eq_ignore_ascii_case(CD_PIPELINE.1)) =>
        {
            list(vec![json!({"id": CD_PIPELINE.0, "name": CD_PIPELINE.1})])
        }
        ("GET", ["org", "Proj", "_apis", "build", "builds", id, "timeline"]) => {
            let id: i64 = id.parse().ok()?;
            let build = state.builds.iter_mut().find(|b| b.id == id)?;
            build.reads += 1;
            advance(build);
            ok(timeline_json(build))
        }
        ("GET", ["org", "Proj", "_apis", "pipelines", "approvals"]) => {
            if let Some(refused) = preview_refusal(state, query, (7, 1)) {
                return Some(refused);
            }
            let ids: Vec<&str> = query
                .get("approvalIds")
                .map(|s| s.split(',').collect())
                .unwrap_or_default();
            let found = state
                .builds
                .iter()
                .flat_map(|b| &b.yaml)
                .filter_map(|s| Some((s, s.approval.as_ref()?)))
                .filter(|(_, a)| ids.iter().any(|id| id.eq_ignore_ascii_case(&a.id)))
                .map(|(s, a)| approval_json(s, a))
                // Without `$expand=steps` the approvals come with no steps (the spec's example).
                .map(|mut a| {
                    if !query.get("$expand").is_some_and(|e| e.contains("steps")) {
                        a["steps"] = json!([]);
                    }
                    a
                })
                .collect();
            list(found)
        }
        ("PATCH", ["org", "Proj", "_apis", "pipelines", "approvals"]) => {
            if let Some(refused) = preview_refusal(state, query, (7, 1)) {
                return Some(refused);
            }
            let mut decided = Vec::new();
            for update in body.as_array()? {
                let id = update["approvalId"].as_str().unwrap_or_default().to_owned();
                let status = update["status"].as_str().unwrap_or_default().to_owned();
                let comment = update["comment"].as_str().unwrap_or_default().to_owned();
                state
                    .yaml
                    .decisions
                    .push((id.clone(), status.clone(), comment));
                match decide(state, &id, &status, ("bot-guid", "Release Bot")) {
                    Ok(approval) => decided.push(approval),
                    Err(message) => {
                        return Some(
                            ResponseTemplate::new(400).set_body_json(json!({"message": message})),
                        );
                    }
                }
            }
            list(decided)
        }
        (
            "PATCH",
            [
                "org",
                "Proj",
                "_apis",
                "build",
                "builds",
                id,
                "stages",
                stage,
            ],
        ) => {
            if let Some(refused) = preview_refusal(state, query, (7, 0)) {
                return Some(refused);
            }
            assert_eq!(body["state"], "retry", "the bot only retries stages");
            let id: i64 = id.parse().ok()?;
            state.yaml.retries.push((id, (*stage).to_owned()));
            let build = state.builds.iter_mut().find(|b| b.id == id)?;
            let Some(i) = build.yaml.iter().position(|s| identifier(s) == *stage) else {
                return Some(
                    ResponseTemplate::new(404)
                        .set_body_json(json!({"message": format!("Stage {stage} was not found.")})),
                );
            };
            if body["forceRetryAllJobs"] == true && build.yaml[i].state == "completed" {
                // Approximation: a completed stage rerun with all its jobs runs again from its
                // checks, and the stages after it follow, as the portal's "Rerun stage" shows.
                for later in build.yaml.iter_mut().skip(i) {
                    later.state = "pending";
                    later.result = None;
                    later.approval = None;
                    later.reads = 0;
                    later.attempt += 1;
                }
                return Some(ok(Value::Null));
            }
            if build.yaml[i].result != Some("failed") {
                return Some(ResponseTemplate::new(400).set_body_json(json!({"message": format!("Stage {stage} cannot be retried: it did not fail.")})));
            }
            for later in build.yaml.iter_mut().skip(i) {
                later.state = "pending";
                later.result = None;
                later.reads = 0;
            }
            let stage = &mut build.yaml[i];
            stage.attempt += 1;
            stage.state = "inProgress";
            ok(Value::Null)
        }
        _ => return None,
    };
    Some(answer)
}
