//! What a PR run does with a mention in its card's thread (`workflow::questions`): a question
//! goes to the reviewer, read-only and in the same sandbox as a review, on a worktree of the
//! commit the card's review was of, with that review and the PR's diff as context; an ignored
//! finding's thread on the PR is closed as won't fix, with a note naming who asked.

use super::PrFlow;
use super::review::{remove_worktree, review_failure};
use super::state::{PrInfo, PrRun, ReviewBrief};
use super::view::short;
use crate::azdo::Resolved;
use crate::git::{self, Base, DiffRequest, PathFilter};
use crate::reviewer::{QuestionInput, WHOLE_DIFF_FILE};
use crate::workflow::{Answered, Asked, StepError};

/// The most of the PR's diff written beside a question, as for an incremental review.
const DIFF_BUDGET: usize = 4_000_000;

impl PrFlow {
    pub(super) async fn follow_up_on(
        &self,
        run: &PrRun,
        asked: &Asked,
    ) -> Result<Answered, StepError> {
        let (Some(pr), Some(review)) = (&run.pr, &run.review) else {
            return Ok(said(
                "There is no review on this card yet; ask again once it is posted.",
            ));
        };
        match asked {
            Asked::Question(question) => self.ask_reviewer(pr, review, question).await,
            Asked::CloseThread { fingerprint, by } => {
                self.close_ignored(pr, fingerprint, by).await?;
                Ok(said("Closed as won't fix in Azure DevOps."))
            }
        }
    }

    async fn ask_reviewer(
        &self,
        pr: &PrInfo,
        review: &ReviewBrief,
        question: &str,
    ) -> Result<Answered, StepError> {
        let dir = self.repos.fetch(&pr.repo).await?;
        let diff = git::diff_with(
            &dir,
            DiffRequest {
                base: Base::MergeBaseWith(format!("origin/{}", pr.target_branch)),
                source: review.commit.clone(),
                skip: PathFilter::none(),
                only: None,
                budget: DIFF_BUDGET,
            },
        )
        .await?;
        let input = QuestionInput {
            title: pr.title.clone(),
            review: review_text(review),
            question: question.to_owned(),
        };
        let worktree = git::add_worktree(&dir, &self.worktrees(&pr.repo), &review.commit).await?;
        let answered =
            match tokio::fs::write(worktree.path.join(WHOLE_DIFF_FILE), &diff.patch).await {
                Ok(()) => self.reviewer.answer(&worktree.path, &input).await,
                Err(e) => {
                    remove_worktree(worktree).await;
                    return Err(StepError::transient(format!(
                        "cannot write the PR's diff: {e}"
                    )));
                }
            };
        remove_worktree(worktree).await;
        let reply = answered.map_err(review_failure)?;
        Ok(Answered {
            text: reply.text,
            cost_usd: reply.cost_usd,
            tokens: reply.tokens,
        })
    }

    /// Closes the bot's open threads of the finding as won't fix, with a note. A thread closed
    /// already is left alone, so a retry after a crash closes nothing twice.
    async fn close_ignored(
        &self,
        pr: &PrInfo,
        fingerprint: &str,
        by: &str,
    ) -> Result<(), StepError> {
        let me = self.azdo.whoami().await?.id;
        let threads = self.azdo.finding_threads(&pr.repo, pr.id).await?;
        let note = format!(
            "Marked won't fix from Slack by Slack user {by}: later reviews of this PR leave \
             this finding out. (release-agent)"
        );
        for thread in threads.iter().filter(|t| {
            t.open && t.mark.fingerprint == fingerprint && t.author.as_deref() == Some(me.as_str())
        }) {
            self.azdo
                .resolve_thread(&pr.repo, pr.id, thread.id, Some(&note), Resolved::WontFix)
                .await?;
        }
        Ok(())
    }
}

fn said(text: &str) -> Answered {
    Answered {
        text: text.to_owned(),
        cost_usd: None,
        tokens: None,
    }
}

/// The review as the card's thread shows it, for the reviewer's context.
fn review_text(review: &ReviewBrief) -> String {
    let mut text = format!(
        "Review of commit {}: {:?}.\n{}\n",
        short(&review.commit),
        review.verdict,
        review.summary.trim()
    );
    for f in &review.found {
        text.push_str(&format!(
            "- {} {}:{}: {}\n",
            f.severity.label(),
            f.file,
            f.line,
            f.title
        ));
    }
    text
}
