//! Deliveries: the dedupe key of everything that reaches us from outside (Slack envelopes,
//! webhooks, poller finds), and the intent still to be carried out, if any. A key is inserted
//! before the delivery is acknowledged; a second delivery with the same key changes nothing.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};

use super::audit::insert_audit;
use super::group_commit::{Batch, GroupCommit, Outcomes};
use super::outbox::insert_outbox;
use super::{AuditEntry, BeginWrite, OutboxItem, Store, StoreError, on_db, on_db_read};

/// Deliveries recorded before their ack, written together when they arrive together.
pub(crate) type Arrivals = GroupCommit<Arrival>;

#[derive(Debug)]
pub(crate) struct Arrival {
    delivery: NewDelivery,
    now: DateTime<Utc>,
}

impl Batch for Arrival {
    type Outcome = bool;

    fn write(store: &Store, batch: &[Self]) -> impl Future<Output = Outcomes<bool>> + Send {
        store.insert_arrivals(batch)
    }
}

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
        let arrival = Arrival {
            delivery: delivery.clone(),
            now,
        };
        self.arrivals.submit(self, arrival).await
    }

    /// Inserts `batch` in one statement. Of two arrivals with one key, the first counts.
    async fn insert_arrivals(&self, batch: &[Arrival]) -> Outcomes<bool> {
        let mut fresh: HashSet<String> = on_db!(self, pool => {
            let mut query = QueryBuilder::new(
                "INSERT INTO deliveries (key, source, intent, received_at, processed_at) ",
            );
            query.push_values(batch, |mut row, arrival| {
                let delivery = &arrival.delivery;
                row.push_bind(&delivery.key)
                    .push_bind(&delivery.source)
                    .push_bind(delivery.intent.as_ref().map(Json))
                    .push_bind(arrival.now)
                    .push_bind(None::<DateTime<Utc>>);
            });
            query.push(" ON CONFLICT (key) DO NOTHING RETURNING key");
            // One statement is its own transaction: no BEGIN and COMMIT round trips to
            // SQLite's worker thread, which under a burst wait for a CPU each.
            let keys: Vec<String> = query.build_query_scalar().fetch_all(pool).await?;
            keys.into_iter().collect()
        });
        Ok(batch
            .iter()
            .map(|arrival| Ok(fresh.remove(&arrival.delivery.key)))
            .collect())
    }

    /// Records a key that needs no further work, so a later delivery with it is a duplicate.
    pub async fn remember_delivery(
        &self,
        delivery: &NewDelivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO deliveries (key, source, intent, received_at, processed_at) \
                   VALUES ($1, $2, $3, $4, $4) ON CONFLICT (key) DO NOTHING";
        let done = on_db!(self, pool => sqlx::query(sql)
            .bind(&delivery.key)
            .bind(&delivery.source)
            .bind(delivery.intent.as_ref().map(Json))
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
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

    /// Records a delivery that changes nothing (a click that does not count, a request for a run
    /// already under way): marks it handled, writes the audit entry and queues the explanation
    /// for the user. `false`: the delivery was already handled.
    pub async fn refuse_delivery(
        &self,
        delivery_key: Option<&str>,
        audit: &AuditEntry,
        note: Option<&OutboxItem>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(key) = delivery_key
                && claim_delivery!(&mut *tx, key, now)? == 0
            {
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit, now)?;
            if let Some(note) = note {
                insert_outbox!(&mut *tx, note, now)?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Marks a delivery done without further effect (for intents that turned out void).
    pub async fn finish_delivery(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = on_db!(self, pool => claim_delivery!(pool, key, now))?;
        Ok(done == 1)
    }
}
