//! The review: the reviewer reads the PR in a worktree of its commit (`reading.rs`), once per
//! commit across runs (a commit reviewed already is offered for merge on that review, or Review
//! again); its findings go to the PR as threads, each once and never twice across pushes
//! (`memory.rs`), with the bot's vote, and to the card's thread.

use super::state::{Outcome, PrInfo, PrRun, PrStep, ReviewBrief, ReviewResult, Tally};
use super::{PrFlow, Step, memory, pr_of, view};
use crate::azdo::{Anchor, FindingMark, NewThread, ThreadIteration, ThreadStatus};
use crate::domain::{Decides, Line, Message, OptionStyle, RepoName, RunId};
use crate::git;
use crate::reviewer::{ReviewError, Verdict, report};
use crate::workflow::flow::option;
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition};

pub const REVIEWED_POINT: &str = "reviewed";

impl PrFlow {
    pub(super) async fn review(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let pr = pr_of(&run)?;
        if !run.fresh_review
            && let Some((earlier, brief)) = self.earlier_review(ctx, &pr).await?
        {
            let reply = view::earlier_review_message(&brief);
            run.review = Some(brief);
            if run.watched {
                let done = run.at(PrStep::Finished {
                    outcome: Outcome::AlreadyReviewed,
                });
                return Ok(Transition::done(done));
            }
            return Ok(Transition::go(run.at(PrStep::Reviewed { earlier })).reply(reply));
        }
        if let Some(wait) = self.over_budget(ctx, &run).await? {
            return Ok(Transition::go(run.at(wait)));
        }
        let tickets = run.tickets.clone();
        let last = ctx.store().last_review(&pr.repo, pr.id, &pr.commit).await?;
        let reviewed = ctx
            .once(&format!("review:{}", pr.commit), |_| async {
                self.review_in_worktree(&pr, &tickets, last).await
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
        let brief = ReviewBrief {
            commit: pr.commit.clone(),
            verdict: result.review.verdict,
            summary: result.review.summary.clone(),
            findings: result.review.findings.len(),
            scope: result.scope.clone(),
            not_reviewed: result.not_reviewed.clone(),
            cost_usd: result.review.cost_usd,
            tokens: result.review.tokens,
            tally: None,
            // Kept with the review, so a run that reuses it knows its findings too.
            found: memory::kept(&result),
        };
        self.record_spend(ctx, &run, brief.cost_usd, brief.tokens)
            .await?;
        let kept = serde_json::to_value(&brief)
            .map_err(|e| StepError::permanent(format!("cannot keep the review: {e}")))?;
        ctx.store()
            .keep_review(&pr.repo, pr.id, &pr.commit, ctx.run().id, &kept, ctx.now())
            .await?;
        run.review = Some(brief);
        run.fresh_review = false;
        for note in &result.notes {
            if !run.notes.contains(note) {
                run.notes.push(note.clone());
            }
        }
        Ok(Transition::go(run.at(PrStep::Publish {
            result: Box::new(result),
        })))
    }

    /// The review another run did of this commit. One this run did (before a crash) does not
    /// count: its own journal has it.
    async fn earlier_review(
        &self,
        ctx: &StepContext<'_>,
        pr: &PrInfo,
    ) -> Result<Option<(RunId, ReviewBrief)>, StepError> {
        let kept = ctx.store().kept_review(&pr.repo, pr.id, &pr.commit).await?;
        Ok(kept
            .filter(|k| k.run_id != ctx.run().id)
            .and_then(|k| Some((k.run_id, serde_json::from_value(k.brief).ok()?))))
    }

    /// A commit reviewed already: merge on that review (if it approved), review again (audited,
    /// like every decision) or cancel.
    pub(super) fn reviewed(
        &self,
        ctx: &StepContext<'_>,
        mut run: PrRun,
        earlier: RunId,
    ) -> Transition<PrRun> {
        let approved = run
            .review
            .as_ref()
            .is_some_and(|r| r.verdict == Verdict::Approve);
        match ctx
            .decision(REVIEWED_POINT)
            .map(|d| d.option.as_str().to_owned())
        {
            None => {
                let mut options = Vec::new();
                if approved {
                    options.push(option("merge", "Merge", OptionStyle::Primary));
                }
                options.push(option("review-again", "Review again", OptionStyle::Plain));
                options.push(option("cancel", "Cancel", OptionStyle::Plain));
                let request = ApprovalRequest {
                    point: REVIEWED_POINT.into(),
                    decides: Decides::Merge,
                    author: run.pr.as_ref().and_then(|pr| pr.author_email.clone()),
                    deciders: None,
                    prompt: "This commit was reviewed already. Merge on that review, review it \
                             again, or cancel?"
                        .into(),
                    options,
                };
                Transition::wait(run.at(PrStep::Reviewed { earlier }), request)
            }
            Some(choice) if choice == "merge" && approved => Transition::go(run.at(PrStep::Merge)),
            Some(choice) if choice == "review-again" => {
                run.fresh_review = true;
                let reply = Message::new([Line::new().plain("Reviewing the commit again.")]);
                Transition::go(run.at(PrStep::Review)).reply(reply)
            }
            Some(_) => Transition::cancel(run, "cancelled: the commit was reviewed already"),
        }
    }

    /// Threads on the PR: the summary, then each new finding (each once, never one a thread
    /// already has); threads of fixed findings resolved; the bot's vote; the summary in the
    /// card's thread; then the verdict decides.
    pub(super) async fn publish(
        &self,
        ctx: &StepContext<'_>,
        mut run: PrRun,
        mut result: ReviewResult,
    ) -> Step {
        let pr = pr_of(&run)?;
        let repo = &pr.repo;
        let threads = self.finding_threads(ctx, &pr).await?;
        let me = self.whoami(ctx).await?;
        let ignored = ctx.store().dismissed(repo, pr.id).await?;
        let sorted = memory::sort(&mut result, &threads, &ignored, &pr.commit, &me);
        let fixed = self.resolve_fixed(ctx, &pr, &sorted.unraised).await?;
        let tally = Tally::of(&sorted, fixed);
        let approve = result.review.verdict == Verdict::Approve;
        let summary = NewThread {
            content: report::summary(
                &result.review,
                &result.general,
                &view::review_notes(&result, &tally),
            ),
            anchor: None,
            status: ThreadStatus::Closed,
            key: Some(format!("{}:summary", pr.commit)),
            iteration: None,
            mark: None,
        };
        self.post_once(ctx, repo, pr.id, summary).await?;
        let reviewed = if sorted.post.is_empty() {
            ReviewedIteration::default()
        } else {
            self.reviewed_iteration(ctx, &pr).await?
        };
        for &i in &sorted.post {
            let inline = &result.inline[i];
            let thread = NewThread {
                content: report::inline(&inline.finding),
                anchor: Some(Anchor {
                    path: inline.path.clone(),
                    start_line: inline.line,
                    end_line: inline.line,
                }),
                status: self.settings.finding_status,
                key: Some(format!("{}:{}", pr.commit, inline.fingerprint)),
                iteration: reviewed.of(&inline.path),
                mark: Some(FindingMark {
                    fingerprint: inline.fingerprint.clone(),
                    commit: pr.commit.clone(),
                }),
            };
            self.post_once(ctx, repo, pr.id, thread).await?;
        }
        if let Some(vote) = self.settings.review_vote.vote(approve) {
            self.azdo.vote(repo, pr.id, &me, vote).await?;
        }
        if let Some(brief) = run.review.as_mut() {
            brief.findings = result.review.findings.len();
            brief.tally = Some(tally);
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

    /// The bot's identity id in Azure DevOps, read once per run.
    async fn whoami(&self, ctx: &StepContext<'_>) -> Result<String, StepError> {
        ctx.once("whoami", |_| async {
            Ok::<_, StepError>(self.azdo.whoami().await?.id)
        })
        .await
    }

    /// The PR's iteration at the reviewed commit, and its files' tracking ids, read once per
    /// commit: inline threads are pinned to it, so they stay on the reviewed lines when the PR
    /// moves. None found (an iteration Azure DevOps has not recorded yet): threads go without.
    async fn reviewed_iteration(
        &self,
        ctx: &StepContext<'_>,
        pr: &PrInfo,
    ) -> Result<ReviewedIteration, StepError> {
        ctx.once(&format!("iteration:{}", pr.commit), |_| async {
            let iterations = self.azdo.iterations(&pr.repo, pr.id).await?;
            let Some(found) = iterations
                .iter()
                .rev()
                .find(|i| i.source_commit.as_deref() == Some(pr.commit.as_str()))
            else {
                return Ok::<_, StepError>(ReviewedIteration::default());
            };
            let changes = self.azdo.changes(&pr.repo, pr.id, found.id).await?;
            Ok(ReviewedIteration {
                id: Some(found.id),
                files: changes
                    .into_iter()
                    .filter_map(|c| Some((c.path, c.change_tracking_id?)))
                    .collect(),
            })
        })
        .await
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

/// The reviewed iteration and its files (`/path` → change tracking id).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ReviewedIteration {
    id: Option<u32>,
    files: std::collections::BTreeMap<String, u32>,
}

impl ReviewedIteration {
    /// Where a thread on `path` (repository-relative) is pinned, if the iteration has the file.
    fn of(&self, path: &str) -> Option<ThreadIteration> {
        let path = format!("/{}", path.trim_start_matches('/'));
        Some(ThreadIteration {
            iteration: self.id?,
            change_tracking_id: *self.files.get(&path)?,
        })
    }
}
