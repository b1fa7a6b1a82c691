//! Reading Socket Mode frames. Pure: a text frame becomes a control message, an envelope with
//! its payload typed (slack-morphism's event models), or something to ack and forget.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tracing::warn;

pub use crate::slack::dispatch::Event;
use crate::slack::workspace::Origin;

/// What a text frame says.
#[derive(Debug)]
pub enum Frame {
    Hello {
        connections: u32,
        /// The app this connection serves.
        app: Option<String>,
    },
    Disconnect {
        reason: String,
    },
    Envelope {
        id: String,
        event: Event,
        origin: Origin,
    },
    /// An envelope we cannot read or do not handle: acked all the same, or Slack would send
    /// again what will never be read.
    Unreadable {
        id: String,
        why: String,
    },
    /// Not JSON, or without an envelope id: nothing to ack.
    Junk(String),
}

/// The envelope around a payload. The payload is kept as text and parsed once, straight into its
/// type, once the envelope's type says which.
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
    reason: Option<String>,
    num_connections: Option<u32>,
    connection_info: Option<ConnectionInfo>,
}

#[derive(Deserialize)]
struct ConnectionInfo {
    app_id: Option<String>,
}

pub fn read(text: &str) -> Frame {
    let raw: Raw = match serde_json::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            return match serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v["envelope_id"].as_str().map(str::to_owned))
            {
                Some(id) => Frame::Unreadable {
                    id,
                    why: e.to_string(),
                },
                None => Frame::Junk(e.to_string()),
            };
        }
    };
    match (raw.kind.as_str(), raw.envelope_id) {
        ("hello", _) => Frame::Hello {
            connections: raw.num_connections.unwrap_or(0),
            app: raw.connection_info.and_then(|info| info.app_id),
        },
        ("disconnect", _) => Frame::Disconnect {
            reason: raw.reason.unwrap_or_default(),
        },
        (kind, Some(id)) => {
            let event = match kind {
                "slash_commands" => typed(raw.payload).map(Event::Command),
                "interactive" => typed(raw.payload).map(Event::Interaction),
                "events_api" => typed(raw.payload).map(Event::Push),
                other => Err(format!("envelope type `{other}` is not handled")),
            };
            match event {
                Ok(event) => Frame::Envelope {
                    id,
                    event,
                    origin: Origin::of(raw.payload),
                },
                Err(why) => Frame::Unreadable { id, why },
            }
        }
        (kind, None) => Frame::Junk(format!("a `{kind}` frame without an envelope id")),
    }
}

fn typed<T: serde::de::DeserializeOwned>(payload: Option<&RawValue>) -> Result<Box<T>, String> {
    serde_json::from_str(payload.map_or("null", RawValue::get))
        .map(Box::new)
        .map_err(|e| e.to_string())
}

#[derive(Serialize)]
struct Ack<'a, P> {
    envelope_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a P>,
}

/// The ack of envelope `id`, as sent.
pub fn ack(id: &str) -> String {
    answer::<()>(id, None)
}

/// The ack of envelope `id`, carrying `payload` when the envelope takes an answer. An answer that
/// cannot be written as JSON is left out: the envelope is acked all the same.
pub fn answer<P: Serialize>(id: &str, payload: Option<&P>) -> String {
    let ack = Ack {
        envelope_id: id,
        payload,
    };
    serde_json::to_string(&ack).unwrap_or_else(|e| {
        warn!(envelope_id = id, error = %e, "cannot write an answer; acking without it");
        format!(r#"{{"envelope_id":{}}}"#, serde_json::Value::from(id))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn control_frames_are_read() {
        let hello = r#"{"type":"hello","num_connections":2,"debug_info":{"host":"h"},"connection_info":{"app_id":"A1"}}"#;
        assert!(
            matches!(read(hello), Frame::Hello { connections: 2, app } if app.as_deref() == Some("A1"))
        );
        let bye = r#"{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"h"}}"#;
        assert!(matches!(read(bye), Frame::Disconnect { reason } if reason == "refresh_requested"));
    }

    #[test]
    fn a_slash_command_is_typed() {
        let frame = r#"{"envelope_id":"e1","type":"slash_commands","accepts_response_payload":true,
            "payload":{"team_id":"T1","channel_id":"C1","user_id":"U1","command":"/review","text":"12",
            "response_url":"https://hooks.slack.com/x","trigger_id":"t1"}}"#;
        match read(frame) {
            Frame::Envelope {
                id,
                event: Event::Command(command),
                origin,
            } => {
                assert_eq!(id, "e1");
                assert_eq!(origin.team.as_deref(), Some("T1"));
                assert_eq!(origin.user.as_deref(), Some("U1"));
                assert_eq!(command.text.as_deref(), Some("12"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_cannot_be_read_is_acked_when_it_has_an_id() {
        let missing_fields =
            r#"{"envelope_id":"e2","type":"slash_commands","payload":{"text":"x"}}"#;
        assert!(matches!(read(missing_fields), Frame::Unreadable { id, .. } if id == "e2"));
        let unknown = r#"{"envelope_id":"e3","type":"view_submission_v9","payload":{}}"#;
        assert!(
            matches!(read(unknown), Frame::Unreadable { id, why } if id == "e3" && why.contains("view_submission_v9"))
        );
        let no_type = r#"{"envelope_id":"e4"}"#;
        assert!(matches!(read(no_type), Frame::Unreadable { id, .. } if id == "e4"));
        assert!(matches!(read("not json"), Frame::Junk(_)));
        assert!(matches!(
            read(r#"{"type":"slash_commands"}"#),
            Frame::Junk(_)
        ));
    }

    #[test]
    fn acks_carry_the_answer_only_when_given() {
        let read = |ack: String| serde_json::from_str::<serde_json::Value>(&ack).unwrap();
        assert_eq!(read(ack("e\"1")), json!({"envelope_id": "e\"1"}));
        assert_eq!(
            read(answer("e1", Some(&json!({"text": "hi"})))),
            json!({"envelope_id": "e1", "payload": {"text": "hi"}})
        );
    }
}
