//! Bad input, generated: 11,500 cases over slash-command text, Azure DevOps webhook bodies and
//! Socket Mode envelopes. Nothing panics, every case gets an answer that says what was wrong,
//! and no answer can mention anyone. The parsers take 10,000 cases; the running bot takes 1,000
//! envelopes on its socket and 500 bodies on its webhook, and still works afterwards.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use release_agent::domain::RepoName;
use release_agent::http_server::webhook;
use release_agent::slack::commands;
use reqwest::Method;
use serde_json::{Value, json};

use crate::http::{Auth, HTTP_VARS, WEBHOOK_SECRET, call, pr_event};
use crate::on_both_backends;
use crate::pr_flow::{blocks_text, world};
use crate::support::{Backend, TestApp};

/// Words people type, paste or fumble after a command.
fn slash_text() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("Billo.Api".to_owned()),
        Just("billo.api#12".to_owned()),
        Just("Billo.Web#0".to_owned()),
        Just("#".to_owned()),
        Just("12".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("<https://dev.azure.com/org/Proj/_git/Billo.Api/pullrequest/12|PR 12>".to_owned()),
        Just("https://dev.azure.com/org/Proj/_git/Billo.Api/pullrequest/12".to_owned()),
        Just("https://evil.example/_git/x/pullrequest/1".to_owned()),
        Just("status".to_owned()),
        Just("history".to_owned()),
        Just("help".to_owned()),
        Just("<!channel>".to_owned()),
        Just("<@U0ADA>".to_owned()),
        Just("<#C0OTHER>".to_owned()),
        Just("*bold* _it_ `code` ```".to_owned()),
        Just("&amp; &lt;".to_owned()),
        Just("\u{0}\u{7}\u{202e}".to_owned()),
        Just("\n\t ".to_owned()),
        "[a-zA-Z0-9._#/:<>|@!-]{0,16}",
        ".{0,12}",
    ];
    prop_oneof![vec(word, 0..6).prop_map(|w| w.join(" ")), ".{0,300}"]
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("/review".to_owned()),
        4 => Just("/release".to_owned()),
        1 => "/[a-z]{0,10}",
    ]
}

/// Any JSON, with the keys of a service hook more likely than others.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ];
    let key = prop_oneof![
        Just("eventType".to_owned()),
        Just("resource".to_owned()),
        Just("pullRequestId".to_owned()),
        Just("status".to_owned()),
        Just("isDraft".to_owned()),
        Just("repository".to_owned()),
        Just("name".to_owned()),
        Just("targetRefName".to_owned()),
        Just("lastMergeSourceCommit".to_owned()),
        Just("commitId".to_owned()),
        "[a-zA-Z_]{1,10}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const HOOK_FIELDS: [&[&str]; 10] = [
    &["eventType"],
    &["resource"],
    &["resource", "pullRequestId"],
    &["resource", "status"],
    &["resource", "isDraft"],
    &["resource", "repository"],
    &["resource", "repository", "name"],
    &["resource", "targetRefName"],
    &["resource", "lastMergeSourceCommit"],
    &["resource", "lastMergeSourceCommit", "commitId"],
];

/// A real PR event with some fields replaced by anything or removed.
fn mutated_hook() -> impl Strategy<Value = Value> {
    let event = prop_oneof![
        Just("git.pullrequest.created"),
        Just("git.pullrequest.updated"),
        Just("git.pullrequest.merged"),
    ];
    let edit = (0..HOOK_FIELDS.len(), proptest::option::of(any_json()));
    (event, vec(edit, 1..4)).prop_map(|(event, edits)| {
        let mut hook = pr_event(event, 12, "active", "abc123");
        for (field, value) in edits {
            let (last, parents) = HOOK_FIELDS[field].split_last().unwrap();
            let parent = parents
                .iter()
                .try_fold(&mut hook, |at, key| at.get_mut(*key))
                .and_then(Value::as_object_mut);
            match (value, parent) {
                (Some(value), Some(object)) => {
                    object.insert((*last).to_owned(), value);
                }
                (None, Some(object)) => {
                    object.remove(*last);
                }
                (_, None) => {}
            }
        }
        hook
    })
}

