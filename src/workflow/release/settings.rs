//! How releases are shipped. The release PR goes from a repository's target branch
//! (PR_POLL_TARGET_BRANCH, or REPOS_CONFIG `target_branch`) to its release branch. `config`
//! fills it in from the environment.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReleaseSettings {
    /// The default release branch, without `refs/heads/` (REPOS_CONFIG `release_branch` wins).
    pub branch: String,
    /// How often the CD release and its stages are looked at.
    pub poll_interval: Duration,
    /// The longest wait for the CD release to appear, and for each stage to deploy.
    pub wait_max: Duration,
}
