//! What a Slack handler persists with a delivery before it acks, for the intake to carry out.

use serde::{Deserialize, Serialize};

use crate::domain::{ApprovalId, OptionName, RepoName};

/// An intent persisted with a delivery, to be carried out after the ack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Intent {
    /// Someone clicked an approval button.
    Decide {
        approval: ApprovalId,
        option: OptionName,
        user: String,
        /// The user's Slack name, if the payload had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_name: Option<String>,
        channel: String,
        /// Where the button was; a click saved by an older version has none, and does not count.
        #[serde(default)]
        place: Place,
        /// Where to tell the clicker something after the ack (a refusal).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_url: Option<String>,
    },
    /// Someone asked for a review with `/review`.
    Review {
        pr_id: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repo: Option<RepoName>,
        user: String,
        /// Where the command was typed, to tell the user there if a run was under way already.
        channel: String,
        /// The workspace's domain, for a link to that run's card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team_domain: Option<String>,
        /// Where to tell the asker something after the ack: it works in a DM and in a channel
        /// the bot is not in, where `chat.postEphemeral` does not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_url: Option<String>,
    },
    /// Someone asked to freeze a repository (`reason`), or to unfreeze it (`None`).
    Freeze {
        repo: RepoName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        user: String,
        channel: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_url: Option<String>,
    },
    /// Someone mentioned the bot (`app_mention`): a question or an `ignore`, in a card's thread.
    Mention {
        user: String,
        channel: String,
        /// The root of the thread the mention is in, if it is a reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_ts: Option<String>,
        text: String,
    },
    /// An envelope from another workspace, organisation or app: only audited.
    Foreign {
        /// The Slack user the payload named, if any.
        user: Option<String>,
        detail: String,
        /// The approval a click was on: its run is where the entry is filed.
        approval: Option<ApprovalId>,
    },
}

/// Where a clicked button was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Place {
    /// A message, by its `ts`; only the run's card counts.
    Message { ts: String },
    /// The clicker's own Home tab.
    Home,
    #[default]
    Unknown,
}
