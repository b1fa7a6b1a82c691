//! Approvals through Socket Mode: one decision counts, everyone else is told why not, and nothing
//! changes for them.

use chrono::TimeDelta;
use release_agent::domain::{ApprovalStatus, RunId, RunStatus};
use release_agent::store::AuditRecord;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, wait_until};

/// The ephemeral notes sent to `user`, as plain text.
pub async fn notes_to(app: &TestApp, user: &str, count: usize) -> Vec<String> {
    wait_until("ephemeral notes", || async {
        let notes: Vec<String> = app
            .slack
            .notes()
            .into_iter()
            .filter(|n| n.user == user)
            .map(|n| {
                n.body["blocks"][0]["text"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        (notes.len() >= count).then_some(notes)
    })
    .await
}

/// The run's audit entries of one `action`, oldest first.
pub async fn audit_of(app: &TestApp, run: RunId, action: &str) -> Vec<AuditRecord> {
    let audit = app.store.audit_for_run(run).await.unwrap();
    audit.into_iter().filter(|a| a.action == action).collect()
}

pub async fn refusals(app: &TestApp, run: RunId) -> Vec<String> {
    let refused = audit_of(app, run, "decision_refused").await;
    refused.into_iter().map(|a| a.detail).collect()
}

async fn fifty_concurrent_clicks_produce_exactly_one_decision(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let approval = app.pending_approval(run).await;
    let mut envelopes = Vec::new();
    for i in 0..50 {
        envelopes.push(
            app.click_envelope(&approval, "go", &format!("U{i:04}"))
                .await,
        );
    }
    let ids =
        futures_util::future::join_all(envelopes.into_iter().map(|e| app.slack.deliver(e))).await;
    for id in &ids {
        app.slack.ack(id).await;
    }
    app.finished(run).await;
    app.settled(run).await;

    let audit = app.store.audit_for_run(run).await.unwrap();
    let decisions: Vec<_> = audit.iter().filter(|a| a.action == "decision").collect();
    assert_eq!(decisions.len(), 1);
    let refused = refusals(&app, run).await;
    assert_eq!(refused.len(), 49);
    assert!(
        refused
            .iter()
            .all(|r| r.ends_with("refused: already_decided")),
        "{refused:?}"
    );
    assert_eq!(app.slack.notes().len(), 49, "every other clicker is told");
    let winner = &decisions[0].actor;
    let approval = app.store.get_approval(approval.id).await.unwrap().unwrap();
    assert_eq!(approval.decided_by.as_ref(), Some(winner));
    assert_eq!(app.effects.count("act", &run.to_string()), 1);
    app.finish().await;
}

async fn an_unauthorized_click_changes_nothing(backend: Backend) {
    let vars = [("SLACK_APPROVERS", "U0BOSS, S0LEADS")];
    let Some(app) = TestApp::spawn_with(backend, &vars).await else {
        return;
    };
    app.slack.set_group("S0LEADS", &["U0LEAD"]);
    let run = app.start_demo().await;
    let id = app.press(run, "go", "U0STRANGER").await;
    app.slack.ack(&id).await;
    let notes = notes_to(&app, "U0STRANGER", 1).await;
    assert_eq!(
        notes,
        [
            "You are not one of the approvers for the release (<@U0BOSS>, `S0LEADS`), so nothing changed. Ask one of them."
        ]
    );
    assert_eq!(refusals(&app, run).await.len(), 1);
    let record = app.run(run).await;
    assert_eq!(
        (record.status, record.seq),
        (RunStatus::Waiting, 2),
        "the run did not move"
    );
    assert_eq!(
        app.pending_approval(run).await.status,
        ApprovalStatus::Pending
    );

    app.press(run, "go", "U0LEAD").await;
    let done = app.finished(run).await;
    assert_eq!(
        done.status,
        RunStatus::Done,
        "a member of an approver group may decide"
    );
    app.finish().await;
}

async fn a_second_click_is_explained_and_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let approval = app.pending_approval(run).await;
    let first = app.click_envelope(&approval, "go", "U0FIRST").await;
    let second = app.click_envelope(&approval, "stop", "U0FIRST").await;
    let id = app.slack.deliver(first).await;
    app.slack.ack(&id).await;
    app.wait_for_run(run, "the decision", |r| r.seq >= 3).await;
    app.slack.deliver(second).await;
    let notes = notes_to(&app, "U0FIRST", 1).await;
    assert!(
        notes[0].starts_with("Already decided: <@U0FIRST> chose *go* on <!date^"),
        "{notes:?}"
    );
    assert!(
        notes[0].ends_with(". Your click changed nothing."),
        "{notes:?}"
    );
    let done = app.finished(run).await;
    assert_eq!(
        done.status,
        RunStatus::Done,
        "the second click did not stop the run"
    );
    app.finish().await;
}

async fn an_option_that_was_not_offered_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let approval = app.pending_approval(run).await;
    let ts = app.card_ts(run).await;
    let forged = app.slack.click_envelope(
        "decide:deploy",
        &format!("{}:deploy", approval.id),
        "U0CLICKER",
        &ts,
    );
    app.slack.deliver(forged).await;
    let notes = notes_to(&app, "U0CLICKER", 1).await;
    assert_eq!(
        notes,
        ["The option `deploy` is not offered here (offered: go, stop). Nothing changed."]
    );
    assert_eq!(app.run(run).await.status, RunStatus::Waiting);
    app.finish().await;
}

async fn an_expired_approval_cancels_the_run_and_late_clicks_are_told(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let approval = app.pending_approval(run).await;
    let click = app.click_envelope(&approval, "go", "U0LATE").await;
    app.clock.advance(TimeDelta::hours(169));
    let cancelled = app.finished(run).await;
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(
        cancelled.outcome.as_deref(),
        Some("nobody chose an option within 168 h, so the approval expired")
    );
    app.settled(run).await;
    let last_card = app
        .slack
        .calls("chat.update")
        .last()
        .unwrap()
        .body
        .to_string();
    assert!(
        last_card.contains("*Cancelled:* nobody chose an option within 168 h"),
        "{last_card}"
    );
    assert!(
        !last_card.contains("\"actions\""),
        "no buttons on a cancelled card"
    );

    app.slack.deliver(click).await;
    let notes = notes_to(&app, "U0LATE", 1).await;
    assert!(
        notes[0].starts_with("This approval expired on <!date^"),
        "{notes:?}"
    );
    assert_eq!(app.effects.count("act", &run.to_string()), 0);
    app.finish().await;
}

async fn a_superseded_approval_is_explained(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let approval = app.pending_approval(run).await;
    let click = app.click_envelope(&approval, "go", "U0LATE").await;
    assert!(
        app.engine()
            .supersede(run, "replaced by a newer run")
            .await
            .unwrap()
    );
    app.slack.deliver(click).await;
    let notes = notes_to(&app, "U0LATE", 1).await;
    assert_eq!(
        notes,
        ["This approval no longer applies: its run was replaced or cancelled. Nothing changed."]
    );
    let record = app.run(run).await;
    assert_eq!(
        (record.status, record.outcome.as_deref()),
        (RunStatus::Cancelled, Some("replaced by a newer run"))
    );
    app.finish().await;
}

async fn a_group_that_cannot_be_checked_refuses_with_a_reason(backend: Backend) {
    let vars = [("SLACK_APPROVERS", "S0GHOST")];
    let Some(app) = TestApp::spawn_with(backend, &vars).await else {
        return;
    };
    let run = app.start_demo().await;
    app.press(run, "go", "U0SOMEONE").await;
    let notes = notes_to(&app, "U0SOMEONE", 1).await;
    assert!(
        notes[0].starts_with("I could not check whether you may decide this"),
        "{notes:?}"
    );
    assert!(notes[0].contains("no_such_subteam"), "{notes:?}");
    assert_eq!(
        app.run(run).await.status,
        RunStatus::Waiting,
        "never silently allowed"
    );
    app.finish().await;
}

on_both_backends!(
    fifty_concurrent_clicks_produce_exactly_one_decision,
    an_unauthorized_click_changes_nothing,
    a_second_click_is_explained_and_changes_nothing,
    an_option_that_was_not_offered_is_refused,
    an_expired_approval_cancels_the_run_and_late_clicks_are_told,
    a_superseded_approval_is_explained,
    a_group_that_cannot_be_checked_refuses_with_a_reason,
);
