//! The review: the reviewer reads the PR in a worktree of its commit, once per commit; its
//! findings go to the PR as threads (each once), with the bot's vote, and to the card's thread.

use super::state::{
    InlineFinding, Outcome, PrInfo, PrRun, PrStep, ReviewBrief, ReviewResult, Ticket,
};
use super::{PrFlow, Step, pr_of, view};
use crate::azdo::{Anchor, NewThread, ThreadStatus};
use crate::domain::RepoName;
use crate::git;
use crate::reviewer::{ReviewError, ReviewInput, Verdict, place, report};
use crate::workflow::{StepContext, StepError, Transition};

impl PrFlow {
    pub(super) async fn review(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        let tickets = run.tickets.clone();
        let reviewed = ctx
            .once(&format!("review:{}", pr.commit), |_| async {
                self.review_in_worktree(&pr, &tickets).await
            })
            .await;
        let result = match reviewed {
            Ok(Some(result)) => result,
            Ok(None) => {
                return Ok(Transition::done(run.at(PrStep::Finished {
                    outcome: Outcome::NothingToReview,
                })));
            }
            // A review that failed twice is reported, not retried for hours at a model's cost.
            Err(StepError::Transient { reason, .. }) if ctx.run().attempts >= 1 => {
                return Err(StepError::permanent(reason));
            }
            Err(e) => return Err(e),
        };
        run.review = Some(ReviewBrief {
            commit: pr.commit.clone(),
            verdict: result.review.verdict,
            summary: result.review.summary.clone(),
            findings: result.review.findings.len(),
        });
        Ok(Transition::go(run.at(PrStep::Publish { result })))
    }

    pub(super) async fn review_in_worktree(
        &self,
        pr: &PrInfo,
        tickets: &[Ticket],
    ) -> Result<Option<ReviewResult>, StepError> {
        let (dir, diff) = self.diff(pr).await?;
        if diff.files == 0 {
            return Ok(None);
        }
        let worktree = git::add_worktree(&dir, &self.worktrees(&pr.repo), &pr.commit).await?;
        let ticket_text: Vec<String> = tickets
            .iter()
            .map(|t| format!("{}: {}", t.key, t.summary))
            .collect();
        let input = ReviewInput {
            title: pr.title.clone(),
            description: pr.description.clone(),
            ticket: (!ticket_text.is_empty()).then(|| ticket_text.join("\n")),
            diff: diff.patch.clone(),
        };
        let reviewed = self.reviewer.review(&worktree.path, &input).await;
        remove_worktree(worktree).await;
        let review = reviewed.map_err(review_failure)?;
        let placement = place(&review.findings, &diff);
        let inline = placement
            .inline
            .into_iter()
            .map(|(finding, anchor)| InlineFinding {
                finding,
                path: anchor.path,
                line: anchor.start_line,
            })
            .collect();
        Ok(Some(ReviewResult {
            review,
            inline,
            general: placement.general,
        }))
    }

    /// Threads on the PR (each once), the bot's vote, the summary in the card's thread, then the
    /// verdict decides.
    pub(super) async fn publish(
        &self,
        ctx: &StepContext<'_>,
        run: PrRun,
        result: ReviewResult,
    ) -> Step {
        let pr = pr_of(&run)?;
        let repo = &pr.repo;
        let approve = result.review.verdict == Verdict::Approve;
        let summary = NewThread {
            content: report::summary(&result.review, &result.general),
            anchor: None,
            status: if approve {
                ThreadStatus::Closed
            } else {
                ThreadStatus::Active
            },
            key: Some(format!("{}:summary", pr.commit)),
        };
        self.post_once(ctx, repo, pr.id, summary).await?;
        for (i, inline) in result.inline.iter().enumerate() {
            let thread = NewThread {
                content: report::inline(&inline.finding),
                anchor: Some(Anchor {
                    path: inline.path.clone(),
                    start_line: inline.line,
                    end_line: inline.line,
                }),
                status: ThreadStatus::Active,
                key: Some(format!("{}:{i}", pr.commit)),
            };
            self.post_once(ctx, repo, pr.id, thread).await?;
        }
        if let Some(vote) = self.settings.review_vote.vote(approve) {
            let me: String = ctx
                .once("whoami", |_| async {
                    Ok::<_, StepError>(self.azdo.whoami().await?.id)
                })
                .await?;
            self.azdo.vote(repo, pr.id, &me, vote).await?;
        }
        let message = view::review_message(&run, &result);
        let next = if approve {
            Transition::go(run.at(PrStep::AskMerge))
        } else {
            Transition::done(run.at(PrStep::Finished {
                outcome: Outcome::ChangesRequested,
            }))
        };
        Ok(next.reply(message))
    }

    /// Posts a keyed thread once; a retry first looks for the thread an earlier attempt posted.
    pub(super) async fn post_once(
        &self,
        ctx: &StepContext<'_>,
        repo: &RepoName,
        pr: u32,
        thread: NewThread,
    ) -> Result<i64, StepError> {
        let key = thread.key.clone().unwrap_or_default();
        ctx.once(&format!("thread:{key}"), |attempt| async move {
            if attempt.is_retry()
                && let Some(id) = self.azdo.find_thread(repo, pr, &key).await?
            {
                return Ok(id);
            }
            Ok::<_, StepError>(self.azdo.post_thread(repo, pr, &thread).await?)
        })
        .await
    }

    /// Where the review worktrees of `repo` are made.
    pub(super) fn worktrees(&self, repo: &RepoName) -> std::path::PathBuf {
        self.repos.worktrees_dir().join(repo.as_str())
    }

    pub(super) async fn diff(
        &self,
        pr: &PrInfo,
    ) -> Result<(std::path::PathBuf, git::PrDiff), StepError> {
        let dir = self.repos.fetch(&pr.repo).await?;
        let diff = git::diff(&dir, &format!("origin/{}", pr.target_branch), &pr.commit).await?;
        Ok((dir, diff))
    }
}

/// A review that could not run: a missing CLI is for an admin to fix; anything else may pass.
pub(super) fn review_failure(error: ReviewError) -> StepError {
    match error {
        ReviewError::CannotStart { .. } => StepError::permanent(error.to_string()),
        other => StepError::transient(format!("the AI review failed: {other}")),
    }
}

pub(super) async fn remove_worktree(worktree: git::Worktree) {
    if let Err(e) = worktree.remove().await {
        tracing::warn!(error = %e, "cannot remove a review worktree; start-up prunes it");
    }
}
