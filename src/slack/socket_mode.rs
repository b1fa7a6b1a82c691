//! The Socket Mode listener: two outbound WebSocket connections (slack-morphism), with callbacks
//! that hand every envelope to the [`FrontDoor`] and return at once.
//!
//! slack-morphism acks an envelope only when its callback returns, and handles the frames of one
//! connection one at a time, so a slow callback would delay every envelope behind it. The
//! callbacks therefore touch nothing but the database.

use std::sync::Arc;
use std::time::Instant;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tracing::{error, info, warn};

use super::front_door::{CommandCall, FrontDoor, Unsaved};
use super::home::HomeTab;
use super::link::SlackLink;
use super::web::{SlackApi, SlackHttpClient};
use crate::metrics;

/// A running Socket Mode listener.
pub struct SocketMode {
    listener: SlackClientSocketModeListener<SlackClientHyperHttpsConnector>,
}

/// What the callbacks hand envelopes to.
pub struct Receivers {
    pub door: Arc<FrontDoor>,
    pub home: Arc<HomeTab>,
    /// Told about hellos and transport errors, for `GET /status`.
    pub link: SlackLink,
}

impl SocketMode {
    /// Opens the connections and starts handling envelopes.
    pub async fn start(api: &SlackApi, receivers: Receivers) -> Result<Self, SlackClientError> {
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_hello_events(|hello, _client, state| async move {
                info!(
                    num_connections = hello.num_connections,
                    "Socket Mode connection ready"
                );
                if let Some(receivers) = receivers_of(&state).await {
                    receivers
                        .link
                        .hello(hello.num_connections, chrono::Utc::now());
                }
            })
            .with_command_events(on_command)
            .with_interaction_events(on_interaction)
            .with_push_events(on_push_event);
        let environment = Arc::new(
            SlackClientEventsListenerEnvironment::new(api.client())
                .with_error_handler(on_error)
                .with_user_state(Arc::new(receivers)),
        );
        let config = SlackClientSocketModeConfig::new().with_max_connections_count(2);
        let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
        listener.listen_for(api.app_token()).await?;
        listener.start().await;
        Ok(Self { listener })
    }

    /// Closes the connections; envelopes then go to the other replicas, if any.
    pub async fn stop(&self) {
        self.listener.shutdown().await;
    }
}

async fn receivers_of(state: &SlackClientEventsUserState) -> Option<Arc<Receivers>> {
    state
        .read()
        .await
        .get_user_state::<Arc<Receivers>>()
        .cloned()
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHttpClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let started = Instant::now();
    let receivers = receivers_of(&state).await.ok_or("receivers missing")?;
    let call = CommandCall {
        command: &event.command.0,
        text: event.text.as_deref().unwrap_or_default(),
        user: &event.user_id.0,
        trigger: &event.trigger_id.0,
        channel: &event.channel_id.0,
        team_domain: event.team_domain.as_deref(),
    };
    let answer = receivers.door.command(&call).await;
    metrics::observe_ack("command", started.elapsed());
    Ok(answer)
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHttpClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let started = Instant::now();
    let receivers = receivers_of(&state).await.ok_or("receivers missing")?;
    receivers.door.interaction(&event).await?;
    metrics::observe_ack("interaction", started.elapsed());
    Ok(SlackInteractionResponse::Empty)
}

/// Only `app_home_opened` is used: the Home tab is published after the ack, once per event.
async fn on_push_event(
    event: SlackPushEventCallback,
    _client: Arc<SlackHttpClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let started = Instant::now();
    if let SlackEventCallbackBody::AppHomeOpened(opened) = event.event
        && opened.tab.as_deref().is_none_or(|tab| tab == "home")
        && let Some(receivers) = receivers_of(&state).await
    {
        let home = receivers.home.clone();
        let event_id = event.event_id.0;
        tokio::spawn(async move {
            if let Err(e) = home.opened(&event_id, &opened.user.0).await {
                warn!(error = %e, "cannot publish the Home tab");
            }
        });
    }
    metrics::observe_ack("event", started.elapsed());
    Ok(())
}

/// Called for callback errors, unparseable envelopes and transport errors. Everything is acked
/// (so Slack does not redeliver what will never parse) except a click we failed to save.
fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHttpClient>,
    state: SlackClientEventsUserState,
) -> HttpStatusCode {
    // The WebSocket client reports a broken connection as a Socket Mode protocol error.
    if let Some(SlackClientError::SocketModeProtocolError(_)) =
        err.downcast_ref::<SlackClientError>()
    {
        tokio::spawn(async move {
            if let Some(receivers) = receivers_of(&state).await {
                receivers.link.failed(chrono::Utc::now());
            }
        });
    }
    if err.downcast_ref::<Unsaved>().is_some() {
        error!(error = %err, "click not saved; not acking so the user sees it failed");
        HttpStatusCode::INTERNAL_SERVER_ERROR
    } else {
        warn!(error = %err, "Slack listener error");
        HttpStatusCode::OK
    }
}
