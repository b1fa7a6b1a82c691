//! The store: every durable fact lives here, in SQLite (the default) or PostgreSQL.
//!
//! One [`Store`] wraps native pools of either backend (for SQLite, one writer connection and a
//! pool of readers). Each method holds its SQL text once and runs it on whichever pool is
//! configured (`on_db!` and `on_db_read!` expand the body for both), so the two backends
//! cannot drift apart. The few statements that differ (row locking) are picked with
//! `Store::dialect`. Times are always passed in by the caller, from the engine's clock; SQL never
//! reads its own clock, so tests can move time and both backends store identical values.
//!
//! Read `runs.rs` and `checkpoints.rs` first: runs, leases and checkpoints are the heart of
//! durability. Then `run_starts.rs` (new runs), `approvals.rs` (decisions by compare-and-set), `deliveries.rs`
//! (dedupe, and intents saved before an ack), `group_commit.rs` (how SQLite writes a burst of
//! those in few transactions), `journal.rs` (the effect journal), `step_writes.rs` (how a step's writes share transactions), `outbox.rs` (Slack messages to
//! send), `releases.rs` and `audit.rs`.

mod approvals;
mod audit;
mod checkpoints;
mod cursors;
mod database_url;
mod deliveries;
mod freezes;
mod group_commit;
mod home_viewers;
mod instances;
mod journal;
mod outage;
mod outbox;
mod post_marks;
mod questions;
mod releases;
mod reviews;
mod rollbacks;
mod run_starts;
mod runs;
mod shipping;
mod step_writes;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool, Transaction};

use secrecy::ExposeSecret;

pub use approvals::{AcceptOutcome, ApprovalRecord, Ballot, NewApproval};
pub use audit::{AuditEntry, AuditRecord};
pub use checkpoints::Checkpoint;
pub use database_url::DatabaseUrl;
pub use deliveries::{Arrived, DeliveryRecord, NewDelivery};
pub use freezes::Freeze;
pub use journal::EffectEntry;
pub use outbox::{OutboxItem, OutboxKind, OutboxRecord};
pub use questions::{Dismissal, NewQuestion, QuestionKind, QuestionRecord};
pub use releases::{ArchivedRelease, ShippingRelease, StagedPr, StagingRelease, Versioning, why};
pub use reviews::{KeptReview, ReviewSpend, Spent};
pub use rollbacks::Rollback;
pub use run_starts::Dedupe;
pub use runs::{NewRun, RunRecord, Started};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Why a store call failed. Callers branch on `Conflict` (someone else won a compare-and-set)
/// and `NotFound`; everything else is reported.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A group commit failed as a whole; this start shared its transaction.
    #[error("database error: {0}")]
    Batch(String),
    /// The caller writing this start's group commit was cancelled before answering; the start
    /// may or may not be saved.
    #[error("the write was abandoned before it was confirmed")]
    Abandoned,
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// SQLite has one writer: its writes go through a single connection, so they queue in order
/// here rather than in SQLite's busy handler, which sleeps in steps of milliseconds. Reads use
/// their own connections and, in WAL mode, never wait for the writer.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite { write: SqlitePool, read: SqlitePool },
    Postgres(PgPool),
}

/// Which SQL dialect a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$pool` bound to the native pool of the configured backend (for SQLite, its
/// writer). The body is compiled once per backend, so it may use backend-specific types through
/// type inference.
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite { write: $pool, .. } => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// [`on_db!`] for a body that only reads: on SQLite it runs on a reader connection.
macro_rules! on_db_read {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite { read: $pool, .. } => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db_read;

/// PostgreSQL: holds a lock named by `$1` until the transaction ends, so writers of the same thing
/// (a repository's releases, a PR's runs) take turns.
pub(crate) const ADVISORY_LOCK: &str =
    "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS locked";

/// Begins a transaction that will write. SQLite takes the write lock up front (`BEGIN
/// IMMEDIATE`), so writers of other processes (replicas, the CLI) queue on the busy timeout
/// instead of failing when one upgrades a read lock; PostgreSQL needs nothing special.
pub(crate) trait BeginWrite {
    type Database: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Database>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    starts: Arc<run_starts::RunStarts>,
    arrivals: Arc<deliveries::Arrivals>,
    steps: Arc<step_writes::StepWrites>,
    outage: Arc<outage::Outage>,
}

impl Store {
    /// Opens the database named by the config. A SQLite file is created if missing and put in
    /// WAL mode, so readers never block the writer.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StoreError> {
        let db = match url {
            DatabaseUrl::Sqlite(url) => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                // A local file needs no liveness check before each use, and each check is a
                // round trip to the connection's worker thread.
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .connect_with(options.clone())
                    .await?;
                let read = SqlitePoolOptions::new()
                    .max_connections(4)
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await?;
                Db::Sqlite { write, read }
            }
            DatabaseUrl::Postgres(url) => {
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url.expose_secret())
                    .await?;
                Db::Postgres(pool)
            }
        };
        Ok(Self {
            db,
            starts: Arc::default(),
            arrivals: Arc::default(),
            steps: Arc::default(),
            outage: Arc::default(),
        })
    }

    /// Applies the migrations of the configured backend; applied ones are skipped.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite { write, .. } => SQLITE_MIGRATIONS.run(write).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// A cheap round trip; [`Store::ping`] notes what it came to.
    async fn select_one(&self) -> Result<(), StoreError> {
        on_db_read!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self.db {
            Db::Sqlite { .. } => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Picks the statement written for the configured backend.
    pub(crate) fn sql(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    pub async fn close(&self) {
        if let Db::Sqlite { read, .. } = &self.db {
            read.close().await;
        }
        on_db!(self, pool => pool.close().await);
    }
}

impl Store {
    /// Runs a claiming `UPDATE … RETURNING` (binds: owner, until, now, limit) in a write
    /// transaction and returns the claimed rows.
    pub(crate) async fn claim<T>(
        &self,
        sql: &'static str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> Result<Vec<T>, StoreError>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let rows = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let rows = sqlx::query_as(sql).bind(owner).bind(until).bind(now).bind(limit).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        });
        Ok(rows)
    }
}

/// Parses a stored enum-like text column.
pub(crate) fn parse_column<T: FromStr<Err = String>>(text: &str) -> Result<T, StoreError> {
    text.parse().map_err(StoreError::Corrupt)
}
