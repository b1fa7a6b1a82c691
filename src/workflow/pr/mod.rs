//! The PR workflow: from a PR's first appearance to a merge counted in the repository's staging
//! release, with its CI build watched. Every box is a checkpointed step.
//!
//! ```text
//!  fetch ─┬─ merged outside the bot ─────────────────────────────┐
//!         ├─ abandoned ──► cancelled                            │
//!         └─ active ──► ticket ──► review ──► publish ─┬─ changes requested ──► finished
//!              (move to review,     (worktree,  (threads,│
//!               or create one)       Claude)     vote)   └─ approve ──► ask merge ⏸ ─┬─ cancel
//!                                                                                    ▼
//!          ┌─ stale ⏸ (re-review ──► fetch) ◄── source moved ── merge (lastMergeSourceCommit)
//!          │                                                     ▼
//!          └──────────────────────────────────────────► merged jira ──► stage ──► ask CI ⏸ ──► queue build ──► watch build
//!                                                                                  (or CI_AUTO_TRIGGER)        (poll, give up after CI_POLL_MAX_WAIT)
//! ```
//!
//! Effects are journaled per commit (`review:{sha}`, `thread:…`, `merge:{sha}`, `build:{sha}`)
//! and look before they act: the merge goes through `complete`, which returns a PR already
//! completed; the build adopts one already queued for the merge commit; a ticket is searched by
//! its label before one is created.

mod after_review;
pub mod poller;
mod settings;
pub mod start;
pub mod state;
pub mod view;

use std::sync::Arc;

use async_trait::async_trait;

use crate::azdo::{Anchor, AzdoError, AzureDevOps, NewThread, PrStatus, PullRequest, ThreadStatus};
use crate::domain::{RepoName, ReposConfig, RunKind, tickets_in};
use crate::git::{self, Repos};
use crate::http_client::HttpError;
use crate::jira::NewIssue;
use crate::jira::adf::Document;
use crate::reviewer::{ReviewError, ReviewInput, Reviewer, TicketInput, place, report};
use crate::store::NewDelivery;
use crate::workflow::tickets::JiraSide;
use crate::workflow::{CardView, Flow, StepContext, StepError, Transition};
use state::{InlineFinding, Outcome, PrInfo, PrRun, PrStep, ReviewBrief, ReviewResult, Ticket};

pub use settings::PrSettings;

/// What the PR workflow talks to.
pub struct PrFlow {
    pub azdo: Arc<dyn AzureDevOps>,
    pub jira: Option<JiraSide>,
    pub repos: Arc<Repos>,
    pub reviewer: Arc<dyn Reviewer>,
    pub settings: PrSettings,
    pub repos_config: ReposConfig,
    pub known_repos: Vec<RepoName>,
}

type Step = Result<Transition<PrRun>, StepError>;

impl PrFlow {
    /// `repo` as this bot spells it, if it works with that repository.
    fn known(&self, repo: &RepoName) -> Option<RepoName> {
        self.known_repos
            .iter()
            .find(|r| r.same_as(repo.as_str()))
            .cloned()
    }

    async fn fetch(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let pr = self
            .azdo
            .pull_request(run.pr_id)
            .await
            .map_err(|e| match e {
                AzdoError::Http(HttpError::NotFound { .. }) => StepError::permanent(format!(
                    "PR {} does not exist in the project, or the bot cannot see it",
                    run.pr_id
                )),
                e => e.into(),
            })?;
        if let Some(asked) = &run.repo
            && !asked.same_as(pr.repo.as_str())
        {
            return Err(StepError::permanent(format!(
                "PR {} is in {}, not in {asked}",
                pr.id, pr.repo
            )));
        }
        let Some(repo) = self.known(&pr.repo) else {
            return Err(StepError::permanent(format!(
                "{} is not a repository this bot works with; add it to WATCHED_REPOS",
                pr.repo
            )));
        };
        if pr.status == PrStatus::Abandoned {
            return Ok(Transition::cancel(run, "the PR was abandoned"));
        }
        let commit = pr.source_commit.clone().ok_or_else(|| {
            StepError::transient("Azure DevOps has not computed the PR's source commit yet")
        })?;
        let reason = format!(
            "superseded by a newer review of {repo}#{} at {}",
            pr.id,
            view::short(&commit)
        );
        ctx.supersede_others(&reason).await?;
        remember(ctx, &format!("pr:{repo}:{}:{commit}", pr.id)).await?;
        run.tickets = tickets_in(&pr.source_branch, &self.settings.ticket_pattern)
            .into_iter()
            .map(Ticket::bare)
            .collect();
        run.review = None;
        run.pr = Some(info(&pr, &repo, commit));
        if pr.status == PrStatus::Completed {
            remember(ctx, &after_review::merged_key(&repo, pr.id)).await?;
            run.merge_commit = pr.merge_commit.clone();
            return Ok(Transition::go(run.at(PrStep::MergedJira)).note("merged outside the bot"));
        }
        Ok(Transition::go(run.at(PrStep::Ticket)))
    }

