//! PR iterations, their changes and comment threads for the fake Azure DevOps, per the git 7.1
//! spec (`pullRequestIterations`, `pullRequestIterationChanges`, `pullRequestThreads`). Each
//! push is an iteration. Approximation: the changed files are a fixed list (the test
//! repository's), each with the same `changeTrackingId` in every iteration, as Azure DevOps
//! keeps a file's id across iterations; and a thread pinned to an iteration or file the PR does
//! not have is refused with a 400 (the real service's answer is not documented); and a comment
//! reads back with the content exactly as posted (the spec does not say whether the service
//! normalizes it).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::fake_azdo::{AzdoState, list, ok};

/// The files every PR of the fake changes, in change-tracking-id order (from 1).
pub const FILES: [&str; 2] = ["/.fake-claude-answer.json", "/src/login.rs"];

fn tracking_id(path: &str) -> Option<usize> {
    FILES.iter().position(|f| *f == path).map(|i| i + 1)
}

pub fn route(
    state: &mut AzdoState,
    method: &str,
    parts: &[&str],
    _query: &BTreeMap<String, String>,
    body: &Value,
) -> Option<ResponseTemplate> {
    let [
        org,
        project,
        "_apis",
        "git",
        "repositories",
        _,
        pr_part,
        id,
        rest @ ..,
    ] = parts
    else {
        return None;
    };
    if (*org, *project) != ("org", "Proj") || !pr_part.eq_ignore_ascii_case("pullRequests") {
        return None;
    }
    let id: u32 = id.parse().ok()?;
    let iterations = state
        .prs
        .get(&id)
        .map(|pr| pr.iterations.clone())
        .unwrap_or_default();
    Some(match (method, rest) {
        ("GET", ["iterations"]) => list(
            iterations
                .iter()
                .enumerate()
                .map(|(i, commit)| json!({"id": i + 1, "sourceRefCommit": {"commitId": commit}, "targetRefCommit": {"commitId": "develop-head"}}))
                .collect(),
        ),
        ("GET", ["iterations", n, "changes"]) => {
            let n: usize = n.parse().unwrap_or(0);
            if n == 0 || n > iterations.len() {
                return Some(ResponseTemplate::new(404).set_body_json(json!({"message": format!("TF401175: The pull request iteration {n} was not found.")})));
            }
            let entries: Vec<Value> = FILES
                .iter()
                .enumerate()
                .map(|(i, path)| json!({"changeTrackingId": i + 1, "changeId": i + 1, "item": {"objectId": format!("obj-{n}-{i}"), "path": path}, "changeType": "edit"}))
                .collect();
            ok(json!({"changeEntries": entries, "nextSkip": 0, "nextTop": 0}))
        }
        ("GET", ["threads"]) => {
            let threads = state
                .threads
                .iter()
                .enumerate()
                .filter(|(_, (pr, _))| *pr == id)
                .map(|(i, (_, body))| thread_json(i, body))
                .collect();
            list(threads)
        }
        ("GET", ["threads", thread]) => {
            let Some((i, body_of)) = thread_of(state, id, thread) else {
                return Some(no_thread(thread));
            };
            ok(thread_json(i, body_of))
        }
        ("PATCH", ["threads", thread]) => {
            let Some((i, body_of)) = thread_of(state, id, thread) else {
                return Some(no_thread(thread));
            };
            if let Some(status) = body.get("status") {
                body_of["status"] = status.clone();
            }
            ok(thread_json(i, body_of))
        }
        ("POST", ["threads", thread, "comments"]) => {
            let Some((_, body_of)) = thread_of(state, id, thread) else {
                return Some(no_thread(thread));
            };
            let comments = body_of["comments"].as_array_mut().expect("a thread has comments");
            let mut comment = body.clone();
            comment["id"] = json!(comments.len() + 1);
            comments.push(comment.clone());
            ok(comment)
        }
        ("POST", ["threads"]) => {
            if let Some(context) = body.get("pullRequestThreadContext") {
                let second = context["iterationContext"]["secondComparingIteration"].as_u64().unwrap_or(0) as usize;
                let first = context["iterationContext"]["firstComparingIteration"].as_u64().unwrap_or(0) as usize;
                let file = body["threadContext"]["filePath"].as_str().unwrap_or_default();
                let tracked = context["changeTrackingId"].as_u64().map(|t| t as usize);
                if first == 0 || second < first || second > iterations.len() || tracked != tracking_id(file) {
                    return Some(ResponseTemplate::new(400).set_body_json(json!({"message": "Invalid argument value.\r\nParameter name: pullRequestThreadContext", "typeKey": "InvalidArgumentValueException"})));
                }
            }
            state.threads.push((id, body.clone()));
            ok(json!({"id": 1000 + state.threads.len()}))
        }
        _ => return None,
    })
}

/// A stored thread as the threads API answers it: its id, status, context, comments (numbered
/// from 1) and properties.
fn thread_json(index: usize, body: &Value) -> Value {
    let comments: Vec<Value> = body["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            // Comments come from the PAT's identity (the bot) unless a test says who wrote them.
            let author = c
                .get("author")
                .cloned()
                .unwrap_or_else(|| json!({"id": "bot-guid", "displayName": "Release Bot"}));
            json!({"id": i + 1, "content": c["content"], "commentType": "text", "author": author, "isDeleted": false})
        })
        .collect();
    json!({
        "id": 1001 + index,
        "status": body["status"],
        "threadContext": body.get("threadContext"),
        "comments": comments,
        "properties": body["properties"],
        "isDeleted": false,
    })
}

/// Thread `thread` (its id as text) of PR `pr`, and its index in the fake's list.
fn thread_of<'s>(
    state: &'s mut AzdoState,
    pr: u32,
    thread: &str,
) -> Option<(usize, &'s mut Value)> {
    let index = thread.parse::<usize>().ok()?.checked_sub(1001)?;
    match state.threads.get_mut(index) {
        Some((of, body)) if *of == pr => Some((index, body)),
        _ => None,
    }
}

/// Approximation: the real message for an unknown thread id is not documented.
fn no_thread(thread: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(
        json!({"message": format!("TF401181: The pull request thread {thread} was not found.")}),
    )
}
