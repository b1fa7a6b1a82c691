//! Deliveries: the dedupe key of everything that reaches us from outside (Slack envelopes,
//! webhooks, poller finds), and the intent still to be carried out, if any. A key is inserted
//! before the delivery is acknowledged; a second delivery with the same key changes nothing.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;

use super::{Store, StoreError, on_db, on_db_read};

#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub key: String,
    pub source: String,
    pub intent: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct DeliveryRecord {
    pub key: String,
    pub source: String,
    pub intent: Option<Json<Value>>,
    pub received_at: DateTime<Utc>,
}

/// Inserts `$delivery` unless its key is known; `rows_affected() == 1` means it is new.
macro_rules! insert_delivery {
    ($exec:expr, $delivery:expr, $now:expr, $processed_at:expr) => {
        sqlx::query(
            "INSERT INTO deliveries (key, source, intent, received_at, processed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&$delivery.key)
        .bind(&$delivery.source)
        .bind($delivery.intent.as_ref().map(sqlx::types::Json))
        .bind($now)
        .bind($processed_at)
        .execute($exec)
        .await
        .map(|done| done.rows_affected())
    };
}

/// Marks delivery `$key` processed unless it already is; `rows_affected() == 1` means this
/// caller won and must carry the intent out.
macro_rules! claim_delivery {
    ($exec:expr, $key:expr, $now:expr) => {
        sqlx::query(
            "UPDATE deliveries SET processed_at = $2 WHERE key = $1 AND processed_at IS NULL",
        )
        .bind($key)
        .bind($now)
        .execute($exec)
        .await
        .map(|done| done.rows_affected())
    };
}
pub(crate) use claim_delivery;

impl Store {
    /// Records a delivery whose intent is carried out later. `false`: a duplicate, ignore it.
    pub async fn insert_delivery(
        &self,
        delivery: &NewDelivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done =
            on_db!(self, pool => insert_delivery!(pool, delivery, now, None::<DateTime<Utc>>))?;
        Ok(done == 1)
    }

    /// Records a key that needs no further work, so a later delivery with it is a duplicate.
    pub async fn remember_delivery(
        &self,
        delivery: &NewDelivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = on_db!(self, pool => insert_delivery!(pool, delivery, now, Some(now)))?;
        Ok(done == 1)
    }

    /// Forgets a key recorded with [`remember_delivery`](Self::remember_delivery), so a later
    /// delivery with it counts again.
    pub async fn forget_delivery(&self, key: &str) -> Result<(), StoreError> {
        on_db!(self, pool => sqlx::query("DELETE FROM deliveries WHERE key = $1").bind(key).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }

    /// Deliveries whose intent is not carried out yet, oldest first.
    pub async fn pending_deliveries(&self, limit: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = "SELECT key, source, intent, received_at FROM deliveries \
                   WHERE processed_at IS NULL ORDER BY received_at, key LIMIT $1";
        let rows =
            on_db_read!(self, pool => sqlx::query_as(sql).bind(limit).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Marks a delivery done without further effect (for intents that turned out void).
    pub async fn finish_delivery(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = on_db!(self, pool => claim_delivery!(pool, key, now))?;
        Ok(done == 1)
    }
}
