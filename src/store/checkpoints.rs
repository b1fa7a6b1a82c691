//! What a step writes: its checkpoint (state, status, timer, approval, replies and audit entry in
//! one transaction, written through `step_writes.rs`), a retry after a transient failure, a wait
//! re-armed, a run superseded. Each
//! is a compare-and-set on `(seq, lease_owner, status)`, so an engine that lost its lease
//! changes nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;
use tracing::instrument;

use super::audit::{insert_audit, insert_audits};
use super::group_commit::without_repeats;
use super::runs::RunRow;
use super::{AuditEntry, BeginWrite, NewApproval, Store, StoreError, on_db};
use crate::domain::{Message, RunId, RunStatus};

/// What a step produced, written in one transaction with its audit entry, its approval (if it
/// waits) and its thread replies.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub run_id: RunId,
    /// The engine that holds the lease.
    pub owner: String,
    /// The `seq` the step ran at; the checkpoint stores `seq + 1`.
    pub seq: i64,
    pub step: String,
    pub state: Value,
    pub status: RunStatus,
    pub wake_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub polls: i64,
    pub outcome: Option<String>,
    /// Keep the lease until this time, to run the next step at once; `None` releases it.
    pub lease_until: Option<DateTime<Utc>>,
    pub approval: Option<NewApproval>,
    pub replies: Vec<Message>,
    pub audit: AuditEntry,
    /// The step ran with a decision. A step that ran without one must not overwrite a decision
    /// that arrived meanwhile.
    pub had_decision: bool,
    /// The run was waiting or failed when its step began, so it may have a pending approval for
    /// this checkpoint to replace. A run that was running has none: approvals are asked only by
    /// a wait or a failure, and deciding one is what makes its run run again.
    pub had_approval: bool,
    /// The run's repository, recorded if the run had none.
    pub repo: Option<String>,
}

/// Checkpoints, from a list whose columns SQLite and PostgreSQL both name `column1` …: each a
/// compare-and-set on its run's `seq`, lease owner and status, and refused when a decision
/// arrived that its step did not see (`column13` says whether it saw one).
const CHECKPOINTS: &str = "UPDATE runs SET step = v.column4, state = v.column5, \
     status = v.column6, seq = runs.seq + 1, wake_at = v.column7, attempts = v.column8, \
     polls = v.column9, outcome = v.column10, decision = NULL, \
     lease_owner = CASE WHEN v.column11 IS NULL THEN NULL ELSE runs.lease_owner END, \
     lease_until = v.column11, card_version = runs.card_version + 1, updated_at = v.column12, \
     repo = COALESCE(runs.repo, v.column14) FROM (";
const CHECKPOINTS_WHERE: &str = ") AS v WHERE runs.id = v.column1 AND runs.seq = v.column2 \
     AND runs.lease_owner = v.column3 AND runs.status IN ('running', 'waiting') \
     AND (runs.decision IS NULL OR v.column13) RETURNING *";

/// A recheck that found nothing new sleeps again without a new checkpoint.
const REARM: &str = "UPDATE runs SET wake_at = $4, lease_owner = NULL, lease_until = NULL \
     WHERE id = $1 AND seq = $2 AND lease_owner = $3 AND status = 'waiting' AND decision IS NULL";

/// Approvals a checkpoint replaces: pending ones that differ from the wait it records (all of
/// them when it records none). A recheck that asks the same keeps its buttons.
const SUPERSEDE_OTHER_APPROVALS: &str = "UPDATE approvals SET status = 'superseded' \
     WHERE run_id = $1 AND status = 'pending' \
     AND ($2 IS NULL OR point <> $2 OR prompt <> $3 OR options <> $4)";

const INSERT_APPROVAL: &str = "INSERT INTO approvals (id, run_id, point, decides, author, deciders, \
     prompt, options, status, expires_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)";

const INSERT_REPLY: &str = "INSERT INTO outbox (run_id, kind, channel_id, message, not_before, created_at) \
     SELECT id, 'thread_reply', channel_id, $2, $3, $3 FROM runs WHERE id = $1";

