//! Completing a PR at the commit people saw, as both workflows do it: once per commit, and a PR
//! that moved since is never merged blind.

use serde::{Deserialize, Serialize};

use crate::azdo::{AzdoError, AzureDevOps, CompletionOptions};
use crate::domain::RepoName;
use crate::workflow::{StepContext, StepError};

/// What a merge attempt came to; recorded in the effect journal, so a replay repeats nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Merged {
    Done {
        commit: String,
    },
    /// The PR's source moved since `commit`; nothing was merged.
    Stale {
        message: String,
    },
    /// Azure DevOps would not merge it (conflicts, policies).
    Refused {
        reason: String,
    },
}

/// Completes PR `pr` with lastMergeSourceCommit `commit`, at most once per run and commit. A PR
/// already completed (by hand) counts as done.
pub async fn merge_once(
    ctx: &StepContext<'_>,
    azdo: &dyn AzureDevOps,
    repo: &RepoName,
    pr: u32,
    commit: &str,
    options: &CompletionOptions,
) -> Result<Merged, StepError> {
    ctx.once(&format!("merge:{commit}"), |_| async {
        match azdo.complete(repo, pr, commit, options).await {
            Ok(done) => Ok(Merged::Done {
                commit: done.merge_commit.unwrap_or_default(),
            }),
            Err(AzdoError::StaleSource { message, .. }) => Ok(Merged::Stale { message }),
            Err(AzdoError::MergeFailed { reason, .. }) => Ok(Merged::Refused { reason }),
            Err(e) => Err(StepError::from(e)),
        }
    })
    .await
}
