//! How the PR workflow finds, reviews, merges and builds PRs. `config` fills it in from the
//! environment; the flow and the poller only read it.

use std::time::Duration;

use crate::azdo::{MergeStrategy, ThreadStatus, Vote};
use crate::domain::Version;

#[derive(Debug, Clone)]
pub struct PrSettings {
    pub poll_enabled: bool,
    pub poll_interval: Duration,
    /// The branch polled PRs target, without `refs/heads/`.
    pub target_branch: String,
    pub auto_create_ticket: bool,
    /// Finds ticket keys in branch names.
    pub ticket_pattern: regex_lite::Regex,
    pub status_in_review: String,
    pub status_merged: String,
    pub status_released: String,
    /// Queue the CI build after a merge without asking.
    pub ci_auto: bool,
    pub ci_poll_interval: Duration,
    pub ci_max_wait: Duration,
    pub merge_strategy: MergeStrategy,
    pub delete_source_branch: bool,
    /// How long Azure DevOps' auto-complete is watched before the run gives up on it.
    pub auto_complete_max_wait: Duration,
    /// The status of inline finding threads (REVIEW_THREAD_STATUS); the summary is always
    /// posted closed, so a comment-resolution policy waits only for findings.
    pub finding_status: ThreadStatus,
    /// The version of a repository's first staging release, when nothing was released yet.
    pub first_version: Version,
    /// Whether the bot votes on the PR after its review (`REVIEW_VOTE`).
    pub review_vote: ReviewVote,
    /// `/review`s one person may ask for in an hour (REVIEW_RATE_PER_USER_PER_HOUR): reviews
    /// cost money.
    pub reviews_per_user_per_hour: u32,
    /// Dollars the reviews of a calendar month (UTC) may spend before new ones wait for a
    /// person's **Review anyway** (REVIEW_MONTHLY_BUDGET_USD); None: no limit.
    pub monthly_budget_usd: Option<f64>,
}

/// How the bot votes on a PR after the AI's review. The AI advises: by default it never votes,
/// so its vote cannot satisfy a "minimum reviewers" branch policy without a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewVote {
    /// No vote: the review is threads and a card, nothing more.
    None,
    /// Approved with suggestions (+5), or waiting for the author (-5).
    Suggestions,
    /// Approved (+10), or waiting for the author (-5).
    Approve,
}

impl ReviewVote {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "suggestions" => Ok(Self::Suggestions),
            "approve" => Ok(Self::Approve),
            _ => Err(format!("`{text}` must be none, suggestions or approve")),
        }
    }

    /// The vote for a review that approved (or not); `None` when the bot does not vote.
    pub fn vote(self, approved: bool) -> Option<Vote> {
        match (self, approved) {
            (Self::None, _) => None,
            (_, false) => Some(Vote::WaitForAuthor),
            (Self::Suggestions, true) => Some(Vote::ApproveWithSuggestions),
            (Self::Approve, true) => Some(Vote::Approve),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Suggestions => "suggestions",
            Self::Approve => "approve",
        }
    }
}
