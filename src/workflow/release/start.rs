//! The one way a release starts, whoever asks: a Slack user or (later) the REST API. It looks
//! only at the database, so a Slack handler can call it before its ack.

use super::ReleaseFlow;
use super::state::{ChosenVersion, Hotfix, ReleaseRun, RollbackPlan};
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
        (Some(left), staged) => left.carried(staged).version,
        (None, Some(staged)) => staged.version,
        (None, None) => {
            let last = store.archived(repo.as_str()).await?.into_iter().next();
            return Ok(ReleaseRequested::NothingStaged {
                last: last.map(Box::new),
            });
        }
    };
    let version = chosen.unwrap_or(staged);
    let mut state = ReleaseRun::new(repo.clone(), String::new(), String::new());
    state.chosen = chosen.map(|version| ChosenVersion {
        version,
        by: started_by.to_owned(),
    });
    let title = format!("Release {repo} {version}");
    Ok(
        match start(engine, store, state, title, started_by, dedupe).await? {
            Start::Created(run) => ReleaseRequested::Started { run, version },
            Start::AlreadyRunning(run) => ReleaseRequested::AlreadyRunning(run),
            Start::Duplicate => ReleaseRequested::Duplicate,
        },
    )
}

#[derive(Debug, Clone, PartialEq)]
pub enum RollbackRequested {
    Started {
        run: RunId,
        to: Version,
        left: Version,
    },
    /// One release or rollback at a time per repository: this one is under way.
    AlreadyRunning(Box<RunRecord>),
    /// No archived version below the deployed one (`deployed`, if any) has its deployment on
    /// record.
    NothingBefore {
        deployed: Option<Version>,
    },
    /// The version asked for is not in the archive.
    NotArchived(Version),
    /// The version asked for was archived before the bot kept what deployed it.
    NoDeployment(Version),
    /// The version asked for is the one deployed now.
    Deployed(Version),
    Duplicate,
}

/// Starts a rollback of `repo` to `to` (else to the newest archived version below the deployed
/// one). It is not refused by a freeze: going back is what an incident needs, and every stage
/// still asks its approvers.
pub async fn request_rollback(
    engine: &Engine,
    store: &Store,
    repo: &RepoName,
    by: &str,
    to: Option<Version>,
    dedupe: Option<String>,
) -> Result<RollbackRequested, StoreError> {
    if let Some(run) = running(store, repo).await? {
        return Ok(RollbackRequested::AlreadyRunning(run));
    }
    let archived = store.archived(repo.as_str()).await?;
    let deployed = store.deployed_version(repo.as_str()).await?;
    let target = match (to, deployed) {
        (Some(to), Some(deployed)) if to == deployed => {
            return Ok(RollbackRequested::Deployed(to));
        }
        (Some(to), _) => match archived.iter().find(|r| r.version == to) {
            None => return Ok(RollbackRequested::NotArchived(to)),
            Some(r) if r.cd.is_none() => return Ok(RollbackRequested::NoDeployment(to)),
            Some(r) => r,
        },
        (None, _) => {
            let below = archived
                .iter()
                .filter(|r| r.cd.is_some() && deployed.is_none_or(|d| r.version < d))
                .max_by_key(|r| r.version);
            match below {
                Some(r) => r,
                None => return Ok(RollbackRequested::NothingBefore { deployed }),
            }
        }
    };
    let left = deployed.unwrap_or(target.version);
    let mut state = ReleaseRun::new(repo.clone(), String::new(), String::new());
    state.version = Some(target.version.to_string());
    state.cd.clone_from(&target.cd);
    state.rollback = Some(RollbackPlan {
        to: target.version,
        left,
        redeployed: Vec::new(),
    });
    let title = format!("Rollback {repo} to {}", target.version);
    Ok(
        match start(engine, store, state, title, by, dedupe).await? {
            Start::Created(run) => RollbackRequested::Started {
                run,
                to: target.version,
                left,
            },
            Start::AlreadyRunning(run) => RollbackRequested::AlreadyRunning(run),
            Start::Duplicate => RollbackRequested::Duplicate,
        },
    )
}

#[derive(Debug, Clone, PartialEq)]
pub enum HotfixRequested {
    Started(RunId),
    /// One release, hotfix or rollback at a time per repository: this one is under way.
    AlreadyRunning(Box<RunRecord>),
    Duplicate,
}

/// Starts a hotfix of `repo`: its run names the version (the last one plus a patch) and makes
/// the branch. A freeze does not refuse it (its Merge buttons are refused while frozen).
pub async fn request_hotfix(
    engine: &Engine,
    store: &Store,
    repo: &RepoName,
    by: &str,
    at: DateTime<Utc>,
    dedupe: Option<String>,
) -> Result<HotfixRequested, StoreError> {
    if let Some(run) = running(store, repo).await? {
        return Ok(HotfixRequested::AlreadyRunning(run));
    }
    let mut state = ReleaseRun::new(repo.clone(), String::new(), String::new());
    state.hotfix = Some(Hotfix {
        branch: String::new(),
        since: at,
    });
    let title = format!("Hotfix {repo}");
    Ok(
        match start(engine, store, state, title, by, dedupe).await? {
            Start::Created(run) => HotfixRequested::Started(run),
            Start::AlreadyRunning(run) => HotfixRequested::AlreadyRunning(run),
            Start::Duplicate => HotfixRequested::Duplicate,
        },
    )
}

enum Start {
    Created(RunId),
    AlreadyRunning(Box<RunRecord>),
    Duplicate,
}

/// Starts a run of the release flow at `state`, one per repository.
async fn start(
    engine: &Engine,
    store: &Store,
    state: ReleaseRun,
    title: String,
    by: &str,
    dedupe: Option<String>,
) -> Result<Start, StoreError> {
    let repo = state.repo.clone();
    let subject = Subject {
        repo: Some(repo.clone()),
        pr_id: None,
        title,
        one_per_pr: false,
    };
    let dedupe = dedupe.map(Dedupe::New);
    match engine
        .start::<ReleaseFlow>(state, subject, by, dedupe.as_ref())
        .await
    {
        Ok((run, Started::Created)) => Ok(Start::Created(run)),
        Ok((_, Started::Duplicate)) => Ok(Start::Duplicate),
        Ok((_, Started::AlreadyRunning(run))) => Ok(Start::AlreadyRunning(run)),
        // Another request won the race for the repository.
        Err(StoreError::Conflict(_)) => Ok(match running(store, &repo).await? {
            Some(run) => Start::AlreadyRunning(run),
            None => Start::Duplicate,
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
