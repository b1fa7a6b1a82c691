//! The audit log: who did what, when, in which run. Entries are written in the same transaction
//! as the change they describe.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use tracing::instrument;

use super::{Store, StoreError, on_db_read};
use crate::domain::RunId;

/// Who: a Slack user id, `operator`, or `release-agent` for the bot itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub run_id: Option<RunId>,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

impl AuditEntry {
    pub fn new(
        run_id: Option<RunId>,
        actor: impl Into<String>,
        action: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            run_id,
            actor: actor.into(),
            action: action.into(),
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub run_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub at: DateTime<Utc>,
}

/// Appends `$entry` at `$now` on the executor `$exec` (a transaction, usually).
macro_rules! insert_audit {
    ($exec:expr, $entry:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO audit_log (run_id, actor, action, detail, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind($entry.run_id.map(|id| id.to_string()))
        .bind(&$entry.actor)
        .bind(&$entry.action)
        .bind(&$entry.detail)
        .bind($now)
        .execute($exec)
        .await
        .map(|done| done.rows_affected())
    };
}
pub(crate) use insert_audit;

impl Store {
    /// The entries of one run, oldest first.
    #[instrument(level = "debug", skip_all, fields(run_id = %run_id))]
    pub async fn audit_for_run(&self, run_id: RunId) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = "SELECT id, run_id, actor, action, detail, at FROM audit_log WHERE run_id = $1 ORDER BY id";
        let rows = on_db_read!(self, pool => sqlx::query_as(sql).bind(run_id.to_string()).fetch_all(pool).await)?;
        Ok(rows)
    }
}
