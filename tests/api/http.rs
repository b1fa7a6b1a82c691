//! The HTTP receiver against the running app: health and metrics, Azure DevOps webhooks, the
//! operator API and the read-only endpoints. Each endpoint is tried with success, bad auth, a bad
//! body (or path, or query) and an oversized body; no answer may echo a secret.

use base64::Engine as _;
use release_agent::domain::{RunId, RunStatus};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::decisions::audit_of;
use crate::on_both_backends;
use crate::pr_flow::{APPROVE_WITH_FINDING, World, world};
use crate::release_flow::release_world;
use crate::support::Backend;

pub const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";
/// The nameless token: reads and starts runs, decides nothing.
pub const OPERATOR_TOKEN: &str = "operator-token-9876543210";
/// The personal tokens of U0OPS, U0ADA and U0EVE.
pub const OPS_TOKEN: &str = "ops-token-0123456789abcdef";
const ADA_TOKEN: &str = "ada-token-0123456789abcdef";
const EVE_TOKEN: &str = "eve-token-0123456789abcdef";
pub const HTTP_VARS: [(&str, &str); 5] = [
    ("HTTP_PORT", "0"),
    ("HTTP_BIND", "127.0.0.1"),
    ("WEBHOOK_SECRET", WEBHOOK_SECRET),
    ("OPERATOR_TOKEN", OPERATOR_TOKEN),
    (
        "OPERATOR_TOKENS",
        "U0OPS:ops-token-0123456789abcdef, U0ADA:ada-token-0123456789abcdef,\
         U0EVE:eve-token-0123456789abcdef",
    ),
];

/// What a caller sends, besides the method and path.
#[derive(Clone, Copy)]
pub enum Auth {
    None,
    Operator(&'static str),
    Webhook(&'static str),
    Basic(&'static str),
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// The message of an error answer (`{"error": "…"}`), once its status is checked.
    pub fn error(&self, status: StatusCode) -> &str {
        assert_eq!(self.status, status, "{}", self.text);
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {}", self.text))
    }
}

pub async fn call(
    w: &World,
    method: Method,
    path: &str,
    auth: Auth,
    body: Option<String>,
) -> Answer {
    let url = format!("{}{path}", w.app.http_url());
    let mut request = reqwest::Client::new().request(method, url);
    request = match auth {
        Auth::None => request,
        Auth::Operator(token) => request.header("X-Operator-Token", token),
        Auth::Webhook(secret) => request.header("X-Webhook-Secret", secret),
        Auth::Basic(password) => {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("azdo:{password}"));
            request.header("Authorization", format!("Basic {pair}"))
        }
    };
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json; charset=utf-8")
            .body(body);
    }
    let response = request.send().await.expect("the HTTP receiver answers");
    let status = response.status();
    let text = response.text().await.unwrap();
    for secret in [
        WEBHOOK_SECRET,
        OPERATOR_TOKEN,
        OPS_TOKEN,
        ADA_TOKEN,
        EVE_TOKEN,
        "azdo-pat-secret",
        "jira-token-secret",
    ] {
        assert!(!text.contains(secret), "an answer echoed a secret: {text}");
    }
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, body, text }
}

fn json_body(value: Value) -> Option<String> {
    Some(value.to_string())
}

/// POSTs `body` as JSON.
pub async fn post(w: &World, path: &str, auth: Auth, body: Value) -> Answer {
    call(w, Method::POST, path, auth, json_body(body)).await
}

/// Just over the 1 MiB limit.
fn huge() -> Option<String> {
    Some(format!("{{\"x\":\"{}\"}}", "a".repeat(1024 * 1024)))
}

