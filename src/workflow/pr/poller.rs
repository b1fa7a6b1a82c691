//! The PR poller (PR_POLL_ENABLED): every PR_POLL_INTERVAL_SECONDS it lists the active PRs of each
//! watched repository that target its target branch, and the PRs merged there since it first
//! looked, and asks for a review of each new source commit and each merge it has not seen. It
//! works behind a firewall with no webhook. One failing repository does not stop the others.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::start::{Requested, Requester, ReviewRequest, request_review};
use crate::azdo::{AzdoError, AzureDevOps};
use crate::clock::Clock;
use crate::domain::RepoName;
use crate::store::{Store, StoreError};
use crate::workflow::Engine;

pub struct Poller {
    pub azdo: Arc<dyn AzureDevOps>,
    pub engine: Engine,
    pub store: Store,
    pub clock: Clock,
    /// The watched repositories, each with the branch its PRs target.
    pub repos: Vec<(RepoName, String)>,
    pub interval: Duration,
}

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    Azdo(#[from] AzdoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Poller {
    pub async fn run(self, shutdown: CancellationToken) {
        info!(
            repos = self.repos.len(),
            every_s = self.interval.as_secs(),
            "PR poller started"
        );
        loop {
            self.poll_all().await;
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// One pass over every watched repository; returns how many reviews it started.
    pub async fn poll_all(&self) -> usize {
        let mut started = 0;
        for (repo, target) in &self.repos {
            match self.poll(repo, target).await {
                Ok(n) => started += n,
                Err(e) => warn!(%repo, error = %e, "cannot poll this repository; the others go on"),
            }
        }
        started
    }

    async fn poll(&self, repo: &RepoName, target: &str) -> Result<usize, PollError> {
        let now = self.clock.now();
        let cursor = format!("poller:merged-since:{}", repo.as_str().to_ascii_lowercase());
        let since = self
            .store
            .cursor_or_init(&cursor, &now.to_rfc3339(), now)
            .await?;
        let since = DateTime::parse_from_rfc3339(&since).map_or(now, |t| t.with_timezone(&Utc));
        let mut started = 0;
        for pr in self.azdo.active_pull_requests(repo, target).await? {
            if pr.is_draft || pr.source_commit.is_none() {
                continue;
            }
            started += self.ask(repo, pr.id, pr.source_commit).await?;
        }
        for pr in self
            .azdo
            .completed_pull_requests(repo, target, since)
            .await?
        {
            started += self.ask(repo, pr.id, None).await?;
        }
        Ok(started)
    }

    async fn ask(
        &self,
        repo: &RepoName,
        pr_id: u32,
        commit: Option<String>,
    ) -> Result<usize, StoreError> {
        let request = ReviewRequest {
            pr_id,
            repo: Some(repo.clone()),
            requester: Requester::Watcher {
                source: "poller",
                commit,
            },
        };
        Ok(match request_review(&self.engine, request).await? {
            Requested::Started(run) => {
                info!(%repo, pr = pr_id, %run, "poller started a PR run");
                1
            }
            _ => 0,
        })
    }
}
