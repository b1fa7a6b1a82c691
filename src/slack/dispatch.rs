//! What each event from Slack does before its ack, whichever way it came (Socket Mode or HTTP):
//! a slash command is answered (a review request is saved as an intent, a release started; both
//! touch only the database), a click or a mention of the bot is saved as an intent, a Home-tab
//! event spawns its publish.
//! Each event runs in its own task, so a slow one holds up nobody else's ack.

use std::sync::Arc;
use std::time::Instant;

use slack_morphism::prelude::*;
use tokio::sync::OnceCell;
use tracing::{error, warn};

use super::actions;
use super::blocks;
use super::front_door::{CommandCall, FrontDoor, Stranger, Unsaved, database_since};
use super::home::HomeTab;
use super::link::SlackLink;
use super::web::SlackApi;
use super::workspace::{Origin, Workspace};
use crate::metrics;
use crate::workflow::acks_first::AcksInFlight;

/// What the events are handed to.
pub struct Receivers {
    pub door: Arc<FrontDoor>,
    pub home: Arc<HomeTab>,
    /// Told about hellos and broken connections, for `GET /status`.
    pub link: SlackLink,
    /// For the note to someone whose click could not be saved.
    pub api: SlackApi,
    /// Events not yet acked, counted for the work that waits for them.
    pub acks: Arc<AcksInFlight>,
    /// The bot's workspace, learnt before the first connection: events from any other are
    /// acked and ignored.
    pub workspace: OnceCell<Workspace>,
}

/// An event from Slack, typed.
#[derive(Debug)]
pub enum Event {
    Command(Box<SlackCommandEvent>),
    Interaction(Box<SlackInteractionEvent>),
    Push(Box<SlackPushEventCallback>),
}

/// What handling an event came to.
pub enum Handled {
    /// Ack it, with this answer for a slash command.
    Ack(Option<Box<SlackCommandEventResponse>>),
    /// Do not ack: the click could not be saved, and Slack shows the user that it failed (or,
    /// for an event, sends it again).
    NotSaved,
}

/// Why `origin` is not the bot's to act on (another workspace, organisation or `app`), if so.
pub fn stranger_to(receivers: &Receivers, app: Option<&str>, origin: &Origin) -> Option<String> {
    match receivers.workspace.get() {
        Some(ours) => ours.stranger(app, origin),
        None => Some("the bot's workspace is not known yet".to_owned()),
    }
}

/// Handles `event` from the bot's own workspace.
pub async fn handle(event: Event, receivers: &Receivers) -> Handled {
    let started = Instant::now();
    let (kind, handled) = match event {
        Event::Command(command_event) => {
            let response = command(&command_event, receivers).await;
            ("command", Handled::Ack(Some(Box::new(response))))
        }
        Event::Interaction(interaction) => {
            let handled = match receivers.door.interaction(&interaction).await {
                Ok(()) => Handled::Ack(None),
                Err(e) => {
                    error!(error = %e, "click not saved; not acking so the user sees it failed");
                    tell_unsaved(&interaction, &e, &receivers.api);
                    Handled::NotSaved
                }
            };
            ("interaction", handled)
        }
        Event::Push(push) => ("event", push_event(*push, receivers).await),
    };
    metrics::observe_ack(kind, started.elapsed());
    handled
}

/// An event from another workspace, organisation or app (`why`): recorded for the audit and
/// otherwise ignored. `NotSaved` when it could not be recorded: Slack then sends it again.
pub async fn stranger(
    id: &str,
    event: &Event,
    origin: &Origin,
    why: String,
    receivers: &Receivers,
) -> Handled {
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
    let handled = match receivers.door.stranger(stranger).await {
        Ok(()) => Handled::Ack(None),
        Err(e) => {
            error!(error = %e, "event from elsewhere not recorded; not acking");
            Handled::NotSaved
        }
    };
    metrics::observe_ack("stranger", started.elapsed());
    handled
}

/// Tells the person whose click was not saved, through its `response_url` (no database needed),
/// why and what to do: Slack marks the button as failed but says nothing more, and will not send
/// the click again.
fn tell_unsaved(event: &SlackInteractionEvent, why: &Unsaved, api: &SlackApi) {
    let SlackInteractionEvent::BlockActions(event) = event else {
        return;
    };
    let Some(url) = event.response_url.as_ref().map(|u| u.0.to_string()) else {
        return;
    };
    let back = "once the database is back";
    let (why, then) = match why {
        Unsaved::DatabaseDown(since) => (database_since(*since), back),
        Unsaved::Store(e) if e.is_unreachable() => ("cannot reach its database".into(), back),
        Unsaved::Store(_) => ("could not save it".into(), "in a moment"),
    };
    let text = format!(
        ":warning: Your click was not recorded: the bot {why}. Nothing was decided; click again {then}."
    );
    let api = api.clone();
    tokio::spawn(async move {
        if let Err(e) = api.respond(&url, blocks::text(&text)).await {
            warn!(error = %e, "cannot tell the user that their click was not saved");
        }
    });
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

/// A mention is saved for the intake before the ack (not acked when it cannot be, so Slack
/// sends it again); the Home tab is published after the ack, once per event; other events are
/// not used.
async fn push_event(event: SlackPushEventCallback, receivers: &Receivers) -> Handled {
    match event.event {
        SlackEventCallbackBody::AppMention(mention) => {
            match receivers.door.mention(&event.event_id.0, &mention).await {
                Ok(()) => Handled::Ack(None),
                Err(e) => {
                    error!(error = %e, "mention not saved; not acking so Slack sends it again");
                    Handled::NotSaved
                }
            }
        }
        SlackEventCallbackBody::AppHomeOpened(opened)
            if opened.tab.as_deref().is_none_or(|tab| tab == "home") =>
        {
            let home = receivers.home.clone();
            let event_id = event.event_id.0;
            tokio::spawn(async move {
                if let Err(e) = home.opened(&event_id, &opened.user.0).await {
                    warn!(error = %e, "cannot publish the Home tab");
                }
            });
            Handled::Ack(None)
        }
        _ => Handled::Ack(None),
    }
}
