//! Merging under branch policies, end to end through Socket Mode: the policies are read before
//! completing, the card names what holds the PR, Retry and Auto-complete, Azure DevOps' own
//! refusals, a merge that did not happen left to the poller, and the release PR under a policy.

use release_agent::domain::RunStatus;
use serde_json::Value;

use crate::on_both_backends;
use crate::pr_flow::{APPROVE_WITH_FINDING, World, world};
use crate::release_flow::release_world;
use crate::support::Backend;
use crate::support::fake_policy::FakePolicy;

const CI: (&str, &str) = ("CI_AUTO_TRIGGER", "true");

/// PR 30 reviewed and approved; the run waits for its merge question.
async fn approved_pr(w: &World) -> release_agent::domain::RunId {
    w.jira.add_issue("ALLPOST-30", "Login", "In Progress");
    let commit = w
        .repo
        .branch("feature/ALLPOST-30", APPROVE_WITH_FINDING, None);
    w.open_pr(30, "feature/ALLPOST-30", &commit);
    let (_, run) = w.review("30").await;
    w.waits_at(run, "ask_merge").await;
    run
}

async fn staged_prs(w: &World) -> Vec<i64> {
    let staged = w.app.store.staging("Billo.Api").await.unwrap();
    staged.map_or_else(Vec::new, |s| s.prs.iter().map(|p| p.id).collect())
}

async fn a_merge_held_by_minimum_reviewers_is_named_and_retried_once_met(backend: Backend) {
    let Some(w) = world(backend, &[("REVIEW_VOTE", "approve"), CI]).await else {
        return;
    };
    w.azdo
        .with_mut(|s| s.policies.push(FakePolicy::min_reviewers(2)));
    let run = approved_pr(&w).await;
    w.press(run, "merge").await;
    w.waits_at(run, "merge_held").await;
    let card = w.card(run).await;
    assert!(
        card.contains("• Minimum number of reviewers: 1 of 2"),
        "the bot's own vote counts, a person's is missing: {card}"
    );
    assert!(
        card.contains("[Retry merge]") && card.contains("[Auto-complete]"),
        "{card}"
    );
    assert!(
        w.azdo.with(|s| s.completions.is_empty()),
        "a PR a policy holds is not PATCHed"
    );
    w.azdo.vote(30, "u-bob", 10);
    w.press(run, "retry").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    assert_eq!(w.azdo.with(|s| s.completions.len()), 1);
    assert_eq!(staged_prs(&w).await, [30]);
    assert_eq!(w.jira.status("ALLPOST-30"), "Ready for QA");
    w.app.finish().await;
}

async fn auto_complete_hands_the_merge_to_azure_devops(backend: Backend) {
    let Some(w) = world(backend, &[CI]).await else {
        return;
    };
    w.azdo
        .with_mut(|s| s.policies.push(FakePolicy::build("queued")));
    let run = approved_pr(&w).await;
    w.press(run, "merge").await;
    w.waits_at(run, "merge_held").await;
    assert!(w.card(run).await.contains("• Build: queued"));
    w.press(run, "auto-complete").await;
    w.app
        .wait_for_run(run, "auto-complete to be watched", |r| {
            r.step == "watch_auto_complete"
        })
        .await;
    let set: Vec<(u32, Value)> = w.azdo.with(|s| s.auto_completes.clone());
    assert_eq!(set.len(), 1);
    assert_eq!(set[0].1["autoCompleteSetBy"]["id"], "bot-guid");
    let options = &set[0].1["completionOptions"];
    assert_eq!(
        (
            options["mergeStrategy"].as_str(),
            options["bypassPolicy"].as_bool()
        ),
        (Some("squash"), Some(false)),
        "the same completion options as a merge, never bypassing a policy"
    );
    w.azdo.with_mut(|s| s.policies[0].status = "approved");
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    assert!(
        w.azdo.with(|s| s.completions.is_empty()),
        "Azure DevOps completed it, not the bot"
    );
    assert_eq!(staged_prs(&w).await, [30]);
    let replies = w.replies(run).await.join("\n");
    assert!(
        replies.contains("Azure DevOps merged it into `develop`"),
        "{replies}"
    );
    w.app.finish().await;
}

