//! Slack delivers at least once. Every envelope of a PR's review and its release delivered twice,
//! and an event retried after a late ack, start no second run, make no second decision and do no
//! effect twice. (The same button pressed by many people at once: `decisions.rs`.)

use std::time::Duration;

use chrono::Utc;
use release_agent::domain::{RepoName, RunId, RunStatus, Version};
use release_agent::store::NewDelivery;
use release_agent::workflow::intake::Intent;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::pr_flow::{World, blocks_text, released, world};
use crate::support::releases::prepare_cd;
use crate::support::{Backend, wait_until};

/// Delivers `envelope` twice in a row, as Slack may; the texts of both acks, the answer that
/// started something first (the copies are handled at once, so their acks come in either order).
async fn twice(w: &World, envelope: Value, started: &str) -> [String; 2] {
    let slack = &w.app.slack;
    let id = slack.deliver(envelope.clone()).await;
    slack.redeliver(&envelope).await;
    let mut texts = [
        ack_text(&slack.ack(&id).await),
        ack_text(&slack.ack(&id).await),
    ];
    texts.sort_by_key(|text| !text.starts_with(started));
    texts
}

fn ack_text(ack: &Value) -> String {
    blocks_text(&ack["payload"])
}

/// Waits for `run` to ask at `step`, then presses `option` with one envelope delivered twice.
async fn press_twice(w: &World, run: RunId, step: &str, option: &str) {
    w.waits_at(run, step).await;
    let approval = w.app.pending_approval(run).await;
    let before = w.app.run(run).await.seq;
    let click = w.app.click_envelope(&approval, option, "U0ADA").await;
    let id = w.app.slack.deliver(click.clone()).await;
    w.app.slack.redeliver(&click).await;
    w.app.slack.ack(&id).await;
    w.app.slack.ack(&id).await;
    w.app
        .wait_for_run(run, "the decision to count", |r| r.seq > before)
        .await;
}

/// Each approval of `run` was decided once, and no click was refused.
async fn one_decision_per_question(w: &World, run: RunId) {
    let audit = w.app.store.audit_for_run(run).await.unwrap();
    let count = |action: &str| audit.iter().filter(|a| a.action == action).count();
    let approvals = w.app.store.approvals_for_run(run).await.unwrap();
    assert_eq!(
        (count("decision"), count("decision_refused")),
        (approvals.len(), 0),
        "{audit:#?}"
    );
}

async fn every_envelope_of_a_review_and_its_release_delivered_twice_counts_once(backend: Backend) {
    let Some(w) = world(backend, &[("RELEASE_POLL_INTERVAL_SECONDS", "1")]).await else {
        return;
    };
    released(&w.app, Version::new(1, 4, 2)).await;
    prepare_cd(&w.azdo);
    w.ticketed_pr();

    let slack = &w.app.slack;
    let [first, second] = twice(
        &w,
        slack.slash_envelope("/review", "Billo.Api#12", "U0ADA"),
        "Reviewing",
    )
    .await;
    assert_eq!(
        first,
        "Reviewing Billo.Api#12. Follow it on its card in <#C0RELEASES>."
    );
    // The copy finds either the first delivery's key or its run, depending on timing.
    assert!(
        [
            "Already on it: Billo.Api#12.",
            "A run for Billo.Api#12 is already under way; its card is in <#C0RELEASES>."
        ]
        .contains(&second.as_str()),
        "{second}"
    );
    let review = w.run_for(12, &[]).await;
    press_twice(&w, review, "ask_merge", "merge").await;
    press_twice(&w, review, "ask_ci", "trigger").await;
    let review_run = w
        .app
        .wait_for_run(review, "the review to end", |r| r.status.is_finished())
        .await;
    assert_eq!(review_run.status, RunStatus::Done);

    let [first, second] = twice(
        &w,
        slack.slash_envelope("/release", "Billo.Api", "U0ADA"),
        "Releasing",
    )
    .await;
    assert_eq!(
        first,
        "Releasing Billo.Api 1.4.3. Follow it on its card in <#C0RELEASES>."
    );
    assert!(
        second.starts_with("Already on it: the release of Billo.Api.")
            || second.starts_with("A release of Billo.Api is already under way"),
        "{second}"
    );
    let release = w.release_run().await;
    for (step, option) in [
        ("ask_create", "create"),
        ("ask_merge", "merge"),
        ("ask_stage", "approve"),
        ("ask_stage", "approve"),
    ] {
        press_twice(&w, release, step, option).await;
    }
    let release_run = w.app.finished(release).await;
    assert_eq!(release_run.status, RunStatus::Done, "{release_run:?}");

    assert_eq!(w.app.store.recent_runs(10).await.unwrap().len(), 2);
    one_decision_per_question(&w, review).await;
    one_decision_per_question(&w, release).await;
    assert_eq!(
        w.azdo
            .with(|s| s.completions.iter().map(|(pr, _)| *pr).collect::<Vec<_>>()),
        [12, 401],
        "the PR, then the release PR, merged once each"
    );
    assert_eq!(w.azdo.with(|s| s.created.len()), 1, "one release PR");
    assert_eq!(w.azdo.with(|s| s.builds.len()), 2, "one CI build each");
    assert_eq!(
        w.azdo.with(|s| s.cd.decisions.len()),
        2,
        "one approval per stage"
    );
    assert_eq!(w.jira.status("ALLPOST-4028"), "Done");
    w.app.settled(release).await;
    assert!(
        slack.notes().is_empty(),
        "a duplicate is ignored, not refused"
    );
    w.app.finish().await;
}

