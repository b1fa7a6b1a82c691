//! The engine: claims due runs under a lease, executes their steps one at a time, and checkpoints
//! after each step.
//!
//! ```text
//!   claim due run ──► step ──► checkpoint ──┬─ Continue ──► step …
//!   (lease)           │        (one tx)     ├─ Poll ──────► sleep until wake_at, release lease
//!                     │                     ├─ Wait ──────► waiting + approval row, release lease
//!                     │                     └─ Done/Cancel► finished
//!                     ├─ transient error ──► retry at now + backoff (capped), release lease
//!                     └─ permanent error ──► failed, reason on the card
//! ```
//!
//! Nothing lives only in memory: a run that is not leased and is due is picked up by whichever
//! engine looks next, so start-up needs no special resume step, and a dead engine's runs are taken
//! over once its leases expire. The lease is renewed while a step runs; every write is fenced on
//! the lease, so a step whose engine lost it cannot overwrite newer progress.
//!
//! This file is the loop (claim, spawn, sleep); `step.rs` runs one claimed run's steps; `plan.rs`
//! says, without I/O, what a step's result means for the run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

mod plan;
mod step;

use super::acks_first::{self, AcksInFlight};
use super::flow::{Flow, Flows, step_name};
use crate::BOT_ACTOR;
use crate::clock::Clock;
use crate::domain::{RepoName, RunId, RunKind};
use crate::store::{Dedupe, NewRun, RunRecord, Store, StoreError};

pub use crate::store::Started;

/// Tunables. The defaults suit production; tests shorten the times.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How long a claimed run stays ours without renewal.
    pub lease: Duration,
    /// How often an idle engine looks for work that other replicas made due.
    pub idle_poll: Duration,
    /// Runs executed at once by this engine.
    pub concurrency: usize,
    /// A run that checkpoints this many steps is failed: it is looping.
    pub max_steps: i64,
    /// Consecutive transient failures of one step before the run fails.
    pub max_attempts: i64,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long a waiting approval stays open.
    pub approval_timeout: TimeDelta,
    /// How long shutdown waits for running steps to reach their checkpoint.
    pub shutdown_grace: Duration,
    /// The channel for run cards.
    pub channel: String,
    /// Repositories whose run cards go to a channel of their own (REPOS_CONFIG).
    pub repo_channels: Vec<(RepoName, String)>,
    /// Who this process is across restarts (`startup::instance`): the owner of its claims.
    pub instance: String,
}

