//! Slack over HTTP, for teams that cannot run Socket Mode: slash commands at `POST
//! /slack/commands`, clicks at `POST /slack/interactions`, events at `POST /slack/events`
//! (with the `url_verification` challenge). Each request's signature is checked over the raw
//! body before anything is parsed (`slack::signature`); then it goes through the same front door
//! as a Socket Mode envelope: the same parsing, the same workspace check, the same dedupe keys
//! (so Slack's retry of a request, `X-Slack-Retry-Num`, counts once) and an answer that only
//! waits on the database.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use slack_morphism::prelude::*;
use tracing::{info, warn};

use super::{ApiError, Shared};
use crate::slack::dispatch::{self, Event, Handled, Receivers};
use crate::slack::signature;
use crate::slack::workspace::Origin;

/// What Slack over HTTP needs: the signing secret, and whom events are handed to.
pub struct SlackOverHttp {
    pub signing_secret: SecretString,
    pub receivers: Arc<Receivers>,
}

/// Which endpoint a request came to.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint {
    Commands,
    Interactions,
    Events,
}

/// A request read: an event for the front door, or the answer to give at once.
enum Read {
    Event {
        id: String,
        event: Event,
        fields: Value,
    },
    Answer(Box<Response>),
}

impl Read {
    fn answer(response: impl IntoResponse) -> Self {
        Self::Answer(Box::new(response.into_response()))
    }
}

/// Every Slack endpoint: the signature first, then the body read as `endpoint` expects.
pub async fn receive(
    endpoint: Endpoint,
    shared: Arc<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let slack = match verified(shared.slack_http.as_ref(), &headers, &body) {
        Ok(slack) => slack,
        Err(refused) => return refused.into_response(),
    };
    let read = match endpoint {
        Endpoint::Commands => command(&body),
        Endpoint::Interactions => interaction(&body),
        Endpoint::Events => push(&body),
    };
    match read {
        Read::Event { id, event, fields } => answer(slack, &id, event, &fields).await,
        Read::Answer(response) => *response,
    }
}

/// A slash command: a form of its fields.
fn command(body: &[u8]) -> Read {
    let fields = form(body);
    match serde_json::from_value::<SlackCommandEvent>(fields.clone()) {
        Ok(event) => Read::Event {
            id: format!("http:command:{}", event.trigger_id.0),
            event: Event::Command(Box::new(event)),
            fields,
        },
        Err(e) => Read::answer(ApiError::bad_request(format!("not a slash command: {e}"))),
    }
}

/// A click: a form whose `payload` field is the JSON.
fn interaction(body: &[u8]) -> Read {
    let payload = form(body)["payload"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Ok(fields) = serde_json::from_str::<Value>(&payload) else {
        return Read::answer(ApiError::bad_request("no `payload` field of JSON"));
    };
    match serde_json::from_value::<SlackInteractionEvent>(fields.clone()) {
        Ok(event) => Read::Event {
            id: format!(
                "http:interaction:{}",
                fields["trigger_id"].as_str().unwrap_or_default()
            ),
            event: Event::Interaction(Box::new(event)),
            fields,
        },
        // A kind of interaction the bot does not use: acked, as over Socket Mode.
        Err(e) => {
            info!(error = %e, "an interaction the bot does not handle was acked");
            Read::answer(StatusCode::OK)
        }
    }
}

/// An Events API request: JSON, or Slack's `url_verification` challenge to echo.
fn push(body: &[u8]) -> Read {
    let Ok(fields) = serde_json::from_slice::<Value>(body) else {
        return Read::answer(ApiError::bad_request("the body is not JSON"));
    };
    if fields["type"] == "url_verification" {
        return Read::answer(Json(json!({"challenge": fields["challenge"]})));
    }
    match serde_json::from_value::<SlackPushEventCallback>(fields.clone()) {
        Ok(event) => Read::Event {
            id: format!("http:event:{}", event.event_id.0),
            event: Event::Push(Box::new(event)),
            fields,
        },
        Err(e) => {
            info!(error = %e, "an event the bot does not handle was acked");
            Read::answer(StatusCode::OK)
        }
    }
}

/// The Slack-over-HTTP settings when the request is signed by Slack, else the 401 (or 404 when
/// Slack over HTTP is off) to send.
fn verified<'a>(
    slack: Option<&'a SlackOverHttp>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<&'a SlackOverHttp, ApiError> {
    let Some(slack) = slack else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "Slack over HTTP is off: set SLACK_SIGNING_SECRET",
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let checked = signature::verify(
        &slack.signing_secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        chrono::Utc::now().timestamp(),
    );
    match checked {
        Ok(()) => Ok(slack),
        Err(e) => {
            warn!(error = %e, "a Slack request with a bad signature was refused");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!("refused: {e}"),
            ))
        }
    }
}

/// Hands `event` to the front door, as a Socket Mode envelope would be, and answers Slack.
async fn answer(slack: &SlackOverHttp, id: &str, event: Event, fields: &Value) -> Response {
    let receivers = &slack.receivers;
    let _in_flight = receivers.acks.enter();
    let raw = serde_json::value::to_raw_value(fields).ok();
    let origin = Origin::of(raw.as_deref());
    let handled = match dispatch::stranger_to(receivers, None, &origin) {
        Some(why) => dispatch::stranger(id, &event, &origin, why, receivers).await,
        None => dispatch::handle(event, receivers).await,
    };
    match handled {
        Handled::Ack(Some(reply)) => Json(*reply).into_response(),
        Handled::Ack(None) => StatusCode::OK.into_response(),
        Handled::NotSaved => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot save this now; Slack shows that it failed, and it can be tried again",
        )
        .into_response(),
    }
}

/// A form body (`a=1&b=2`) as a JSON object of strings.
fn form(body: &[u8]) -> Value {
    let pairs = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())));
    Value::Object(pairs.collect())
}
