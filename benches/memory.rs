//! Memory of the real binary (release build, SQLite): resident memory when idle, and with 500
//! runs waiting for approval (500 PRs reviewed by the stand-in reviewer, each waiting at its
//! merge question). Prints the resident set (VmRSS) split into anonymous and file-backed memory,
//! and its peak (VmHWM).
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
    let waiting_runs = bot::runs_or(500);
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

    let started = std::time::Instant::now();
    scene.review(1..=waiting_runs).await;
    scene
        .until(RunStatus::Waiting, waiting_runs as usize, None)
        .await;
    println!(
        "{waiting_runs} reviews took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!(
        "{waiting_runs} runs waiting for approval: {}",
        describe(bot::memory(pid))
    );
}
