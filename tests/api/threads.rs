//! What the review leaves on the PR: inline findings pinned to the reviewed iteration (so they
//! stay on the reviewed lines when the PR moves during the review), `active` unless
//! REVIEW_THREAD_STATUS says `closed`, and the summary always `closed`.

use serde_json::Value;

use crate::on_both_backends;
use crate::pr_flow::{APPROVE_WITH_FINDING, world};
use crate::support::Backend;

async fn inline_threads_stay_on_the_reviewed_iteration_when_the_pr_moves(backend: Backend) {
    for (setting, inline_status) in [(None, "active"), (Some("closed"), "closed")] {
        let vars: Vec<(&str, &str)> = setting
            .map(|s| ("REVIEW_THREAD_STATUS", s))
            .into_iter()
            .collect();
        let Some(w) = world(backend, &vars).await else {
            return;
        };
        w.jira.add_issue("ALLPOST-40", "Login", "In Progress");
        let first = w
            .repo
            .branch("feature/ALLPOST-40", APPROVE_WITH_FINDING, None);
        w.open_pr(40, "feature/ALLPOST-40", &first);
        let reviewed = w.repo.slow_reviews("feature/ALLPOST-40");
        w.azdo.push(40, &reviewed);
        let (_, run) = w.review("40").await;
        w.app
            .wait_for_run(run, "the review to start", |r| r.step == "review")
            .await;
        let moved = w.repo.push("feature/ALLPOST-40", APPROVE_WITH_FINDING);
        w.azdo.push(40, &moved);
        w.waits_at(run, "ask_merge").await;
        let threads: Vec<Value> = w
            .azdo
            .with(|s| s.threads.iter().map(|(_, t)| t.clone()).collect());
        let (inline, general): (Vec<&Value>, Vec<&Value>) = threads
            .iter()
            .partition(|t| t.get("threadContext").is_some());
        assert_eq!((inline.len(), general.len()), (1, 1), "{threads:?}");
        assert_eq!(
            general[0]["status"], "closed",
            "the summary never holds a policy"
        );
        let finding = inline[0];
        assert_eq!(finding["status"], inline_status);
        assert_eq!(finding["threadContext"]["filePath"], "/src/login.rs");
        assert_eq!(
            finding["pullRequestThreadContext"]["iterationContext"]["secondComparingIteration"], 2,
            "the iteration of the reviewed commit, not the newer push"
        );
        assert_eq!(finding["pullRequestThreadContext"]["changeTrackingId"], 2);
        w.app.finish().await;
    }
}

on_both_backends!(inline_threads_stay_on_the_reviewed_iteration_when_the_pr_moves);
