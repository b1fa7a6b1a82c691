//! Where time goes: at debug level every store call and every client call is a span named for
//! the call, with its ids, and the log says how long each took when it closes.
//!
//! Its own test binary, with a process-wide subscriber: a subscriber set for one thread misses
//! spans when other tests make the same calls on other threads at the same moment.

#[allow(dead_code, unused_imports)]
#[path = "api/support/mod.rs"]
mod support;

#[path = "api/support/logs.rs"]
mod logs;

use std::time::Duration;

use release_agent::domain::{JiraKey, RunId, RunKind};
use release_agent::jira::{Jira, JiraClient, JiraSettings};
use release_agent::store::NewRun;
use release_agent::telemetry::{self, LogFormat};
use secrecy::SecretString;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use logs::Captured;
use support::http_fakes::fast_retry;
use support::{Backend, TestDb};

/// The `close` lines of spans named `name`, as JSON.
fn closes(logs: &str, name: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "close" && line["span"]["name"] == name)
        .collect()
}

/// A span's busy and idle time together, read from its `close` line (`1.13ms`, `192µs`, `2.01s`).
fn took(close: &Value) -> Duration {
    let read = |field: &str| {
        let text = close[field].as_str().unwrap_or_default();
        let split = text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len());
        let number: f64 = text[..split]
            .parse()
            .unwrap_or_else(|_| panic!("{field} in {close}"));
        let unit = match &text[split..] {
            "ns" => 1e-9,
            "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            other => panic!("unknown unit {other} in {close}"),
        };
        Duration::from_secs_f64(number * unit)
    };
    read("time.busy") + read("time.idle")
}

#[tokio::test]
async fn at_debug_level_store_and_client_calls_say_what_they_were_for_and_how_long_they_took() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let captured = Captured::default();
    let subscriber = telemetry::subscriber(
        LogFormat::Json,
        telemetry::filter(Some("release_agent=debug")),
        captured.clone(),
    );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let store = db.store().await;
    let id = RunId::new();
    let run = NewRun {
        id,
        kind: RunKind::named("demo"),
        repo: None,
        pr_id: None,
        subject: "traced".into(),
        step: "prepare".into(),
        state: json!({"step": "prepare"}),
        channel_id: "C1".into(),
        started_by: "U1".into(),
        one_per_pr: false,
    };
    store
        .create_run(&run, None, chrono::Utc::now())
        .await
        .unwrap();
    store
        .get_run(id)
        .await
        .unwrap()
        .expect("the run was stored");

    let jira = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/ALLPOST-7"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(30))
                .set_body_json(json!({"key": "ALLPOST-7", "fields": {"summary": "Login",
                    "status": {"name": "In Progress"}, "issuetype": {"name": "Story"}}})),
        )
        .mount(&jira)
        .await;
    let client = JiraClient::new(JiraSettings {
        base_url: Url::parse(&jira.uri()).unwrap(),
        email: "bot@example.com".into(),
        token: SecretString::from("jira-token-secret-4242"),
        retry: fast_retry(),
        proxy: release_agent::proxy::Proxies::default(),
        resolution: "Done".into(),
    })
    .unwrap();
    client
        .issue(&JiraKey::parse("ALLPOST-7").unwrap())
        .await
        .unwrap();

    let logs = captured.text();
    let read = closes(&logs, "get_run");
    assert_eq!(read.len(), 1, "one read, one span: {logs}");
    assert_eq!(read[0]["span"]["run_id"], id.to_string());
    assert!(took(&read[0]) > Duration::ZERO, "{}", read[0]);
    assert_eq!(closes(&logs, "create_run").len(), 1, "{logs}");

    let issue = closes(&logs, "issue");
    assert_eq!(issue.len(), 1, "{logs}");
    assert_eq!(issue[0]["span"]["key"], "ALLPOST-7");
    let request = closes(&logs, "send");
    assert_eq!(request.len(), 1, "{logs}");
    assert_eq!(request[0]["span"]["path"], "/rest/api/3/issue/ALLPOST-7");
    assert!(
        took(&request[0]) >= Duration::from_millis(30),
        "the 30 ms Jira took to answer shows in the request's time: {}",
        request[0]
    );
    assert!(took(&issue[0]) >= took(&request[0]), "{}", issue[0]);
    assert!(!logs.contains("jira-token-secret-4242"));
    db.drop_database().await;
}
