//! Ack latency of slash commands. The real binary (release build) gets `/review Billo.Api#N`
//! commands from a fake Slack over 2 Socket Mode connections; each command is persisted (its run
//! and its delivery key) before its ack. The bot runs in its own process, as in production, and
//! its engine works on the new runs meanwhile (the PRs do not exist in the fake Azure DevOps, so
//! each run fails at its first step). The figures are the times from sending an envelope to
//! receiving its ack, as the fake Slack sees them:
//! - a burst: 1000 commands sent at once, spread over both connections;
//! - one at a time: 200 commands, each sent after the previous ack.
//!
//! `cargo bench --bench ack_latency` (SQLite), or with `-- --postgres` and `TEST_DATABASE_URL`
//! set.

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "support/bot.rs"]
mod bot;

use std::time::{Duration, Instant};

use support::Backend;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backend = if std::env::args().any(|a| a == "--postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let scene = bot::Scene::new(backend, 0)
        .await
        .expect("the database is available (TEST_DATABASE_URL for --postgres)");
    let _bot = scene.spawn(&[]).await;
    let slack = &scene.slack;
    // The second connection opens a moment after the first.
    let deadline = Instant::now() + Duration::from_secs(30);
    while slack.live_connections() < 2 {
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

    let burst: Vec<_> = (0..1000)
        .map(|_| slack.slash_envelope("/review", &next_pr(), "U0ADA"))
        .collect();
    let mut sent = Vec::with_capacity(burst.len());
    for (i, envelope) in burst.into_iter().enumerate() {
        let at = Instant::now();
        sent.push((slack.deliver_on(i, envelope), at));
    }
    let burst = latencies(slack, &sent).await;
    report("burst of 1000", burst);

    let mut one_by_one = Vec::with_capacity(200);
    for i in 0..200 {
        let envelope = slack.slash_envelope("/review", &next_pr(), "U0ADA");
        let at = Instant::now();
        let id = slack.deliver_on(i, envelope);
        slack.ack(&id).await;
        one_by_one.push(slack.acked_at(&id).unwrap() - at);
    }
    report("200 one at a time", one_by_one);
    let runs = scene.store.count_runs().await.unwrap();
    println!("runs by kind and status: {runs:?}");
}

/// Waits for every ack; the time from sending to the ack, for each envelope.
async fn latencies(slack: &support::FakeSlack, sent: &[(String, Instant)]) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let acked: Option<Vec<Duration>> = sent
            .iter()
            .map(|(id, at)| slack.acked_at(id).map(|acked| acked - *at))
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
