//! Slack over HTTP: signed slash commands, clicks and events at the HTTP receiver run the same
//! flows as Socket Mode envelopes, are deduplicated the same way, and anything not signed with
//! the signing secret (or signed too long ago) gets 401 and changes nothing.

use release_agent::domain::RunStatus;
use release_agent::slack::signature;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::pr_flow::{World, world};
use crate::support::{Backend, TestApp, wait_until};

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// How a request is signed.
#[derive(Clone, Copy)]
enum Signed {
    Right,
    WrongSecret,
    TenMinutesAgo,
    Unsigned,
}

/// POSTs `body` to `path` as Slack would, signed as `signed`; `retry` sets X-Slack-Retry-Num.
async fn post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: String,
    signed: Signed,
    retry: Option<u32>,
) -> (u16, String) {
    let now = chrono::Utc::now().timestamp();
    let (secret, at) = match signed {
        Signed::WrongSecret => ("not-the-signing-secret", now),
        Signed::TenMinutesAgo => (SECRET, now - 600),
        Signed::Right | Signed::Unsigned => (SECRET, now),
    };
    let signature = signature::sign(&SecretString::from(secret), at, body.as_bytes());
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", app.http_url()))
        .header("content-type", content_type)
        .body(body);
    if !matches!(signed, Signed::Unsigned) {
        request = request
            .header("x-slack-request-timestamp", at.to_string())
            .header("x-slack-signature", signature);
    }
    if let Some(n) = retry {
        request = request
            .header("x-slack-retry-num", n.to_string())
            .header("x-slack-retry-reason", "http_timeout");
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A payload's fields as Slack's form body.
fn form(fields: &Value) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields.as_object().unwrap() {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        out.append_pair(key, &text);
    }
    out.finish()
}

async fn command(app: &TestApp, text: &str, signed: Signed, retry: Option<u32>) -> (u16, String) {
    let payload = app.slack.slash_envelope("/review", text, "U0ADA")["payload"].clone();
    let body = form(&payload);
    post(
        app,
        "/slack/commands",
        "application/x-www-form-urlencoded",
        body,
        signed,
        retry,
    )
    .await
}

fn http_world_vars() -> [(&'static str, &'static str); 3] {
    [
        ("SLACK_SIGNING_SECRET", SECRET),
        ("HTTP_PORT", "0"),
        ("HTTP_BIND", "127.0.0.1"),
    ]
}

async fn a_signed_command_and_click_run_the_flow_and_a_retry_counts_once(backend: Backend) {
    let Some(w): Option<World> = world(backend, &http_world_vars()).await else {
        return;
    };
    w.ticketed_pr();
    let payload = w
        .app
        .slack
        .slash_envelope("/review", "Billo.Api#12", "U0ADA")["payload"]
        .clone();
    let body = form(&payload);
    let kind = "application/x-www-form-urlencoded";
    let (status, answer) = post(
        &w.app,
        "/slack/commands",
        kind,
        body.clone(),
        Signed::Right,
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["response_type"], "ephemeral");
    assert_eq!(
        answer["blocks"][0]["text"]["text"],
        "Reviewing Billo.Api#12. Follow it on its card in <#C0RELEASES>."
    );
    let (status, _) = post(
        &w.app,
        "/slack/commands",
        kind,
        body,
        Signed::Right,
        Some(1),
    )
    .await;
    assert_eq!(status, 200, "Slack's retry is answered");
    let run = w.run_for(12, &[]).await;
    w.waits_at(run, "ask_merge").await;
    assert_eq!(
        w.app.store.recent_runs(10).await.unwrap().len(),
        1,
        "one run for the retried command"
    );

    let approval = w.app.pending_approval(run).await;
    let click = w.app.click_envelope(&approval, "merge", "U0ADA").await["payload"].clone();
    let body = form(&json!({ "payload": click.to_string() }));
    let (status, answer) = post(
        &w.app,
        "/slack/interactions",
        kind,
        body.clone(),
        Signed::Right,
        None,
    )
    .await;
    assert_eq!((status, answer.as_str()), (200, ""));
    let (status, _) = post(
        &w.app,
        "/slack/interactions",
        kind,
        body,
        Signed::Right,
        Some(1),
    )
    .await;
    assert_eq!(status, 200);
    w.waits_at(run, "ask_ci").await;
    assert_eq!(w.azdo.with(|s| s.completions.len()), 1, "merged once");
    let decisions = crate::decisions::audit_of(&w.app, run, "decision").await;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0].actor, "U0ADA");
    w.app.finish().await;
}

async fn unsigned_stale_or_forged_requests_get_401_and_change_nothing(backend: Backend) {
    let Some(w): Option<World> = world(backend, &http_world_vars()).await else {
        return;
    };
    w.ticketed_pr();
    for signed in [Signed::WrongSecret, Signed::TenMinutesAgo, Signed::Unsigned] {
        let (status, answer) = command(&w.app, "Billo.Api#12", signed, None).await;
        assert_eq!(status, 401, "{answer}");
        assert!(answer.contains("refused"), "{answer}");
    }
    let verification = json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}).to_string();
    let (status, _) = post(
        &w.app,
        "/slack/events",
        "application/json",
        verification.clone(),
        Signed::WrongSecret,
        None,
    )
    .await;
    assert_eq!(status, 401);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        w.app.store.recent_runs(10).await.unwrap().is_empty(),
        "nothing started"
    );
    assert!(
        w.app.store.pending_deliveries(10).await.unwrap().is_empty(),
        "nothing saved"
    );
    let (status, answer) = post(
        &w.app,
        "/slack/events",
        "application/json",
        verification,
        Signed::Right,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap(),
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    w.app.finish().await;
}

/// Without SLACK_APP_TOKEN the bot opens no WebSocket and takes Slack over HTTP alone; its
/// status is ok, since there is no connection to lose.
async fn without_an_app_token_slack_comes_over_http_alone(backend: Backend) {
    let mut vars = http_world_vars().to_vec();
    vars.push(("SLACK_APP_TOKEN", ""));
    let Some(w): Option<World> = world(backend, &vars).await else {
        return;
    };
    w.ticketed_pr();
    let (status, _) = command(&w.app, "Billo.Api#12", Signed::Right, None).await;
    assert_eq!(status, 200);
    let run = w.run_for(12, &[]).await;
    w.waits_at(run, "ask_merge").await;
    assert_eq!(
        w.app.slack.connections_opened(),
        0,
        "no Socket Mode connection"
    );
    assert!(w.app.slack.calls("apps.connections.open").is_empty());
    let status: Value = reqwest::get(format!("{}/status", w.app.http_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "ok");
    let card = w.card(run).await;
    assert!(card.contains("Billo.Api#12"), "{card}");
    wait_until("the run to wait for its merge", || async {
        (w.app.run(run).await.status == RunStatus::Waiting).then_some(())
    })
    .await;
    w.app.finish().await;
}

crate::on_both_backends!(
    a_signed_command_and_click_run_the_flow_and_a_retry_counts_once,
    unsigned_stale_or_forged_requests_get_401_and_change_nothing,
    without_an_app_token_slack_comes_over_http_alone,
);
