//! Runs: their records, the reads of them, and claiming them under a lease. Starting a run is in
//! `run_starts.rs`; what a step writes (checkpoints, retries) in `checkpoints.rs`.
//!
//! A run is executed only by the engine that holds its lease (`lease_owner` until `lease_until`).
//! Every write made on behalf of a step is a compare-and-set on `(seq, lease_owner, status)`, so
//! a step whose engine lost the lease (it stalled, another engine took over) can never overwrite
//! newer progress.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use tracing::instrument;

use super::{BeginWrite, Store, StoreError, on_db, on_db_read, parse_column};
use crate::domain::{Decision, RepoName, RunId, RunKind, RunStatus};

/// A run about to be started.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: RunId,
    pub kind: RunKind,
    pub repo: Option<RepoName>,
    pub pr_id: Option<i64>,
    /// What the run is about, for people: `Billo.Api#123`.
    pub subject: String,
    pub step: String,
    pub state: Value,
    pub channel_id: String,
    pub started_by: String,
    /// Start nothing while an unfinished run of this kind about the same PR exists (a person
    /// asking twice), and answer that run instead.
    pub one_per_pr: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: RunId,
    pub kind: RunKind,
    pub repo: Option<RepoName>,
    pub pr_id: Option<i64>,
    pub subject: String,
    pub step: String,
    pub state: Value,
    pub status: RunStatus,
    /// Steps checkpointed so far.
    pub seq: i64,
    /// Consecutive transient failures of the current step.
    pub attempts: i64,
    /// Consecutive polls of the current step.
    pub polls: i64,
    pub wake_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// The decision that woke the run, until the next checkpoint consumes it.
    pub decision: Option<Decision>,
    /// Why the run failed or was cancelled, or what its last retry was about.
    pub outcome: Option<String>,
    pub channel_id: String,
    pub card_ts: Option<String>,
    pub card_version: i64,
    pub card_synced: i64,
    pub started_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
