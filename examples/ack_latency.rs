//! Ack latency of slash commands. The running app (Socket Mode listener, engine, outbound queue)
//! gets `/review Billo.Api#N` commands from a fake Slack over 2 Socket Mode connections; each
//! command is persisted (its run and its delivery key) before its ack. The figures are the times
//! from sending an envelope to receiving its ack, as the fake Slack sees them:
//! - a burst: 1000 commands sent at once, spread over both connections;
//! - one at a time: 200 commands, each sent after the previous ack.
//!
//! `cargo run --release --example ack_latency` (SQLite), or with `-- --postgres` and
//! `TEST_DATABASE_URL` set.

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::fake_azdo::FakeAzdo;
use support::{Backend, TestApp};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backend = if std::env::args().any(|a| a == "--postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let azdo = FakeAzdo::start().await;
    let repos = tempfile::tempdir().unwrap();
    let base_url = azdo.base_url();
    let repos_dir = repos.path().display().to_string();
    let vars = [
        ("AZDO_BASE_URL", base_url.as_str()),
        ("AZDO_PROJECT", "Proj"),
        ("AZDO_PAT", "azdo-pat-secret"),
        ("WATCHED_REPOS", "Billo.Api"),
        ("REPOS_BASE_DIR", repos_dir.as_str()),
    ];
    let app = TestApp::spawn_with(backend, &vars)
        .await
        .expect("the database is available (TEST_DATABASE_URL for --postgres)");
    // slack-morphism opens its second connection a few seconds after the first.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.slack.live_connections() < 2 {
        assert!(
            Instant::now() < deadline,
            "the second connection never opened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "ack latency, {backend:?}, 2 Socket Mode connections, each command persisted before its ack"
    );

    let mut pr = 0;
    let mut next_pr = || {
        pr += 1;
        format!("Billo.Api#{pr}")
    };

    let mut sent = Vec::with_capacity(1000);
    for i in 0..1000 {
        let envelope = app.slack.slash_envelope("/review", &next_pr(), "U0ADA");
        let at = Instant::now();
        sent.push((app.slack.deliver_on(i, envelope), at));
    }
    let burst = latencies(&app, &sent).await;
    report("burst of 1000", burst);

    let mut one_by_one = Vec::with_capacity(200);
    for i in 0..200 {
        let envelope = app.slack.slash_envelope("/review", &next_pr(), "U0ADA");
        let at = Instant::now();
        let id = app.slack.deliver_on(i, envelope);
        app.slack.ack(&id).await;
        one_by_one.push(app.slack.acked_at(&id).unwrap() - at);
    }
    report("200 one at a time", one_by_one);
    let runs = app.store.count_runs().await.unwrap();
    println!("runs by kind and status: {runs:?}");
    app.finish().await;
}

/// Waits for every ack; the time from sending to the ack, for each envelope.
async fn latencies(app: &TestApp, sent: &[(String, Instant)]) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let acked: Option<Vec<Duration>> = sent
            .iter()
            .map(|(id, at)| app.slack.acked_at(id).map(|acked| acked - *at))
            .collect();
        if let Some(acked) = acked {
            return acked;
        }
        assert!(Instant::now() < deadline, "not every envelope was acked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn report(what: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index]
    };
    println!(
        "{what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(*latencies.last().unwrap())
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
