//! How Azure DevOps returns a PR's comment threads, and the properties by which the bot knows
//! its own: a thread's key, and a finding's fingerprint and commit.

use serde::Deserialize;
use serde_json::Value;

use super::{FindingMark, FindingThread};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ThreadDto {
    pub(super) id: i64,
    #[serde(default)]
    pub(super) properties: Value,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    pub(super) is_deleted: bool,
    #[serde(default)]
    thread_context: Option<ThreadContextDto>,
    #[serde(default)]
    comments: Vec<CommentDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentDto {
    author: Option<AuthorDto>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    is_deleted: bool,
}

#[derive(Deserialize)]
struct AuthorDto {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadContextDto {
    file_path: Option<String>,
    right_file_start: Option<PositionDto>,
}

#[derive(Deserialize)]
struct PositionDto {
    line: u32,
}

/// The thread properties that carry the bot's key, and a finding's fingerprint and commit.
pub(super) const THREAD_KEY: &str = "release-agent.key";
pub(super) const THREAD_FINGERPRINT: &str = "release-agent.fingerprint";
pub(super) const THREAD_COMMIT: &str = "release-agent.commit";

impl ThreadDto {
    /// Whether a comment on the thread, not deleted, says exactly `text`.
    pub(super) fn says(&self, text: &str) -> bool {
        self.comments
            .iter()
            .any(|c| !c.is_deleted && c.content.as_deref() == Some(text))
    }

    pub(super) fn finding(self) -> Option<FindingThread> {
        let mark = FindingMark {
            fingerprint: property(&self.properties, THREAD_FINGERPRINT)?.to_owned(),
            commit: property(&self.properties, THREAD_COMMIT)?.to_owned(),
        };
        let context = self.thread_context;
        let author = self
            .comments
            .into_iter()
            .next()
            .and_then(|c| c.author)
            .map(|a| a.id);
        Some(FindingThread {
            id: self.id,
            mark,
            author,
            // `unknown`, `active` and `pending` wait for someone; the rest were resolved.
            open: matches!(
                self.status.as_deref(),
                None | Some("unknown" | "active" | "pending")
            ),
            line: context
                .as_ref()
                .and_then(|c| c.right_file_start.as_ref())
                .map(|p| p.line),
            path: context.and_then(|c| c.file_path),
        })
    }
}

/// A property value, written plainly or wrapped as `{"$type", "$value"}` as Azure DevOps returns it.
pub(super) fn property<'a>(properties: &'a Value, name: &str) -> Option<&'a str> {
    let value = properties.get(name)?;
    value
        .as_str()
        .or_else(|| value.get("$value").and_then(Value::as_str))
}
