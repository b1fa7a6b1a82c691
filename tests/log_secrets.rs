//! A full flow at TRACE level, every log line captured (a process-wide subscriber, so worker
//! threads are included), and not one configured secret in them.
//!
//! This is its own test binary because a process-wide subscriber can be installed only once.

#[allow(dead_code, unused_imports)]
#[path = "api/support/mod.rs"]
mod support;

#[path = "api/support/logs.rs"]
mod logs;

use std::io::Write;

use logs::Captured;
use release_agent::domain::RunStatus;
use release_agent::telemetry::LogFormat;
use support::{APP_TOKEN, BOT_TOKEN, Backend, TestApp, TestDb};
use wiremock::ResponseTemplate;

const DB_PASSWORD: &str = "hunter2-db-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_at_trace_level_logs_no_secret() {
    let captured = Captured::default();
    let subscriber = release_agent::telemetry::subscriber(
        LogFormat::Json,
        release_agent::telemetry::filter(Some("trace")),
        captured.clone(),
    );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let mut secrets = vec![BOT_TOKEN, APP_TOKEN];
    let (backend, db) = match TestDb::create(Backend::Postgres).await {
        Some(db) => {
            secrets.push(DB_PASSWORD);
            (Backend::Postgres, db.with_password(DB_PASSWORD))
        }
        None => (
            Backend::Sqlite,
            TestDb::create(Backend::Sqlite).await.unwrap(),
        ),
    };
    let app = TestApp::spawn_on(db, &[("SLACK_APPROVERS", "U0BOSS,S0LEADS")]).await;
    app.slack.set_group("S0LEADS", &["U0LEAD"]);
    app.slack.script(
        "chat.postMessage",
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "1")
            .set_body_json(serde_json::json!({"ok": false, "error": "ratelimited"})),
    );
    app.effects.fail("act", 503, 1);

    app.slack.slash("/review", "Billo.Api#nope", "U0LEAD").await;
    let run = app.start_demo().await;
    app.press(run, "go", "U0STRANGER").await;
    app.press(run, "go", "U0LEAD").await;
    let done = app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done);
    app.settled(run).await;
    app.finish().await;

    let logs = captured.text();
    for expected in [
        "checkpoint",
        "decision handled",
        "Slack asked us to slow down",
        "step failed; retrying later",
    ] {
        assert!(
            logs.contains(expected),
            "the capture saw the whole flow (missing {expected:?})"
        );
    }
    for secret in &secrets {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
    let mut sample = std::io::stderr();
    let _ = writeln!(
        sample,
        "log capture: {} lines checked against {} secrets on {backend:?}",
        logs.lines().count(),
        secrets.len()
    );
}
