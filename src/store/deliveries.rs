//! Deliveries: the dedupe key of everything that reaches us from outside (Slack envelopes,
//! webhooks, poller finds), and the intent still to be carried out, if any. A key is inserted
//! before the delivery is acknowledged; a second delivery with the same key changes nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};
use tracing::instrument;

use super::audit::insert_audit;
use super::group_commit::{Batch, GroupCommit, Outcomes};
use super::outbox::insert_outbox;
use super::runs::under_way_by_pr;
use super::{AuditEntry, BeginWrite, OutboxItem, RunRecord, Store, StoreError, on_db, on_db_read};
use crate::domain::RunKind;

/// Deliveries recorded before their ack, written together when they arrive together.
pub(crate) type Arrivals = GroupCommit<Arrival>;

#[derive(Debug)]
pub(crate) struct Arrival {
    delivery: NewDelivery,
    now: DateTime<Utc>,
    /// A request for a run about a PR: the kind and the PR. It is not recorded while such a run
    /// is under way.
    wants_run: Option<(RunKind, i64)>,
}

/// What became of a delivery recorded before its ack.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrived {
    Recorded,
    /// Its key was recorded before: a redelivery.
    Duplicate,
    /// It asks for a run about a PR while one is under way; nothing was recorded.
    UnderWay(Box<RunRecord>),
}

impl Batch for Arrival {
    type Outcome = Arrived;

    fn write(store: &Store, batch: &[Self]) -> impl Future<Output = Outcomes<Arrived>> + Send {
        store.insert_arrivals(batch)
    }
}

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub key: String,
    pub source: String,
    /// The intent as JSON text: written by the handler that received the delivery, so a batch of
    /// them is not serialized again while the writer waits.
    pub intent: Option<Box<RawValue>>,
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
    #[instrument(level = "debug", skip_all, fields(key = %delivery.key))]
    pub async fn insert_delivery(
        &self,
        delivery: &NewDelivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let arrival = Arrival {
            delivery: delivery.clone(),
            now,
            wants_run: None,
        };
        Ok(self.arrivals.submit(self, arrival).await? == Arrived::Recorded)
    }

    /// Records a request for a run of `kind` about PR `pr_id`, unless such a run is under way.
    /// Requests that arrive together are checked with one read and recorded with one write.
    #[instrument(level = "debug", skip_all, fields(key = %delivery.key, pr = pr_id))]
    pub async fn insert_run_request(
        &self,
        delivery: &NewDelivery,
        kind: impl Into<RunKind>,
        pr_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Arrived, StoreError> {
        let arrival = Arrival {
            delivery: delivery.clone(),
            now,
            wants_run: Some((kind.into(), pr_id)),
        };
        self.arrivals.submit(self, arrival).await
    }

    /// Checks the run requests of `batch` against the runs under way, then inserts the rest in
    /// one statement. Of two arrivals with one key, the first counts. The check and the insert
    /// are not one transaction: a run started in between is caught when the intake starts it.
    async fn insert_arrivals(&self, batch: &[Arrival]) -> Outcomes<Arrived> {
        let prs: Vec<i64> = batch
            .iter()
            .filter_map(|a| a.wants_run.as_ref())
            .map(|(_, pr)| *pr)
            .collect();
        let under_way = if prs.is_empty() {
            HashMap::new()
        } else {
            on_db_read!(self, pool => under_way_by_pr!(pool, &prs))?
        };
        let mut outcomes: Vec<Option<Arrived>> = batch
            .iter()
            .map(|arrival| {
                let run = under_way.get(arrival.wants_run.as_ref()?)?;
                Some(Arrived::UnderWay(Box::new(run.clone())))
            })
            .collect();
        let wanted: Vec<&Arrival> = batch
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| outcome.is_none())
            .map(|(arrival, _)| arrival)
            .collect();
        let mut fresh: HashSet<String> = if wanted.is_empty() {
            HashSet::new()
        } else {
            on_db!(self, pool => {
                let mut query = QueryBuilder::new(
                    "INSERT INTO deliveries (key, source, intent, received_at, processed_at) ",
                );
                query.push_values(&wanted, |mut row, arrival| {
                    let delivery = &arrival.delivery;
                    row.push_bind(&delivery.key)
                        .push_bind(&delivery.source)
                        .push_bind(delivery.intent.as_deref().map(Json))
                        .push_bind(arrival.now)
                        .push_bind(None::<DateTime<Utc>>);
                });
                query.push(" ON CONFLICT (key) DO NOTHING RETURNING key");
                // One statement is its own transaction: no BEGIN and COMMIT round trips to
                // SQLite's worker thread, which under a burst wait for a CPU each.
                let keys: Vec<String> = query.build_query_scalar().fetch_all(pool).await?;
                keys.into_iter().collect()
            })
        };
        for (arrival, outcome) in batch.iter().zip(&mut outcomes) {
            outcome.get_or_insert_with(|| {
                if fresh.remove(&arrival.delivery.key) {
                    Arrived::Recorded
                } else {
                    Arrived::Duplicate
                }
            });
        }
        Ok(outcomes.into_iter().flatten().map(Ok).collect())
    }

    /// Records a key that needs no further work, so a later delivery with it is a duplicate.
    #[instrument(level = "debug", skip_all, fields(key = %delivery.key))]
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
            .bind(delivery.intent.as_deref().map(Json))
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(done == 1)
    }

    /// Deletes the deliveries handled before `before`: their keys have stopped a redelivery long
    /// enough. Pending ones stay, and so do merge markers (`…:merged`), which the poller needs
    /// for every PR merged since it first looked. The audit log and the archive are elsewhere.
    #[instrument(level = "debug", skip_all)]
    pub async fn prune_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "DELETE FROM deliveries WHERE processed_at IS NOT NULL AND processed_at < $1 \
                   AND key NOT LIKE '%:merged'";
        let deleted = on_db!(self, pool => sqlx::query(sql)
            .bind(before)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(deleted)
    }

    /// Deliveries whose intent is not carried out yet, oldest first.
    #[instrument(level = "debug", skip_all, fields(limit))]
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
    #[instrument(level = "debug", skip_all, fields(key = delivery_key, action = %audit.action))]
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
    #[instrument(level = "debug", skip_all, fields(key))]
    pub async fn finish_delivery(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = on_db!(self, pool => claim_delivery!(pool, key, now))?;
        Ok(done == 1)
    }
}
