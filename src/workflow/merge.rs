//! Completing a PR at the commit people saw, as both workflows do it: once per commit, and a PR
//! that moved since is never merged blind.

use serde::{Deserialize, Serialize};

use crate::azdo::{AzdoError, AzureDevOps, CompletionOptions, PolicyHold};
use crate::domain::Line;
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

/// Why a merge the card asked for has not happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MergeHold {
    /// Blocking branch policies that are not met (none: they pass now).
    Policies { holds: Vec<PolicyHold> },
    /// Azure DevOps refused the completion; its own message.
    Refused { message: String },
    /// Someone cleared the auto-complete the bot had set.
    AutoCompleteCleared,
}

impl MergeHold {
    /// Why the merge waits, in Azure DevOps' own words: each blocking policy with its state, or the
    /// refusal's message.
    pub fn lines(&self) -> Vec<Line> {
        match self {
            MergeHold::Policies { holds } if holds.is_empty() => {
                vec![Line::new().plain("Nothing was merged yet; the branch policies pass now.")]
            }
            MergeHold::Policies { holds } => {
                let mut lines = vec![
                    Line::new().plain("Nothing was merged: branch policies hold the PR back:"),
                ];
                lines.extend(
                    holds
                        .iter()
                        .map(|h| Line::new().plain(format!("• {}: {}", h.name, h.state))),
                );
                lines
            }
            MergeHold::Refused { message } => vec![
                Line::new()
                    .plain("Azure DevOps refused the merge: ")
                    .plain(message.trim()),
            ],
            MergeHold::AutoCompleteCleared => vec![
                Line::new()
                    .plain("Someone cleared auto-complete in Azure DevOps; nothing was merged."),
            ],
        }
    }
}
