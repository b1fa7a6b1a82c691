//! The Azure DevOps client: pull requests, threads, votes, branch policies, safe merges, builds
//! classic releases and YAML pipeline runs, over REST api-version 7.1 or the older one a Server names
//! (`version.rs`). Flows use the [`AzureDevOps`] trait; [`AzdoClient`] implements it, one area a file, each
//! operation under one name. DTOs are private to the files below and become the types here at
//! the edge.
//!
//! Read `client.rs` (URLs, paging, auth) and `version.rs`, then `pulls.rs`, `policies.rs` (with
//! `completion.rs`), `reviews.rs`, `builds.rs`,
//! `releases.rs` (classic CD, with `stages.rs`), `pipeline_runs.rs` (YAML CD, with
//! `timeline.rs`), both read into `cd.rs`, `identities.rs` and `tags.rs`.

mod builds;
mod cd;
mod client;
mod completion;
mod identities;
mod pipeline_runs;
mod policies;
mod pull_dto;
mod pulls;
mod refs;
mod releases;
mod reviews;
mod stages;
mod thread_dto;
mod timeline;
mod version;

use async_trait::async_trait;

use crate::domain::RepoName;
use crate::http_client::HttpError;

pub use builds::Builds;
pub use cd::{ApprovalId, PendingApproval, Stage, StageStatus, Wait};
pub use client::{AzdoClient, AzdoSettings};
pub use identities::{ApproverRef, Identities, Person};
pub use pipeline_runs::PipelineRuns;
pub use policies::{Policies, PolicyHold};
pub use pulls::PullRequests;
pub use refs::Refs;
pub use releases::ClassicReleases;
pub use reviews::{PrReviews, Resolved};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AzdoError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The PR's source branch moved after the commit the bot reviewed: nothing was merged.
    #[error(
        "the source branch of PR {pr} moved since commit {reviewed} was reviewed, so nothing was merged ({message})"
    )]
    StaleSource {
        pr: u32,
        reviewed: String,
        message: String,
    },
    #[error("PR {pr} could not be merged: {reason}")]
    MergeFailed { pr: u32, reason: String },
    /// Completion was accepted but the merge had not finished when the bot stopped waiting.
    #[error("PR {pr} is still being merged after {waited_s}s")]
    MergePending { pr: u32, waited_s: u64 },
    #[error("{0}")]
    Invalid(String),
}

impl AzdoError {
    /// Whether the same call may work later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http(e) => e.is_transient(),
            Self::MergePending { .. } => true,
            _ => false,
        }
    }

    /// How long Azure DevOps asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Http(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// The identity behind the PAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub default_branch: Option<String>,
    pub remote_url: String,
    pub web_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrStatus {
    Active,
    Completed,
    Abandoned,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub id: u32,
    pub repo: RepoName,
    pub repo_id: String,
    pub title: String,
    pub description: String,
    /// The PR's active labels (tags).
    pub labels: Vec<String>,
    /// Branch names without `refs/heads/`.
    pub source_branch: String,
    pub target_branch: String,
    pub status: PrStatus,
    pub is_draft: bool,
    pub author: String,
    /// The author's email (`createdBy.uniqueName`), when Azure DevOps gives one.
    pub author_email: Option<String>,
    /// The source commit of the last merge attempt: the head the review is about.
    pub source_commit: Option<String>,
    pub target_commit: Option<String>,
    pub merge_commit: Option<String>,
    pub merge_status: String,
    pub merge_failure: Option<String>,
    /// Azure DevOps' auto-complete is set (by anyone).
    pub auto_complete: bool,
    pub web_url: String,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iteration {
    pub id: u32,
    pub source_commit: Option<String>,
    pub target_commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// With a leading `/`, as Azure DevOps writes paths.
    pub path: String,
    /// `add`, `edit`, `delete`, `rename`, or a combination such as `edit, rename`.
    pub change: String,
    pub original_path: Option<String>,
    /// Azure DevOps' id for this file across the PR's iterations, which pins a thread to it.
    pub change_tracking_id: Option<u32>,
}

/// The iteration a thread is about: it stays on the lines of that iteration when the PR moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ThreadIteration {
    pub iteration: u32,
    pub change_tracking_id: u32,
}

