//! Jira as it is, through Socket Mode: a workflow that needs two hops and a Resolution to reach
//! Done, a ticket that cannot move (a warning on the card, in the thread and in the notes), a
//! project that refuses the ticket the bot creates (the review goes on, with Retry ticket), and a
//! lost answer to a creation while Jira's search lags (searched again, created once).

use release_agent::domain::{RunStatus, Version};

use crate::on_both_backends;
use crate::pr_flow::{World, released, world};
use crate::support::Backend;
use crate::support::fake_jira::FakeTransition;
use crate::support::releases::prepare_cd;
use crate::versions::AUTO_CI;

const fn hop(
    from: &'static str,
    id: &'static str,
    name: &'static str,
    to: &'static str,
    category: &'static str,
    resolution: bool,
) -> FakeTransition {
    FakeTransition {
        from,
        id,
        name,
        to,
        category,
        resolution,
    }
}

/// A team's workflow: review, QA, then "Pass QA" before "Close" (which asks for a Resolution);
/// from Ready for QA a Reopen leads back and a "Won't do" closes without doing. A blocked ticket
/// can only go back to the backlog.
const WORKFLOW: [FakeTransition; 7] = [
    hop(
        "In Progress",
        "31",
        "Send to review",
        "Code Review",
        "indeterminate",
        false,
    ),
    hop(
        "Code Review",
        "41",
        "Ready for testing",
        "Ready for QA",
        "indeterminate",
        false,
    ),
    hop(
        "Ready for QA",
        "71",
        "Reopen",
        "In Progress",
        "indeterminate",
        false,
    ),
    hop("Ready for QA", "81", "Won't do", "Won't Do", "done", true),
    hop(
        "Ready for QA",
        "61",
        "Pass QA",
        "QA Passed",
        "indeterminate",
        false,
    ),
    hop("QA Passed", "91", "Close", "Done", "done", true),
    hop("Blocked", "11", "Back to backlog", "Backlog", "new", false),
];

impl World {
    /// The (from, to, resolution) of every move of `key`.
    fn moves_of(&self, key: &str) -> Vec<(String, String, Option<String>)> {
        self.jira.with(|s| {
            s.history
                .iter()
                .filter(|(issue, ..)| issue == key)
                .map(|(_, from, to, resolution)| (from.clone(), to.clone(), resolution.clone()))
                .collect()
        })
    }
}

async fn a_ticket_reaches_done_over_two_hops_with_a_resolution_and_a_stuck_one_is_listed(
    backend: Backend,
) {
    let Some(w) = world(backend, AUTO_CI).await else {
        return;
    };
    w.jira.with_mut(|s| s.workflow = WORKFLOW.to_vec());
    released(&w.app, Version::new(1, 4, 2)).await;
    prepare_cd(&w.azdo);
    w.merge_pr(201, "fix: login timeout", "", &[]).await;
    w.merge_pr_at(202, "fix: blocked thing", "", &[], "Blocked")
        .await;
    assert_eq!(w.jira.status("ALLPOST-201"), "Ready for QA");

    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.ship(run).await;
    let moves: Vec<(String, String, Option<String>)> = w.moves_of("ALLPOST-201");
    let path: Vec<&str> = moves.iter().map(|(_, to, _)| to.as_str()).collect();
    assert_eq!(
        path,
        ["Code Review", "Ready for QA", "QA Passed", "Done"],
        "forward through Pass QA, not back through Reopen nor into Won't Do"
    );
    assert_eq!(
        moves[3].2.as_deref(),
        Some("Done"),
        "the Resolution JIRA_RESOLUTION names"
    );
    assert_eq!(w.jira.status("ALLPOST-202"), "Blocked");

    let stuck = "ALLPOST-202 was not moved to Done: ALLPOST-202 cannot move from Blocked to Done: \
                 from there it can only go to Backlog";
    let card = w.card(run).await;
    assert!(card.contains(&format!("Note: {stuck}")), "{card}");
    let replies = w.replies(run).await;
    let jira_step = replies
        .iter()
        .find(|r| r.starts_with("Jira: "))
        .unwrap_or_else(|| panic!("{replies:?}"));
    assert_eq!(
        jira_step,
        &format!("Jira: 1 of 2 tickets are Done.\n:warning: {stuck}")
    );
    let notes = w.notes(run).await;
    assert!(
        notes.contains(&format!("*:warning: Not moved in Jira*\n• {stuck}")),
        "{notes}"
    );
    w.app.finish().await;
}

