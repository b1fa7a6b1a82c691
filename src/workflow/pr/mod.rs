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
//!                                                                                                              │ ▲
//!                                                        a YAML stage waits for approval ──► ask CI stage ⏸ ◄──┘ │ (approve or reject it in
//!                                                        or for checks / other approvers ──► CI held (poll) ─────┘  Azure DevOps; not CI time)
//! ```
//!
//! The merge (`merging.rs`) reads the branch policies first: a PR they hold, or one Azure DevOps
//! refuses, waits at `merge held ⏸` (retry, auto-complete, cancel), rechecking the PR; with
//! auto-complete, Azure DevOps completes it and the run watches. Only a merge that happened is
//! remembered for the poller.
//!
//! A commit another run reviewed already is not reviewed again: a person's run waits at
//! `reviewed ⏸` (merge on that review if it approved, review again, or cancel); a watcher does
//! not start one (`start.rs`), and a watcher's run that raced the first review finishes.
//!
//! Effects are journaled per commit (`review:{sha}`, `thread:…`, `merge:{sha}`, `build:{sha}`)
//! and look before they act: the merge goes through `complete`, which returns a PR already
//! completed; the build adopts one already queued for the merge commit; a ticket is searched by
//! its label before one is created.
//!
//! A file per stage: this one fetches the PR; `ticket.rs` finds or creates its tickets;
//! `review.rs` reviews it and publishes the review; `merging.rs` merges; `after_review.rs`
//! moves the tickets, stages and builds.
//! The flow gets its clients and `PrSettings` from startup; it never reads the config.

mod after_review;
mod answers;
mod budget;
mod ci_approvals;
mod memory;
mod merging;
pub mod poller;
mod reading;
mod review;
mod settings;
pub mod start;
pub mod state;
mod ticket;
pub mod view;

use std::sync::Arc;

use async_trait::async_trait;

use crate::azdo::{AzdoError, AzureDevOps, PrStatus, PullRequest};
use crate::domain::{
    JiraKey, MOST_TICKETS, RepoName, ReposConfig, RunKind, in_projects, tickets_in,
};
use crate::git::Repos;
use crate::http_client::HttpError;
use crate::reviewer::Reviewer;
use crate::store::NewDelivery;
use crate::workflow::tickets::JiraSide;
use crate::workflow::{Answered, Asked, CardView, Flow, StepContext, StepError, Transition};
use state::{Outcome, PrInfo, PrRun, PrStep, Ticket};

pub use budget::month_start;
pub use settings::{PrSettings, ReviewVote};

/// What the PR workflow talks to.
pub struct PrFlow {
    pub azdo: Arc<dyn AzureDevOps>,
    pub jira: Option<JiraSide>,
    pub repos: Arc<Repos>,
    /// RELEASE_BRANCH: where a repository's version tags are read (REPOS_CONFIG wins).
    pub release_branch: String,
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

    /// The branch `repo` releases to (main), where its version tags are.
    fn release_branch(&self, repo: &RepoName) -> String {
        self.repos_config
            .for_repo(repo)
            .release_branch
            .unwrap_or_else(|| self.release_branch.clone())
    }

    /// A PR from the repository's release branch is a back-merge (the release run's, or one
    /// made by hand): what it brings and its tickets were released already, so it creates,
    /// moves and stages nothing, and it merges with a merge commit and keeps its source branch.
    fn is_back_merge(&self, pr: &PrInfo) -> bool {
        pr.source_branch
            .eq_ignore_ascii_case(&self.release_branch(&pr.repo))
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
        if run.watched && pr.status == PrStatus::Active && under_way_elsewhere(ctx, &commit).await?
        {
            return Ok(Transition::done(run.at(PrStep::Finished {
                outcome: Outcome::UnderWay,
            })));
        }
        let reason = format!(
            "superseded by a newer review of {repo}#{} at {}",
            pr.id,
            view::short(&commit)
        );
        ctx.supersede_others(&reason).await?;
        remember(ctx, &format!("pr:{repo}:{}:{commit}", pr.id)).await?;
        let found = tickets_in(&pr.source_branch, &self.settings.ticket_pattern);
        let projects = self
            .jira
            .as_ref()
            .map_or(&[][..], |j| j.projects.as_slice());
        let (kept, ignored) = in_projects(found, projects);
        run.tickets = kept.into_iter().map(Ticket::bare).collect();
        if !ignored.is_empty() {
            run.notes.push(ignored_note(&ignored, projects));
        }
        run.review = None;
        run.pr = Some(info(&pr, &repo, commit));
        if pr.status == PrStatus::Completed {
            remember(ctx, &merging::merged_key(&repo, pr.id)).await?;
            run.merge_commit = pr.merge_commit.clone();
            return Ok(Transition::go(run.at(PrStep::MergedJira))
                .settled_in_azure_devops("merged outside the bot")
                .about(&repo));
        }
        Ok(Transition::go(run.at(PrStep::Ticket)).about(&repo))
    }
}

