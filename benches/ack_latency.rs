//! Ack latency of slash commands. The real binary (release build) gets `/review Billo.Api#N`
//! commands from a fake Slack over 2 Socket Mode connections; each command is persisted (its
//! intent, under its delivery key) before its ack. The bot runs in its own process, as in production, and
//! its engine works on the new runs meanwhile (the PRs do not exist in the fake Azure DevOps, so
//! each run fails at its first step). The figures are the times from sending an envelope to
//! receiving its ack, as the fake Slack sees them:
//! - a burst: 1000 commands sent at once, spread over both connections;
//! - one at a time: 200 commands, each sent after the previous ack.
//!
//! The fake Slack runs in this process, on the same cores as the bot: its envelopes are written
//! as JSON before the clock starts, as Slack has them ready. For the burst it also prints the CPU
//! time each side spent (from /proc), a steadier figure than the latencies on a busy machine.
//!
//! `cargo bench --bench ack_latency` (SQLite), or with `-- --postgres` and `TEST_DATABASE_URL`
//! set.

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "support/bot.rs"]
mod bot;

use std::collections::HashMap;
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
    let bot = scene.spawn(&[]).await;
    let bot_pid = bot.id().expect("the bot is running");
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

    let burst: Vec<_> = (0..1000).map(|_| review(slack, &next_pr())).collect();
    let cpu_before = (cpu_by_thread(bot_pid), cpu_by_thread(std::process::id()));
    let mut sent = Vec::with_capacity(burst.len());
    for (i, (id, envelope)) in burst.into_iter().enumerate() {
        let at = Instant::now();
        slack.deliver_text_on(i, envelope);
        sent.push((id, at));
    }
    let burst = latencies(slack, &sent).await;
    let cpu_after = (cpu_by_thread(bot_pid), cpu_by_thread(std::process::id()));
    report("burst of 1000", burst);
    let bot_cpu = spent(&cpu_before.0, &cpu_after.0);
    let by_kind = |prefix: &str| {
        bot_cpu
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, spent)| spent)
            .sum::<Duration>()
    };
    // PostgreSQL runs in its own processes, which are not counted here.
    let sqlite = match backend {
        Backend::Sqlite => format!(", SQLite threads {:.1}", ms(by_kind("sqlx-sqlite"))),
        Backend::Postgres => String::new(),
    };
    println!(
        "CPU time during the burst: bot {:.1} ms (tokio workers {:.1}{sqlite}), fake Slack {:.1} ms",
        ms(bot_cpu.values().sum()),
        ms(by_kind("tokio")),
        ms(spent(&cpu_before.1, &cpu_after.1).values().sum()),
    );

    let mut one_by_one = Vec::with_capacity(200);
    for i in 0..200 {
        let (id, envelope) = review(slack, &next_pr());
        let at = Instant::now();
        slack.deliver_text_on(i, envelope);
        slack.ack(&id).await;
        one_by_one.push(slack.acked_at(&id).unwrap() - at);
    }
    report("200 one at a time", one_by_one);
    let runs = scene.store.count_runs().await.unwrap();
    println!("runs by kind and status: {runs:?}");
}

/// `/review pr` as Slack sends it: its envelope id, and the envelope written as JSON.
fn review(slack: &support::FakeSlack, pr: &str) -> (String, String) {
    let envelope = slack.slash_envelope("/review", pr, "U0ADA");
    let id = envelope["envelope_id"].as_str().unwrap().to_owned();
    (id, envelope.to_string())
}

/// Waits for every ack; the time from sending to the ack, for each envelope. Polls often (so the
/// CPU times read after it end close to the last ack) but cheaply: all acks are looked up only
/// once the last envelope sent has its ack.
async fn latencies(slack: &support::FakeSlack, sent: &[(String, Instant)]) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if sent
            .last()
            .is_some_and(|(id, _)| slack.acked_at(id).is_some())
        {
            let acked: Option<Vec<Duration>> = sent
                .iter()
                .map(|(id, at)| slack.acked_at(id).map(|acked| acked - *at))
                .collect();
            if let Some(acked) = acked {
                return acked;
            }
        }
        assert!(Instant::now() < deadline, "not every envelope was acked");
        tokio::time::sleep(Duration::from_millis(1)).await;
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

/// CPU time of each thread of process `pid`, by thread name, from the scheduler's own count.
fn cpu_by_thread(pid: u32) -> HashMap<String, Duration> {
    let mut threads = HashMap::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("Linux /proc");
    for task in tasks.flatten() {
        let read = |file: &str| std::fs::read_to_string(task.path().join(file)).unwrap_or_default();
        let name = format!(
            "{}/{}",
            read("comm").trim(),
            task.file_name().to_string_lossy()
        );
        let nanos = read("schedstat")
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        threads.insert(name, Duration::from_nanos(nanos));
    }
    threads
}

/// CPU time spent by each thread between two readings.
fn spent(
    before: &HashMap<String, Duration>,
    after: &HashMap<String, Duration>,
) -> HashMap<String, Duration> {
    after
        .iter()
        .map(|(name, t)| {
            (
                name.clone(),
                t.saturating_sub(before.get(name).copied().unwrap_or_default()),
            )
        })
        .collect()
}
