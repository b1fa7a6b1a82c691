//! Socket churn: while a PR run goes from its review to its merge and CI, the fake Slack rotates
//! the bot's connections (`refresh_requested`, `warning`), drops them without a close handshake,
//! and says `too_many_websockets`. Every envelope sent meanwhile is acked, every click counts,
//! each disturbance costs one new connection, and `too_many_websockets` makes the bot wait.

use std::time::{Duration, Instant};

use release_agent::domain::RunStatus;

use crate::on_both_backends;
use crate::pr_flow::{World, world};
use crate::support::{Backend, socket_settings};

/// The ways Slack disturbs a connection, in the order the test uses them.
#[derive(Debug, Clone, Copy)]
enum Disturbance {
    /// A `disconnect` frame with this reason; Slack closes the connection this long after.
    Disconnect(&'static str, Duration),
    Drop,
}

const ROUNDS: [Disturbance; 6] = [
    Disturbance::Disconnect("refresh_requested", Duration::from_millis(500)),
    Disturbance::Drop,
    Disturbance::Disconnect("warning", Duration::from_secs(1)),
    Disturbance::Drop,
    Disturbance::Disconnect("refresh_requested", Duration::from_millis(200)),
    Disturbance::Disconnect("warning", Duration::from_millis(800)),
];

/// Disturbs the oldest of the two connections and waits until two are live again. A rotated connection must
/// still serve: a command sent on it after the `disconnect` frame is answered.
async fn disturb(w: &World, disturbance: Disturbance) {
    let slack = &w.app.slack;
    slack.live_exactly(2).await;
    let opened = slack.connections_opened();
    match disturbance {
        Disturbance::Disconnect(reason, after) => {
            slack.disconnect(0, reason, after);
            let envelope = slack.slash_envelope("/review", "help", "U0ADA");
            let id = slack.deliver_on(0, envelope);
            let ack = slack.ack(&id).await;
            assert!(
                ack["payload"].to_string().contains("/review"),
                "a command sent on a connection being rotated ({reason}) is answered: {ack}"
            );
        }
        Disturbance::Drop => slack.drop_connection(0),
    }
    // The old connection goes, a new one comes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while slack.connections_opened() == opened || slack.live_connections() < 2 {
        assert!(
            Instant::now() < deadline,
            "no new connection after {disturbance:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        slack.connections_opened() - opened,
        1,
        "one new connection for {disturbance:?}"
    );
}

async fn churn_loses_no_click_and_backs_off_on_too_many_websockets(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    w.ticketed_pr();
    let (_, run) = w.review("Billo.Api#12").await;

    for disturbance in ROUNDS {
        disturb(&w, disturbance).await;
    }
    w.waits_at(run, "ask_merge").await;
    w.press(run, "merge").await;
    for disturbance in ROUNDS {
        disturb(&w, disturbance).await;
    }
    w.waits_at(run, "ask_ci").await;
    w.press(run, "trigger").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done);
    assert_eq!(w.azdo.with(|s| s.completions.len()), 1);

    // too_many_websockets twice in a row to one slot (the second time on the connection it opened
    // after the first): it closes and waits, longer the second time.
    let slack = &w.app.slack;
    let settings = socket_settings().backoff;
    let mut waited = Vec::new();
    for newest in [false, true] {
        slack.live_exactly(2).await;
        let opened = slack.opened_at().len();
        let told = Instant::now();
        let index = if newest { 1 } else { 0 };
        slack.disconnect(index, "too_many_websockets", Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(10);
        while slack.opened_at().len() == opened {
            assert!(Instant::now() < deadline, "no reconnection after the pause");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        waited.push(slack.opened_at()[opened] - told);
    }
    assert!(
        waited[0] >= settings.too_many,
        "the first pause {:?} is at least {:?}",
        waited[0],
        settings.too_many
    );
    assert!(
        waited[1] >= settings.too_many * 2,
        "the second pause {:?} doubles",
        waited[1]
    );
    slack.live(2).await;
    let help = slack.slash("/review", "help", "U0ADA").await;
    assert!(help["payload"].to_string().contains("/review"));
    w.app.finish().await;
}

on_both_backends!(churn_loses_no_click_and_backs_off_on_too_many_websockets);
