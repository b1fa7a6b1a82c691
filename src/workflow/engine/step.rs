//! Running one claimed run: its steps one at a time under a renewed lease, each result
//! checkpointed (or retried, or failed) as [`plan`](super::plan) says.

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::{Engine, plan};
use crate::domain::RunId;
use crate::store::{RunRecord, StoreError};
use crate::workflow::ApprovalRequest;
use crate::workflow::flow::{StepContext, Transition};
use crate::workflow::step_error::StepError;

impl Engine {
    /// Executes a claimed run's steps until it waits, sleeps or finishes. On shutdown it stops
    /// between two steps and gives the lease back, so another replica can go on at once.
    pub(super) async fn drive(self, mut run: RunRecord, shutdown: CancellationToken) {
        while let Some(next) = self.execute_step(&run, &shutdown).await {
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
    async fn execute_step(
        &self,
        run: &RunRecord,
        shutdown: &CancellationToken,
    ) -> Option<RunRecord> {
        let Some(flow) = self.inner.flows.get(&run.kind).cloned() else {
            let reason = format!(
                "this release-agent does not know runs of kind `{}`",
                run.kind
            );
            self.fail(run, &reason, None, shutdown).await;
            return None;
        };
        if run.seq >= self.inner.settings.max_steps {
            let reason = format!("stopped after {} steps without finishing; a loop?", run.seq);
            self.fail(run, &reason, None, shutdown).await;
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
            Ok(transition) => self.commit(run, transition, shutdown).await,
            Err(StepError::Permanent(reason)) => {
                let retry = flow.retry_on_error(&run.state);
                self.fail(run, &reason, retry, shutdown).await;
                None
            }
            Err(StepError::Transient {
                reason,
                retry_after,
            }) => {
                let given_up = || flow.retry_on_error(&run.state);
                self.retry(run, &reason, retry_after, given_up, shutdown)
                    .await;
                None
            }
        }
    }

    /// Awaits `step` while renewing the run's lease every third of its length. The renewal
    /// runs beside the step, so a database that does not answer never holds the step up; while
    /// it is known to be down there is nothing to renew against.
    async fn with_lease<T>(&self, run: RunId, step: impl Future<Output = T>) -> T {
        let period = self.inner.settings.lease / 3;
        let store = &self.inner.store;
        let renewing = async {
            loop {
                tokio::time::sleep(period).await;
                if store.down_since().is_some() {
                    continue;
                }
                let until = self.inner.clock.now() + plan::to_delta(self.inner.settings.lease);
                match store.renew_lease(run, &self.inner.owner, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        warn!("lease lost while the step runs; its result will be discarded")
                    }
                    Err(e) => warn!(error = %e, "cannot renew the lease"),
                }
            }
        };
        tokio::select! {
            result = step => result,
            never = renewing => never,
        }
    }

    async fn commit(
        &self,
        run: &RunRecord,
        transition: Transition<Value>,
        shutdown: &CancellationToken,
    ) -> Option<RunRecord> {
        let now = self.inner.clock.now();
        if let Some(after) = plan::unchanged_wait(run, &transition) {
            // A recheck that found nothing new: sleep again, with no audit entry and no card
            // update.
            let wake = now + plan::to_delta(after);
            let store = &self.inner.store;
            let rearm = || store.rearm(run.id, &self.inner.owner, run.seq, wake);
            if let Err(e) = self.inner.store.saved(shutdown, rearm).await {
                warn!(error = %e, "cannot re-arm the wait; the lease will expire instead");
            }
            return None;
        }
        let checkpoint = plan::checkpoint(
            run,
            transition,
            &self.inner.owner,
            now,
            &self.inner.settings,
        );
        let continues = checkpoint.lease_until.is_some();
        let status = checkpoint.status;
        let store = &self.inner.store;
        let next = match self
            .inner
            .store
            .saved(shutdown, || store.checkpoint(&checkpoint, now))
            .await
        {
            Ok(next) => next,
            Err(StoreError::Conflict(e)) => {
                warn!(error = %e, "checkpoint refused; another engine owns the run now");
                return None;
            }
            Err(e) => {
                error!(error = %e, "cannot checkpoint; the step will run again when the lease expires");
                return None;
            }
        };
        info!(step = %checkpoint.step, %status, "checkpoint");
        self.inner.wakers.outbound.notify_one();
        // The checkpoint answers with the run as it now is, under our lease when it goes on.
        continues.then_some(next)
    }

    async fn retry(
        &self,
        run: &RunRecord,
        reason: &str,
        retry_after: Option<Duration>,
        given_up: impl FnOnce() -> Option<ApprovalRequest>,
        shutdown: &CancellationToken,
    ) {
        let attempts = run.attempts + 1;
        if attempts >= self.inner.settings.max_attempts {
            let reason = format!("{reason} (gave up after {attempts} attempts)");
            self.fail(run, &reason, given_up(), shutdown).await;
            return;
        }
        let delay =
            plan::backoff(&self.inner.settings, attempts).max(retry_after.unwrap_or_default());
        let now = self.inner.clock.now();
        warn!(attempt = attempts, delay_ms = delay.as_millis() as u64, %reason, "step failed; retrying later");
        let wake = now + plan::to_delta(delay);
        let (store, owner) = (&self.inner.store, &self.inner.owner);
        let schedule = || store.schedule_retry(run.id, owner, run.seq, attempts, wake, reason, now);
        match self.inner.store.saved(shutdown, schedule).await {
            Ok(()) => self.inner.wakers.outbound.notify_one(),
            Err(e) => warn!(error = %e, "cannot schedule the retry; the lease will expire instead"),
        }
    }

    /// Fails the run, keeping its state, with `reason` and the flow's `retry` on its card.
    async fn fail(
        &self,
        run: &RunRecord,
        reason: &str,
        retry: Option<ApprovalRequest>,
        shutdown: &CancellationToken,
    ) {
        error!(%reason, "run failed");
        let now = self.inner.clock.now();
        let settings = &self.inner.settings;
        let checkpoint = plan::failure(run, &self.inner.owner, reason, retry, now, settings);
        let store = &self.inner.store;
        match self
            .inner
            .store
            .saved(shutdown, || store.checkpoint(&checkpoint, now))
            .await
        {
            Ok(_) => self.inner.wakers.outbound.notify_one(),
            Err(e) => warn!(error = %e, "cannot record the failure"),
        }
    }
}
