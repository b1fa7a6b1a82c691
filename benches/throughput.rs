//! Engine throughput: PR runs per second through the real binary (release build) with fakes
//! that answer at once: each run is reviewed (the stand-in reviewer answers at once), asks to
//! merge (clicked as soon as its card is up), merges, stages, and watches its CI build (auto
//! triggered, finished at the first look; looks are 1 s apart, the shortest the config allows).
//! Merges are decided through the operator API as soon as asked (see `support/bot.rs`).
//! On SQLite and PostgreSQL (with `TEST_DATABASE_URL`), with 1 and 2 replicas on one database.
//!
//! `cargo bench --bench throughput` (`BENCH_RUNS=n` for another number of runs)

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "support/bot.rs"]
mod bot;

use std::time::Instant;

use release_agent::domain::RunStatus;
use support::Backend;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
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
            let started = Instant::now();
            scene.review(1..=runs).await;
            scene
                .until(RunStatus::Done, runs as usize, Some("merge"))
                .await;
            let took = started.elapsed();
            println!(
                "{backend:?}, {replicas} replica(s): {:.1} runs/s ({runs} runs in {:.1} s, {} merges)",
                f64::from(runs) / took.as_secs_f64(),
                took.as_secs_f64(),
                scene.azdo.with(|s| s.completions.len())
            );
            drop(bots);
            scene.store.close().await;
            scene.db.drop_database().await;
        }
    }
}
