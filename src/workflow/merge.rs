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

/// Which merge of a PR, and how it is done.
pub struct MergeOrder<'a> {
    pub repo: &'a RepoName,
    pub pr: u32,
    /// The reviewed source commit: Azure DevOps merges nothing if the PR moved since.
    pub commit: &'a str,
    /// Earlier attempts at this commit that Azure DevOps refused; each retry is its own effect.
    pub refused_before: u32,
    pub options: &'a CompletionOptions,
}

/// Completes the PR with lastMergeSourceCommit, at most once per run, commit and attempt. A PR
/// already completed (by hand) counts as done.
pub async fn merge_once(
    ctx: &StepContext<'_>,
    azdo: &dyn AzureDevOps,
    order: &MergeOrder<'_>,
) -> Result<Merged, StepError> {
    let (repo, pr, commit, options) = (order.repo, order.pr, order.commit, order.options);
    let name = match order.refused_before {
        0 => format!("merge:{commit}"),
        n => format!("merge:{commit}:retry-{n}"),
    };
    ctx.once(&name, |_| async {
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
