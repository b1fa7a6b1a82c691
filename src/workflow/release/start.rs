//! The one way a release starts, whoever asks: a Slack user or (later) the REST API. It looks
//! only at the database, so a Slack handler can call it before its ack.

use super::ReleaseFlow;
use super::state::ReleaseRun;
use crate::domain::{RepoName, RunId, RunKind, Version};
use crate::store::{ArchivedRelease, Dedupe, RunRecord, Store, StoreError};
use crate::workflow::{Engine, Started, Subject};

#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseRequested {
    Started {
        run: RunId,
        version: Version,
    },
    /// One release at a time per repository: this one is under way.
    AlreadyRunning(Box<RunRecord>),
    /// No PR was merged since the last release (`last`, if any).
    NothingStaged {
        last: Option<Box<ArchivedRelease>>,
    },
    /// This delivery was already handled.
    Duplicate,
}

/// Starts a release of `repo` unless one is under way or nothing is staged. `dedupe` (a Slack
/// trigger id, say) makes a redelivered request start nothing.
pub async fn request_release(
    engine: &Engine,
    store: &Store,
    repo: &RepoName,
    started_by: &str,
    dedupe: Option<String>,
) -> Result<ReleaseRequested, StoreError> {
    if let Some(run) = running(store, repo).await? {
        return Ok(ReleaseRequested::AlreadyRunning(run));
    }
    let version = match (
        store.shipping(repo.as_str()).await?,
        store.staging(repo.as_str()).await?,
    ) {
        (Some(left), _) => left.release.version,
        (None, Some(staged)) => staged.version,
        (None, None) => {
            let last = store.archived(repo.as_str()).await?.into_iter().next();
            return Ok(ReleaseRequested::NothingStaged {
                last: last.map(Box::new),
            });
        }
    };
    let subject = Subject {
        repo: Some(repo.clone()),
        pr_id: None,
        title: format!("Release {repo} {version}"),
        one_per_pr: false,
    };
    let dedupe = dedupe.map(Dedupe::New);
    let state = ReleaseRun::new(repo.clone(), String::new(), String::new());
    match engine
        .start::<ReleaseFlow>(state, subject, started_by, dedupe.as_ref())
        .await
    {
        Ok((run, Started::Created)) => Ok(ReleaseRequested::Started { run, version }),
        Ok((_, Started::Duplicate)) => Ok(ReleaseRequested::Duplicate),
        Ok((_, Started::AlreadyRunning(run))) => Ok(ReleaseRequested::AlreadyRunning(run)),
        // Another request won the race for the repository.
        Err(StoreError::Conflict(_)) => Ok(match running(store, repo).await? {
            Some(run) => ReleaseRequested::AlreadyRunning(run),
            None => ReleaseRequested::Duplicate,
        }),
        Err(e) => Err(e),
    }
}

async fn running(store: &Store, repo: &RepoName) -> Result<Option<Box<RunRecord>>, StoreError> {
    Ok(store
        .unfinished_runs(RunKind::RELEASE, Some(repo))
        .await?
        .pop()
        .map(Box::new))
}
