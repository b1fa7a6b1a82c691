//! A live App Home. Users who opened the tab in the last 7 days get it published again when
//! what it shows changes: runs and their approvals, staging releases, freezes. The change is
//! read from the database, so one made through another replica counts too; it is looked for
//! every few seconds, so a burst of changes costs one publish per viewer, and each publish is
//! claimed in the database, so several replicas make it once.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::home::HomeTab;
use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// How far back a visit keeps the tab live.
const VIEWERS_FOR: TimeDelta = TimeDelta::days(7);

/// How long a replica's claim to publish a viewer's tab holds without its saying it was done.
const CLAIM_FOR: TimeDelta = TimeDelta::seconds(60);

/// Publishes the Home tab, looking every `every`, to each recent viewer whose tab does not show
/// what is there now. Each publish is claimed in the database first, so with several replicas
/// one publishes it; a failed publish gives its claim back, and one whose replica died is taken
/// again after [`CLAIM_FOR`].
pub async fn refresh_until_stopped(
    home: Arc<HomeTab>,
    store: Store,
    clock: Clock,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        if let Err(e) = refresh(&home, &store, &clock).await {
            warn!(error = %e, "cannot tell who needs the Home tab again; trying again");
        }
    }
}

/// One look: publishes to each viewer whose tab is behind and whose publish this replica claims.
async fn refresh(home: &HomeTab, store: &Store, clock: &Clock) -> Result<(), StoreError> {
    let fingerprint = store.home_fingerprint().await?;
    let now = clock.now();
    let stale = now - CLAIM_FOR;
    for user in store
        .home_due(&fingerprint, now - VIEWERS_FOR, stale)
        .await?
    {
        if !store.claim_home(&user, &fingerprint, now, stale).await? {
            continue;
        }
        let done = match home.publish(&user).await {
            Ok(()) => true,
            Err(e) => {
                warn!(user, error = %e, "cannot publish the Home tab; trying again");
                false
            }
        };
        store.home_shown(&user, &fingerprint, done, now).await?;
    }
    Ok(())
}
