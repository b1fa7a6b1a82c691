//! What a CD run looks like to the flows, whether a classic release (`stages.rs`) or a YAML
//! pipeline run (`timeline.rs`): its stages in order, each with its state and what it waits for.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::ApproverRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageStatus {
    NotStarted,
    Queued,
    InProgress,
    Succeeded,
    PartiallySucceeded,
    /// A classic stage that was rejected or whose deployment failed, or a YAML stage whose
    /// approval was rejected.
    Rejected,
    /// A YAML stage whose jobs failed: it can be retried.
    Failed,
    /// A YAML stage Azure DevOps skipped (its condition, or a failed stage before it).
    Skipped,
    Canceled,
    Other(String),
}

impl StageStatus {
    /// A classic environment's status, without regard to case, as servers differ.
    pub(super) fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "notstarted" | "undefined" => Self::NotStarted,
            "queued" | "scheduled" => Self::Queued,
            "inprogress" => Self::InProgress,
            "succeeded" => Self::Succeeded,
            "partiallysucceeded" => Self::PartiallySucceeded,
            "rejected" => Self::Rejected,
            "canceled" => Self::Canceled,
            _ => Self::Other(text.to_owned()),
        }
    }
}

/// An approval's id: a number in classic releases, a GUID in YAML pipelines. Runs stored before
/// YAML support wrote classic ids as JSON numbers, which still read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ApprovalId(String);

impl ApprovalId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<i64> for ApprovalId {
    fn from(id: i64) -> Self {
        Self(id.to_string())
    }
}

impl fmt::Display for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ApprovalId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Number(i64),
            Text(String),
        }
        Ok(match Stored::deserialize(deserializer)? {
            Stored::Number(id) => Self::from(id),
            Stored::Text(id) => Self(id),
        })
    }
}

/// An approval a person still has to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingApproval {
    pub id: ApprovalId,
    /// Who may approve: people or groups.
    pub approvers: Vec<ApproverRef>,
    /// After deployment rather than before.
    pub post_deploy: bool,
    /// How many people Azure DevOps asks for (a YAML approval's `minRequiredApprovers`); the
    /// bot's account counts as one of them.
    pub required: u32,
    /// The identity ids of those who approved it already (a YAML approval that needs more
    /// than one person).
    pub approved_by: Vec<String>,
}

/// Why a stage does not move on by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    Approval(Vec<PendingApproval>),
    ManualIntervention,
    /// Automated gates are being evaluated; no person is asked.
    Gates,
    /// YAML checks other than approvals (business hours, a query, a template check), by name.
    Checks(Vec<String>),
}

/// One stage of a CD run, in deployment order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// A classic environment's id; a YAML stage's position.
    pub id: i64,
    pub name: String,
    pub rank: i64,
    pub status: StageStatus,
    pub waiting: Option<Wait>,
    /// What the latest deployment attempt says (`rejected`, `phaseFailed`, `gateFailed`…), to
    /// tell a rejection from a failed deployment.
    pub last_operation: Option<String>,
    /// Who approves its deployment, as the release definition said when the release was
    /// created (`preApprovalsSnapshot`), automated approvals left out; for a YAML stage, the
    /// approvers of its pending approvals.
    pub approvers: Vec<ApproverRef>,
    /// A YAML stage's name in the pipeline (`identifier`), which the stages API retries it by.
    pub ref_name: Option<String>,
}