/// Where an inline comment sits: lines of the new version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// Repository-relative; a leading `/` is added if missing.
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadStatus {
    Active,
    Closed,
}

/// A new comment thread: general (no anchor) or inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewThread {
    pub content: String,
    pub anchor: Option<Anchor>,
    pub status: ThreadStatus,
    /// Stored in the thread's properties, so the bot can find the thread again after a crash.
    pub key: Option<String>,
    /// For an inline thread: the reviewed iteration.
    pub iteration: Option<ThreadIteration>,
    /// For a finding's thread: which finding, at which commit (kept in its properties).
    pub mark: Option<FindingMark>,
}

/// What identifies a finding's thread across pushes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FindingMark {
    pub fingerprint: String,
    /// The commit the finding was raised on.
    pub commit: String,
}

/// A finding's thread as the PR has it now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FindingThread {
    pub id: i64,
    pub mark: FindingMark,
    /// Who wrote its first comment: only the bot's own threads are findings (properties can be
    /// set by anyone who may comment).
    pub author: Option<String>,
    /// Still open (active or pending); otherwise a person (or the bot) resolved it: fixed,
    /// won't fix, closed or by design.
    pub open: bool,
    /// Where it was anchored, on the new side at `mark.commit`.
    pub path: Option<String>,
    pub line: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    Approve,
    ApproveWithSuggestions,
    Reset,
    WaitForAuthor,
    Reject,
}

impl Vote {
    pub fn value(self) -> i32 {
        match self {
            Self::Approve => 10,
            Self::ApproveWithSuggestions => 5,
            Self::Reset => 0,
            Self::WaitForAuthor => -5,
            Self::Reject => -10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStrategy {
    NoFastForward,
    Squash,
    Rebase,
    RebaseMerge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionOptions {
    pub strategy: MergeStrategy,
    pub delete_source_branch: bool,
    pub merge_commit_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPullRequest {
    pub source_branch: String,
    pub target_branch: String,
    pub title: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDefinition {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildState {
    Queued,
    Running,
    Succeeded,
    PartiallySucceeded,
    Failed,
    Canceled,
}

impl BuildState {
    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub id: i64,
    pub number: String,
    pub definition_id: i64,
    pub project_id: String,
    pub state: BuildState,
    pub source_branch: String,
    pub source_commit: Option<String>,
    /// The build whose completion triggered this one (`triggeredByBuild`), if any.
    pub triggered_by: Option<i64>,
    /// The page a human opens.
    pub web_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: i64,
    pub name: String,
    pub web_url: String,
    pub stages: Vec<Stage>,
}

/// What the flows need from Azure DevOps: a trait per area, each implemented in its own file,
/// and what is left here (who the PAT is, a PR's link).
#[async_trait]
pub trait AzureDevOps:
    PullRequests + Policies + PrReviews + Builds + ClassicReleases + PipelineRuns + Identities + Refs
{
    /// The page of PR `pr` in `repo` that a human opens (no request is made).
    fn pull_request_link(&self, repo: &RepoName, pr: i64) -> String;
    /// The identity behind the PAT (its id is the bot's reviewer id).
    async fn whoami(&self) -> Result<Identity, AzdoError>;
}

/// `refs/heads/x` → `x`.
pub(crate) fn short_branch(name: &str) -> String {
    name.strip_prefix("refs/heads/").unwrap_or(name).to_owned()
}

/// `x` → `refs/heads/x` (full ref names are kept as they are).
pub(crate) fn full_branch(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_owned()
    } else {
        format!("refs/heads/{name}")
    }
}
