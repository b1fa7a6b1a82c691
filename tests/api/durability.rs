//! The demo flow (prepare → ask ⏸ → act → finish) proves that runs are durable: a checkpoint
//! after each step, the same result whenever the process stops, each effect caused once, and
//! buttons that keep working across restarts.

use std::collections::BTreeMap;
use std::time::Duration;

use regex_lite::Regex;
use release_agent::domain::{RunId, RunStatus};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::on_both_backends;
use crate::support::{Backend, CHANNEL, TestApp, wait_until};

/// Everything a user or operator could check about a finished run.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: RunStatus,
    step: String,
    state: Value,
    seq: i64,
    outcome: Option<String>,
    effects: BTreeMap<String, u32>,
    executions: BTreeMap<String, u32>,
    audit: Vec<(String, String, String)>,
    cards_posted: usize,
    replies: Vec<String>,
    last_card: Vec<String>,
}

async fn outcome(app: &TestApp, run: RunId) -> Outcome {
    let record = app.run(run).await;
    let id = run.to_string();
    let per_run = |map: std::collections::HashMap<String, u32>| -> BTreeMap<String, u32> {
        map.into_iter()
            .filter_map(|(key, n)| {
                key.strip_suffix(&format!("/{id}"))
                    .map(|name| (name.to_owned(), n))
            })
            .collect()
    };
    let executions = per_run(app.hooks.executions.lock().unwrap().clone());
    let audit = app
        .store
        .audit_for_run(run)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.actor, a.action, a.detail))
        .collect();
    let ts = record.card_ts.clone().unwrap_or_default();
    let posts = app.slack.calls("chat.postMessage");
    let cards_posted = posts
        .iter()
        .filter(|c| c.body.get("thread_ts").is_none())
        .count();
    let replies = posts
        .iter()
        .filter(|c| c.body["thread_ts"] == ts.as_str())
        .map(|c| c.body["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    let updates = app.slack.calls("chat.update");
    let last = updates
        .iter()
        .rev()
        .find(|c| c.body["ts"] == ts.as_str())
        .map(|c| c.body.clone());
    Outcome {
        status: record.status,
        step: record.step,
        state: record.state,
        seq: record.seq,
        outcome: record.outcome,
        effects: per_run(app.effects.caused()),
        executions,
        audit,
        cards_posted,
        replies,
        last_card: last.map(|card| card_texts(&card)).unwrap_or_default(),
    }
}

/// The card's visible texts, with dates (which differ from run to run) blanked.
pub fn card_texts(card: &Value) -> Vec<String> {
    let dates = Regex::new(r"<!date\^\d+\^[^>]*>").unwrap();
    card["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] != "context")
        .map(|b| match b["type"].as_str() {
            Some("actions") => format!("buttons: {}", b["elements"].as_array().unwrap().len()),
            _ => dates
                .replace_all(b["text"]["text"].as_str().unwrap_or_default(), "<date>")
                .into_owned(),
        })
        .collect()
}

enum Progress {
    Stopped,
    Waiting,
    Finished,
}

/// Drives a demo run to its end like a user would: presses Go when asked, and restarts the app
/// whenever a hook stopped it.
async fn drive(app: &mut TestApp, run: RunId) {
    let mut pressed = false;
    loop {
        let progress = wait_until("the run to move", || async {
            if app.shutdown_token().is_cancelled() {
                return Some(Progress::Stopped);
            }
            let record = app.run(run).await;
            if record.status.is_finished() {
                return Some(Progress::Finished);
            }
            (record.status == RunStatus::Waiting && !pressed).then_some(Progress::Waiting)
        })
        .await;
        match progress {
            Progress::Stopped => {
                app.stopped().await;
                app.start().await;
            }
            Progress::Waiting => {
                app.press(run, "go", "U0CLICKER").await;
                pressed = true;
            }
            Progress::Finished if app.shutdown_token().is_cancelled() => {
                app.stopped().await;
                app.start().await;
            }
            Progress::Finished => break,
        }
    }
    app.settled(run).await;
}

async fn a_run_checkpoints_every_step_and_keeps_one_card(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let waiting = app
        .wait_for_run(run, "the run to wait", |r| r.status == RunStatus::Waiting)
        .await;
    assert_eq!(
        (waiting.seq, waiting.step.as_str()),
        (2, "ask"),
        "prepare and ask are checkpointed"
    );
    drive(&mut app, run).await;
    let done = outcome(&app, run).await;

    let audit: Vec<(&str, &str)> = done
        .audit
        .iter()
        .map(|(_, action, detail)| (action.as_str(), detail.as_str()))
        .collect();
    assert_eq!(
        audit,
        [
            ("started", "Billo.Api#12"),
            ("step", "prepare → ask"),
            ("step", "ask → ask"),
            ("decision", "chose go at go-or-stop"),
            ("step", "ask → act"),
            ("step", "act → finish"),
            ("step", "finish → finished"),
        ]
    );
    assert_eq!((done.status, done.seq), (RunStatus::Done, 5));
    assert_eq!(
        done.effects,
        BTreeMap::from([
            ("act".into(), 1),
            ("finish".into(), 1),
            ("prepare".into(), 1)
        ])
    );

    assert_eq!(done.cards_posted, 1, "one root message per run");
    let card_ts = app.run(run).await.card_ts.unwrap();
    assert!(
        app.slack
            .calls("chat.update")
            .iter()
            .all(|c| c.body["ts"] == card_ts.as_str() && c.body["channel"] == CHANNEL)
    );
    assert_eq!(
        done.replies,
        ["Acted.", "Finished after @U0CLICKER said go."],
        "details go to the card's thread"
    );
    assert_eq!(
        done.last_card,
        [
            ":white_check_mark: Demo run",
            "Demo at `finished`",
            "*Done*",
            ":ballot_box_with_check: *Go* chosen by <@U0CLICKER> on <date>",
        ],
        "the card names who decided and has no buttons left"
    );
    let tokens: Vec<String> = app
        .slack
        .all_calls()
        .iter()
        .map(|c| format!("{} {}", c.method, c.token))
        .collect();
    assert!(
        tokens
            .iter()
            .all(|t| t.starts_with("apps.connections.open xapp-") || t.contains(" xoxb-")),
        "{tokens:?}"
    );
    app.finish().await;
}

async fn the_waiting_card_offers_both_options_and_confirms_the_destructive_one(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let approval = app.pending_approval(run).await;
    let card = wait_until("a card with buttons", || async {
        let calls = [
            app.slack.calls("chat.postMessage"),
            app.slack.calls("chat.update"),
        ]
        .concat();
        calls
            .into_iter()
            .rev()
            .map(|c| c.body)
            .find(|b| b.to_string().contains("\"actions\""))
    })
    .await;
    let actions = card["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap()
        .clone();
    let buttons = actions["elements"].as_array().unwrap();
    assert_eq!(buttons[0]["value"], format!("{}:go", approval.id));
    assert_eq!(
        (
            buttons[0]["action_id"].as_str(),
            buttons[0]["style"].as_str()
        ),
        (Some("decide:go"), Some("primary"))
    );
    assert_eq!(buttons[1]["value"], format!("{}:stop", approval.id));
    assert_eq!(buttons[1]["style"], "danger");
    assert_eq!(buttons[1]["confirm"]["text"]["text"], "Stop this demo run?");
    assert!(buttons[0].get("confirm").is_none());

    let id = app.press(run, "stop", "U0CLICKER").await;
    app.slack.ack(&id).await;
    let stopped = app.finished(run).await;
    assert_eq!(
        (stopped.status, stopped.outcome.as_deref()),
        (RunStatus::Cancelled, Some("stopped by U0CLICKER"))
    );
    assert_eq!(app.effects.count("act", &run.to_string()), 0);
    app.finish().await;
}

async fn stopping_between_any_two_steps_gives_the_same_result(backend: Backend) {
    let Some(mut baseline) = TestApp::spawn(backend).await else {
        return;
    };
    let run = baseline.start_demo().await;
    drive(&mut baseline, run).await;
    let expected = normalized(outcome(&baseline, run).await, run);
    let steps = baseline.hooks.executed();
    baseline.finish().await;
    assert_eq!(steps, 5, "prepare, ask (waits), ask (decided), act, finish");

    for stop_after in 1..=steps {
        let mut app = TestApp::spawn(backend).await.unwrap();
        app.hooks.stop_after(stop_after, app.shutdown_token());
        let run = app.start_demo().await;
        drive(&mut app, run).await;
        let got = normalized(outcome(&app, run).await, run);
        assert_eq!(got, expected, "stopped after step {stop_after}");
        assert!(
            app.slack.connections_opened() >= 2,
            "the app really was restarted"
        );
        app.finish().await;
    }
}

/// Makes outcomes of different runs comparable: the run id appears in no field.
fn normalized(mut outcome: Outcome, run: RunId) -> Outcome {
    let id = run.to_string();
    for entry in &mut outcome.audit {
        entry.2 = entry.2.replace(&id, "<run>");
    }
    outcome
}

async fn buttons_of_a_waiting_run_work_after_a_restart(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let approval = app.pending_approval(run).await;
    app.card_ts(run).await;
    app.stop().await;
    app.start().await;
    let envelope = app.click_envelope(&approval, "go", "U0CLICKER").await;
    let id = app.slack.deliver(envelope).await;
    app.slack.ack(&id).await;
    let done = app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done);
    app.settled(run).await;
    assert_eq!(
        outcome(&app, run).await.cards_posted,
        1,
        "the card is not posted again after a restart"
    );
    app.finish().await;
}

async fn transient_failures_are_retried_until_they_pass(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.effects.fail("prepare", 503, 2);
    let run = app.start_demo().await;
    app.wait_for_run(run, "the run to wait", |r| r.status == RunStatus::Waiting)
        .await;
    let retries: Vec<String> = app
        .store
        .audit_for_run(run)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "retry")
        .map(|a| a.detail)
        .collect();
    assert_eq!(
        retries,
        [
            "attempt 1: prepare failed with 503 Service Unavailable",
            "attempt 2: prepare failed with 503 Service Unavailable"
        ]
    );
    assert_eq!(app.effects.count("prepare", &run.to_string()), 1);
    app.finish().await;
}

async fn a_permanent_failure_fails_the_run_and_the_card_says_why(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.effects.fail("prepare", 422, 1);
    let run = app.start_demo().await;
    let failed = app.finished(run).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(
        failed.outcome.as_deref(),
        Some("prepare refused with 422 Unprocessable Entity")
    );
    app.settled(run).await;
    let cards = [
        app.slack.calls("chat.postMessage"),
        app.slack.calls("chat.update"),
    ]
    .concat();
    let last = cards.iter().max_by_key(|c| c.at).unwrap();
    assert_eq!(
        card_texts(&last.body)[..3],
        [
            ":x: Demo run".to_owned(),
            "Demo at `prepare`".to_owned(),
            "*Failed* at `prepare`: prepare refused with 422 Unprocessable Entity".to_owned()
        ]
    );
    app.finish().await;
}

async fn a_transient_failure_that_persists_fails_the_run(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.effects.fail("prepare", 500, 100);
    let run = app.start_demo().await;
    let failed = app.finished(run).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(
        failed.outcome.as_deref(),
        Some("prepare failed with 500 Internal Server Error (gave up after 5 attempts)")
    );
    app.finish().await;
}

async fn slack_rate_limits_are_honoured(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let limited = ResponseTemplate::new(429)
        .insert_header("Retry-After", "1")
        .set_body_json(serde_json::json!({"ok": false, "error": "ratelimited"}));
    app.slack.script("chat.postMessage", limited);
    let run = app.start_demo().await;
    app.card_ts(run).await;
    let posts = app.slack.calls("chat.postMessage");
    assert_eq!(posts.len(), 2, "one refused, one accepted");
    let waited = posts[1].at - posts[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "the retry came {waited:?} after the 429"
    );
    app.settled(run).await;
    assert_eq!(
        outcome(&app, run).await.cards_posted,
        2,
        "the refused post and the real card"
    );
    app.finish().await;
}

on_both_backends!(
    a_run_checkpoints_every_step_and_keeps_one_card,
    the_waiting_card_offers_both_options_and_confirms_the_destructive_one,
    stopping_between_any_two_steps_gives_the_same_result,
    buttons_of_a_waiting_run_work_after_a_restart,
    transient_failures_are_retried_until_they_pass,
    a_permanent_failure_fails_the_run_and_the_card_says_why,
    a_transient_failure_that_persists_fails_the_run,
    slack_rate_limits_are_honoured,
);
