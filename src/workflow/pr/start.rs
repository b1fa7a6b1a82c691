//! The one way a PR review starts, whoever asks: a Slack user, the operator API, the poller or a
//! webhook.
//! It dedupes on the database alone. (`/review` saves its request before the ack and the intake
//! calls this after it.)

use crate::domain::{RepoName, RunId};
use crate::store::{Dedupe, RunRecord, StoreError};
use crate::workflow::{Engine, Started, StepContext, Subject};

use super::PrFlow;
use super::state::PrRun;

/// Who asks for a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// A Slack user or the operator; `dedupe` (made of a command's trigger id, say) makes a
    /// redelivered request start nothing.
    Person { user: String, dedupe: Dedupe },
    /// The poller or a webhook, which know the PR's source commit (`None`: it was merged).
    Watcher {
        source: &'static str,
        commit: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRequest {
    pub pr_id: u32,
    pub repo: Option<RepoName>,
    pub requester: Requester,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Requested {
    Started(RunId),
    /// A run for this PR is already under way (requests by a person only).
    AlreadyRunning(Box<RunRecord>),
    /// This delivery, or this commit, was already handled.
    Duplicate,
}

/// Starts a PR run unless it would repeat one. A person gets the run already under way for the
/// PR; a watcher starts once per source commit (or once per merge), and not at all for a commit
/// another run reviewed already (a person's `/review` before the poller saw it, say).
pub async fn request_review(
    engine: &Engine,
    request: ReviewRequest,
) -> Result<Requested, StoreError> {
    if let (
        Requester::Watcher {
            commit: Some(commit),
            ..
        },
        Some(repo),
    ) = (&request.requester, &request.repo)
        && engine
            .store()
            .kept_review(repo, request.pr_id, commit)
            .await?
            .is_some()
    {
        return Ok(Requested::Duplicate);
    }
    let (started_by, dedupe) = match &request.requester {
        Requester::Person { user, dedupe } => (user.clone(), dedupe.clone()),
        Requester::Watcher { source, commit } => {
            let repo = request
                .repo
                .as_ref()
                .map_or_else(String::new, ToString::to_string);
            let what = commit.clone().unwrap_or_else(|| "merged".into());
            let key = format!("pr:{repo}:{}:{what}", request.pr_id);
            ((*source).to_owned(), Dedupe::New(key))
        }
    };
    let subject = Subject {
        repo: request.repo.clone(),
        pr_id: Some(i64::from(request.pr_id)),
        title: match &request.repo {
            Some(repo) => format!("{repo}#{}", request.pr_id),
            None => format!("PR {}", request.pr_id),
        },
        // A merge seen by a watcher waits for a run already under way for the PR: that run
        // merged it, or will see that a person did. Its key is recorded once no run is.
        one_per_pr: matches!(
            request.requester,
            Requester::Person { .. } | Requester::Watcher { commit: None, .. }
        ),
    };
    let mut state = PrRun::new(request.pr_id, request.repo);
    state.watched = matches!(request.requester, Requester::Watcher { .. });
    match engine
        .start::<PrFlow>(state, subject, &started_by, Some(&dedupe))
        .await?
    {
        (id, Started::Created) => Ok(Requested::Started(id)),
        (_, Started::Duplicate) => Ok(Requested::Duplicate),
        (_, Started::AlreadyRunning(run)) => Ok(Requested::AlreadyRunning(run)),
    }
}

/// Starts the review of a PR that a step of another run opened (a release's back-merge PR), in
/// that run's channel, by `by`. `key` dedupes it: a step that runs again starts nothing more.
pub async fn review_opened(
    ctx: &StepContext<'_>,
    pr_id: u32,
    repo: &RepoName,
    by: &str,
    key: String,
) -> Result<(), StoreError> {
    let subject = Subject {
        repo: Some(repo.clone()),
        pr_id: Some(i64::from(pr_id)),
        title: format!("{repo}#{pr_id}"),
        one_per_pr: true,
    };
    let state = PrRun::new(pr_id, Some(repo.clone()));
    let run = subject.new_run::<PrFlow>(state, ctx.run().channel_id.clone(), by)?;
    ctx.store()
        .create_run(&run, Some(&Dedupe::New(key)), ctx.now())
        .await?;
    Ok(())
}
