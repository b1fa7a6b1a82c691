//! Plain value types that every other module speaks: identifiers parsed from untrusted text, the
//! approval policy, semantic versions, the vocabulary of runs and approvals, and the rich text
//! that flows hand to Slack. Nothing here does I/O; identifiers are built by parsing, so a value
//! of these types is known to be well formed.

mod approvers;
mod bump;
mod deployment;
mod ids;
mod jira_key;
mod message;
mod policy;
mod pr_ref;
mod repo_settings;
mod run;
mod tag_format;
mod version;

pub use approvers::{ANYONE, Approver, Deciders, parse_user};
pub use bump::Bump;
pub use deployment::CdRelease;
pub use ids::{ApprovalId, OptionName, RepoName, RunId};
pub use jira_key::{DEFAULT_TICKET_PATTERN, JiraKey, MOST_TICKETS, in_projects, tickets_in};
pub use message::{Line, Message, Span};
pub use policy::{APPROVE, ApprovalPolicy, Decides, RepoApprovers, Rule, StagePolicy};
pub use pr_ref::{PrRef, PrRefError};
pub use repo_settings::{CdKind, RepoSettings, ReposConfig};
pub use run::{
    ApprovalOption, ApprovalStatus, Decision, OptionStyle, RunKind, RunStatus, Through, Voter,
};
pub use tag_format::TagFormat;
pub use version::Version;
