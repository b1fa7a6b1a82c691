//! Rich text that flows compose and the Slack renderer escapes. Flows never write mrkdwn
//! themselves, so untrusted text (branch names, PR titles, model output) cannot turn into markup
//! or mentions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    Plain(String),
    Bold(String),
    Code(String),
    Link {
        url: String,
        label: String,
    },
    /// A Slack user id, shown as a mention.
    User(String),
    /// A Slack channel id, shown as a link to the channel.
    Channel(String),
    Date(DateTime<Utc>),
}

/// One line of text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line(pub Vec<Span>);

impl Line {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn plain(mut self, text: impl Into<String>) -> Self {
        self.0.push(Span::Plain(text.into()));
        self
    }

    pub fn bold(mut self, text: impl Into<String>) -> Self {
        self.0.push(Span::Bold(text.into()));
        self
    }

    pub fn code(mut self, text: impl Into<String>) -> Self {
        self.0.push(Span::Code(text.into()));
        self
    }

    pub fn link(mut self, url: impl Into<String>, label: impl Into<String>) -> Self {
        self.0.push(Span::Link {
            url: url.into(),
            label: label.into(),
        });
        self
    }

    pub fn user(mut self, id: impl Into<String>) -> Self {
        self.0.push(Span::User(id.into()));
        self
    }

    pub fn channel(mut self, id: impl Into<String>) -> Self {
        self.0.push(Span::Channel(id.into()));
        self
    }

    pub fn date(mut self, at: DateTime<Utc>) -> Self {
        self.0.push(Span::Date(at));
        self
    }
}

impl From<&str> for Line {
    fn from(text: &str) -> Self {
        Line::new().plain(text)
    }
}

/// A message for a run's thread or for one user: a few lines of rich text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub lines: Vec<Line>,
    /// A thread reply that is also shown in the channel (Slack's "also send to channel"), for
    /// news the whole channel wants, such as release notes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broadcast: bool,
}

impl Message {
    pub fn new(lines: impl IntoIterator<Item = Line>) -> Self {
        Self {
            lines: lines.into_iter().collect(),
            broadcast: false,
        }
    }

    pub fn broadcast(mut self) -> Self {
        self.broadcast = true;
        self
    }

    /// The text without markup, for readers outside Slack (the REST API): links as
    /// `label (url)`, users as `@id`, dates in RFC 3339.
    pub fn plain_text(&self) -> String {
        let line = |line: &Line| {
            line.0
                .iter()
                .map(|span| match span {
                    Span::Plain(t) | Span::Bold(t) | Span::Code(t) => t.clone(),
                    Span::Link { url, label } => format!("{label} ({url})"),
                    Span::User(id) => format!("@{id}"),
                    Span::Channel(id) => format!("#{id}"),
                    Span::Date(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })
                .collect::<String>()
        };
        self.lines.iter().map(line).collect::<Vec<_>>().join("\n")
    }
}
