//! Whether the database answers, and since when it has not. A server that restarts or fails over
//! refuses connections for a while, and the pool waits its whole acquire timeout (10 s) before
//! each call fails: longer than Slack gives an ack. So one task pings the database every second
//! ([`Store::watch_availability`]) and the front door asks [`Store::down_since`] before it tries
//! to save, answering at once that the bot will have to be asked again. `/status` shows it too.
//! Only the pings decide: a call that waited through the outage may fail after the database is
//! back, and must not make it look down again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Store, StoreError};

/// How often the database is pinged, and how long a ping may take before it counts as down.
const EVERY: Duration = Duration::from_secs(1);
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// When the database stopped answering (wall time), while it does not.
#[derive(Debug, Default)]
pub(super) struct Outage {
    state: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    since: Option<DateTime<Utc>>,
    /// When the ping that decided `since` began: an older ping (one that waited out its
    /// timeout while a newer one got through) does not overrule it.
    by: Option<Instant>,
}

impl Outage {
    /// Notes what a ping begun at `began` came to; returns whether this changed the state.
    fn saw(&self, reachable: bool, began: Instant) -> Option<Change> {
        let mut seen = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.by.is_some_and(|by| by > began) {
            return None;
        }
        seen.by = Some(began);
        let since = &mut seen.since;
        match (*since, reachable) {
            (None, false) => {
                *since = Some(Utc::now());
                Some(Change::Down)
            }
            (Some(at), true) => {
                *since = None;
                Some(Change::Back(at))
            }
            _ => None,
        }
    }

    fn since(&self) -> Option<DateTime<Utc>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .since
    }
}

enum Change {
    Down,
    Back(DateTime<Utc>),
}

impl StoreError {
    /// Whether the database could not be reached (refused, cut, shutting down or starting up,
    /// out of connections), as opposed to refusing what was asked. Such a call can be tried
    /// again once the database is back.
    pub fn is_unreachable(&self) -> bool {
        let StoreError::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // Class 08 is a connection exception; 57P01–57P03 are an administrator's shutdown,
            // a crash shutdown and "cannot connect now" (starting up, or in recovery).
            sqlx::Error::Database(e) => e
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        }
    }
}

impl Store {
    /// A cheap round trip, for health checks; notes whether the database answered.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let began = Instant::now();
        let result = match tokio::time::timeout(PING_TIMEOUT, self.select_one()).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        };
        // Any failure counts, a missing database too: whatever it is, nothing can be saved.
        self.note(result.is_ok(), began);
        result
    }

    /// Since when the database has not answered, as last seen; `None` while it answers.
    pub fn down_since(&self) -> Option<DateTime<Utc>> {
        self.outage.since()
    }

    /// Pings the database every second until `shutdown`, so an outage is known (and logged
    /// once, with its length when it ends) without anyone waiting on a call to find out.
    pub async fn watch_availability(&self, shutdown: CancellationToken) {
        loop {
            let _ = self.ping().await;
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    }

    /// Runs `write`; while the database cannot be reached (a restart, a failover) waits for it
    /// and tries again, for as long as that takes or until `stop` fires. For writes whose loss
    /// would make work be done again: a step's outcome, an effect's result. A write that went
    /// through before its connection broke is tried again too, so it must be fenced (a
    /// checkpoint on its sequence number) or idempotent.
    pub async fn saved<T, W, F>(&self, stop: &CancellationToken, write: W) -> Result<T, StoreError>
    where
        W: Fn() -> F,
        F: Future<Output = Result<T, StoreError>>,
    {
        loop {
            while self.down_since().is_some() && !stop.is_cancelled() {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(EVERY / 4) => {}
                }
            }
            match write().await {
                Err(e) if e.is_unreachable() && !stop.is_cancelled() => {
                    warn!(error = %e, "cannot save; trying again once the database is back");
                    tokio::time::sleep(EVERY / 4).await;
                }
                other => return other,
            }
        }
    }

    fn note(&self, reachable: bool, began: Instant) {
        match self.outage.saw(reachable, began) {
            Some(Change::Down) => warn!(
                "the database does not answer; requests are refused and runs wait until it is back"
            ),
            Some(Change::Back(since)) => {
                let seconds = (Utc::now() - since).num_seconds();
                info!(
                    down_for_s = seconds,
                    "the database answers again; runs go on"
                );
            }
            None => {}
        }
    }
}
