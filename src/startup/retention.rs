//! Deliveries are kept DELIVERY_RETENTION_DAYS after they were handled, then deleted, at start
//! and every hour; so are the marks of Slack posts begun (`store::post_marks`). Nothing is lost: a redelivery that old is a new request, and a commit
//! reviewed already is not reviewed again (its review is kept apart, with the audit log).

use std::time::Duration;

use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::store::Store;

const EVERY: Duration = Duration::from_secs(3600);

pub async fn prune_until_stopped(
    store: Store,
    clock: Clock,
    keep: TimeDelta,
    shutdown: CancellationToken,
) {
    loop {
        match store.prune_deliveries(clock.now() - keep).await {
            Ok(0) => {}
            Ok(deleted) => info!(deleted, "old deliveries deleted (DELIVERY_RETENTION_DAYS)"),
            Err(e) => warn!(error = %e, "cannot delete old deliveries; trying again in an hour"),
        }
        if let Err(e) = store.prune_post_marks(clock.now() - keep).await {
            warn!(error = %e, "cannot delete old post marks; trying again in an hour");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
