//! The effect journal. A step that causes an external effect (merge, create a ticket, queue a
//! build) records it here before the call and its result after. A replay of the step reuses a
//! recorded result instead of calling again; an effect that was started but never finished tells
//! the step to look for the effect before repeating it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use tracing::instrument;

use super::{Store, StoreError, on_db, on_db_read};
use crate::domain::RunId;

#[derive(Debug, Clone, PartialEq)]
pub enum EffectEntry {
    Done(Value),
    /// Started `attempts` times, never finished: the process died or the call failed.
    Started {
        attempts: i64,
    },
}

const START: &str = "INSERT INTO effects (run_id, name, status, attempts, started_at) \
     VALUES ($1, $2, 'started', 1, $3) \
     ON CONFLICT (run_id, name) DO UPDATE SET attempts = effects.attempts + 1, started_at = $3 \
     WHERE effects.status = 'started' RETURNING attempts";

const FINISH: &str = "UPDATE effects SET status = 'done', result = $3, finished_at = $4 \
     WHERE run_id = $1 AND name = $2 AND status = 'started'";

impl Store {
    #[instrument(level = "debug", skip_all, fields(run_id = %run_id, effect = name))]
    pub async fn effect(
        &self,
        run_id: RunId,
        name: &str,
    ) -> Result<Option<EffectEntry>, StoreError> {
        let sql = "SELECT status, result, attempts FROM effects WHERE run_id = $1 AND name = $2";
        let row: Option<(String, Option<Json<Value>>, i64)> = on_db_read!(self, pool =>
            sqlx::query_as(sql).bind(run_id.to_string()).bind(name).fetch_optional(pool).await)?;
        Ok(row.map(
            |(status, result, attempts)| match (status.as_str(), result) {
                ("done", Some(result)) => EffectEntry::Done(result.0),
                _ => EffectEntry::Started { attempts },
            },
        ))
    }

    /// Records that an effect is about to be caused; returns which attempt this is (1 = first).
    #[instrument(level = "debug", skip_all, fields(run_id = %run_id, effect = name))]
    pub async fn start_effect(
        &self,
        run_id: RunId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let attempts: Option<i64> = on_db!(self, pool =>
            sqlx::query_scalar(START).bind(run_id.to_string()).bind(name).bind(now).fetch_optional(pool).await)?;
        attempts.ok_or_else(|| {
            StoreError::Conflict(format!("effect {name} of run {run_id} is already done"))
        })
    }

    #[instrument(level = "debug", skip_all, fields(run_id = %run_id, effect = name))]
    pub async fn finish_effect(
        &self,
        run_id: RunId,
        name: &str,
        result: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_db!(self, pool =>
            sqlx::query(FINISH).bind(run_id.to_string()).bind(name).bind(Json(result)).bind(now).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }
}
