//! The vocabulary of runs and approvals shared by the workflow, the store and Slack.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApprovalId, OptionName};

/// Which flow drives a run. Open rather than an enum: a run is stored with its kind as text, and a
/// run of a kind this version does not know (left by a newer one) is still read, then failed with
/// a reason instead of being lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunKind(Cow<'static, str>);

impl RunKind {
    /// A PR's review, merge and CI build.
    pub const PR: Self = Self::named("pr");
    /// A repository's staging release, shipped to production.
    pub const RELEASE: Self = Self::named("release");

    /// The kind a flow drives, named by the flow.
    pub const fn named(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for RunKind {
    fn from(name: &str) -> Self {
        Self(Cow::Owned(name.to_owned()))
    }
}

impl From<String> for RunKind {
    fn from(name: String) -> Self {
        Self(Cow::Owned(name))
    }
}

impl PartialEq<str> for RunKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RunKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Has work to do now or when its timer fires.
    Running,
    /// Waits for a decision.
    Waiting,
    Done,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

impl FromStr for RunStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [
            Self::Running,
            Self::Waiting,
            Self::Done,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| format!("unknown run status {text:?}"))
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Decided,
    Expired,
    /// The run moved on without this approval (cancelled, replaced by a newer run).
    Superseded,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Decided => "decided",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
        }
    }
}

impl FromStr for ApprovalStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [
            Self::Pending,
            Self::Decided,
            Self::Expired,
            Self::Superseded,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| format!("unknown approval status {text:?}"))
    }
}

/// How an option's button looks. Options that cannot be undone ask the given question in a
/// confirm dialog first; a destructive one is also red.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionStyle {
    Primary,
    Plain,
    /// Green, with a confirm dialog (Merge, Approve Production).
    Confirmed {
        confirm: String,
    },
    /// Red, with a confirm dialog.
    Destructive {
        confirm: String,
    },
}

/// One choice an approval offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalOption {
    pub name: OptionName,
    pub label: String,
    pub style: OptionStyle,
}

/// An accepted decision, handed to the step that waited for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub approval: ApprovalId,
    pub point: String,
    pub option: OptionName,
    /// A Slack user id, or `operator` for the REST API.
    pub by: String,
    /// The Slack user name, when Slack sent one: for texts outside Slack, such as the comment on
    /// an Azure DevOps approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_name: Option<String>,
    pub at: DateTime<Utc>,
    /// When several people had to choose this option (`required = N`), the others who did,
    /// in the order they clicked; `by` completed it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<Voter>,
    /// What the decision came through, for the audit trail.
    #[serde(default, skip_serializing_if = "Through::is_button")]
    pub through: Through,
}

/// What a decision came through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Through {
    /// A button in Slack, on a card or in the Home tab.
    #[default]
    Button,
    /// The operator REST API, with the person's own token.
    OperatorApi,
}

impl Through {
    fn is_button(&self) -> bool {
        *self == Self::Button
    }

    /// How the audit trail says it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Button => "button",
            Self::OperatorApi => "operator API",
        }
    }
}

/// One person who chose an option that needed several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voter {
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_name: Option<String>,
}

impl Voter {
    /// For people outside Slack: `@ann (U123)` or `U123`.
    pub fn who(&self) -> String {
        match &self.by_name {
            Some(name) if !name.is_empty() => format!("@{name} ({})", self.by),
            _ => self.by.clone(),
        }
    }
}

impl Decision {
    /// Everyone who decided, for people outside Slack: `@ann (U123)`, or `@ann (U1) and @bob
    /// (U2)` when it took several.
    pub fn who(&self) -> String {
        let last = Voter {
            by: self.by.clone(),
            by_name: self.by_name.clone(),
        };
        let all: Vec<String> = self.earlier.iter().chain([&last]).map(Voter::who).collect();
        all.join(" and ")
    }
}
