//! The one way a release starts, whoever asks: a Slack user or (later) the REST API. It looks
//! only at the database, so a Slack handler can call it before its ack.

use super::ReleaseFlow;
use super::state::{ChosenVersion, ReleaseRun};
use crate::domain::{RepoName, RunId, RunKind, Version};
use chrono::{DateTime, Utc};

use crate::store::{ArchivedRelease, AuditEntry, Dedupe, Freeze, RunRecord, Store, StoreError};
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
    /// The version asked for is not above the last one released.
    NotHigher {
        chosen: Version,
        last: Version,
    },
    /// The repository is frozen; the refusal is audited.
    Frozen(Box<Freeze>),
    /// This delivery was already handled.
    Duplicate,
}

/// Who asks for a release, how, and when.
pub struct Asked<'a> {
    pub by: &'a str,
    /// `slash command`, `operator API`: for the audit of a refusal.
    pub via: &'a str,
    pub at: DateTime<Utc>,
}

/// Starts a release of `repo` unless it is frozen, one is under way or nothing is staged.
/// `chosen`: the version asked for, which must be above the last one released. `dedupe` (a Slack
/// trigger id, say) makes a redelivered request start nothing.
pub async fn request_release(
    engine: &Engine,
    store: &Store,
    repo: &RepoName,
    asked: Asked<'_>,
    chosen: Option<Version>,
    dedupe: Option<String>,
) -> Result<ReleaseRequested, StoreError> {
    let started_by = asked.by;
    if let Some(freeze) = store.freeze_of(repo.as_str()).await? {
        let detail = format!(
            "a release of {repo} refused: frozen by {} ({})",
            freeze.frozen_by, freeze.reason
        );
        let audit = AuditEntry::new(None, started_by, "release_refused", detail).via(asked.via);
        store.refuse_delivery(None, &audit, None, asked.at).await?;
        return Ok(ReleaseRequested::Frozen(Box::new(freeze)));
    }
    if let Some(run) = running(store, repo).await? {
        return Ok(ReleaseRequested::AlreadyRunning(run));
    }
    if let Some(chosen) = chosen
        && let Some(last) = store.last_version(repo.as_str()).await?
        && chosen <= last
    {
        return Ok(ReleaseRequested::NotHigher { chosen, last });
    }
    let staged = match (
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
    let version = chosen.unwrap_or(staged);
    let subject = Subject {
        repo: Some(repo.clone()),
        pr_id: None,
        title: format!("Release {repo} {version}"),
        one_per_pr: false,
    };
    let dedupe = dedupe.map(Dedupe::New);
    let mut state = ReleaseRun::new(repo.clone(), String::new(), String::new());
    state.chosen = chosen.map(|version| ChosenVersion {
        version,
        by: started_by.to_owned(),
    });
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
