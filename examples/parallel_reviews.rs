//! Reviews in parallel: 4 PRs of one repository reviewed at once by the running app, against a
//! stand-in reviewer that takes 2 s, each in its own worktree. Prints the wall time of one review
//! alone and of the 4 together, from the `/review` commands until every run waits for its merge
//! question (fetch, worktree, review, threads, card).
//!
//! `cargo run --release --example parallel_reviews`

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use release_agent::domain::RunStatus;
use support::fake_azdo::{FakeAzdo, FakePr};
use support::fake_jira::FakeJira;
use support::repo::Repo;
use support::{Backend, TestApp, pr_env, wait_until};

const ANSWER: &str = r#"{"verdict":"approve","summary":"Fine.","findings":[]}"#;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let azdo = FakeAzdo::start().await;
    let jira = FakeJira::start().await;
    let repo = Repo::new();
    for pr in 1..=5 {
        let branch = format!("feature/ALLPOST-{pr}_change");
        jira.add_issue(&format!("ALLPOST-{pr}"), "A change", "In Progress");
        repo.branch(&branch, ANSWER, None);
        let commit = repo.slow_reviews(&branch);
        azdo.add_pr(FakePr::open(pr, &format!("Change {pr}"), &branch, &commit));
    }
    let env = pr_env(&azdo, &jira, &repo);
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(Backend::Sqlite, &vars).await.unwrap();

    let alone = reviews(&app, &[1]).await;
    let together = reviews(&app, &[2, 3, 4, 5]).await;
    println!("stand-in reviewer: 2 s per review, one worktree each");
    println!("1 review alone:     {:.2} s", alone.as_secs_f64());
    println!("4 reviews at once:  {:.2} s", together.as_secs_f64());
    println!(
        "4 at once / 1 alone: {:.2}",
        together.as_secs_f64() / alone.as_secs_f64()
    );
    app.finish().await;
}

/// Reviews `prs` at once; the time until every run waits at its merge question.
async fn reviews(app: &TestApp, prs: &[u32]) -> Duration {
    let started = Instant::now();
    for pr in prs {
        app.slack
            .slash("/review", &format!("Billo.Api#{pr}"), "U0ADA")
            .await;
    }
    wait_until("every review to finish", || async {
        let runs = app.store.recent_runs(20).await.unwrap();
        let waiting = runs
            .iter()
            .filter(|r| r.pr_id.is_some_and(|id| prs.contains(&(id as u32))))
            .filter(|r| r.status == RunStatus::Waiting && r.step == "ask_merge")
            .count();
        (waiting == prs.len()).then_some(())
    })
    .await;
    started.elapsed()
}