async fn a_push_clears_auto_complete_and_asks_for_a_re_review(backend: Backend) {
    let Some(w) = world(backend, &[CI]).await else {
        return;
    };
    w.azdo
        .with_mut(|s| s.policies.push(FakePolicy::build("running")));
    let run = approved_pr(&w).await;
    w.press(run, "merge").await;
    w.waits_at(run, "merge_held").await;
    w.press(run, "auto-complete").await;
    w.app
        .wait_for_run(run, "auto-complete to be watched", |r| {
            r.step == "watch_auto_complete"
        })
        .await;
    let pushed = w.repo.push("feature/ALLPOST-30", APPROVE_WITH_FINDING);
    w.azdo.push(30, &pushed);
    w.waits_at(run, "stale").await;
    let set: Vec<(u32, Value)> = w.azdo.with(|s| s.auto_completes.clone());
    assert_eq!(set.len(), 2, "set, then cleared");
    assert_eq!(
        set[1].1["autoCompleteSetBy"]["id"],
        "00000000-0000-0000-0000-000000000000"
    );
    w.azdo.with_mut(|s| s.policies[0].status = "approved");
    assert!(
        w.azdo.with(|s| s.prs[&30].status == "active"),
        "the unreviewed commit is not merged"
    );
    w.app.finish().await;
}

const NO_PERMISSION: &str = "TF401027: You need the Git 'PullRequestContribute' permission to perform this action. Details: identity 'Release Bot', scope 'repository'.";

/// PR 30 approved, with the poller on; Azure DevOps refuses its completion (403), and the run
/// waits at `merge_held`.
async fn refused_merge(backend: Backend) -> Option<(World, release_agent::domain::RunId)> {
    let vars = [
        ("PR_POLL_ENABLED", "true"),
        ("PR_POLL_INTERVAL_SECONDS", "1"),
        CI,
    ];
    let w = world(backend, &vars).await?;
    w.azdo
        .with_mut(|s| s.refuse_completion = Some((403, NO_PERMISSION.into())));
    let run = approved_pr(&w).await;
    w.press(run, "merge").await;
    w.waits_at(run, "merge_held").await;
    Some((w, run))
}

async fn a_refused_merge_shows_why_and_a_merge_by_hand_is_staged_by_the_poller(backend: Backend) {
    let Some((w, run)) = refused_merge(backend).await else {
        return;
    };
    let card = w.card(run).await;
    assert!(
        card.contains(&format!("Azure DevOps refused the merge: {NO_PERMISSION}")),
        "{card}"
    );
    assert!(card.contains("[Retry merge]") && !card.contains("[Auto-complete]"));
    w.press(run, "cancel").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Cancelled);
    assert!(staged_prs(&w).await.is_empty());
    // A poll may have started (and ended) a run of its own for the reviewed commit meanwhile.
    let before = w.runs_for(30).await;
    w.azdo.merge_by_hand(30);
    let staging = w.run_for(30, &before).await;
    assert_eq!(w.app.finished(staging).await.status, RunStatus::Done);
    assert_eq!(
        staged_prs(&w).await,
        [30],
        "the poller staged the merge by hand"
    );
    assert_eq!(w.jira.status("ALLPOST-30"), "Ready for QA");
    w.app.finish().await;
}

async fn a_held_run_sees_a_merge_by_hand_and_stages_it_once(backend: Backend) {
    let Some((w, run)) = refused_merge(backend).await else {
        return;
    };
    // A poll may have started a run of its own for the commit while it was being reviewed.
    let before = w.runs_for(30).await;
    w.azdo.merge_by_hand(30);
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        w.runs_for(30).await,
        before,
        "the poller started nothing while the run was under way, nor after it"
    );
    assert_eq!(staged_prs(&w).await, [30]);
    w.app.finish().await;
}

/// The release PR under a policy: not PATCHed, the release not frozen (still staging), the
/// card names the policy; once a person approves in Azure DevOps, Retry merge ships it.
async fn a_release_pr_held_by_a_policy_merges_on_retry_once_met(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    w.azdo
        .with_mut(|s| s.policies.push(FakePolicy::min_reviewers(1)));
    let run = w.to_merge_question().await;
    w.press(run, "merge").await;
    w.waits_at(run, "merge_held").await;
    let card = w.card(run).await;
    assert!(
        card.contains("• Minimum number of reviewers: 0 of 1") && card.contains("[Retry merge]"),
        "{card}"
    );
    assert!(w.azdo.with(|s| s.completions.is_empty()));
    assert_eq!(
        staged_prs(&w).await,
        [21, 22, 23],
        "nothing is frozen while the policy holds the release PR"
    );
    let release_pr = w.azdo.with(|s| *s.prs.keys().max().unwrap());
    w.azdo.vote(release_pr, "u-bob", 10);
    w.press(run, "retry").await;
    w.waits_at(run, "ask_stage").await;
    assert_eq!(w.azdo.with(|s| s.completions.len()), 1);
    w.app.finish().await;
}

on_both_backends!(
    a_release_pr_held_by_a_policy_merges_on_retry_once_met,
    a_merge_held_by_minimum_reviewers_is_named_and_retried_once_met,
    auto_complete_hands_the_merge_to_azure_devops,
    a_push_clears_auto_complete_and_asks_for_a_re_review,
    a_refused_merge_shows_why_and_a_merge_by_hand_is_staged_by_the_poller,
    a_held_run_sees_a_merge_by_hand_and_stages_it_once,
);
