//! `POST /webhooks/azdo`: Azure DevOps service hooks for pull requests. Created, updated and
//! merged events become review requests through the poller's entry point, so a PR seen by both
//! the poller and a webhook is handled once per source commit (and once when merged). The PR is
//! fetched again by the run itself; the payload only says which PR and which commit, and a commit
//! Azure DevOps does not report as the PR's current one starts nothing.
//!
//! Other event types, PRs of repositories the bot does not work with, and PRs into other branches
//! get 200 with the reason they were ignored, so Azure DevOps does not put the hook on probation.

use axum::Json;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::{ApiError, Body, State, parse_json};
use crate::azdo::AzureDevOps;
use crate::workflow::pr::start::{Requested, Requester, ReviewRequest, request_review};

/// What a service hook asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A PR that may need a review (`commit`) or was completed (`commit: None`).
    PullRequest {
        repo: String,
        id: u32,
        target_branch: String,
        commit: Option<String>,
    },
    Ignored(String),
    /// An active PR whose merge Azure DevOps has not computed yet: nothing to review until it
    /// has. Answered 202, not as an error: Azure DevOps turns off a hook that keeps failing.
    NoCommitYet,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hook {
    event_type: String,
    #[serde(default)]
    resource: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullRequest {
    pull_request_id: u32,
    status: String,
    target_ref_name: String,
    repository: Repository,
    #[serde(default)]
    is_draft: bool,
    last_merge_source_commit: Option<Commit>,
}

#[derive(Deserialize)]
struct Repository {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Commit {
    #[serde(default)]
    commit_id: String,
}

const PR_EVENTS: [&str; 3] = [
    "git.pullrequest.created",
    "git.pullrequest.updated",
    "git.pullrequest.merged",
];

/// Reads a service hook body. `Err` says what is missing from a PR event.
pub fn parse(hook: Value) -> Result<Event, String> {
    let hook: Hook = serde_json::from_value(hook)
        .map_err(|e| format!("not an Azure DevOps service hook event: {e}"))?;
    if !PR_EVENTS.contains(&hook.event_type.as_str()) {
        return Ok(Event::Ignored(format!(
            "event type {} is not handled",
            hook.event_type
        )));
    }
    let pr: PullRequest = serde_json::from_value(hook.resource).map_err(|e| {
        format!(
            "{} without a usable pull request in `resource`: {e}",
            hook.event_type
        )
    })?;
    if pr.is_draft {
        return Ok(Event::Ignored("the PR is a draft".into()));
    }
    // `merged` also fires for test merges of an active PR; completion shows in the status.
    let commit = match pr.status.to_ascii_lowercase().as_str() {
        "completed" => None,
        "active" => match pr.last_merge_source_commit {
            Some(commit) if !commit.commit_id.is_empty() => Some(commit.commit_id),
            _ => return Ok(Event::NoCommitYet),
        },
        other => return Ok(Event::Ignored(format!("the PR is {other}"))),
    };
    Ok(Event::PullRequest {
        repo: pr.repository.name,
        id: pr.pull_request_id,
        target_branch: pr
            .target_ref_name
            .strip_prefix("refs/heads/")
            .unwrap_or(&pr.target_ref_name)
            .to_owned(),
        commit,
    })
}

const NO_COMMIT_YET: &str = "the PR has no source commit yet (lastMergeSourceCommit); its next \
     update event, or the poller, brings it";

pub async fn azdo(
    axum::extract::State(shared): State,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let event = parse(parse_json(body)?).map_err(ApiError::bad_request)?;
    let ignored = |reason: String| {
        Ok((
            StatusCode::OK,
            Json(json!({ "outcome": "ignored", "reason": reason })),
        ))
    };
    let (repo, id, target_branch, commit) = match event {
        Event::PullRequest {
            repo,
            id,
            target_branch,
            commit,
        } => (repo, id, target_branch, commit),
        Event::Ignored(reason) => return ignored(reason),
        Event::NoCommitYet => {
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "outcome": "ignored", "reason": NO_COMMIT_YET })),
            ));
        }
    };
    let Some((repo, target)) = shared.known_repo(&repo).cloned() else {
        return ignored(format!("the bot does not work with repository {repo}"));
    };
    if !target.eq_ignore_ascii_case(&target_branch) {
        return ignored(format!(
            "the PR targets {target_branch}; the bot reviews PRs into {target}"
        ));
    }
    if let (Some(claimed), Some(azdo)) = (&commit, &shared.azdo)
        && let Some(current) = current_commit(azdo.as_ref(), id).await
        && !current.eq_ignore_ascii_case(claimed)
    {
        return ignored(format!(
            "commit {claimed} is not PR {id}'s current source commit in Azure DevOps ({current})"
        ));
    }
    let request = ReviewRequest {
        pr_id: id,
        repo: Some(repo.clone()),
        requester: Requester::Watcher {
            source: "webhook",
            commit,
        },
    };
    match request_review(&shared.engine, request).await? {
        Requested::Started(run) => {
            info!(%repo, pr = id, %run, "a webhook started a PR run");
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "outcome": "started", "run": run.to_string() })),
            ))
        }
        _ => Ok((StatusCode::OK, Json(json!({ "outcome": "duplicate" })))),
    }
}

