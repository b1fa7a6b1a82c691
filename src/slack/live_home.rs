//! A live App Home. Users who opened the tab in the last 7 days get it published again when
//! what it shows changes: runs and their approvals, staging releases, freezes. The change is
//! read from the database, so one made through another replica counts too; it is looked for
//! every few seconds, so a burst of changes costs one publish per viewer.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::home::HomeTab;
use crate::clock::Clock;
use crate::store::Store;

/// How far back a visit keeps the tab live.
const VIEWERS_FOR: TimeDelta = TimeDelta::days(7);

/// Publishes the Home tab to its recent viewers whenever its fingerprint moves, looking every
/// `every`. A failed publish leaves the fingerprint unseen, so the next look tries again.
pub async fn refresh_until_stopped(
    home: Arc<HomeTab>,
    store: Store,
    clock: Clock,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut shown: Option<String> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let fingerprint = match store.home_fingerprint().await {
            Ok(f) => f,
            Err(e) => {
                warn!(error = %e, "cannot tell whether the Home tab changed");
                continue;
            }
        };
        if shown.as_ref() == Some(&fingerprint) {
            continue;
        }
        let viewers = match store.home_viewers(clock.now() - VIEWERS_FOR).await {
            Ok(users) => users,
            Err(e) => {
                warn!(error = %e, "cannot read who looks at the Home tab");
                continue;
            }
        };
        let mut published = true;
        for user in &viewers {
            if let Err(e) = home.publish(user).await {
                warn!(user, error = %e, "cannot publish the Home tab; trying again");
                published = false;
            }
        }
        if published {
            shown = Some(fingerprint);
        }
    }
}