pub(crate) struct RunRow {
    pub(super) id: String,
    kind: String,
    repo: Option<String>,
    pr_id: Option<i64>,
    subject: String,
    step: String,
    state: Json<Value>,
    status: String,
    seq: i64,
    attempts: i64,
    polls: i64,
    wake_at: Option<DateTime<Utc>>,
    lease_owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    decision: Option<Json<Decision>>,
    outcome: Option<String>,
    channel_id: String,
    card_ts: Option<String>,
    card_version: i64,
    card_synced: i64,
    started_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<RunRow> for RunRecord {
    type Error = StoreError;

    fn try_from(row: RunRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: RunId::parse(&row.id)
                .ok_or_else(|| StoreError::Corrupt(format!("run id {:?}", row.id)))?,
            kind: row.kind.into(),
            repo: row
                .repo
                .map(|name| RepoName::parse(&name))
                .transpose()
                .map_err(StoreError::Corrupt)?,
            pr_id: row.pr_id,
            subject: row.subject,
            step: row.step,
            state: row.state.0,
            status: parse_column(&row.status)?,
            seq: row.seq,
            attempts: row.attempts,
            polls: row.polls,
            wake_at: row.wake_at,
            lease_owner: row.lease_owner,
            lease_until: row.lease_until,
            decision: row.decision.map(|d| d.0),
            outcome: row.outcome,
            channel_id: row.channel_id,
            card_ts: row.card_ts,
            card_version: row.card_version,
            card_synced: row.card_synced,
            started_by: row.started_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(crate) fn records(rows: Vec<RunRow>) -> Result<Vec<RunRecord>, StoreError> {
    rows.into_iter().map(RunRecord::try_from).collect()
}

/// The unfinished runs about the PRs `$ids` (`&[i64]`, not empty), read on `$exec`: the oldest
/// of each kind for each PR, keyed by kind and PR. One read for a whole batch of requests.
macro_rules! under_way_by_pr {
    ($exec:expr, $ids:expr) => {{
        let mut query = sqlx::QueryBuilder::new(
            "SELECT * FROM runs WHERE status IN ('running', 'waiting') AND pr_id IN (",
        );
        let mut bound = query.separated(", ");
        for id in $ids {
            bound.push_bind(*id);
        }
        query.push(") ORDER BY created_at");
        let rows: Vec<$crate::store::runs::RunRow> =
            query.build_query_as().fetch_all($exec).await?;
        $crate::store::runs::by_kind_and_pr(rows)
    }};
}
pub(crate) use under_way_by_pr;

/// The first run of `rows` for each kind and PR.
pub(crate) fn by_kind_and_pr(
    rows: Vec<RunRow>,
) -> Result<std::collections::HashMap<(RunKind, i64), RunRecord>, StoreError> {
    let mut first = std::collections::HashMap::new();
    for run in records(rows)? {
        if let Some(pr) = run.pr_id {
            first.entry((run.kind.clone(), pr)).or_insert(run);
        }
    }
    Ok(first)
}

/// The runs of `rows` of one kind. Reads of runs compare the kind here, not in SQL: SQLite weighs
/// a bound `kind` against the partial index `runs_one_release_per_repo` (`WHERE kind = 'release'
/// …`) and then prepares the statement again at every execution, which made `/review`'s read
/// cost more than the rest of its ack (measured: two thirds of the reader threads' time in
/// `sqlite3Reprepare`).
fn of_kind(rows: Vec<RunRow>, kind: &RunKind) -> Result<Vec<RunRecord>, StoreError> {
    let mut runs = records(rows)?;
    runs.retain(|run| run.kind == *kind);
    Ok(runs)
}

/// Due runs: running ones whose timer (if any) is up, and waiting ones due for a recheck.
const CLAIM_SQLITE: &str = "UPDATE runs SET lease_owner = $1, lease_until = $2 WHERE id IN (\
     SELECT id FROM runs WHERE ((status = 'running' AND (wake_at IS NULL OR wake_at <= $3)) \
     OR (status = 'waiting' AND wake_at <= $3)) \
     AND (lease_until IS NULL OR lease_until < $3) ORDER BY COALESCE(wake_at, created_at) LIMIT $4) \
     RETURNING *";

/// `SKIP LOCKED` lets replicas claim different runs at the same moment without waiting on
/// each other; the lease condition is part of the locked read, so a run is never claimed twice.
const CLAIM_POSTGRES: &str = "UPDATE runs SET lease_owner = $1, lease_until = $2 WHERE id IN (\
     SELECT id FROM runs WHERE ((status = 'running' AND (wake_at IS NULL OR wake_at <= $3)) \
     OR (status = 'waiting' AND wake_at <= $3)) \
     AND (lease_until IS NULL OR lease_until < $3) ORDER BY COALESCE(wake_at, created_at) LIMIT $4 \
     FOR UPDATE SKIP LOCKED) RETURNING *";

/// A unique-index violation on `runs` means the run would be a second unfinished release of its
/// repository (`runs_one_release_per_repo`).
pub(crate) fn one_at_a_time(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            StoreError::Conflict("another run of this kind is under way for the repository".into())
        }
        other => other.into(),
    }
}

/// Whether `create_run` created the run, found its delivery already handled, or found the run
/// of a one-per-PR start already under way.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    Created,
    Duplicate,
    AlreadyRunning(Box<RunRecord>),
}

