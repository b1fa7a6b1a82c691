//! Socket Mode end to end: envelopes in through the fake Slack's WebSocket, acks out, Web API
//! calls observed.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, TestApp};

/// The text a slash-command ack shows the user.
fn ack_text(ack: &Value) -> String {
    let payload = &ack["payload"];
    assert_eq!(
        payload["response_type"], "ephemeral",
        "answers to commands are only for the caller: {ack}"
    );
    payload["blocks"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .map(|b| b["text"]["text"].as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

async fn release_help_is_answered_inside_the_ack(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let ack = app.slack.slash("/release", "help", "U0ASKER").await;
    let text = ack_text(&ack);
    assert!(
        text.contains("*`/release`* — take a repository's staging release to production"),
        "{text}"
    );
    assert!(text.contains("`/release status [repo]`"), "{text}");
    assert!(
        text.contains("Known repositories: Billo.Api, Billo.Web"),
        "{text}"
    );
    assert!(
        app.slack.calls("chat.postMessage").is_empty(),
        "help needs no message in the channel"
    );
    app.finish().await;
}

async fn a_malformed_review_argument_gets_an_ephemeral_error(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let text = ack_text(
        &app.slack
            .slash("/review", "Billo.Api#twelve", "U0ASKER")
            .await,
    );
    assert!(
        text.contains("`Billo.Api#twelve` is not a pull request: use a link, Repo#123 or 123"),
        "{text}"
    );
    assert!(
        text.contains("Usage: `/review <PR link | Repo#123 | 123>`"),
        "{text}"
    );
    app.finish().await;
}

async fn other_bad_input_is_explained(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cases = [
        ("/review", "", "Which pull request?"),
        (
            "/review",
            "Unknown.Repo#3",
            "I don't know the repository `Unknown.Repo`. Known repositories: Billo.Api, Billo.Web.",
        ),
        ("/release", "", "Which repository?"),
        (
            "/release",
            "deploy Billo.Api",
            "`deploy` is neither a subcommand (status, history, audit, freeze, unfreeze, hotfix, rollback, help) nor a known repository",
        ),
        (
            "/release",
            "history",
            "`/release history` needs a repository.",
        ),
        (
            "/release",
            "audit Billo.Api 1.4",
            "`1.4` is not a version: write it as 1.4.3.",
        ),
        (
            "/release",
            "rollback Billo.Api",
            "Rollbacks need Azure DevOps: an admin sets AZDO_ORGANIZATION, AZDO_PROJECT and AZDO_PAT.",
        ),
        (
            "/release",
            "rollback Billo.Api 1.4",
            "`1.4` is not a version: write it as 1.4.3.",
        ),
        (
            "/release",
            "audit Billo.Api 1.4.3",
            "Billo.Api has no release 1.4.3: no run, staging or archive knows it (none yet).",
        ),
    ];
    for (command, text, expected) in cases {
        let answer = ack_text(&app.slack.slash(command, text, "U0ASKER").await);
        assert!(
            answer.contains(expected),
            "{command} {text:?} answered {answer:?}"
        );
    }
    app.finish().await;
}

async fn without_azure_devops_the_workflows_say_what_is_missing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let text = ack_text(&app.slack.slash("/release", "billo.api", "U0ASKER").await);
    assert_eq!(
        text,
        "Releases need Azure DevOps: an admin sets AZDO_ORGANIZATION, AZDO_PROJECT and AZDO_PAT."
    );
    let text = ack_text(&app.slack.slash("/review", "billo.api#12", "U0ASKER").await);
    assert_eq!(
        text,
        "Reviews need Azure DevOps: an admin sets AZDO_ORGANIZATION, AZDO_PROJECT and AZDO_PAT."
    );
    assert!(app.store.recent_runs(5).await.unwrap().is_empty());
    app.finish().await;
}

async fn an_envelope_delivered_twice_is_handled_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let approval = app.pending_approval(run).await;
    let envelope = app.click_envelope(&approval, "go", "U0CLICKER").await;
    let id = app.slack.deliver(envelope.clone()).await;
    app.slack.ack(&id).await;
    app.slack.redeliver(&envelope).await;
    app.slack.ack(&id).await;
    app.finished(run).await;
    app.settled(run).await;

    let audit = app.store.audit_for_run(run).await.unwrap();
    let count = |action: &str| audit.iter().filter(|a| a.action == action).count();
    assert_eq!(
        (count("decision"), count("decision_refused")),
        (1, 0),
        "{audit:#?}"
    );
    assert!(
        app.slack.notes().is_empty(),
        "the duplicate is not even refused: it is ignored"
    );
    assert_eq!(app.effects.count("act", &run.to_string()), 1);
    app.finish().await;
}

async fn nothing_is_asked_of_slack_before_a_click_is_acked(backend: Backend) {
    let vars = [("SLACK_APPROVERS", "S0LEADS")];
    let Some(app) = TestApp::spawn_with(backend, &vars).await else {
        return;
    };
    app.slack.set_group("S0LEADS", &["U0LEAD"]);
    let run = app.start_demo().await;
    let id = app.press(run, "go", "U0LEAD").await;
    app.slack.ack(&id).await;
    app.wait_for_run(run, "the decision to count", |r| r.seq >= 3)
        .await;
    let acked = app.slack.acked_at(&id).unwrap();
    let lookups = app.slack.calls("usergroups.users.list");
    assert_eq!(lookups.len(), 1);
    assert!(
        lookups[0].at > acked,
        "the group lookup happened after the ack"
    );
    app.finish().await;
}

on_both_backends!(
    release_help_is_answered_inside_the_ack,
    a_malformed_review_argument_gets_an_ephemeral_error,
    other_bad_input_is_explained,
    without_azure_devops_the_workflows_say_what_is_missing,
    an_envelope_delivered_twice_is_handled_once,
    nothing_is_asked_of_slack_before_a_click_is_acked,
);
