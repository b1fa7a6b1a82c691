//! The fake Slack's conversations.history and conversations.replies, built from the posts and
//! updates the bot made: messages as Slack shows them (newest first in history; in a thread, the
//! parent, then its replies oldest first), `metadata` only with `include_all_metadata=true`,
//! pages of `limit` with an opaque `next_cursor`, `oldest` exclusive. Approximations: the
//! parent of a thread is returned whatever `oldest` says, and of the methods' errors only
//! `missing_scope` and `thread_not_found` are modelled.

use serde_json::{Value, json};

use super::fake_slack::Call;

/// The messages of `channel`, oldest first, as they stand after every update that took.
pub fn messages(calls: &[Call], channel: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for call in calls.iter().filter(|c| c.body["channel"] == channel) {
        let Some(ts) = &call.ts else { continue };
        match call.method.as_str() {
            "chat.postMessage" => {
                let mut message = json!({"type": "message", "user": "U0BOT", "bot_id": "B0BOT",
                    "ts": ts, "text": call.body["text"], "blocks": call.body["blocks"]});
                for field in ["thread_ts", "reply_broadcast", "metadata"] {
                    if !call.body[field].is_null() {
                        message[field] = call.body[field].clone();
                    }
                }
                out.push(message);
            }
            "chat.update" => {
                if let Some(message) = out.iter_mut().find(|m| m["ts"] == *ts) {
                    for field in ["text", "blocks", "metadata"] {
                        if !call.body[field].is_null() {
                            message[field] = call.body[field].clone();
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The channel's own messages (roots, and replies also sent to the channel), newest first.
pub fn history(calls: &[Call], query: &Value) -> Value {
    let channel = query["channel"].as_str().unwrap_or_default();
    let mut roots: Vec<Value> = messages(calls, channel)
        .into_iter()
        .filter(|m| m["thread_ts"].is_null() || m["reply_broadcast"] == true)
        .filter(|m| after(m, query))
        .collect();
    roots.reverse();
    page(roots, query)
}

/// A thread: its parent, then its replies, oldest first.
pub fn replies(calls: &[Call], query: &Value) -> Value {
    let channel = query["channel"].as_str().unwrap_or_default();
    let thread = query["ts"].as_str().unwrap_or_default();
    let all = messages(calls, channel);
    let Some(parent) = all.iter().find(|m| m["ts"] == thread).cloned() else {
        return json!({"ok": false, "error": "thread_not_found"});
    };
    let replies = all
        .into_iter()
        .filter(|m| m["thread_ts"] == thread && m["ts"] != thread && after(m, query));
    page(std::iter::once(parent).chain(replies).collect(), query)
}

/// Whether `message` is newer than the query's `oldest`.
fn after(message: &Value, query: &Value) -> bool {
    let oldest = query["oldest"].as_str().unwrap_or("0");
    ts_key(message["ts"].as_str().unwrap_or_default()) > ts_key(oldest)
}

/// A ts as (seconds, microseconds), to compare without floating point.
fn ts_key(ts: &str) -> (u64, u64) {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    (secs.parse().unwrap_or(0), micros.parse().unwrap_or(0))
}

/// One page of `messages`, from the query's cursor on, with metadata only when asked for.
fn page(mut messages: Vec<Value>, query: &Value) -> Value {
    if query["include_all_metadata"] != "true" && query["include_all_metadata"] != true {
        for message in &mut messages {
            if let Some(fields) = message.as_object_mut() {
                fields.remove("metadata");
            }
        }
    }
    let limit = query["limit"]
        .as_str()
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 999);
    let start = query["cursor"]
        .as_str()
        .and_then(|c| c.strip_prefix("bmV4dDo="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0usize);
    let end = (start + limit).min(messages.len());
    let has_more = end < messages.len();
    let next = if has_more {
        format!("bmV4dDo={end}")
    } else {
        String::new()
    };
    json!({"ok": true, "messages": messages[start.min(end)..end], "has_more": has_more,
           "response_metadata": {"next_cursor": next}})
}
