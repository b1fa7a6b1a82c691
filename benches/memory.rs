//! Memory of the real binary (release build, SQLite): resident memory when idle, with 500 runs
//! waiting for approval and with 10,000 (PRs reviewed by the stand-in reviewer, each waiting at
//! its merge question). Prints the resident set (VmRSS) split into anonymous and file-backed
//! memory, and its peak (VmHWM). Then, with those runs waiting, 200 merge decisions one at a
//! time: how long each took until the run's next step was checkpointed.
//!
//! `cargo bench --bench memory` (`BENCH_RUNS=n` for another number of waiting runs)

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "support/bot.rs"]
mod bot;

use std::time::Duration;

use release_agent::domain::RunStatus;
use support::Backend;

fn describe(m: bot::Memory) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    format!(
        "RSS {:.1} MiB ({:.1} MiB heap and stacks, {:.1} MiB binary and libraries), peak {:.1} MiB, {} threads",
        mib(m.rss),
        mib(m.anon),
        mib(m.file),
        mib(m.peak),
        m.threads
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let waiting_runs = bot::runs_or(10_000);
    let first = waiting_runs.min(500);
    let scene = bot::Scene::new(Backend::Sqlite, waiting_runs)
        .await
        .unwrap();
    let bot = scene.spawn(&[]).await;
    let pid = bot.id().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!(
        "idle (connected, 5 s after start): {}",
        describe(bot::memory(pid))
    );
    for (from, to) in [(1, first), (first + 1, waiting_runs)] {
        if from > to {
            continue;
        }
        let started = std::time::Instant::now();
        scene.review(from..=to).await;
        scene.until(RunStatus::Waiting, to as usize, None).await;
        println!(
            "{} reviews took {:.1} s",
            to - from + 1,
            started.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        println!(
            "{to} runs waiting for approval: {}",
            describe(bot::memory(pid))
        );
    }
    decisions(&scene, waiting_runs).await;
}

/// Merges some of the waiting runs one at a time, 20 ms apart, through the operator API, and
/// prints how long each took until its next step was checkpointed.
async fn decisions(scene: &bot::Scene, waiting_runs: u32) {
    let count = 200.min(waiting_runs as i64);
    let http = reqwest::Client::new();
    let mut took = Vec::new();
    for approval in scene.store.pending_approvals(count).await.unwrap() {
        took.push(scene.decide_timed(&http, &approval, "merge").await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    took.sort();
    let ms = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{} merge decisions among {waiting_runs} waiting runs, each until its next step was \
         checkpointed: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        took.len(),
        ms(0.5),
        ms(0.99),
        ms(1.0)
    );
}