async fn an_event_retried_after_a_late_ack_is_handled_once(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    let slack = &w.app.slack;
    let first = slack.home_opened_envelope("U0ADA");
    let id = slack.deliver(first.clone()).await;
    slack.ack(&id).await;
    wait_until("the Home tab to be published", || async {
        slack.calls("views.publish").pop()
    })
    .await;

    // Slack took the ack for late and sends the event again, in a new envelope.
    let mut retry = first;
    retry["envelope_id"] = json!(slack.envelope_id());
    retry["retry_attempt"] = json!(1);
    retry["retry_reason"] = json!("timeout");
    let id = slack.deliver(retry).await;
    slack.ack(&id).await;
    // A new event from the same person afterwards is handled: the retry went through first.
    let id = slack.deliver(slack.home_opened_envelope("U0ADA")).await;
    slack.ack(&id).await;
    wait_until("the second Home tab to be published", || async {
        (slack.calls("views.publish").len() >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        slack.calls("views.publish").len(),
        2,
        "the retried event published nothing"
    );
    assert!(w.app.store.recent_runs(5).await.unwrap().is_empty());
    w.app.finish().await;
}

/// Several people ask for one PR's review at once (separate commands, not copies). One run
/// starts, and everyone else hears of it: in the ack, or, when their request was acked before
/// the run existed, in a note from the intake.
async fn people_asking_for_one_review_at_once_start_one_run(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    w.ticketed_pr();
    let slack = &w.app.slack;
    let users = ["U0AAA", "U0BBB", "U0CCC", "U0DDD", "U0EEE", "U0FFF"];
    let mut ids = Vec::new();
    for user in users {
        ids.push(
            slack
                .deliver(slack.slash_envelope("/review", "Billo.Api#12", user))
                .await,
        );
    }
    let under_way = "A run for Billo.Api#12 is already under way";
    let mut acked_as_started = Vec::new();
    for (id, user) in ids.iter().zip(users) {
        let text = ack_text(&slack.ack(id).await);
        if text == "Reviewing Billo.Api#12. Follow it on its card in <#C0RELEASES>." {
            acked_as_started.push(user);
        } else {
            assert!(text.starts_with(under_way), "{text}");
        }
    }
    let run = w.run_for(12, &[]).await;
    // The intake has carried out every request, and its notes are sent.
    w.app.settled(run).await;
    let runs = w.app.store.recent_runs(10).await.unwrap();
    assert_eq!(runs.len(), 1, "one run for the PR: {runs:#?}");
    let started_by = runs[0].started_by.clone();
    assert!(acked_as_started.contains(&started_by.as_str()));

    let mut to_tell: Vec<&str> = acked_as_started
        .into_iter()
        .filter(|user| *user != started_by)
        .collect();
    // The notes go out through the outbox, after the run's own messages: wait for as many as
    // there are crossed requests, then check who got them.
    wait_until("a note for each crossed request", || async {
        (slack.notes().len() >= to_tell.len()).then_some(())
    })
    .await;
    let told: Vec<(String, String)> = slack
        .notes()
        .into_iter()
        .map(|n| (n.user, blocks_text(&n.body)))
        .collect();
    for (_, note) in &told {
        assert!(note.starts_with(under_way), "{note}");
    }
    let mut told: Vec<&str> = told.iter().map(|(user, _)| user.as_str()).collect();
    told.sort_unstable();
    to_tell.sort_unstable();
    assert_eq!(told, to_tell, "each crossed request is told once");
    let audit = w.app.store.audit_for_run(run).await.unwrap();
    let refused = audit.iter().filter(|a| a.action == "request_refused");
    assert_eq!(refused.count(), to_tell.len());
    w.app.finish().await;
}

/// The bot acked a `/review` and stopped before its intake started the run: the request is saved,
/// so the run starts after the restart, once, however often the bot restarts.
async fn a_review_acked_just_before_a_stop_starts_after_the_restart(backend: Backend) {
    let Some(mut w) = world(backend, &[]).await else {
        return;
    };
    w.ticketed_pr();
    w.app.stop().await;
    // What the front door saves before the ack.
    let intent = Intent::Review {
        pr_id: 12,
        repo: Some(RepoName::parse("Billo.Api").unwrap()),
        user: "U0ADA".into(),
        channel: "C0RELEASES".into(),
        team_domain: Some("test".into()),
        response_url: None,
    };
    let delivery = NewDelivery {
        key: "slack:command:trigger-before-the-stop".into(),
        source: "slack".into(),
        intent: Some(serde_json::value::to_raw_value(&intent).unwrap()),
    };
    assert!(
        w.app
            .store
            .insert_delivery(&delivery, Utc::now())
            .await
            .unwrap()
    );

    w.app.start().await;
    let run = w.run_for(12, &[]).await;
    w.app.settled(run).await;
    w.app.stop().await;
    w.app.start().await;
    w.app.settled(run).await;
    let runs = w.app.store.recent_runs(10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].started_by, "U0ADA");
    assert!(w.app.store.pending_deliveries(10).await.unwrap().is_empty());
    assert!(w.app.slack.notes().is_empty());
    w.app.finish().await;
}

on_both_backends!(
    a_review_acked_just_before_a_stop_starts_after_the_restart,
    every_envelope_of_a_review_and_its_release_delivered_twice_counts_once,
    an_event_retried_after_a_late_ack_is_handled_once,
    people_asking_for_one_review_at_once_start_one_run,
);