/// A refusal a person can act on, and that cannot notify anyone when Slack renders it.
fn assert_clear(answer: &str) {
    assert!(!answer.trim().is_empty(), "an empty answer");
    assert!(answer.len() < 3000, "an answer of {} bytes", answer.len());
    for mention in ["<!", "<@", "<#"] {
        assert!(
            !answer.contains(mention),
            "the answer can mention: {answer}"
        );
    }
}

fn repos() -> Vec<RepoName> {
    ["Billo.Api", "Billo.Web"]
        .map(|r| RepoName::parse(r).unwrap())
        .to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn slash_text_is_parsed_or_refused_with_a_reason(command in command(), text in slash_text()) {
        if let Err(error) = commands::parse(&command, &text, &repos()) {
            assert_clear(&error.to_string());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn any_json_webhook_is_read_or_refused_with_a_reason(hook in any_json()) {
        if let Err(reason) = webhook::parse(hook) {
            prop_assert!(!reason.trim().is_empty());
        }
    }

    #[test]
    fn a_damaged_pr_event_is_read_or_refused_with_a_reason(hook in mutated_hook()) {
        if let Err(reason) = webhook::parse(hook) {
            prop_assert!(!reason.trim().is_empty());
        }
    }
}

/// `count` values of `strategy`, the same ones every run.
fn sample<S: Strategy>(strategy: S, count: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// An envelope Slack could not have sent: any JSON around an envelope id.
fn garbage_envelope(app: &TestApp, payload: Value, kind: &str) -> Value {
    let mut envelope = match payload {
        Value::Object(object) => Value::Object(object),
        other => json!({ "payload": other }),
    };
    envelope["envelope_id"] = json!(app.slack.envelope_id());
    envelope["type"] = json!(kind);
    envelope
}

async fn a_thousand_bad_envelopes_are_acked_and_the_bot_still_answers(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let slash = sample((command(), slash_text()), 600);
    for (command, text) in &slash {
        let ack = app.slack.slash(command, text, "U0ADA").await;
        assert_clear(&blocks_text(&ack["payload"]));
    }
    let clicks = sample(("[a-z:_]{0,20}", ".{0,40}"), 200);
    for (action, value) in &clicks {
        let click = app
            .slack
            .click_envelope(action, value, "U0ADA", "1700000000.000001");
        let id = app.slack.deliver(click).await;
        app.slack.ack(&id).await;
    }
    let kinds = sample(
        prop_oneof![
            Just("slash_commands".to_owned()),
            Just("interactive".to_owned()),
            Just("events_api".to_owned()),
            "[a-z_]{0,12}",
        ],
        200,
    );
    for (payload, kind) in sample(any_json(), 200).into_iter().zip(&kinds) {
        let id = app
            .slack
            .deliver(garbage_envelope(&app, payload, kind))
            .await;
        app.slack.ack(&id).await;
    }
    let help = app.slack.slash("/review", "help", "U0ADA").await;
    assert!(
        blocks_text(&help["payload"]).contains("/review"),
        "the bot still answers: {help}"
    );
    assert!(
        app.store.recent_runs(5).await.unwrap().is_empty(),
        "nothing ran without Azure DevOps"
    );
    app.finish().await;
}

async fn five_hundred_bad_webhook_bodies_get_a_reason_and_no_server_error(backend: Backend) {
    let Some(w) = world(backend, &HTTP_VARS).await else {
        return;
    };
    let mut bodies: Vec<String> = sample(any_json(), 200)
        .iter()
        .chain(&sample(mutated_hook(), 200))
        .map(Value::to_string)
        .collect();
    bodies.extend(sample(".{0,200}", 100));
    for body in bodies {
        let answer = call(
            &w,
            Method::POST,
            "/webhooks/azdo",
            Auth::Webhook(WEBHOOK_SECRET),
            Some(body.clone()),
        )
        .await;
        assert!(
            answer.status.is_success() || answer.status.is_client_error(),
            "{body} → {} {}",
            answer.status,
            answer.text
        );
        if answer.status.is_client_error() {
            let error = answer.body["error"].as_str().unwrap_or_default();
            assert!(!error.trim().is_empty(), "{body} → {}", answer.text);
        }
    }
    let status = call(&w, Method::GET, "/status", Auth::None, None).await;
    assert!(status.status.is_success(), "{}", status.text);
    w.app.finish().await;
}

on_both_backends!(
    a_thousand_bad_envelopes_are_acked_and_the_bot_still_answers,
    five_hundred_bad_webhook_bodies_get_a_reason_and_no_server_error,
);