const RETRY: &str = "UPDATE runs SET attempts = $4, wake_at = $5, outcome = $6, \
     lease_owner = NULL, lease_until = NULL, card_version = card_version + 1, updated_at = $7 \
     WHERE id = $1 AND seq = $2 AND lease_owner = $3 AND status = 'running'";

const SUPERSEDE_RUN: &str = "UPDATE runs SET status = 'cancelled', outcome = $2, wake_at = NULL, \
     lease_owner = NULL, lease_until = NULL, decision = NULL, card_version = card_version + 1, \
     updated_at = $3 WHERE id = $1 AND status IN ('running', 'waiting')";

const SUPERSEDE_APPROVALS: &str =
    "UPDATE approvals SET status = 'superseded' WHERE run_id = $1 AND status = 'pending'";

/// Writes `$cps` on `$tx` (a transaction's connection) and answers each with its run as it left
/// it, or `None` when the lease was lost or the run moved (nothing of it is written then). The
/// runs' rows and the audit entries go in a statement each; approvals and thread replies, which
/// few steps have, one by one. A run named twice starts a new pair of statements.
macro_rules! write_checkpoints {
    ($tx:expr, $cps:expr) => {
        async {
            let (tx, all): (_, &[(&Checkpoint, DateTime<Utc>)]) = ($tx, $cps);
            let mut written = Vec::with_capacity(all.len());
            for cps in without_repeats(all, |(cp, _)| cp.run_id) {
                let mut query = QueryBuilder::new(CHECKPOINTS);
                query.push_values(cps, |mut row, (cp, now)| {
                    row.push_bind(cp.run_id.to_string())
                        .push_bind(cp.seq)
                        .push_bind(&cp.owner)
                        .push_bind(&cp.step)
                        .push_bind(Json(&cp.state))
                        .push_bind(cp.status.as_str())
                        .push_bind(cp.wake_at)
                        .push_bind(cp.attempts)
                        .push_bind(cp.polls)
                        .push_bind(&cp.outcome)
                        .push_bind(cp.lease_until)
                        .push_bind(*now)
                        .push_bind(cp.had_decision)
                        .push_bind(&cp.repo);
                });
                query.push(CHECKPOINTS_WHERE);
                let rows: Vec<RunRow> = query.build_query_as().fetch_all(&mut *tx).await?;
                let mut rows: HashMap<String, RunRow> =
                    rows.into_iter().map(|row| (row.id.clone(), row)).collect();
                let mut audits = Vec::with_capacity(cps.len());
                for (cp, now) in cps {
                    let row = rows.remove(&cp.run_id.to_string());
                    if row.is_some() {
                        write_asks!(&mut *tx, cp, *now)?;
                        audits.push((&cp.audit, *now));
                    }
                    written.push(row);
                }
                if !audits.is_empty() {
                    insert_audits!(&mut *tx, &audits)?;
                }
            }
            Ok::<_, sqlx::Error>(written)
        }
        .await
    };
}

