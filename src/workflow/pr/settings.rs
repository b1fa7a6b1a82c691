//! How the PR workflow finds, reviews, merges and builds PRs. `config` fills it in from the
//! environment; the flow and the poller only read it.

use std::time::Duration;

use crate::azdo::MergeStrategy;
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
    /// The version of a repository's first staging release, when nothing was released yet.
    pub first_version: Version,
}
