//! Branch policies, votes and completion for the fake Azure DevOps: the PR PATCH (completion and
//! auto-complete), reviewers' votes, and `policy/evaluations`, which follows the policy 7.1
//! spec (`specification/policy/7.1/policy.json`: a preview-only resource, records with
//! `status` and `configuration{isBlocking,isEnabled,type{displayName},settings}`).
//!
//! Approximations, named where they are made: the status of an unmet reviewer count, the answer
//! to a completion that policies hold back (400 with a message naming the policy; Microsoft
//! documents neither), and the moment auto-complete completes (at the next read of the PR,
//! where Azure DevOps does it in the background).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::fake_azdo::{AzdoState, FakePr, list, ok, pr_json, queue};
use super::fake_origin;
use super::fake_projects;

/// The id that clears `autoCompleteSetBy`.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

/// A branch policy on the PRs' target branch.
#[derive(Debug, Clone)]
pub struct FakePolicy {
    pub id: u32,
    /// The policy type's display name, as Azure DevOps names its built-in types.
    pub kind: &'static str,
    pub blocking: bool,
    /// For "Minimum number of reviewers": approvals needed (the author's vote does not count).
    pub min_reviewers: Option<u32>,
    /// For any other type: its evaluation status (`queued`, `running`, `approved`, …).
    pub status: &'static str,
    /// Approved once auto-complete is set on the PR (the build it waits for passes then).
    pub passes_with_auto_complete: bool,
}

impl FakePolicy {
    pub fn min_reviewers(count: u32) -> Self {
        Self {
            id: 1,
            kind: "Minimum number of reviewers",
            blocking: true,
            min_reviewers: Some(count),
            status: "",
            passes_with_auto_complete: false,
        }
    }

    pub fn build(status: &'static str) -> Self {
        Self {
            id: 2,
            kind: "Build",
            blocking: true,
            min_reviewers: None,
            status,
            passes_with_auto_complete: false,
        }
    }

    /// The evaluation status on `pr`. Approximation: an unmet reviewer count reads `rejected`.
    fn status(&self, pr: &FakePr) -> &'static str {
        match self.min_reviewers {
            Some(needed) if approvals(pr) >= needed => "approved",
            Some(_) => "rejected",
            None if self.passes_with_auto_complete && pr.auto_complete.is_some() => "approved",
            None => self.status,
        }
    }
}

fn approvals(pr: &FakePr) -> u32 {
    pr.reviewers
        .iter()
        .filter(|(id, vote)| **vote >= 5 && id.as_str() != "u-ada")
        .count() as u32
}

/// The blocking policies `pr` does not meet.
fn unmet<'a>(state: &'a AzdoState, pr: &FakePr) -> Vec<&'a FakePolicy> {
    state
        .policies
        .iter()
        .filter(|p| p.blocking && !matches!(p.status(pr), "approved" | "notApplicable"))
        .collect()
}

/// A 400 as Azure DevOps answers a version it does not offer for a preview-only resource.
fn needs_preview(version: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "$id": "1", "innerException": null,
        "message": format!("The requested version \"{version}\" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: \"{version}-preview\""),
        "typeName": "Microsoft.VisualStudio.Services.WebApi.VssInvalidPreviewVersionException, Microsoft.VisualStudio.Services.WebApi",
        "typeKey": "VssInvalidPreviewVersionException", "errorCode": 0, "eventId": 3000}))
}

