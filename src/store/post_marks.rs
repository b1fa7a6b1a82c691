//! Marks of Slack posts begun. Slack has no idempotency key for bots, so a crash between
//! `chat.postMessage` and recording its `ts` would post the message again. The sender marks a
//! post before its first try; a mark already there tells it to look for the message first.

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::{Store, StoreError, on_db};

impl Store {
    /// Marks `key` as being posted from `now` on. Returns when an earlier try began, if one
    /// did: that try may have reached Slack.
    #[instrument(level = "debug", skip_all, fields(key))]
    pub async fn mark_post(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let insert = "INSERT INTO post_marks (key, since) VALUES ($1, $2) \
                      ON CONFLICT (key) DO NOTHING";
        let inserted = on_db!(self, pool => sqlx::query(insert)
            .bind(key)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        if inserted == 1 {
            return Ok(None);
        }
        let select = "SELECT since FROM post_marks WHERE key = $1";
        let since = on_db!(self, pool => sqlx::query_scalar(select)
            .bind(key)
            .fetch_one(pool)
            .await)?;
        Ok(Some(since))
    }

    /// Deletes marks begun before `before`: their posts were recorded or given up long ago.
    #[instrument(level = "debug", skip_all)]
    pub async fn prune_post_marks(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "DELETE FROM post_marks WHERE since < $1";
        let deleted = on_db!(self, pool => sqlx::query(sql)
            .bind(before)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(deleted)
    }
}
