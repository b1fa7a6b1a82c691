//! What each envelope does before its ack: a slash command is answered (a review request is
//! saved as an intent, a release started; both touch only the database), a click is saved as an
//! intent, a Home-tab event spawns its publish. Each
//! envelope runs in its own task, so a slow one holds up nobody else's ack.

use std::time::Instant;

use slack_morphism::prelude::*;
use tracing::{error, warn};

use super::Receivers;
use super::frames::{Event, ack, answer};
use crate::metrics;
use crate::slack::actions;
use crate::slack::front_door::{CommandCall, Stranger};
use crate::slack::workspace::Origin;

/// The ack of envelope `id`, with the answer when the envelope takes one. `None`: no ack, so
/// Slack shows the user that the click failed.
pub async fn handle(id: &str, event: Event, receivers: &Receivers) -> Option<String> {
    let started = Instant::now();
    let (kind, answer) = match event {
        Event::Command(command_event) => {
            let response = command(&command_event, receivers).await;
            ("command", Some(answer(id, Some(&response))))
        }
        Event::Interaction(interaction) => {
            let answer = match receivers.door.interaction(&interaction).await {
                Ok(()) => Some(ack(id)),
                Err(e) => {
                    error!(error = %e, "click not saved; not acking so the user sees it failed");
                    None
                }
            };
            ("interaction", answer)
        }
        Event::Push(push) => {
            push_event(*push, receivers);
            ("event", Some(ack(id)))
        }
    };
    metrics::observe_ack(kind, started.elapsed());
    answer
}

/// The ack of an envelope from another workspace, organisation or app: it is recorded for the
/// audit and otherwise ignored. `None` when it could not be recorded: Slack then sends it again.
pub async fn stranger(
    id: &str,
    event: &Event,
    origin: &Origin,
    why: String,
    receivers: &Receivers,
) -> Option<String> {
    let started = Instant::now();
    let (what, approval) = match event {
        Event::Command(command) => (format!("the command {}", command.command.0), None),
        Event::Interaction(interaction) => ("a click".to_owned(), clicked(interaction)),
        Event::Push(_) => ("an event".to_owned(), None),
    };
    let stranger = Stranger {
        envelope_id: id,
        what,
        approval,
        origin,
        why,
    };
    let answer = match receivers.door.stranger(stranger).await {
        Ok(()) => Some(ack(id)),
        Err(e) => {
            error!(error = %e, "envelope from elsewhere not recorded; not acking");
            None
        }
    };
    metrics::observe_ack("stranger", started.elapsed());
    answer
}

/// The approval a click is on, if it is on one of ours.
fn clicked(event: &SlackInteractionEvent) -> Option<crate::domain::ApprovalId> {
    let SlackInteractionEvent::BlockActions(event) = event else {
        return None;
    };
    event
        .actions
        .iter()
        .flatten()
        .find_map(|action| actions::parse(&action.action_id.0, action.value.as_deref()))
        .map(|(approval, _)| approval)
}

async fn command(event: &SlackCommandEvent, receivers: &Receivers) -> SlackCommandEventResponse {
    let call = CommandCall {
        command: &event.command.0,
        text: event.text.as_deref().unwrap_or_default(),
        user: &event.user_id.0,
        trigger: &event.trigger_id.0,
        channel: &event.channel_id.0,
        team_domain: event.team_domain.as_deref(),
        response_url: Some(event.response_url.0.as_str()),
    };
    receivers.door.command(&call).await
}

/// Only `app_home_opened` is used: the Home tab is published after the ack, once per event.
fn push_event(event: SlackPushEventCallback, receivers: &Receivers) {
    if let SlackEventCallbackBody::AppHomeOpened(opened) = event.event
        && opened.tab.as_deref().is_none_or(|tab| tab == "home")
    {
        let home = receivers.home.clone();
        let event_id = event.event_id.0;
        tokio::spawn(async move {
            if let Err(e) = home.opened(&event_id, &opened.user.0).await {
                warn!(error = %e, "cannot publish the Home tab");
            }
        });
    }
}