/// The PR's source commit as Azure DevOps reports it now. When it cannot say (down, slow), the
/// webhook still starts its run: the run reads the PR itself, reviews only its current commit,
/// and a commit reviewed already is not reviewed again.
async fn current_commit(azdo: &dyn AzureDevOps, id: u32) -> Option<String> {
    match tokio::time::timeout(VERIFY_WITHIN, azdo.pull_request(id)).await {
        Ok(Ok(pr)) => pr.source_commit,
        Ok(Err(e)) => {
            warn!(pr = id, error = %e, "cannot check a webhook's commit; the run checks it");
            None
        }
        Err(_) => {
            warn!(
                pr = id,
                "Azure DevOps was slow to confirm a webhook's commit; the run checks it"
            );
            None
        }
    }
}

/// Azure DevOps waits for a service hook's answer, and fails the hook after a while.
const VERIFY_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(event: &str, status: &str) -> Value {
        json!({
            "id": "6872ee8c-b333-4eff-bfb9-0d5274943566",
            "eventType": event,
            "publisherId": "tfs",
            "resource": {
                "repository": {"id": "4bc14d40", "name": "Billo.Api"},
                "pullRequestId": 13,
                "status": status,
                "isDraft": false,
                "sourceRefName": "refs/heads/feature/ALLPOST-1",
                "targetRefName": "refs/heads/develop",
                "lastMergeSourceCommit": {"commitId": "53d54ac915144006c2c9e90d2c7d3880920db49c"}
            }
        })
    }

    #[test]
    fn pr_events_name_the_pr_and_the_commit_to_review() {
        assert_eq!(
            parse(hook("git.pullrequest.updated", "active")),
            Ok(Event::PullRequest {
                repo: "Billo.Api".into(),
                id: 13,
                target_branch: "develop".into(),
                commit: Some("53d54ac915144006c2c9e90d2c7d3880920db49c".into()),
            })
        );
        let Ok(Event::PullRequest { commit, .. }) =
            parse(hook("git.pullrequest.merged", "completed"))
        else {
            panic!("a completed PR is an event");
        };
        assert_eq!(commit, None, "a completed PR is staged, not reviewed");
        for missing in [json!(null), json!({}), json!({"commitId": ""})] {
            let mut early = hook("git.pullrequest.created", "active");
            early["resource"]["lastMergeSourceCommit"] = missing;
            assert_eq!(parse(early), Ok(Event::NoCommitYet));
        }
    }

    #[test]
    fn other_events_and_closed_prs_are_ignored_and_broken_ones_explained() {
        assert_eq!(
            parse(hook("build.complete", "active")),
            Ok(Event::Ignored(
                "event type build.complete is not handled".into()
            ))
        );
        assert_eq!(
            parse(hook("git.pullrequest.updated", "abandoned")),
            Ok(Event::Ignored("the PR is abandoned".into()))
        );
        let broken =
            parse(json!({"eventType": "git.pullrequest.created", "resource": {}})).unwrap_err();
        assert!(
            broken.starts_with(
                "git.pullrequest.created without a usable pull request in `resource`: missing field"
            ),
            "{broken}"
        );
        let not_a_hook = parse(json!({"hello": 1})).unwrap_err();
        assert!(
            not_a_hook.contains("missing field `eventType`"),
            "{not_a_hook}"
        );
    }
}