    /// Reads the branch's tickets and moves them to the review status; creates one when the branch
    /// names none (if allowed).
    async fn ticket(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let Some(jira) = &self.jira else {
            return Ok(Transition::go(run.at(PrStep::Review)));
        };
        let pr = pr_of(&run)?;
        let mut found = jira
            .describe(std::mem::take(&mut run.tickets), &mut run.notes)
            .await?;
        if found.is_empty() && self.settings.auto_create_ticket {
            found.push(self.create_ticket(ctx, jira, &pr).await?);
        }
        for ticket in &found {
            jira.move_ticket(&ticket.key, &self.settings.status_in_review, &mut run.notes)
                .await?;
        }
        run.tickets = found;
        Ok(Transition::go(run.at(PrStep::Review)))
    }

    /// The ticket of a PR without one: found by its label if an earlier run made it, else
    /// drafted by the reviewer and created, once.
    async fn create_ticket(
        &self,
        ctx: &StepContext<'_>,
        jira: &JiraSide,
        pr: &PrInfo,
    ) -> Result<Ticket, StepError> {
        let label = pr_label(pr);
        let project = self
            .repos_config
            .for_repo(&pr.repo)
            .jira_project
            .unwrap_or_else(|| jira.project.clone());
        let jql = format!("project = \"{project}\" AND labels = \"{label}\" ORDER BY created ASC");
        let as_ticket = |issue: crate::jira::Issue| Ticket {
            key: issue.key,
            summary: issue.summary,
            url: issue.url,
            created: true,
        };
        if let Some(issue) = jira.client.search(&jql, 1).await?.into_iter().next() {
            return Ok(as_ticket(issue));
        }
        let draft = ctx
            .once(&format!("ticket-draft:{}", pr.id), |_| async {
                self.draft_ticket(pr).await
            })
            .await?;
        let issue = ctx
            .once(&format!("ticket:{}", pr.id), |attempt| async move {
                if attempt.is_retry()
                    && let Some(issue) = jira.client.search(&jql, 1).await?.into_iter().next()
                {
                    return Ok(as_ticket(issue));
                }
                let description = format!(
                    "{}\n\nPull request: {}",
                    draft.description.trim(),
                    pr.web_url
                );
                let new = NewIssue {
                    project: project.clone(),
                    issue_type: jira.issue_type.clone(),
                    summary: draft.summary.clone(),
                    description: Document::from_text(&description),
                    labels: vec!["release-agent".into(), label.clone()],
                };
                Ok::<_, StepError>(as_ticket(jira.client.create_issue(&new).await?))
            })
            .await?;
        Ok(issue)
    }

    /// Where the review worktrees of `repo` are made.
    fn worktrees(&self, repo: &RepoName) -> std::path::PathBuf {
        self.repos.worktrees_dir().join(repo.as_str())
    }

    async fn draft_ticket(&self, pr: &PrInfo) -> Result<crate::reviewer::TicketDraft, StepError> {
        let (dir, diff) = self.diff(pr).await?;
        let worktree = git::add_worktree(&dir, &self.worktrees(&pr.repo), &pr.commit).await?;
        let input = TicketInput {
            title: pr.title.clone(),
            description: pr.description.clone(),
            diff: diff.patch,
        };
        let drafted = self.reviewer.draft_ticket(&worktree.path, &input).await;
        remove_worktree(worktree).await;
        drafted.map_err(review_failure)
    }

