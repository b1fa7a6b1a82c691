//! Engine throughput, in three modes (`cargo bench --bench throughput -- <mode>`, all three
//! without one; PostgreSQL with `TEST_DATABASE_URL`):
//!
//! - `instant`: the engine alone (`support/engine.rs`), calls answered at once: checkpointed
//!   steps per second on SQLite and PostgreSQL, beside the database's own commit rate here.
//! - `real`: the same engine with calls that wait 50 ms and a 2 s review, as Azure DevOps, Jira
//!   and Claude do: runs done in 20 s by one engine and by two on one PostgreSQL database.
//! - `pr`: whole PR runs through the real binary (release build) with fakes that answer at once:
//!   each run is reviewed (the stand-in reviewer answers at once), asks to merge (decided through
//!   the operator API as soon as asked, see `support/bot.rs`), merges, stages, and watches its CI
//!   build (auto triggered, finished at the first look; looks are 1 s apart, the shortest the
//!   config allows). On SQLite and PostgreSQL, with 1 and 2 replicas on one database
//!   (`BENCH_RUNS=n` for another number of runs than 200).
//!
//! Each figure has the CPU it cost per run beside it.

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "support/bot.rs"]
mod bot;

#[path = "support/engine.rs"]
mod engine;

use std::time::{Duration, Instant};

use release_agent::domain::RunStatus;
use support::Backend;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    support::init();
    let mode = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |name: &str| mode.as_deref().is_none_or(|m| m == name);
    if wants("instant") {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            engine::instant(backend).await;
        }
    }
    if wants("real") {
        for replicas in [1, 2] {
            engine::like_the_real_services(Backend::Postgres, replicas, Duration::from_secs(20))
                .await;
        }
    }
    if wants("pr") {
        pr_runs().await;
    }
}

/// Whole PR runs through the real binary, with the bot's CPU per run (from /proc).
async fn pr_runs() {
    let runs = bot::runs_or(200);
    println!("{runs} PR runs from /review to done, each with a review, a click, a merge and CI");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for replicas in [1, 2] {
            let Some(scene) = bot::Scene::new(backend, runs).await else {
                println!("{backend:?}: skipped (set TEST_DATABASE_URL)");
                break;
            };
            let mut bots = Vec::new();
            for _ in 0..replicas {
                let extra = [
                    ("CI_AUTO_TRIGGER", "true"),
                    ("CI_POLL_INTERVAL_SECONDS", "1"),
                ];
                bots.push(scene.spawn(&extra).await);
            }
            let cpu = || -> Duration { bots.iter().map(|b| bot::cpu(b.id().unwrap())).sum() };
            let (cpu_before, started) = (cpu(), Instant::now());
            scene.review(1..=runs).await;
            scene
                .until(RunStatus::Done, runs as usize, Some("merge"))
                .await;
            let took = started.elapsed();
            println!(
                "pr, {backend:?}, {replicas} replica(s): {:.1} runs/s ({runs} runs in {:.1} s, {} merges), bot CPU {:.1} ms per run",
                f64::from(runs) / took.as_secs_f64(),
                took.as_secs_f64(),
                scene.azdo.with(|s| s.completions.len()),
                (cpu() - cpu_before).as_secs_f64() * 1e3 / f64::from(runs)
            );
            drop(bots);
            scene.store.close().await;
            scene.db.drop_database().await;
        }
    }
}
