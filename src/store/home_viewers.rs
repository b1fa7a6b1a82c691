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

    /// The users who opened the Home tab since `since`.
    #[instrument(level = "debug", skip_all)]
    pub async fn home_viewers(&self, since: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT user_id FROM home_viewers WHERE opened_at >= $1 ORDER BY user_id";
        let users = on_db_read!(self, pool => sqlx::query_scalar(sql)
            .bind(since)
            .fetch_all(pool)
            .await)?;
        Ok(users)
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
