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

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::acks_first::{self, AcksInFlight};
use super::flow::{Flow, Flows, Next, StepContext, Transition, step_name};
use super::step_error::StepError;
use crate::BOT_ACTOR;
use crate::clock::Clock;
use crate::domain::{ApprovalId, RepoName, RunId, RunKind, RunStatus};
use crate::store::{
    AuditEntry, Checkpoint, Dedupe, NewApproval, NewRun, RunRecord, Store, StoreError,
};

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
        }
    }
}

/// Wake-up calls between the parts of one process. Other replicas are reached by polling.
#[derive(Debug, Default)]
pub struct Wakers {
    pub engine: Notify,
    pub intake: Notify,
    pub outbound: Notify,
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
        let owner = format!("engine-{}", uuid::Uuid::new_v4());
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
        let state = serde_json::to_value(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let channel_id = self.channel_for(subject.repo.as_ref()).to_owned();
        let run = NewRun {
            id: RunId::new(),
            kind: F::KIND,
            repo: subject.repo,
            pr_id: subject.pr_id,
            subject: subject.title,
            step: step_name(&state),
            state,
            channel_id,
            started_by: started_by.to_owned(),
            one_per_pr: subject.one_per_pr,
        };
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
        info!(owner = %self.inner.owner, "engine started");
        loop {
            while let Some(ended) = tasks.try_join_next() {
                if let Err(e) = ended {
                    error!(error = %e, "a run task panicked; its lease will expire and another attempt follows");
                }
            }
            if shutdown.is_cancelled() {
                break;
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
                let span = info_span!(
                    "run",
                    run_id = %run.id,
                    kind = %run.kind,
                    repo = run.repo.as_ref().map_or("-", RepoName::as_str),
                    pr = run.pr_id,
                    subject = %run.subject
                );
                tasks.spawn(self.clone().drive(run, shutdown.clone()).instrument(span));
            }
            if busy {
                continue;
            }
            let pause = self.idle_pause().await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.inner.wakers.engine.notified() => {}
                () = tokio::time::sleep(pause) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
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
        let until = now + to_delta(self.inner.settings.lease);
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

    /// Executes a claimed run's steps until it waits, sleeps or finishes. On shutdown it stops
    /// between two steps and gives the lease back, so another replica can go on at once.
    async fn drive(self, mut run: RunRecord, shutdown: CancellationToken) {
        while let Some(next) = self.execute_step(&run).await {
            if shutdown.is_cancelled() {
                if let Err(e) = self
                    .inner
                    .store
                    .release_lease(next.id, &self.inner.owner)
                    .await
                {
                    warn!(error = %e, "cannot release the lease; it will expire");
                }
                return;
            }
            run = next;
        }
    }

    /// Runs one step and records its result. Returns the run to continue with, if it continues
    /// at once under our lease.
    async fn execute_step(&self, run: &RunRecord) -> Option<RunRecord> {
        let Some(flow) = self.inner.flows.get(&run.kind).cloned() else {
            let reason = format!(
                "this release-agent does not know runs of kind `{}`",
                run.kind
            );
            self.fail(run, &reason).await;
            return None;
        };
        if run.seq >= self.inner.settings.max_steps {
            let reason = format!("stopped after {} steps without finishing; a loop?", run.seq);
            self.fail(run, &reason).await;
            return None;
        }
        let now = self.inner.clock.now();
        let ctx = StepContext {
            run,
            store: &self.inner.store,
            now,
        };
        debug!(step = %run.step, seq = run.seq, "step begins");
        let result = self
            .with_lease(run.id, flow.step(&ctx, run.state.clone()))
            .await;
        match result {
            Ok(transition) => self.commit(run, transition).await,
            Err(StepError::Permanent(reason)) => {
                self.fail(run, &reason).await;
                None
            }
            Err(StepError::Transient {
                reason,
                retry_after,
            }) => {
                self.retry(run, &reason, retry_after).await;
                None
            }
        }
    }

    /// Awaits `step` while renewing the run's lease every third of its length.
    async fn with_lease<T>(&self, run: RunId, step: impl Future<Output = T>) -> T {
        let period = self.inner.settings.lease / 3;
        tokio::pin!(step);
        loop {
            tokio::select! {
                result = &mut step => return result,
                () = tokio::time::sleep(period) => {
                    let until = self.inner.clock.now() + to_delta(self.inner.settings.lease);
                    match self.inner.store.renew_lease(run, &self.inner.owner, until).await {
                        Ok(true) => {}
                        Ok(false) => warn!("lease lost while the step runs; its result will be discarded"),
                        Err(e) => warn!(error = %e, "cannot renew the lease"),
                    }
                }
            }
        }
    }

    async fn commit(&self, run: &RunRecord, transition: Transition<Value>) -> Option<RunRecord> {
        let now = self.inner.clock.now();
        if let Some(after) = unchanged_wait(run, &transition) {
            // A recheck that found nothing new: sleep again, with no audit entry and no card
            // update.
            let wake = now + to_delta(after);
            if let Err(e) = self
                .inner
                .store
                .rearm(run.id, &self.inner.owner, run.seq, wake)
                .await
            {
                warn!(error = %e, "cannot re-arm the wait; the lease will expire instead");
            }
            return None;
        }
        let checkpoint = plan_checkpoint(
            run,
            transition,
            &self.inner.owner,
            now,
            &self.inner.settings,
        );
        let continues = checkpoint.lease_until.is_some();
        let status = checkpoint.status;
        match self.inner.store.checkpoint(&checkpoint, now).await {
            Ok(()) => {}
            Err(StoreError::Conflict(e)) => {
                warn!(error = %e, "checkpoint refused; another engine owns the run now");
                return None;
            }
            Err(e) => {
                error!(error = %e, "cannot checkpoint; the step will run again when the lease expires");
                return None;
            }
        }
        info!(step = %checkpoint.step, %status, "checkpoint");
        self.inner.wakers.outbound.notify_one();
        if !continues {
            return None;
        }
        match self.inner.store.get_run(run.id).await {
            Ok(Some(next)) if next.lease_owner.as_deref() == Some(self.inner.owner.as_str()) => {
                Some(next)
            }
            Ok(_) => None,
            Err(e) => {
                warn!(error = %e, "cannot reload the run; it continues when its lease expires");
                None
            }
        }
    }

    async fn retry(&self, run: &RunRecord, reason: &str, retry_after: Option<Duration>) {
        let attempts = run.attempts + 1;
        if attempts >= self.inner.settings.max_attempts {
            let reason = format!("{reason} (gave up after {attempts} attempts)");
            self.fail(run, &reason).await;
            return;
        }
        let delay = backoff(&self.inner.settings, attempts).max(retry_after.unwrap_or_default());
        let now = self.inner.clock.now();
        warn!(attempt = attempts, delay_ms = delay.as_millis() as u64, %reason, "step failed; retrying later");
        let wake = now + to_delta(delay);
        match self
            .inner
            .store
            .schedule_retry(
                run.id,
                &self.inner.owner,
                run.seq,
                attempts,
                wake,
                reason,
                now,
            )
            .await
        {
            Ok(()) => self.inner.wakers.outbound.notify_one(),
            Err(e) => warn!(error = %e, "cannot schedule the retry; the lease will expire instead"),
        }
    }

    /// Fails the run for good, keeping its state, with `reason` on its card.
    async fn fail(&self, run: &RunRecord, reason: &str) {
        error!(%reason, "run failed");
        let now = self.inner.clock.now();
        let checkpoint = Checkpoint {
            run_id: run.id,
            owner: self.inner.owner.clone(),
            seq: run.seq,
            step: run.step.clone(),
            state: run.state.clone(),
            status: RunStatus::Failed,
            wake_at: None,
            attempts: run.attempts,
            polls: run.polls,
            outcome: Some(reason.to_owned()),
            lease_until: None,
            approval: None,
            replies: Vec::new(),
            audit: AuditEntry::new(Some(run.id), BOT_ACTOR, "failed", reason),
            had_decision: run.decision.is_some(),
        };
        match self.inner.store.checkpoint(&checkpoint, now).await {
            Ok(()) => self.inner.wakers.outbound.notify_one(),
            Err(e) => warn!(error = %e, "cannot record the failure"),
        }
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

/// The recheck interval when a waiting run's recheck asks the same again with the same state.
fn unchanged_wait(run: &RunRecord, transition: &Transition<Value>) -> Option<Duration> {
    match &transition.next {
        Next::Wait {
            recheck: Some(after),
            ..
        } if run.status == RunStatus::Waiting
            && run.decision.is_none()
            && transition.state == run.state
            && transition.replies.is_empty() =>
        {
            Some(*after)
        }
        _ => None,
    }
}

/// The checkpoint a transition leads to. Pure: the engine's bookkeeping (attempts, polls, caps,
/// wake-up times, approval expiry) in one place.
pub(crate) fn plan_checkpoint(
    run: &RunRecord,
    transition: Transition<Value>,
    owner: &str,
    now: DateTime<Utc>,
    settings: &EngineSettings,
) -> Checkpoint {
    let step = step_name(&transition.state);
    let same_step = step == run.step;
    let mut outcome = None;
    let mut approval = None;
    let mut wake_at = None;
    let mut polls = 0;
    let status = match transition.next {
        Next::Continue => RunStatus::Running,
        Next::Poll { after, max_polls } => {
            polls = if same_step { run.polls + 1 } else { 1 };
            if polls > i64::from(max_polls) {
                outcome = Some(format!(
                    "gave up: still waiting in {step} after {max_polls} checks"
                ));
                RunStatus::Failed
            } else {
                wake_at = Some(now + to_delta(after));
                RunStatus::Running
            }
        }
        Next::Wait { request, recheck } => {
            approval = Some(new_approval(request, now, settings));
            wake_at = recheck.map(|after| now + to_delta(after));
            RunStatus::Waiting
        }
        Next::Done => RunStatus::Done,
        Next::Cancel(reason) => {
            outcome = Some(reason);
            RunStatus::Cancelled
        }
        Next::Fail { reason, retry } => {
            outcome = Some(reason);
            approval = retry.map(|request| new_approval(request, now, settings));
            RunStatus::Failed
        }
    };
    let detail = match &transition.note {
        Some(note) => format!("{} → {step}: {note}", run.step),
        None => format!("{} → {step}", run.step),
    };
    Checkpoint {
        run_id: run.id,
        owner: owner.to_owned(),
        seq: run.seq,
        step,
        state: transition.state,
        status,
        wake_at,
        attempts: 0,
        polls,
        outcome,
        lease_until: (status == RunStatus::Running && wake_at.is_none())
            .then(|| now + to_delta(settings.lease)),
        approval,
        replies: transition.replies,
        audit: AuditEntry::new(Some(run.id), BOT_ACTOR, "step", detail),
        had_decision: run.decision.is_some(),
    }
}

fn new_approval(
    request: super::flow::ApprovalRequest,
    now: DateTime<Utc>,
    settings: &EngineSettings,
) -> NewApproval {
    NewApproval {
        id: ApprovalId::new(),
        point: request.point,
        prompt: request.prompt,
        options: request.options,
        expires_at: now + settings.approval_timeout,
    }
}

/// Exponential backoff from `backoff_base`, doubled per attempt, capped at `backoff_cap`, with up
/// to a quarter of jitter so replicas do not retry in lockstep.
pub(crate) fn backoff(settings: &EngineSettings, attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    let raw = settings
        .backoff_base
        .saturating_mul(1 << exponent)
        .min(settings.backoff_cap);
    let jitter = raw.mul_f64(rand::random::<f64>() / 4.0);
    (raw + jitter).min(settings.backoff_cap)
}

fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApprovalOption, OptionName, OptionStyle};
    use crate::workflow::flow::ApprovalRequest;
    use serde_json::json;

    fn settings() -> EngineSettings {
        EngineSettings::new("C1", TimeDelta::hours(168))
    }

    fn run_at(step: &str, polls: i64) -> RunRecord {
        let now = Utc::now();
        RunRecord {
            id: RunId::new(),
            kind: "k".into(),
            repo: None,
            pr_id: None,
            subject: "s".into(),
            step: step.into(),
            state: json!({"step": step}),
            status: RunStatus::Running,
            seq: 3,
            attempts: 2,
            polls,
            wake_at: None,
            lease_owner: Some("me".into()),
            lease_until: None,
            decision: None,
            outcome: None,
            channel_id: "C1".into(),
            card_ts: None,
            card_version: 1,
            card_synced: 0,
            started_by: "U1".into(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn continuing_keeps_the_lease_and_resets_counters() {
        let now = Utc::now();
        let cp = plan_checkpoint(
            &run_at("a", 4),
            Transition::go(json!({"step": "b"})),
            "me",
            now,
            &settings(),
        );
        assert_eq!(
            (cp.step.as_str(), cp.status, cp.lease_until),
            ("b", RunStatus::Running, Some(now + TimeDelta::seconds(30)))
        );
        assert_eq!((cp.attempts, cp.polls, cp.seq), (0, 0, 3));
        assert_eq!(cp.audit.detail, "a → b");
    }

    #[test]
    fn polling_counts_repeats_of_one_step_and_gives_up_past_the_cap() {
        let now = Utc::now();
        let poll = |run: &RunRecord| {
            let t = Transition::poll(json!({"step": "ci"}), Duration::from_secs(30), 3);
            plan_checkpoint(run, t, "me", now, &settings())
        };
        let first = poll(&run_at("merge", 7));
        assert_eq!(
            (first.polls, first.status, first.lease_until),
            (1, RunStatus::Running, None)
        );
        assert_eq!(first.wake_at, Some(now + TimeDelta::seconds(30)));
        let third = poll(&run_at("ci", 2));
        assert_eq!(third.status, RunStatus::Running);
        let fourth = poll(&run_at("ci", 3));
        assert_eq!(fourth.status, RunStatus::Failed);
        assert!(fourth.outcome.unwrap().contains("after 3 checks"));
    }

    #[test]
    fn waiting_creates_an_approval_that_expires_after_the_timeout() {
        let now = Utc::now();
        let request = ApprovalRequest {
            point: "merge".into(),
            prompt: "Merge?".into(),
            options: vec![ApprovalOption {
                name: OptionName::parse("merge").unwrap(),
                label: "Merge".into(),
                style: OptionStyle::Primary,
            }],
        };
        let cp = plan_checkpoint(
            &run_at("review", 0),
            Transition::wait(json!({"step": "ask"}), request),
            "me",
            now,
            &settings(),
        );
        assert_eq!(cp.status, RunStatus::Waiting);
        assert_eq!(cp.lease_until, None);
        assert_eq!(cp.approval.unwrap().expires_at, now + TimeDelta::hours(168));
    }

    #[test]
    fn cancelling_records_the_reason() {
        let cp = plan_checkpoint(
            &run_at("a", 0),
            Transition::cancel(json!("x"), "user said no"),
            "me",
            Utc::now(),
            &settings(),
        );
        assert_eq!(
            (cp.status, cp.outcome.as_deref()),
            (RunStatus::Cancelled, Some("user said no"))
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = settings();
        let first = backoff(&s, 1);
        assert!(
            first >= Duration::from_secs(2) && first <= Duration::from_millis(2500),
            "{first:?}"
        );
        let third = backoff(&s, 3);
        assert!(
            third >= Duration::from_secs(8) && third <= Duration::from_secs(10),
            "{third:?}"
        );
        assert_eq!(backoff(&s, 40), Duration::from_secs(300));
    }
}