/// Writes what checkpoint `$cp` asks of people, once its run's row is written: the approval its
/// wait asks (replacing one asked before in other words) and its thread replies.
macro_rules! write_asks {
    ($tx:expr, $cp:expr, $now:expr) => {
        async {
            let (tx, cp, now): (_, &Checkpoint, DateTime<Utc>) = ($tx, $cp, $now);
            let run_id = cp.run_id.to_string();
            let wait = cp.approval.as_ref();
            if cp.had_approval {
                sqlx::query(SUPERSEDE_OTHER_APPROVALS)
                    .bind(&run_id)
                    .bind(wait.map(|a| &a.point))
                    .bind(wait.map(|a| &a.prompt))
                    .bind(wait.map(|a| Json(&a.options)))
                    .execute(&mut *tx)
                    .await?;
            }
            // An approval asked again with the same words is kept, not asked twice.
            let kept: Option<String> = match wait {
                Some(_) if cp.had_approval => {
                    sqlx::query_scalar(
                        "SELECT id FROM approvals WHERE run_id = $1 AND status = 'pending'",
                    )
                    .bind(&run_id)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                _ => None,
            };
            if let Some(approval) = wait.filter(|_| kept.is_none()) {
                sqlx::query(INSERT_APPROVAL)
                    .bind(approval.id.to_string())
                    .bind(&run_id)
                    .bind(&approval.point)
                    .bind(approval.decides.to_string())
                    .bind(&approval.author)
                    .bind(approval.deciders.as_ref().map(|d| Json(d.approvers())))
                    .bind(&approval.prompt)
                    .bind(Json(&approval.options))
                    .bind(approval.expires_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            for reply in &cp.replies {
                sqlx::query(INSERT_REPLY)
                    .bind(&run_id)
                    .bind(Json(reply))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, sqlx::Error>(())
        }
        .await
    };
}

/// A connection checkpoints can be written on, inside the caller's transaction.
pub(super) trait WriteCheckpoints {
    /// Writes `cps` and answers each, in order: `None` when the lease was lost or the run moved
    /// (nothing of it is written then).
    async fn write_checkpoints(
        &mut self,
        cps: &[(&Checkpoint, DateTime<Utc>)],
    ) -> Result<Vec<Option<RunRow>>, sqlx::Error>;
}

impl WriteCheckpoints for sqlx::SqliteConnection {
    async fn write_checkpoints(
        &mut self,
        cps: &[(&Checkpoint, DateTime<Utc>)],
    ) -> Result<Vec<Option<RunRow>>, sqlx::Error> {
        write_checkpoints!(self, cps)
    }
}

impl WriteCheckpoints for sqlx::PgConnection {
    async fn write_checkpoints(
        &mut self,
        cps: &[(&Checkpoint, DateTime<Utc>)],
    ) -> Result<Vec<Option<RunRow>>, sqlx::Error> {
        write_checkpoints!(self, cps)
    }
}

impl Store {
    /// Puts a waiting run whose recheck found nothing new back to sleep until `wake_at`.
    #[instrument(level = "debug", skip_all, fields(run_id = %id, seq))]
    pub async fn rearm(
        &self,
        id: RunId,
        owner: &str,
        seq: i64,
        wake_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = on_db!(self, pool => sqlx::query(REARM)
            .bind(id.to_string())
            .bind(seq)
            .bind(owner)
            .bind(wake_at)
            .execute(pool)
            .await
            .map(|d| d.rows_affected()))?;
        if done != 1 {
            return Err(StoreError::Conflict(format!(
                "run {id} moved on or its lease was lost"
            )));
        }
        Ok(())
    }

    /// Puts a step that failed transiently back to sleep until `wake_at`, releasing the lease.
    #[allow(clippy::too_many_arguments)]
    #[instrument(level = "debug", skip_all, fields(run_id = %id, seq, attempts))]
    pub async fn schedule_retry(
        &self,
        id: RunId,
        owner: &str,
        seq: i64,
        attempts: i64,
        wake_at: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let audit = AuditEntry::new(
            Some(id),
            crate::BOT_ACTOR,
            "retry",
            format!("attempt {attempts}: {reason}"),
        );
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(RETRY)
                .bind(id.to_string())
                .bind(seq)
                .bind(owner)
                .bind(attempts)
                .bind(wake_at)
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("run {id} moved on or its lease was lost")));
            }
            insert_audit!(&mut *tx, audit, now)?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Cancels an unfinished run because something newer replaces it; its pending approval
    /// becomes `superseded`, so late clicks on it are explained. Returns `false` if the run had
    /// already finished.
    #[instrument(level = "debug", skip_all, fields(run_id = %id))]
    pub async fn supersede_run(
        &self,
        id: RunId,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let audit = AuditEntry::new(Some(id), actor, "superseded", reason);
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(SUPERSEDE_RUN).bind(id.to_string()).bind(reason).bind(now).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(SUPERSEDE_APPROVALS).bind(id.to_string()).execute(&mut *tx).await?;
            insert_audit!(&mut *tx, audit, now)?;
            tx.commit().await?;
        });
        Ok(true)
    }
}
