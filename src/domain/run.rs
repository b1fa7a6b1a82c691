//! The vocabulary of runs and approvals shared by the workflow, the store and Slack.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApprovalId, OptionName};

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
}

impl Decision {
    /// Who decided, for people outside Slack: `@ann (U123)` or `U123`.
    pub fn who(&self) -> String {
        match &self.by_name {
            Some(name) if !name.is_empty() => format!("@{name} ({})", self.by),
            _ => self.by.clone(),
        }
    }
}