impl Store {
    #[instrument(level = "debug", skip_all, fields(run_id = %id))]
    pub async fn get_run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        let row: Option<RunRow> = on_db_read!(self, pool =>
            sqlx::query_as("SELECT * FROM runs WHERE id = $1").bind(id.to_string()).fetch_optional(pool).await)?;
        row.map(RunRecord::try_from).transpose()
    }

    /// The run whose card is the message `ts` in `channel`, if any.
    #[instrument(level = "debug", skip_all)]
    pub async fn run_by_card(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Option<RunRecord>, StoreError> {
        let sql = "SELECT * FROM runs WHERE card_ts = $1 AND channel_id = $2";
        let row: Option<RunRow> = on_db_read!(self, pool =>
            sqlx::query_as(sql).bind(ts).bind(channel).fetch_optional(pool).await)?;
        row.map(RunRecord::try_from).transpose()
    }

    /// All runs, newest first, up to `limit`.
    #[instrument(level = "debug", skip_all, fields(limit))]
    pub async fn recent_runs(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        let rows: Vec<RunRow> = on_db_read!(self, pool =>
            sqlx::query_as("SELECT * FROM runs ORDER BY created_at DESC, id LIMIT $1").bind(limit).fetch_all(pool).await)?;
        records(rows)
    }

    /// The PR and release runs of `repo` (as the bot spells it), newest first, up to `limit`.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, limit))]
    pub async fn runs_of_repo(
        &self,
        repo: &RepoName,
        limit: i64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let sql = "SELECT * FROM runs WHERE kind IN ('pr', 'release') AND repo = $1 \
                   ORDER BY created_at DESC, id LIMIT $2";
        let rows: Vec<RunRow> = on_db_read!(self, pool =>
            sqlx::query_as(sql).bind(repo.as_str()).bind(limit).fetch_all(pool).await)?;
        records(rows)
    }

    /// How many runs there are of each kind in each status.
    #[instrument(level = "debug", skip_all)]
    pub async fn count_runs(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let sql =
            "SELECT kind, status, COUNT(*) FROM runs GROUP BY kind, status ORDER BY kind, status";
        Ok(on_db_read!(self, pool => sqlx::query_as(sql).fetch_all(pool).await)?)
    }

    /// The unfinished runs of `kind` about PR `pr_id` (PR ids are unique in a project collection).
    /// `/review` asks this before its ack.
    #[instrument(level = "debug", skip_all, fields(pr = pr_id))]
    pub async fn unfinished_runs_for_pr(
        &self,
        kind: impl Into<RunKind>,
        pr_id: i64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let sql = "SELECT * FROM runs WHERE pr_id = $1 AND status IN ('running', 'waiting') \
                   ORDER BY created_at";
        let rows: Vec<RunRow> = on_db_read!(self, pool =>
            sqlx::query_as(sql).bind(pr_id).fetch_all(pool).await)?;
        of_kind(rows, &kind.into())
    }

    /// The unfinished runs of `kind` (about repository `repo`, if given), oldest first.
    #[instrument(level = "debug", skip_all, fields(repo = repo.map(RepoName::as_str)))]
    pub async fn unfinished_runs(
        &self,
        kind: impl Into<RunKind>,
        repo: Option<&RepoName>,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let sql = "SELECT * FROM runs WHERE ($1 IS NULL OR repo = $1) \
                   AND status IN ('running', 'waiting') ORDER BY created_at";
        let rows: Vec<RunRow> = on_db_read!(self, pool =>
            sqlx::query_as(sql).bind(repo.map(RepoName::as_str)).fetch_all(pool).await)?;
        of_kind(rows, &kind.into())
    }

    /// Voids the Retry of the failed runs of `kind` about `repo` other than `run`, which takes
    /// their place (a release asked again ships what they left): a Retry pressed later would do
    /// their work a second time. Their cards lose the button. Safe to repeat.
    #[instrument(level = "debug", skip_all, fields(repo, %run))]
    pub async fn void_failed_retries(
        &self,
        kind: &RunKind,
        repo: &str,
        run: RunId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let touch = "UPDATE runs SET card_version = card_version + 1, updated_at = $4 \
                     WHERE kind = $1 AND repo = $2 AND status = 'failed' AND id <> $3 \
                     AND id IN (SELECT run_id FROM approvals WHERE status = 'pending')";
        let void = "UPDATE approvals SET status = 'superseded' WHERE status = 'pending' \
                    AND run_id IN (SELECT id FROM runs WHERE kind = $1 AND repo = $2 \
                    AND status = 'failed' AND id <> $3)";
        let run = run.to_string();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(touch).bind(kind.as_str()).bind(repo).bind(&run).bind(now).execute(&mut *tx).await?;
            sqlx::query(void).bind(kind.as_str()).bind(repo).bind(&run).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Claims up to `limit` runs that are due and not leased, for `owner` until `until`.
    #[instrument(level = "debug", skip_all, fields(limit))]
    pub async fn claim_due_runs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let sql = self.sql(CLAIM_SQLITE, CLAIM_POSTGRES);
        records(self.claim::<RunRow>(sql, owner, now, until, limit).await?)
    }

    /// Extends a lease that `owner` still holds. `false` means the lease is gone.
    #[instrument(level = "debug", skip_all, fields(run_id = %id))]
    pub async fn renew_lease(
        &self,
        id: RunId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE runs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 \
                   AND status IN ('running', 'waiting')";
        let done = on_db!(self, pool =>
            sqlx::query(sql).bind(id.to_string()).bind(owner).bind(until).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(done == 1)
    }

    /// Gives a lease back, so another engine may take the run at once.
    #[instrument(level = "debug", skip_all, fields(run_id = %id))]
    pub async fn release_lease(&self, id: RunId, owner: &str) -> Result<(), StoreError> {
        let sql = "UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2";
        on_db!(self, pool => sqlx::query(sql).bind(id.to_string()).bind(owner).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }

    /// The earliest timer among running runs, so an idle engine knows when to look again.
    #[instrument(level = "debug", skip_all)]
    pub async fn next_wake_at(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let sql = "SELECT wake_at FROM runs WHERE status IN ('running', 'waiting') AND wake_at > $1 \
                   ORDER BY wake_at LIMIT 1";
        let next: Option<Option<DateTime<Utc>>> = on_db_read!(self, pool =>
            sqlx::query_scalar(sql).bind(now).fetch_optional(pool).await)?;
        Ok(next.flatten())
    }
}