    async fn diff(&self, pr: &PrInfo) -> Result<(std::path::PathBuf, git::PrDiff), StepError> {
        let dir = self.repos.fetch(&pr.repo).await?;
        let diff = git::diff(&dir, &format!("origin/{}", pr.target_branch), &pr.commit).await?;
        Ok((dir, diff))
    }

    async fn review(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
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

    async fn review_in_worktree(
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
    async fn publish(&self, ctx: &StepContext<'_>, run: PrRun, result: ReviewResult) -> Step {
        let pr = pr_of(&run)?;
        let repo = &pr.repo;
        let approve = result.review.verdict == crate::reviewer::Verdict::Approve;
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
        let me: String = ctx
            .once("whoami", |_| async {
                Ok::<_, StepError>(self.azdo.whoami().await?.id)
            })
            .await?;
        let vote = match (approve, result.review.findings.is_empty()) {
            (true, true) => crate::azdo::Vote::Approve,
            (true, false) => crate::azdo::Vote::ApproveWithSuggestions,
            (false, _) => crate::azdo::Vote::WaitForAuthor,
        };
        self.azdo.vote(repo, pr.id, &me, vote).await?;
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
}

impl PrFlow {
    /// Posts a keyed thread once; a retry first looks for the thread an earlier attempt posted.
    async fn post_once(
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
}

#[async_trait]
impl Flow for PrFlow {
    type State = PrRun;
    const KIND: RunKind = RunKind::PR;

    async fn step(&self, ctx: &StepContext<'_>, run: PrRun) -> Step {
        match run.step.clone() {
            PrStep::Fetch => self.fetch(ctx, run).await,
            PrStep::Ticket => self.ticket(ctx, run).await,
            PrStep::Review => self.review(ctx, run).await,
            PrStep::Publish { result } => self.publish(ctx, run, result).await,
            PrStep::AskMerge => Ok(self.ask_merge(ctx, run)),
            PrStep::Merge => self.merge(ctx, run).await,
            PrStep::Stale { reason } => self.stale(ctx, run, &reason).await,
            PrStep::MergedJira => self.merged_jira(run).await,
            PrStep::Stage => self.stage(ctx, run).await,
            PrStep::AskCi => Ok(self.ask_ci(ctx, run)),
            PrStep::QueueBuild => self.queue_build(ctx, run).await,
            PrStep::WatchBuild { since } => self.watch_build(ctx, run, since).await,
            PrStep::Finished { .. } => Ok(Transition::done(run)),
        }
    }

    fn card(&self, run: &PrRun) -> CardView {
        view::card(run)
    }
}

fn info(pr: &PullRequest, repo: &RepoName, commit: String) -> PrInfo {
    PrInfo {
        id: pr.id,
        repo: repo.clone(),
        title: pr.title.clone(),
        description: pr.description.clone(),
        author: pr.author.clone(),
        source_branch: pr.source_branch.clone(),
        target_branch: pr.target_branch.clone(),
        commit,
        web_url: pr.web_url.clone(),
    }
}

fn pr_of(run: &PrRun) -> Result<PrInfo, StepError> {
    run.pr
        .clone()
        .ok_or_else(|| StepError::permanent("the run lost track of its PR"))
}

/// The Jira label that marks the ticket the bot created for a PR: letters, digits and `-` only.
fn pr_label(pr: &PrInfo) -> String {
    let repo: String = pr
        .repo
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("release-agent-pr-{repo}-{}", pr.id)
}

/// Records a dedupe key so the poller does not start what this run already does.
async fn remember(ctx: &StepContext<'_>, key: &str) -> Result<(), StepError> {
    let delivery = NewDelivery {
        key: key.to_owned(),
        source: "pr-run".into(),
        intent: None,
    };
    ctx.store().remember_delivery(&delivery, ctx.now()).await?;
    Ok(())
}

/// A review that could not run: a missing CLI is for an admin to fix; anything else may pass.
fn review_failure(error: ReviewError) -> StepError {
    match error {
        ReviewError::CannotStart { .. } => StepError::permanent(error.to_string()),
        other => StepError::transient(format!("the AI review failed: {other}")),
    }
}

async fn remove_worktree(worktree: git::Worktree) {
    if let Err(e) = worktree.remove().await {
        tracing::warn!(error = %e, "cannot remove a review worktree; start-up prunes it");
    }
}
