//! Freezes through Socket Mode: `/release freeze` by a release approver refuses Merge clicks and
//! release starts with the reason and who froze, audited, until `/release unfreeze`.

use release_agent::domain::{RunStatus, Version};

use crate::on_both_backends;
use crate::pr_flow::{released, world};
use crate::support::{Backend, wait_until};

async fn a_frozen_repository_refuses_merges_and_releases_until_unfrozen(backend: Backend) {
    let vars = [
        ("SLACK_APPROVERS", "U0ANN,U0ADA"),
        ("CI_AUTO_TRIGGER", "true"),
    ];
    let Some(w) = world(backend, &vars).await else {
        return;
    };
    released(&w.app, Version::new(1, 4, 2)).await;
    w.ticketed_pr();
    // By number alone: the run learns its repository from the PR, and the freeze applies.
    let (_, run) = w.review("12").await;
    w.waits_at(run, "ask_merge").await;

    let ack = w.release_as("freeze Billo.Api", "U0BOB").await;
    assert!(ack.starts_with("`/release freeze` needs a reason"), "{ack}");
    let ack = w
        .release_as("freeze Billo.Api payment <!here> outage", "U0BOB")
        .await;
    assert_eq!(ack, "Freezing Billo.Api…");
    let refused = w.note_to("U0BOB", 0).await;
    assert!(
        refused.starts_with("You are not one of the approvers for freezes of Billo.Api"),
        "only release approvers freeze: {refused}"
    );
    assert_eq!(w.app.db.count("SELECT COUNT(*) FROM freezes").await, 0);

    w.release_as("freeze Billo.Api payment <!here> outage", "U0ANN")
        .await;
    let frozen = w.note_to("U0ANN", 0).await;
    assert!(
        frozen.starts_with(":ice_cube: *Billo.Api* is frozen by <@U0ANN> since <!date^")
            && frozen.contains(
                ": payment &lt;!here&gt; outage. Merge buttons and release starts are refused"
            ),
        "{frozen}"
    );

    let click = w.app.press(run, "merge", "U0ADA").await;
    w.app.slack.ack(&click).await;
    let refusal = w.note_to("U0ADA", 0).await;
    assert!(
        refusal.starts_with(":ice_cube: *Billo.Api* is frozen by <@U0ANN>")
            && refusal
                .ends_with("Nothing changed; `/release unfreeze Billo.Api` lifts the freeze."),
        "{refusal}"
    );
    w.waits_at(run, "ask_merge").await;
    assert!(w.azdo.with(|s| s.completions.is_empty()), "nothing merged");
    let audited = w
        .app
        .store
        .audit_for_run(run)
        .await
        .unwrap()
        .into_iter()
        .any(|e| e.action == "decision_refused" && e.detail.ends_with("refused: frozen"));
    assert!(audited, "the refused Merge is audited");

    let release = w.release_as("Billo.Api", "U0ADA").await;
    assert!(
        release.starts_with(":ice_cube: *Billo.Api* is frozen by <@U0ANN>"),
        "{release}"
    );
    let slack = &w.app.slack;
    let opened = slack.deliver(slack.home_opened_envelope("U0ADA")).await;
    slack.ack(&opened).await;
    let home = wait_until("the Home tab", || async {
        slack.calls("views.publish").pop()
    })
    .await;
    let first = home.body["view"]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        first.starts_with(":ice_cube: *Billo.Api* is frozen by <@U0ANN>"),
        "{first}"
    );
    let status = w.release_as("status", "U0ADA").await;
    assert!(
        status.starts_with(":ice_cube: *Billo.Api* is frozen by"),
        "{status}"
    );
    let count = |sql: &'static str| w.app.db.count(sql);
    assert_eq!(
        (
            count("SELECT COUNT(*) FROM runs WHERE kind = 'release'").await,
            count("SELECT COUNT(*) FROM audit_log WHERE action = 'release_refused' AND actor = 'U0ADA'").await,
            count("SELECT COUNT(*) FROM audit_log WHERE action = 'froze' AND actor = 'U0ANN'").await,
            count("SELECT COUNT(*) FROM audit_log WHERE action = 'freeze_refused' AND actor = 'U0BOB'").await,
        ),
        (0, 1, 1, 1)
    );

    w.release_as("unfreeze Billo.Api", "U0ANN").await;
    let unfrozen = w.note_to("U0ANN", 1).await;
    assert_eq!(
        unfrozen,
        "*Billo.Api* is no longer frozen: merges and releases go on."
    );
    w.press_as(run, "merge", "U0ADA").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    assert_eq!(w.azdo.with(|s| s.completions.len()), 1);
    w.app.finish().await;
}

on_both_backends!(a_frozen_repository_refuses_merges_and_releases_until_unfrozen);
