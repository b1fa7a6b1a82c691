//! The App Home tab: opening it publishes the pending approvals (with working buttons for who may
//! decide them), the staging releases and the last runs with links to their cards.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::release_flow::release_world;
use crate::support::{Backend, wait_until};

/// The texts of a view's blocks and the labels and values of its buttons.
fn texts(view: &Value) -> (String, Vec<(String, String, String)>) {
    let blocks = view["blocks"].as_array().unwrap();
    let text = blocks
        .iter()
        .map(|b| b["text"]["text"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let buttons = blocks
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (
                e["text"]["text"].as_str().unwrap_or_default().to_owned(),
                field("action_id"),
                field("value"),
            )
        })
        .collect();
    (text, buttons)
}

async fn the_home_tab_shows_what_waits_and_its_buttons_work(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    let card_ts = w.app.card_ts(run).await;

    let slack = &w.app.slack;
    let id = slack.deliver(slack.home_opened_envelope("U0ADA")).await;
    slack.ack(&id).await;
    let publish = wait_until("the Home tab to be published", || async {
        slack.calls("views.publish").pop()
    })
    .await;
    assert_eq!(publish.body["user_id"], "U0ADA");
    let view = &publish.body["view"];
    assert_eq!(view["type"], "home");
    assert!(view["blocks"].as_array().unwrap().len() <= 100);
    let (text, buttons) = texts(view);
    let link = format!(
        "https://test.slack.com/archives/C0RELEASES/p{}",
        card_ts.replace('.', "")
    );
    assert!(
        text.contains(&format!("<{link}|Release Billo.Api 1.4.3>")),
        "{text}"
    );
    assert!(
        text.contains("*Create the release PR develop → main for Billo.Api 1.4.3?*"),
        "{text}"
    );
    assert!(
        text.contains("*Billo.Api* 1.4.3: 3 PRs, 3 tickets, since"),
        "{text}"
    );
    assert!(
        text.contains("· waiting for a decision ·"),
        "recent runs: {text}"
    );
    let labels: Vec<&str> = buttons.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(labels, ["Create release PR", "Cancel"]);

    // A click in the Home tab comes from a view, with no channel.
    let (_, action, value) = buttons[0].clone();
    let mut click = slack.click_envelope(&action, &value, "U0ADA", "");
    click["payload"]["container"] = json!({"type": "view", "view_id": "V0HOME"});
    click["payload"]["view"] =
        json!({"id": "V0HOME", "type": "home", "team_id": "T0TEAM", "hash": "h", "blocks": []});
    click["payload"].as_object_mut().unwrap().remove("channel");
    let id = slack.deliver(click).await;
    slack.ack(&id).await;
    w.waits_at(run, "ask_merge").await;
    assert_eq!(
        w.azdo.with(|s| s.created.len()),
        1,
        "the release PR was created"
    );
    w.app.finish().await;
}

/// Buttons go only to who may press them; the others read who may.
async fn the_home_tab_gives_buttons_only_to_who_may_decide(backend: Backend) {
    let vars = [
        ("SLACK_APPROVERS", "U0ADA U0BOB"),
        ("ALLOW_SELF_APPROVAL", "false"),
    ];
    let Some(w) = release_world(backend, &vars).await else {
        return;
    };
    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    let slack = &w.app.slack;
    let home_of = |user: &'static str| async move {
        let before = slack.calls("views.publish").len();
        let id = slack.deliver(slack.home_opened_envelope(user)).await;
        slack.ack(&id).await;
        let publish = wait_until("the Home tab to be published", || async {
            // The live tab may publish to someone else meanwhile.
            let calls = slack.calls("views.publish");
            calls
                .into_iter()
                .skip(before)
                .find(|c| c.body["user_id"] == user)
        })
        .await;
        assert_eq!(publish.body["user_id"], user);
        texts(&publish.body["view"])
    };

    let (text, buttons) = home_of("U0ADA").await;
    assert!(buttons.is_empty(), "{buttons:?}");
    assert!(
        text.contains(
            "_Read-only for you: You asked for this run, so someone else decides it (four eyes). \
             Who can: <@U0ADA>, <@U0BOB>._"
        ),
        "{text}"
    );
    let (text, buttons) = home_of("U0EVE").await;
    assert!(buttons.is_empty(), "{buttons:?}");
    assert!(
        text.contains("_Read-only for you: the release is decided by <@U0ADA>, <@U0BOB>._"),
        "{text}"
    );
    let (_, buttons) = home_of("U0BOB").await;
    let labels: Vec<&str> = buttons.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(labels, ["Create release PR", "Cancel"]);
    w.app.finish().await;
}

/// Who opened the tab this week sees it change without opening it again; who opened it 8 days
/// ago is not sent it.
async fn the_home_tab_stays_live_for_who_opened_it_this_week(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    let slack = &w.app.slack;
    let week_ago = release_agent::clock::Clock::system().now() - chrono::TimeDelta::days(8);
    w.app.store.saw_home("U0OLD", week_ago).await.unwrap();
    let id = slack.deliver(slack.home_opened_envelope("U0ADA")).await;
    slack.ack(&id).await;
    let to = |user: &'static str| {
        slack
            .calls("views.publish")
            .into_iter()
            .filter(move |c| c.body["user_id"] == user)
    };
    wait_until("the Home tab to be published", || async {
        to("U0ADA").next()
    })
    .await;

    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    let live = wait_until("the Home tab to show the new question", || async {
        to("U0ADA").find(|c| texts(&c.body["view"]).0.contains("Create the release PR"))
    })
    .await;
    assert_eq!(live.body["view"]["type"], "home");
    assert_eq!(
        to("U0OLD").count(),
        0,
        "a visit 8 days ago is not kept live"
    );
    w.app.finish().await;
}

on_both_backends!(
    the_home_tab_stays_live_for_who_opened_it_this_week,
    the_home_tab_shows_what_waits_and_its_buttons_work,
    the_home_tab_gives_buttons_only_to_who_may_decide,
);