pub fn route(
    state: &mut AzdoState,
    method: &str,
    parts: &[&str],
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Option<ResponseTemplate> {
    Some(match (method, parts) {
        ("GET", ["org", "Proj", "_apis", "policy", "evaluations"]) => {
            let version = query.get("api-version").cloned().unwrap_or_default();
            if !version.contains("-preview") {
                return Some(needs_preview(&version));
            }
            let artifact = query.get("artifactId")?;
            let id: u32 = artifact
                .strip_prefix("vstfs:///CodeReview/CodeReviewId/")
                .and_then(|rest| rest.rsplit_once('/'))
                .filter(|(project, _)| {
                    state
                        .prs
                        .values()
                        .any(|pr| fake_projects::project_id(pr.project) == *project)
                })
                .and_then(|(_, id)| id.parse().ok())
                .unwrap_or(0);
            state.policy_reads += 1;
            let Some(pr) = state.prs.get(&id) else {
                return Some(list(Vec::new()));
            };
            let records = state
                .policies
                .iter()
                .map(|p| {
                    let settings = match p.min_reviewers {
                        Some(n) => json!({"minimumApproverCount": n, "creatorVoteCounts": false}),
                        None => json!({"buildDefinitionId": 7, "displayName": null}),
                    };
                    json!({"evaluationId": format!("eval-{}-{id}", p.id), "artifactId": artifact,
                        "status": p.status(pr),
                        "configuration": {"id": p.id, "revision": 1, "isBlocking": p.blocking, "isEnabled": true,
                            "isDeleted": false, "type": {"id": format!("type-{}", p.id), "displayName": p.kind},
                            "settings": settings}})
                })
                .collect();
            list(records)
        }
        (
            "PUT",
            [
                "org",
                "Proj",
                "_apis",
                "git",
                "repositories",
                _,
                "pullRequests",
                id,
                "reviewers",
                reviewer,
            ],
        ) => {
            let id: u32 = id.parse().unwrap_or(0);
            let vote = body["vote"].as_i64().unwrap_or(0);
            state.votes.push((id, vote));
            if let Some(pr) = state.prs.get_mut(&id) {
                pr.reviewers.insert((*reviewer).to_owned(), vote);
            }
            ok(json!({"id": reviewer, "vote": vote}))
        }
        (
            "PATCH",
            [
                "org",
                "Proj",
                "_apis",
                "git",
                "repositories",
                _,
                "pullrequests",
                id,
            ],
        ) => patch(state, id.parse().unwrap_or(0), body),
        _ => return None,
    })
}

/// The PR PATCH: auto-complete set or cleared, or a completion.
fn patch(state: &mut AzdoState, id: u32, body: &Value) -> ResponseTemplate {
    if !state.prs.contains_key(&id) {
        return ResponseTemplate::new(404).set_body_json(
            json!({"message": "TF401180: The requested pull request was not found."}),
        );
    }
    if body.get("status").is_none() {
        if let Some(by) = body["autoCompleteSetBy"]["id"].as_str() {
            state.auto_completes.push((id, body.clone()));
            let pr = state.prs.get_mut(&id).unwrap();
            pr.completion = body["completionOptions"].clone();
            pr.auto_complete = (by != NOBODY).then(|| by.to_owned());
            let answer = pr_json(pr);
            settle_auto_complete(state, id);
            return ok(answer);
        }
        return ResponseTemplate::new(400).set_body_json(json!({"message": "Invalid argument value.\r\nParameter name: The pull request to update was not valid.", "typeKey": "InvalidArgumentValueException"}));
    }
    let Some(reviewed) = body["lastMergeSourceCommit"]["commitId"].as_str() else {
        return ResponseTemplate::new(400).set_body_json(json!({"message": "Invalid argument value.\r\nParameter name: You must specify a valid LastMergeSourceCommit to perform this operation.", "typeKey": "InvalidArgumentValueException"}));
    };
    state.completions.push((id, reviewed.to_owned()));
    state.prs.get_mut(&id).unwrap().completion = body["completionOptions"].clone();
    if let Some((status, message)) = state.refuse_completion.clone() {
        return ResponseTemplate::new(status)
            .set_body_json(json!({"message": message, "typeKey": "GitNeedsPermissionException"}));
    }
    if state.prs[&id].source_commit != reviewed {
        return ResponseTemplate::new(409).set_body_json(json!({"message": "TF401192: The source branch has been modified since the last merge attempt.", "typeKey": "GitPullRequestStaleException"}));
    }
    let unmet: Vec<String> = unmet(state, &state.prs[&id])
        .iter()
        .map(|p| p.kind.to_owned())
        .collect();
    if !unmet.is_empty() {
        // Approximation: the real answer to a completion that policies hold is not documented.
        return ResponseTemplate::new(400).set_body_json(json!({"message": format!("The pull request cannot be completed: {} must be met.", unmet.join(", "))}));
    }
    ok(complete(state, id))
}

/// Completes PR `id` as a merge does, with its completion options: merge commit (or squash
/// commit), the source branch deleted if asked, close date, and the CI trigger.
pub fn complete(state: &mut AzdoState, id: u32) -> Value {
    let pr = &state.prs[&id];
    let (source, target) = (pr.source_commit.clone(), pr.target_branch.clone());
    let squash = pr.completion["mergeStrategy"] == "squash";
    let message = format!("Merged PR {id}: {}", pr.title);
    let merge = fake_origin::merge(state, &source, &target, &message, squash)
        .unwrap_or_else(|| format!("merge-{}", &source[..8.min(source.len())]));
    if pr_deletes_source(&state.prs[&id]) {
        fake_origin::delete_branch(state, &state.prs[&id].source_branch);
    }
    let pr = state.prs.get_mut(&id).unwrap();
    pr.status = "completed".into();
    pr.merge_commit = Some(merge.clone());
    pr.closed = Some("2099-01-01T00:00:00Z".into());
    let (answer, target) = (pr_json(pr), pr.target_branch.clone());
    if state.triggers.contains(&target) {
        queue(state, target, Some(merge));
    }
    answer
}

/// Completes PR `id` if it has auto-complete and meets its policies, as Azure DevOps does.
pub fn settle_auto_complete(state: &mut AzdoState, id: u32) {
    let ready = state.prs.get(&id).is_some_and(|pr| {
        pr.status == "active" && pr.auto_complete.is_some() && unmet(state, pr).is_empty()
    });
    if ready {
        complete(state, id);
    }
}

fn pr_deletes_source(pr: &super::fake_azdo::FakePr) -> bool {
    pr.completion["deleteSourceBranch"] == true
}