/// Bad auth (missing and wrong) and an oversized body on one endpoint.
async fn refuses_strangers_and_huge_bodies(w: &World, method: Method, path: &str, good: Auth) {
    let wrong = match good {
        Auth::Webhook(_) => Auth::Webhook("not-the-secret"),
        _ => Auth::Operator("not-the-token"),
    };
    let missing = call(w, method.clone(), path, Auth::None, None).await;
    assert_eq!(
        missing.status,
        StatusCode::UNAUTHORIZED,
        "{path}: {}",
        missing.text
    );
    assert!(
        missing.body["error"]
            .as_str()
            .unwrap()
            .starts_with("missing"),
        "{}",
        missing.text
    );
    let wrong = call(w, method.clone(), path, wrong, None).await;
    assert_eq!(
        wrong.status,
        StatusCode::UNAUTHORIZED,
        "{path}: {}",
        wrong.text
    );
    assert!(
        wrong.body["error"].as_str().unwrap().starts_with("wrong"),
        "{}",
        wrong.text
    );
    let oversized = call(w, method, path, good, huge()).await;
    assert_eq!(oversized.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    assert_eq!(oversized.body["error"], "the body is larger than 1 MiB");
}

pub fn pr_event(event: &str, id: u32, status: &str, commit: &str) -> Value {
    json!({
        "id": "0f4e1c2a-0000-4000-8000-000000000001",
        "eventType": event,
        "publisherId": "tfs",
        "resource": {
            "repository": {"id": "4bc14d40", "name": "billo.api"},
            "pullRequestId": id,
            "status": status,
            "isDraft": false,
            "sourceRefName": "refs/heads/feature/ALLPOST-7",
            "targetRefName": "refs/heads/develop",
            "lastMergeSourceCommit": {"commitId": commit}
        },
        "resourceContainers": {"project": {"id": "p"}}
    })
}

async fn status_and_metrics_are_open_and_count_what_happens(backend: Backend) {
    let Some(w) = world(backend, &HTTP_VARS).await else {
        return;
    };
    let open = call(&w, Method::GET, "/status", Auth::None, None).await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.text);
    assert_eq!(
        open.body,
        json!({"status": "ok"}),
        "an outsider learns the word alone"
    );
    let token = Auth::Operator(OPERATOR_TOKEN);
    let status = call(&w, Method::GET, "/status", token, None).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    assert_eq!(status.body["database"]["ok"], true);
    assert_eq!(status.body["slack"]["connected"], true, "{}", status.text);
    assert_eq!(status.body["status"], "ok");

    w.release("history Billo.Api").await;
    let metrics = call(&w, Method::GET, "/metrics", Auth::None, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    for family in [
        "release_agent_ack_seconds_count{kind=\"command\"}",
        "release_agent_external_calls_total{outcome=\"ok\",service=\"Slack\"}",
        "release_agent_approvals_waiting 0",
    ] {
        assert!(
            metrics.text.contains(family),
            "{family} missing from {}",
            metrics.text
        );
    }
    let oversized = call(&w, Method::GET, "/status", Auth::None, huge()).await;
    assert_eq!(oversized.status, StatusCode::PAYLOAD_TOO_LARGE);
    let nowhere = call(&w, Method::GET, "/nowhere", Auth::None, None).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(nowhere.body["error"], "no such endpoint");
    w.app.finish().await;
}

async fn a_webhook_starts_one_review_per_commit_and_ignores_the_rest(backend: Backend) {
    let Some(w) = world(backend, &HTTP_VARS).await else {
        return;
    };
    let path = "/webhooks/azdo";
    refuses_strangers_and_huge_bodies(&w, Method::POST, path, Auth::Webhook(WEBHOOK_SECRET)).await;
    let malformed = call(
        &w,
        Method::POST,
        path,
        Auth::Webhook(WEBHOOK_SECRET),
        Some("{\"eventType\":".into()),
    )
    .await;
    assert!(
        malformed
            .error(StatusCode::BAD_REQUEST)
            .starts_with("the body is not valid JSON for this endpoint: EOF while parsing"),
        "{}",
        malformed.text
    );
    let no_pr = post(
        &w,
        path,
        Auth::Webhook(WEBHOOK_SECRET),
        json!({"eventType": "git.pullrequest.created", "resource": {"status": "active"}}),
    )
    .await;
    assert!(
        no_pr
            .error(StatusCode::BAD_REQUEST)
            .contains("missing field `pullRequestId`"),
        "{}",
        no_pr.text
    );

    let build = post(
        &w,
        path,
        Auth::Webhook(WEBHOOK_SECRET),
        json!({"eventType": "build.complete", "resource": {}}),
    )
    .await;
    assert_eq!(
        (build.status, build.body["outcome"].as_str()),
        (StatusCode::OK, Some("ignored"))
    );
    let mut elsewhere = pr_event("git.pullrequest.created", 14, "active", "abc");
    elsewhere["resource"]["targetRefName"] = json!("refs/heads/main");
    let elsewhere = post(&w, path, Auth::Webhook(WEBHOOK_SECRET), elsewhere).await;
    assert_eq!(
        elsewhere.body["reason"],
        "the PR targets main; the bot reviews PRs into develop"
    );

    // Azure DevOps sends `created` before it has computed the PR's merge.
    let mut early = pr_event("git.pullrequest.created", 14, "active", "abc");
    early["resource"]
        .as_object_mut()
        .unwrap()
        .remove("lastMergeSourceCommit");
    let early = post(&w, path, Auth::Webhook(WEBHOOK_SECRET), early).await;
    assert_eq!(
        (early.status, early.body["outcome"].as_str()),
        (StatusCode::ACCEPTED, Some("ignored")),
        "{}",
        early.text
    );
    assert!(
        w.app.store.recent_runs(5).await.unwrap().is_empty(),
        "nothing was started"
    );

    let commit = w
        .repo
        .branch("feature/ALLPOST-7", APPROVE_WITH_FINDING, None);
    w.open_pr(14, "feature/ALLPOST-7", &commit);
    // A commit Azure DevOps does not report as the PR's current one starts nothing.
    let made_up = "0000000000000000000000000000000000000bad";
    let forged = pr_event("git.pullrequest.updated", 14, "active", made_up);
    let forged = post(&w, path, Auth::Webhook(WEBHOOK_SECRET), forged).await;
    assert_eq!(
        (forged.status, forged.body["outcome"].as_str()),
        (StatusCode::OK, Some("ignored")),
        "{}",
        forged.text
    );
    assert_eq!(
        forged.body["reason"],
        format!("commit {made_up} is not PR 14's current source commit in Azure DevOps ({commit})")
    );
    assert!(w.app.store.recent_runs(5).await.unwrap().is_empty());
    let created = pr_event("git.pullrequest.created", 14, "active", &commit);
    let started = post(&w, path, Auth::Webhook(WEBHOOK_SECRET), created.clone()).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    let run = w.run_for(14, &[]).await;
    assert_eq!(started.body["run"], run.to_string());
    // The same commit again, by Basic auth this time, and as an update: nothing new.
    let updated = pr_event("git.pullrequest.updated", 14, "active", &commit);
    let again = post(&w, path, Auth::Basic(WEBHOOK_SECRET), updated).await;
    assert_eq!(
        (again.status, again.body["outcome"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    w.waits_at(run, "ask_merge").await;
    let runs = w.app.store.recent_runs(10).await.unwrap();
    assert_eq!(runs.len(), 1, "one run for one commit");
    assert_eq!(runs[0].started_by, "webhook");
    w.app.finish().await;
}

/// PR 15, reviewed at U0ADA's `/review`, waiting to be merged.
async fn pr_waiting_to_merge(w: &World) -> RunId {
    let commit = w
        .repo
        .branch("feature/ALLPOST-8", APPROVE_WITH_FINDING, None);
    w.open_pr(15, "feature/ALLPOST-8", &commit);
    let (_, run) = w.review("Billo.Api#15").await;
    w.waits_at(run, "ask_merge").await;
    run
}

async fn the_operator_decides_approvals_like_a_button(backend: Backend) {
    let Some(w) = world(backend, &HTTP_VARS).await else {
        return;
    };
    let token = Auth::Operator(OPS_TOKEN);
    let nameless = Auth::Operator(OPERATOR_TOKEN);
    refuses_strangers_and_huge_bodies(&w, Method::GET, "/approvals/pending", nameless).await;
    let run = pr_waiting_to_merge(&w).await;

    let pending = call(&w, Method::GET, "/approvals/pending", nameless, None).await;
    assert_eq!(pending.status, StatusCode::OK);
    let approvals = pending.body["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 1, "{}", pending.text);
    assert_eq!(approvals[0]["run"]["id"], run.to_string());
    let options: Vec<&str> = approvals[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(options, ["merge", "cancel"]);
    let path = format!("/approvals/{}", approvals[0]["id"].as_str().unwrap());

    refuses_strangers_and_huge_bodies(&w, Method::POST, &path, token).await;
    let bad = post(&w, &path, token, json!({"choice": "merge"})).await;
    assert!(
        bad.error(StatusCode::BAD_REQUEST)
            .contains("unknown field `choice`"),
        "{}",
        bad.text
    );
    let empty = call(&w, Method::POST, &path, token, None).await;
    assert_eq!(empty.body["error"], "the body is empty; send a JSON object");
    let not_offered = post(&w, &path, token, json!({"option": "approve"})).await;
    assert!(
        not_offered
            .error(StatusCode::BAD_REQUEST)
            .starts_with("The option approve is not offered here (offered: merge, cancel)"),
        "{}",
        not_offered.text
    );
    let unknown = post(
        &w,
        "/approvals/00000000-0000-4000-8000-000000000000",
        token,
        json!({"option": "merge"}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    let not_an_id = post(&w, "/approvals/42", token, json!({"option": "merge"})).await;
    assert_eq!(not_an_id.status, StatusCode::BAD_REQUEST);

    let unsigned = post(&w, &path, nameless, json!({"option": "merge"})).await;
    assert!(
        unsigned.error(StatusCode::FORBIDDEN).starts_with(
            "OPERATOR_TOKEN names nobody, so it may read and start runs but not decide"
        ),
        "{}",
        unsigned.text
    );

    let before = w.app.run(run).await.seq;
    let merged = post(&w, &path, token, json!({"option": "merge"})).await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.text);
    assert_eq!(merged.body["outcome"], "accepted");
    assert_eq!(merged.body["by"], "U0OPS");
    // Past the merge step, not merely at it.
    w.app
        .wait_for_run(run, "the merge to go on", |r| {
            r.seq > before && !["ask_merge", "merge"].contains(&r.step.as_str())
        })
        .await;
    let again = post(&w, &path, token, json!({"option": "cancel"})).await;
    assert!(
        again
            .error(StatusCode::CONFLICT)
            .starts_with("Already decided: @U0OPS chose merge"),
        "{}",
        again.text
    );
    let card = w.card(run).await;
    assert!(card.contains("*Merge* chosen by <@U0OPS> on"), "{card}");
    let audit = w.app.store.audit_for_run(run).await.unwrap();
    assert!(
        audit.iter().any(|a| a.action == "decision"
            && a.actor == "U0OPS"
            && a.detail == "chose merge at merge"
            && a.via.as_deref() == Some("operator API")),
        "{audit:?}"
    );
    assert_eq!(w.azdo.with(|s| s.completions.len()), 1, "merged once");
    w.app.finish().await;
}

/// A personal operator token is its person, under the same policy and four-eyes rule as their
/// clicks; the nameless token decides nothing.
async fn operators_are_people_under_the_same_policy(backend: Backend) {
    let mut vars = HTTP_VARS.to_vec();
    vars.extend([
        ("SLACK_APPROVERS", "U0ADA U0OPS"),
        ("ALLOW_SELF_APPROVAL", "false"),
    ]);
    let Some(w) = world(backend, &vars).await else {
        return;
    };
    let run = pr_waiting_to_merge(&w).await;
    let approval = w.app.pending_approval(run).await;
    let path = format!("/approvals/{}", approval.id);
    let merge = json!({"option": "merge"});

    let own = post(&w, &path, Auth::Operator(ADA_TOKEN), merge.clone()).await;
    assert!(
        own.error(StatusCode::FORBIDDEN)
            .starts_with("You asked for this run, so someone else decides it"),
        "{}",
        own.text
    );
    let outsider = post(&w, &path, Auth::Operator(EVE_TOKEN), merge.clone()).await;
    assert!(
        outsider
            .error(StatusCode::FORBIDDEN)
            .starts_with("You are not one of the approvers for merging PRs"),
        "{}",
        outsider.text
    );
    let refused: Vec<(String, String)> = audit_of(&w.app, run, "decision_refused")
        .await
        .into_iter()
        .map(|a| {
            (
                a.actor,
                format!("{} via {}", a.detail, a.via.unwrap_or_default()),
            )
        })
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0, "U0ADA");
    assert!(
        refused[0]
            .1
            .ends_with("refused: own_request via operator API"),
        "{refused:?}"
    );
    assert_eq!(refused[1].0, "U0EVE");
    assert!(
        refused[1]
            .1
            .ends_with("refused: not_allowed via operator API"),
        "{refused:?}"
    );
    assert_eq!(w.app.run(run).await.status, RunStatus::Waiting);

    let merged = post(&w, &path, Auth::Operator(OPS_TOKEN), merge).await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.text);
    assert_eq!(merged.body["by"], "U0OPS");
    w.app
        .wait_for_run(run, "the merge to be done", |r| {
            !["ask_merge", "merge"].contains(&r.step.as_str())
        })
        .await;
    assert_eq!(w.azdo.with(|s| s.completions.len()), 1, "merged once");
    w.app.finish().await;
}

async fn the_operator_starts_reviews_and_releases_by_hand(backend: Backend) {
    let Some(w) = release_world(backend, &HTTP_VARS).await else {
        return;
    };
    let token = Auth::Operator(OPERATOR_TOKEN);
    refuses_strangers_and_huge_bodies(&w, Method::POST, "/manual/pr/16", token).await;
    let bad_id = call(&w, Method::POST, "/manual/pr/sixteen", token, None).await;
    assert_eq!(
        (bad_id.status, bad_id.body["error"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("`sixteen` is not a pull request number")
        )
    );
    let bad_body = call(&w, Method::POST, "/manual/pr/16", token, Some("[1,".into())).await;
    assert_eq!(bad_body.status, StatusCode::BAD_REQUEST);
    let commit = w
        .repo
        .branch("feature/ALLPOST-9", APPROVE_WITH_FINDING, None);
    w.open_pr(16, "feature/ALLPOST-9", &commit);
    let started = post(&w, "/manual/pr/16", token, json!({"repo": "Billo.Api"})).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    let run = w.run_for(16, &[]).await;
    assert_eq!(w.app.run(run).await.started_by, "operator");
    let twice = call(&w, Method::POST, "/manual/pr/16", token, None).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(twice.body["run"]["id"], run.to_string());

    let path = "/manual/release";
    refuses_strangers_and_huge_bodies(&w, Method::POST, path, token).await;
    let typo = post(&w, path, token, json!({"repository": "Billo.Api"})).await;
    assert!(
        typo.error(StatusCode::BAD_REQUEST)
            .contains("unknown field `repository`, expected `repo`"),
        "{}",
        typo.text
    );
    let stranger = post(&w, path, token, json!({"repo": "Other.Repo"})).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    let release = post(
        &w,
        path,
        Auth::Operator(OPS_TOKEN),
        json!({"repo": "billo.api"}),
    )
    .await;
    assert_eq!(release.status, StatusCode::ACCEPTED, "{}", release.text);
    assert_eq!(release.body["version"], "1.4.3");
    let second = post(&w, path, token, json!({"repo": "Billo.Api"})).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.body["run"]["id"], release.body["run"]);
    let release_run = w.release_run().await;
    w.waits_at(release_run, "ask_create").await;
    assert_eq!(
        w.app.run(release_run).await.started_by,
        "U0OPS",
        "a personal token starts runs in its person's name"
    );
    w.app.finish().await;
}

async fn releases_and_staging_can_be_read(backend: Backend) {
    let Some(w) = release_world(backend, &HTTP_VARS).await else {
        return;
    };
    let token = Auth::Operator(OPERATOR_TOKEN);
    refuses_strangers_and_huge_bodies(&w, Method::GET, "/releases/Billo.Api", token).await;
    let releases = call(&w, Method::GET, "/releases/billo.api", token, None).await;
    assert_eq!(releases.status, StatusCode::OK, "{}", releases.text);
    assert_eq!(releases.body["repo"], "Billo.Api");
    assert_eq!(releases.body["released"][0]["version"], "1.4.2");
    assert_eq!(releases.body["staging"]["version"], "1.4.3");
    let bad = call(&w, Method::GET, "/releases/a%3Bb", token, None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);

    refuses_strangers_and_huge_bodies(&w, Method::GET, "/staging?repo=Billo.Api", token).await;
    let one = call(&w, Method::GET, "/staging?repo=Billo.Api", token, None).await;
    assert_eq!(one.status, StatusCode::OK);
    let staging = &one.body["staging"];
    assert_eq!(staging["version"], "1.4.3");
    assert_eq!(
        staging["tickets"],
        json!(["ALLPOST-1", "ALLPOST-2", "ALLPOST-3"])
    );
    assert_eq!(
        staging["prs"][2],
        json!({"id": 23, "title": "Remember me", "bump": "patch"})
    );
    let all = call(&w, Method::GET, "/staging", token, None).await;
    assert_eq!(all.body["staging"].as_array().unwrap().len(), 1);
    let unknown = call(&w, Method::GET, "/staging?repo=Nope", token, None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let garbled = call(&w, Method::GET, "/staging?repo=a&repo=b", token, None).await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST, "{}", garbled.text);
    w.app.finish().await;
}

/// A wrong secret or token is answered from the headers, before a byte of the body is read, and
/// the connection is closed: a stranger cannot make the bot read (or wait for) 1 MiB.
/// 200 connections that send half a request and stall do not stop `/status` from answering,
/// and the receiver closes a stalled one once its headers are overdue (10 s).
async fn slow_connections_do_not_stop_the_receiver(backend: Backend) {
    let Some(w) = world(backend, &HTTP_VARS).await else {
        return;
    };
    let addr = w.app.http_url().trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(format!("GET /status HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
            .await
            .unwrap();
        stalled.push(stream);
    }
    let status = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        call(&w, Method::GET, "/status", Auth::None, None),
    )
    .await
    .expect("/status answers beside 200 stalled connections");
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stalled[0].read_to_end(&mut rest),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(_))),
        "the receiver closed a stalled connection: {closed:?}"
    );
    w.app.finish().await;
}

async fn a_stranger_is_answered_before_the_body_is_read(backend: Backend) {
    let Some(w) = world(backend, &HTTP_VARS).await else {
        return;
    };
    let addr = w.app.http_url().trim_start_matches("http://").to_owned();
    for (path, credential) in [
        (
            "/webhooks/azdo",
            "X-Webhook-Secret: not-the-secret-0123456789",
        ),
        (
            "/manual/release",
            "X-Operator-Token: not-the-token-0123456789",
        ),
        (
            "/approvals/00000000-0000-4000-8000-000000000000",
            "X-Operator-Token: not-the-token-0123456789",
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{credential}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // Not one byte of the body follows: the answer must come without it.
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut answer),
        )
        .await;
        let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        assert!(read.is_ok(), "{path}: no answer without the body: {answer}");
        assert!(answer.starts_with("http/1.1 401"), "{path}: {answer}");
        assert!(answer.contains("connection: close"), "{path}: {answer}");
    }
    w.app.finish().await;
}

async fn without_secrets_the_guarded_endpoints_refuse_everyone(backend: Backend) {
    let Some(w) = world(backend, &[("HTTP_PORT", "0"), ("HTTP_BIND", "127.0.0.1")]).await else {
        return;
    };
    let hook = post(&w, "/webhooks/azdo", Auth::Webhook(""), json!({})).await;
    assert_eq!(hook.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        hook.body["error"],
        "webhooks are refused: WEBHOOK_SECRET is not set on the bot"
    );
    let operator = call(
        &w,
        Method::GET,
        "/releases/Billo.Api",
        Auth::Operator("anything-at-all-123"),
        None,
    )
    .await;
    assert_eq!(operator.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        operator.body["error"],
        "the operator API is off: neither OPERATOR_TOKEN nor OPERATOR_TOKENS is set on the bot"
    );
    assert!(
        w.app.store.recent_runs(5).await.unwrap().is_empty(),
        "nothing was started"
    );
    w.app.finish().await;
}

on_both_backends!(
    a_stranger_is_answered_before_the_body_is_read,
    slow_connections_do_not_stop_the_receiver,
    operators_are_people_under_the_same_policy,
    status_and_metrics_are_open_and_count_what_happens,
    a_webhook_starts_one_review_per_commit_and_ignores_the_rest,
    the_operator_decides_approvals_like_a_button,
    the_operator_starts_reviews_and_releases_by_hand,
    releases_and_staging_can_be_read,
    without_secrets_the_guarded_endpoints_refuse_everyone,
);
