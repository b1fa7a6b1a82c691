//! The audit log: who did what, when, in which run. Entries are written in the same transaction
//! as the change they describe.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, QueryBuilder};
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
    /// What a person's action came through: `button`, `operator API`, `Azure DevOps` …
    pub via: Option<String>,
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
            via: None,
        }
    }

    #[must_use]
    pub fn via(mut self, via: impl Into<String>) -> Self {
        self.via = Some(via.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub run_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub via: Option<String>,
    pub at: DateTime<Utc>,
}

/// Appends `$entry` at `$now` on the executor `$exec` (a transaction, usually); answers the rows
/// written.
macro_rules! insert_audit {
    ($exec:expr, $entry:expr, $now:expr) => {
        $crate::store::audit::insert_audits!($exec, &[(&$entry, $now)])
            .map(|done| done.rows_affected())
    };
}
pub(crate) use insert_audit;

/// Appends `$entries` (a non-empty `&[(&AuditEntry, DateTime<Utc>)]`) on `$exec` in one
/// statement.
macro_rules! insert_audits {
    ($exec:expr, $entries:expr) => {{
        let mut query = sqlx::QueryBuilder::new(
            "INSERT INTO audit_log (run_id, actor, action, detail, via, at) ",
        );
        query.push_values($entries, |mut row, (entry, now)| {
            row.push_bind(entry.run_id.map(|id| id.to_string()))
                .push_bind(&entry.actor)
                .push_bind(&entry.action)
                .push_bind(&entry.detail)
                .push_bind(&entry.via)
                .push_bind(*now);
        });
        query.build().execute($exec).await
    }};
}
pub(crate) use insert_audits;

impl Store {
    /// The entries of one run, oldest first.
    #[instrument(level = "debug", skip_all, fields(run_id = %run_id))]
    pub async fn audit_for_run(&self, run_id: RunId) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = "SELECT id, run_id, actor, action, detail, via, at FROM audit_log WHERE run_id = $1 ORDER BY id";
        let rows = on_db_read!(self, pool => sqlx::query_as(sql).bind(run_id.to_string()).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// The entries of `runs`, oldest first.
    #[instrument(level = "debug", skip_all, fields(runs = runs.len()))]
    pub async fn audit_for_runs(&self, runs: &[RunId]) -> Result<Vec<AuditRecord>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = runs.iter().map(ToString::to_string).collect();
        let rows = on_db_read!(self, pool => {
            let mut query = QueryBuilder::new(
                "SELECT id, run_id, actor, action, detail, via, at FROM audit_log WHERE run_id IN (",
            );
            let mut list = query.separated(", ");
            for id in &ids {
                list.push_bind(id);
            }
            query.push(") ORDER BY at, id");
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows)
    }
}