const TICKET_DRAFT: &str = r#"{"summary":"Add the login page","description":"Users can log in."}"#;

async fn a_ticket_jira_refuses_does_not_stop_the_review_and_can_be_retried(backend: Backend) {
    let Some(w) = world(backend, AUTO_CI).await else {
        return;
    };
    w.jira.with_mut(|s| s.missing_type = Some("Story".into()));
    let commit = w.repo.branch(
        "chore/login",
        crate::pr_flow::APPROVE_WITH_FINDING,
        Some(TICKET_DRAFT),
    );
    w.open_pr(13, "chore/login", &commit);
    let (_, run) = w.review("13").await;
    w.waits_at(run, "ask_merge").await;
    let card = w.card(run).await;
    assert!(
        card.contains(":warning: No ticket: Jira refused to create one (")
            && card.contains("issuetype: Specify a valid issue type"),
        "{card}"
    );
    assert!(card.ends_with("[Merge] [Cancel] [Retry ticket]"), "{card}");
    assert_eq!(
        w.azdo.with(|s| s.threads.len()),
        2,
        "the review was posted all the same"
    );

    w.jira.with_mut(|s| s.missing_type = None);
    w.press(run, "retry-ticket").await;
    w.waits_at(run, "ask_merge").await;
    let created = w.jira.with(|s| s.created.clone());
    assert_eq!(created.len(), 1);
    let card = w.card(run).await;
    assert!(!card.contains("No ticket"), "{card}");
    assert!(card.contains(&created[0]), "{card}");
    assert!(card.ends_with("[Merge] [Cancel]"), "{card}");
    assert_eq!(w.jira.status(&created[0]), "Code Review");
    w.press(run, "merge").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    w.app.finish().await;
}

async fn a_lost_answer_to_a_ticket_creation_is_searched_for_until_jira_finds_it(backend: Backend) {
    let Some(w) = world(backend, AUTO_CI).await else {
        return;
    };
    w.jira.with_mut(|s| {
        s.lost_answers = 1;
        s.search_lag = 2;
    });
    let commit = w.repo.branch(
        "chore/login",
        crate::pr_flow::APPROVE_WITH_FINDING,
        Some(TICKET_DRAFT),
    );
    w.open_pr(14, "chore/login", &commit);
    let (_, run) = w.review("14").await;
    w.waits_at(run, "ask_merge").await;
    let (created, searches) = w.jira.with(|s| (s.created.clone(), s.searches));
    assert_eq!(created.len(), 1, "created once: {created:?}");
    assert!(
        searches >= 4,
        "searched again while the index lagged: {searches}"
    );
    let card = w.card(run).await;
    assert!(card.contains(&created[0]), "{card}");
    w.app.finish().await;
}

async fn a_release_sets_its_fix_version_and_marks_it_released(backend: Backend) {
    let Some(w) = crate::release_flow::release_world(backend, &[]).await else {
        return;
    };
    let run = w.to_first_stage().await;
    let versions = w.jira.with(|s| s.versions.clone());
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(
        (
            versions[0].project.as_str(),
            versions[0].name.as_str(),
            versions[0].released
        ),
        ("ALLPOST", "Billo.Api 1.4.3", false),
        "created when the release PR merged"
    );
    for key in ["ALLPOST-1", "ALLPOST-2", "ALLPOST-3"] {
        let fix = w.jira.with(|s| s.issues[key].fix_versions.clone());
        assert_eq!(fix, ["Billo.Api 1.4.3"], "{key}");
    }
    w.press(run, "approve").await;
    w.waits_at(run, "ask_stage").await;
    w.press(run, "approve").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    let version = w.jira.with(|s| s.versions[0].clone());
    let today = w
        .app
        .clock
        .now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    assert!(version.released, "marked released once deployed");
    assert_eq!(version.release_date.as_deref(), Some(today.as_str()));
    w.app.finish().await;
}

on_both_backends!(
    a_ticket_reaches_done_over_two_hops_with_a_resolution_and_a_stuck_one_is_listed,
    a_ticket_jira_refuses_does_not_stop_the_review_and_can_be_retried,
    a_lost_answer_to_a_ticket_creation_is_searched_for_until_jira_finds_it,
    a_release_sets_its_fix_version_and_marks_it_released,
);
