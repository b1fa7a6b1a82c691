//! Who looks at the App Home tab, and a cheap fingerprint of what it shows, so the tab can be
//! kept live for them without rendering it when nothing changed.

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::{Store, StoreError, on_db, on_db_read};

/// Everything the Home tab shows moves one of these: a run's card version (its state, its
/// approvals and votes), a new run, a staging release, a freeze.
const FINGERPRINT: &str = "SELECT \
     CAST((SELECT COALESCE(SUM(card_version), 0) FROM runs) AS BIGINT), \
     CAST((SELECT COUNT(*) FROM runs) AS BIGINT), \
     CAST((SELECT COUNT(*) FROM staging_releases) AS BIGINT), \
     (SELECT CAST(MAX(updated_at) AS TEXT) FROM staging_releases), \
     CAST((SELECT COUNT(*) FROM freezes) AS BIGINT), \
     (SELECT CAST(MAX(frozen_at) AS TEXT) FROM freezes)";

/// A viewer whose tab does not show fingerprint `$1`: never published, published at another
/// fingerprint, or claimed at it before `$2` by a replica that never said it was done.
macro_rules! due {
    () => {
        "(shown IS NULL OR shown <> $1 OR (NOT published AND shown_at < $2))"
    };
}

impl Store {
    /// Records that `user` opened the Home tab at `now`.
    #[instrument(level = "debug", skip_all)]
    pub async fn saw_home(&self, user: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let sql = "INSERT INTO home_viewers (user_id, opened_at) VALUES ($1, $2) \
                   ON CONFLICT (user_id) DO UPDATE SET opened_at = excluded.opened_at";
        on_db!(self, pool => sqlx::query(sql)
            .bind(user)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// The users who opened the Home tab since `since` and whose tab does not show
    /// `fingerprint` (see `due!`; `stale` is when an unfinished claim may be taken again).
    #[instrument(level = "debug", skip_all)]
    pub async fn home_due(
        &self,
        fingerprint: &str,
        since: DateTime<Utc>,
        stale: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let sql = concat!(
            "SELECT user_id FROM home_viewers WHERE opened_at >= $3 AND ",
            due!(),
            " ORDER BY user_id"
        );
        let users = on_db_read!(self, pool => sqlx::query_scalar(sql)
            .bind(fingerprint)
            .bind(stale)
            .bind(since)
            .fetch_all(pool)
            .await)?;
        Ok(users)
    }

    /// Claims the publish of `user`'s tab at `fingerprint`: `true` for one caller, whatever the
    /// number of replicas asking, until it says the publish was done or failed, or until its
    /// claim is older than `stale`.
    #[instrument(level = "debug", skip_all)]
    pub async fn claim_home(
        &self,
        user: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        stale: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = concat!(
            "UPDATE home_viewers SET shown = $1, shown_at = $4, published = FALSE ",
            "WHERE user_id = $3 AND ",
            due!()
        );
        let claimed = on_db!(self, pool => sqlx::query(sql)
            .bind(fingerprint)
            .bind(stale)
            .bind(user)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(claimed == 1)
    }

    /// Records that `user`'s tab was published showing `fingerprint` (`done`), or that the
    /// claimed publish failed, so that the next look, by any replica, tries again.
    #[instrument(level = "debug", skip_all)]
    pub async fn home_shown(
        &self,
        user: &str,
        fingerprint: &str,
        done: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = if done {
            "UPDATE home_viewers SET shown = $2, shown_at = $3, published = TRUE WHERE user_id = $1"
        } else {
            "UPDATE home_viewers SET shown = NULL, published = FALSE \
             WHERE user_id = $1 AND shown = $2 AND shown_at <= $3"
        };
        on_db!(self, pool => sqlx::query(sql)
            .bind(user)
            .bind(fingerprint)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// A value that changes whenever what the Home tab shows may have changed.
    #[instrument(level = "debug", skip_all)]
    pub async fn home_fingerprint(&self) -> Result<String, StoreError> {
        type Row = (i64, i64, i64, Option<String>, i64, Option<String>);
        let row: Row = on_db_read!(self, pool => sqlx::query_as(FINGERPRINT)
            .fetch_one(pool)
            .await)?;
        Ok(format!("{row:?}"))
    }
}
