//! The bot's own posts, found again. Slack has no idempotency key for bots, so each message the
//! bot posts carries Slack message metadata naming what it is (`card:<run>`,
//! `outbox:<id>:<part>`). After a crash between a post and the record of its `ts`, the sender
//! reads the channel (for a card) or the thread (for a reply) with `include_all_metadata` and
//! posts only what is not there. Reading needs `channels:history` and `groups:history`.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use slack_morphism::prelude::*;
use tracing::{instrument, warn};

use super::web::{SlackApi, SlackError};

const EVENT_TYPE: &str = "release_agent_post";
const PAYLOAD_KEY: &str = "post";
/// Slack's clock and ours may differ: the search starts this much before the first try.
const SKEW: TimeDelta = TimeDelta::minutes(10);
const PAGE: u16 = 200;
/// Enough for any channel's posts in the minutes a crashed post can be away.
const MAX_PAGES: usize = 10;

/// `content` carrying the metadata that names it as post `key`.
pub fn tagged(mut content: SlackMessageContent, key: &str) -> SlackMessageContent {
    content.metadata = Some(SlackMessageMetadata {
        event_type: EVENT_TYPE.to_owned(),
        event_payload: Some(HashMap::from([(PAYLOAD_KEY.to_owned(), key.to_owned())])),
    });
    content
}

/// A page of conversations.history or conversations.replies, read by hand: slack-morphism's
/// replies request cannot ask for metadata.
#[derive(serde::Deserialize)]
struct Page {
    messages: Vec<Message>,
    response_metadata: Option<ResponseMetadata>,
}

#[derive(serde::Deserialize)]
struct Message {
    ts: String,
    metadata: Option<Metadata>,
}

#[derive(serde::Deserialize)]
struct Metadata {
    event_type: String,
    #[serde(default)]
    event_payload: HashMap<String, serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct ResponseMetadata {
    next_cursor: Option<String>,
}

impl Message {
    /// The post key this message carries, if the bot tagged it.
    fn key(&self) -> Option<&str> {
        let metadata = self.metadata.as_ref()?;
        if metadata.event_type != EVENT_TYPE {
            return None;
        }
        metadata.event_payload.get(PAYLOAD_KEY)?.as_str()
    }
}

impl SlackApi {
    /// The `ts` of every tagged post in `channel` since about `since`, by key: the replies in
    /// the thread of `thread`, or the channel's own messages when there is no thread.
    #[instrument(level = "debug", skip_all, fields(channel))]
    pub async fn find_posts(
        &self,
        channel: &str,
        thread: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, String>, SlackError> {
        let method = match thread {
            Some(_) => "conversations.replies",
            None => "conversations.history",
        };
        let oldest = format!("{}.000000", (since - SKEW).timestamp());
        let mut found = HashMap::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = [
                ("channel", Some(channel.to_owned())),
                ("ts", thread.map(str::to_owned)),
                ("oldest", Some(oldest.clone())),
                ("include_all_metadata", Some("true".to_owned())),
                ("limit", Some(PAGE.to_string())),
                ("cursor", cursor.take()),
            ];
            let page: Page = self.get(method, &params).await?;
            for message in &page.messages {
                if let Some(key) = message.key() {
                    found.insert(key.to_owned(), message.ts.clone());
                }
            }
            cursor = page
                .response_metadata
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.is_empty());
            if cursor.is_none() {
                return Ok(found);
            }
        }
        warn!(
            channel,
            pages = MAX_PAGES,
            "stopped reading Slack's history for earlier posts; the rest is not searched"
        );
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bots_own_metadata_names_a_post() {
        let page: Page = serde_json::from_value(serde_json::json!({
            "ok": true,
            "messages": [
                {"ts": "1.1", "metadata": {"event_type": EVENT_TYPE, "event_payload": {"post": "card:r1"}}},
                {"ts": "1.2", "metadata": {"event_type": "task_created", "event_payload": {"post": "card:r2"}}},
                {"ts": "1.3", "text": "a person"},
                {"ts": "1.4", "metadata": {"event_type": EVENT_TYPE, "event_payload": {"post": 7}}}
            ],
            "has_more": false
        }))
        .unwrap();
        let keys: Vec<_> = page.messages.iter().map(Message::key).collect();
        assert_eq!(keys, [Some("card:r1"), None, None, None]);
    }

    #[test]
    fn a_tagged_message_carries_its_key_as_slack_expects() {
        let content = tagged(
            SlackMessageContent::new().with_text("hi".into()),
            "outbox:3:0",
        );
        let json = serde_json::to_value(&content).unwrap();
        assert_eq!(
            json["metadata"],
            serde_json::json!({"event_type": EVENT_TYPE, "event_payload": {"post": "outbox:3:0"}})
        );
    }
}
