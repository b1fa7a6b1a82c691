//! The Socket Mode listener: two outbound WebSocket connections (slack-morphism), with callbacks
//! that hand every envelope to the [`FrontDoor`] and return at once.
//!
//! slack-morphism acks an envelope only when its callback returns, and handles the frames of one
//! connection one at a time, so a slow callback would delay every envelope behind it. The
//! callbacks therefore touch nothing but the database.

use std::sync::Arc;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tracing::{error, info, warn};

use super::front_door::{CommandCall, FrontDoor, Unsaved};
use super::web::{SlackApi, SlackHttpClient};

/// A running Socket Mode listener.
pub struct SocketMode {
    listener: SlackClientSocketModeListener<SlackClientHyperHttpsConnector>,
}

impl SocketMode {
    /// Opens the connections and starts handling envelopes.
    pub async fn start(api: &SlackApi, door: Arc<FrontDoor>) -> Result<Self, SlackClientError> {
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_hello_events(|hello, _client, _state| async move {
                info!(
                    num_connections = hello.num_connections,
                    "Socket Mode connection ready"
                );
            })
            .with_command_events(on_command)
            .with_interaction_events(on_interaction)
            .with_push_events(on_push_event);
        let environment = Arc::new(
            SlackClientEventsListenerEnvironment::new(api.client())
                .with_error_handler(on_error)
                .with_user_state(door),
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

async fn door(state: &SlackClientEventsUserState) -> Option<Arc<FrontDoor>> {
    state
        .read()
        .await
        .get_user_state::<Arc<FrontDoor>>()
        .cloned()
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHttpClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let door = door(&state).await.ok_or("front door missing")?;
    let call = CommandCall {
        command: &event.command.0,
        text: event.text.as_deref().unwrap_or_default(),
        user: &event.user_id.0,
        trigger: &event.trigger_id.0,
        channel: &event.channel_id.0,
        team_domain: event.team_domain.as_deref(),
    };
    Ok(door.command(&call).await)
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHttpClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let door = door(&state).await.ok_or("front door missing")?;
    door.interaction(&event).await?;
    Ok(SlackInteractionResponse::Empty)
}

/// Events are not used yet; they are acked so Slack does not redeliver them.
async fn on_push_event(
    _event: SlackPushEventCallback,
    _client: Arc<SlackHttpClient>,
    _state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    Ok(())
}

/// Called for callback errors, unparseable envelopes and transport errors. Everything is acked
/// (so Slack does not redeliver what will never parse) except a click we failed to save.
fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHttpClient>,
    _state: SlackClientEventsUserState,
) -> HttpStatusCode {
    if err.downcast_ref::<Unsaved>().is_some() {
        error!(error = %err, "click not saved; not acking so the user sees it failed");
        HttpStatusCode::INTERNAL_SERVER_ERROR
    } else {
        warn!(error = %err, "Slack listener error");
        HttpStatusCode::OK
    }
}