/// The card's note about keys in the branch name that do not count.
fn ignored_note(ignored: &[JiraKey], projects: &[String]) -> String {
    let keys: Vec<&str> = ignored.iter().map(JiraKey::as_str).collect();
    format!(
        "Ticket keys in the branch name left alone: {}. Only keys of {} count (DEFAULT_JIRA_PROJECT, \
         a repository's jira_project, JIRA_PROJECTS), {MOST_TICKETS} at most.",
        keys.join(", "),
        projects.join(", ")
    )
}

#[async_trait]
impl Flow for PrFlow {
    type State = PrRun;
    const KIND: RunKind = RunKind::PR;

    async fn step(&self, ctx: &StepContext<'_>, run: PrRun) -> Step {
        match run.step.clone() {
            PrStep::Fetch => self.fetch(ctx, run).await,
            PrStep::Ticket => self.ticket(ctx, run).await,
            PrStep::RetryTicket => self.retry_ticket(ctx, run).await,
            PrStep::Review => self.review(ctx, run).await,
            PrStep::OverBudget { .. } => self.ask_over_budget(ctx, run),
            PrStep::Publish { result } => self.publish(ctx, run, *result).await,
            PrStep::Reviewed { earlier } => Ok(self.reviewed(ctx, run, earlier)),
            PrStep::AskMerge => Ok(self.ask_merge(ctx, run)),
            PrStep::Merge => self.merge(ctx, run).await,
            PrStep::MergeHeld { hold } => self.recheck_held(ctx, run, hold).await,
            PrStep::AutoComplete => self.auto_complete(ctx, run).await,
            PrStep::WatchAutoComplete => self.watch_auto_complete(ctx, run).await,
            PrStep::Stale { reason } => Ok(self.stale(ctx, run, &reason)),
            PrStep::MergedJira => self.merged_jira(run).await,
            PrStep::Stage => self.stage(ctx, run).await,
            PrStep::AskCi => Ok(self.ask_ci(ctx, run)),
            PrStep::QueueBuild => self.queue_build(ctx, run).await,
            PrStep::WatchBuild { since } => self.watch_build(ctx, run, since).await,
            PrStep::AskCiStage { question } => self.ask_ci_stage(ctx, run, question).await,
            PrStep::CiHeld { built_for, .. } => self.ci_held(ctx, run, built_for).await,
            PrStep::Finished { .. } => Ok(Transition::done(run)),
        }
    }

    fn card(&self, run: &PrRun) -> CardView {
        view::card(run)
    }

    async fn follow_up(&self, run: &PrRun, asked: &Asked) -> Option<Result<Answered, StepError>> {
        Some(self.follow_up_on(run, asked).await)
    }
}

fn info(pr: &PullRequest, repo: &RepoName, commit: String) -> PrInfo {
    PrInfo {
        id: pr.id,
        repo: repo.clone(),
        title: pr.title.clone(),
        description: pr.description.clone(),
        author: pr.author.clone(),
        author_email: pr.author_email.clone(),
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

/// Records a dedupe key so the poller does not start what this run already does.
/// Whether another unfinished run of the PR reviews `commit`, or has yet to read which commit
/// it reviews (a `/review` a moment before the poll): a watcher's run then leaves it be rather
/// than cancel a person's run for the same change.
async fn under_way_elsewhere(ctx: &StepContext<'_>, commit: &str) -> Result<bool, StepError> {
    let Some(pr) = ctx.run().pr_id else {
        return Ok(false);
    };
    let others = ctx
        .store()
        .unfinished_runs_for_pr(ctx.run().kind.clone(), pr)
        .await?;
    Ok(others
        .into_iter()
        .filter(|o| o.id != ctx.run().id)
        .any(|o| {
            serde_json::from_value::<PrRun>(o.state)
                .ok()
                .and_then(|s| s.pr)
                .is_none_or(|p| p.commit == commit)
        }))
}

async fn remember(ctx: &StepContext<'_>, key: &str) -> Result<(), StepError> {
    let delivery = NewDelivery {
        key: key.to_owned(),
        source: "pr-run".into(),
        intent: None,
    };
    ctx.store().remember_delivery(&delivery, ctx.now()).await?;
    Ok(())
}