impl EngineSettings {
    pub fn new(channel: impl Into<String>, approval_timeout: TimeDelta) -> Self {
        Self {
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_secs(1),
            concurrency: 16,
            max_steps: 500,
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(300),
            approval_timeout,
            shutdown_grace: Duration::from_secs(8),
            channel: channel.into(),
            repo_channels: Vec::new(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

/// Wake-up calls between the parts of one process. Other replicas are reached by polling.
#[derive(Debug, Default)]
pub struct Wakers {
    pub engine: Notify,
    pub intake: Notify,
    pub outbound: Notify,
    /// Questions asked in a card's thread, for the answerer.
    pub questions: Notify,
    /// Slack envelopes not yet acked; the intake and the engine wait for them.
    pub acks: Arc<AcksInFlight>,
}

/// What a run is about, for starting it.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub repo: Option<RepoName>,
    pub pr_id: Option<i64>,
    /// For people: `Billo.Api#123`.
    pub title: String,
    /// Start nothing while a run of the flow about the same PR is under way (see
    /// [`NewRun::one_per_pr`]).
    pub one_per_pr: bool,
}

impl Subject {
    /// The run of flow `F` about this subject, at `state`, posting in `channel_id`.
    pub fn new_run<F: Flow>(
        self,
        state: F::State,
        channel_id: String,
        started_by: &str,
    ) -> Result<NewRun, StoreError> {
        let state = serde_json::to_value(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(NewRun {
            id: RunId::new(),
            kind: F::KIND,
            repo: self.repo,
            pr_id: self.pr_id,
            subject: self.title,
            step: step_name(&state),
            state,
            channel_id,
            started_by: started_by.to_owned(),
            one_per_pr: self.one_per_pr,
        })
    }
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    flows: Flows,
    clock: Clock,
    settings: EngineSettings,
    owner: String,
    wakers: Arc<Wakers>,
}

impl Engine {
    pub fn new(
        store: Store,
        flows: Flows,
        clock: Clock,
        settings: EngineSettings,
        wakers: Arc<Wakers>,
    ) -> Self {
        let owner = format!("engine-{}", settings.instance);
        Self {
            inner: Arc::new(Inner {
                store,
                flows,
                clock,
                settings,
                owner,
                wakers,
            }),
        }
    }

    /// Whether this engine can drive runs of `kind`.
    /// The store the engine's runs live in, for requests that read before they start one.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The engine's clock's time (a test's, or the wall clock).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// How long a claim on work lasts unless renewed (RUN_LEASE_SECONDS).
    pub fn lease(&self) -> std::time::Duration {
        self.inner.settings.lease
    }

    /// Who this process is across restarts: the owner named by its claims.
    pub fn instance(&self) -> &str {
        &self.inner.settings.instance
    }

    /// The wake-up calls of this process.
    pub fn wakers(&self) -> &Wakers {
        &self.inner.wakers
    }

    /// The flows this engine drives.
    pub fn flows(&self) -> &Flows {
        &self.inner.flows
    }

    pub fn runs(&self, kind: &RunKind) -> bool {
        self.inner.flows.knows(kind)
    }

    /// The channel a new run about `repo` posts its card in.
    pub fn channel_for(&self, repo: Option<&RepoName>) -> &str {
        let settings = &self.inner.settings;
        repo.and_then(|repo| {
            settings
                .repo_channels
                .iter()
                .find(|(name, _)| name.same_as(repo.as_str()))
        })
        .map_or(&settings.channel, |(_, channel)| channel)
    }

    /// Starts a run of flow `F` at `state`. With a delivery, a delivery already seen starts
    /// nothing and returns [`Started::Duplicate`].
    pub async fn start<F: Flow>(
        &self,
        state: F::State,
        subject: Subject,
        started_by: &str,
        dedupe: Option<&Dedupe>,
    ) -> Result<(RunId, Started), StoreError> {
        let channel_id = self.channel_for(subject.repo.as_ref()).to_owned();
        let run = subject.new_run::<F>(state, channel_id, started_by)?;
        let started = self
            .inner
            .store
            .create_run(&run, dedupe, self.inner.clock.now())
            .await?;
        if started == Started::Created {
            info!(run_id = %run.id, kind = %run.kind, subject = %run.subject, "run started");
            self.inner.wakers.engine.notify_one();
            self.inner.wakers.outbound.notify_one();
        }
        Ok((run.id, started))
    }

    /// Cancels an unfinished run that something newer replaces.
    pub async fn supersede(&self, run: RunId, reason: &str) -> Result<bool, StoreError> {
        let done = self
            .inner
            .store
            .supersede_run(run, reason, BOT_ACTOR, self.inner.clock.now())
            .await?;
        self.inner.wakers.outbound.notify_one();
        Ok(done)
    }

    /// Drives runs until `shutdown`; then lets running steps reach their checkpoint (up to the
    /// grace period) and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        // The runs our tasks drive. A claim can hand one back to us (its lease ran out while a
        // step waited for the database, say); a second task on it would do its step twice.
        let mut driving: HashMap<tokio::task::Id, RunId> = HashMap::new();
        info!(owner = %self.inner.owner, "engine started");
        loop {
            while let Some(ended) = tasks.try_join_next_with_id() {
                driving.remove(&task_ended(ended));
            }
            if shutdown.is_cancelled() {
                break;
            }
            if self.inner.store.down_since().is_some() {
                // Nothing can be claimed; the steps under way wait for the database to save.
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(250)) => continue,
                }
            }
            self.expire_approvals().await;
            let free = self.inner.settings.concurrency.saturating_sub(tasks.len());
            let claimed = if free > 0 {
                self.inner
                    .wakers
                    .acks
                    .settled(acks_first::WAIT_AT_MOST)
                    .await;
                self.claim(free).await
            } else {
                Vec::new()
            };
            let busy = !claimed.is_empty() && claimed.len() == free;
            for run in claimed {
                if driving.values().any(|id| *id == run.id) {
                    continue;
                }
                let run_id = run.id;
                let span = info_span!(
                    "run",
                    run_id = %run.id,
                    kind = %run.kind,
                    repo = run.repo.as_ref().map_or("-", RepoName::as_str),
                    pr = run.pr_id,
                    subject = %run.subject
                );
                let task = tasks.spawn(self.clone().drive(run, shutdown.clone()).instrument(span));
                driving.insert(task.id(), run_id);
            }
            if busy {
                continue;
            }
            let pause = self.idle_pause().await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.inner.wakers.engine.notified() => {}
                () = tokio::time::sleep(pause) => {}
                Some(ended) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    driving.remove(&task_ended(ended));
                }
            }
        }
        self.drain(tasks).await;
    }

    async fn drain(&self, mut tasks: JoinSet<()>) {
        let grace = self.inner.settings.shutdown_grace;
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            warn!(
                still_running = tasks.len(),
                "steps did not reach a checkpoint in time; their leases will expire"
            );
            tasks.shutdown().await;
        }
        info!(owner = %self.inner.owner, "engine stopped");
    }

    /// Claims up to `free` due runs under our lease.
    async fn claim(&self, free: usize) -> Vec<RunRecord> {
        let now = self.inner.clock.now();
        let until = now + plan::to_delta(self.inner.settings.lease);
        let limit = i64::try_from(free).unwrap_or(i64::MAX);
        self.inner
            .store
            .claim_due_runs(&self.inner.owner, now, until, limit)
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot claim runs");
                Vec::new()
            })
    }

    /// How long to sleep when there is nothing to do: until the next timer, at most `idle_poll`.
    async fn idle_pause(&self) -> Duration {
        let now = self.inner.clock.now();
        let next = self.inner.store.next_wake_at(now).await.ok().flatten();
        let until_next = next.and_then(|at| (at - now).to_std().ok());
        until_next.map_or(self.inner.settings.idle_poll, |d| {
            d.min(self.inner.settings.idle_poll)
        })
    }

    /// Expires approvals whose time is up and cancels their runs.
    async fn expire_approvals(&self) {
        let now = self.inner.clock.now();
        let due = match self.inner.store.due_expiries(now, 50).await {
            Ok(due) => due,
            Err(e) => return warn!(error = %e, "cannot look for expired approvals"),
        };
        for approval in due {
            let hours = (approval.expires_at - approval.created_at).num_hours();
            let reason =
                format!("nobody chose an option within {hours} h, so the approval expired");
            match self
                .inner
                .store
                .expire_approval(&approval, &reason, now)
                .await
            {
                Ok(true) => {
                    info!(run_id = %approval.run_id, approval = %approval.id, "approval expired; run cancelled");
                    self.inner.wakers.outbound.notify_one();
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "cannot expire an approval"),
            }
        }
    }
}

/// The id of a run task that ended, its panic (if it panicked) logged.
fn task_ended(ended: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match ended {
        Ok((id, ())) => id,
        Err(e) => {
            error!(error = %e, "a run task panicked; its lease will expire and another attempt follows");
            e.id()
        }
    }
}
