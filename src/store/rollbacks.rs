//! Rollbacks: an archived version deployed again with `/release rollback`. They sit beside the
//! archive (which keeps one row per version) and, like it, are never changed: a repository's
//! deployed version is the newest of its last release and its last rollback.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use sqlx::types::Json;
use tracing::instrument;

use super::{Store, StoreError, on_db, on_db_read};
use crate::domain::Version;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollback {
    pub run_id: String,
    pub repo: String,
    /// The version deployed again.
    pub version: Version,
    /// The version it replaced.
    pub left: Version,
    /// The stages deployed again, in order.
    pub stages: Vec<String>,
    /// The Slack user id of who asked for it.
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(FromRow)]
struct RollbackRow {
    run_id: String,
    repo: String,
    version: String,
    left_version: String,
    stages: Json<Vec<String>>,
    rolled_back_by: String,
    rolled_back_at: DateTime<Utc>,
}

impl RollbackRow {
    fn rollback(self) -> Result<Rollback, StoreError> {
        Ok(Rollback {
            version: self.version.parse().map_err(StoreError::Corrupt)?,
            left: self.left_version.parse().map_err(StoreError::Corrupt)?,
            run_id: self.run_id,
            repo: self.repo,
            stages: self.stages.0,
            by: self.rolled_back_by,
            at: self.rolled_back_at,
        })
    }
}

impl Store {
    /// Records a rollback. Safe to repeat: a run records one rollback, the first.
    #[instrument(level = "debug", skip_all, fields(repo = %rollback.repo, run_id = %rollback.run_id))]
    pub async fn record_rollback(&self, rollback: &Rollback) -> Result<(), StoreError> {
        let sql = "INSERT INTO rollbacks (run_id, repo, version, left_version, stages, rolled_back_by, rolled_back_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id) DO NOTHING";
        on_db!(self, pool => sqlx::query(sql)
            .bind(&rollback.run_id)
            .bind(&rollback.repo)
            .bind(rollback.version.to_string())
            .bind(rollback.left.to_string())
            .bind(Json(&rollback.stages))
            .bind(&rollback.by)
            .bind(rollback.at)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// The repository's rollbacks, newest first.
    #[instrument(level = "debug", skip_all, fields(repo))]
    pub async fn rollbacks(&self, repo: &str) -> Result<Vec<Rollback>, StoreError> {
        let sql = "SELECT run_id, repo, version, left_version, stages, rolled_back_by, rolled_back_at \
                   FROM rollbacks WHERE repo = $1 ORDER BY rolled_back_at DESC";
        let rows: Vec<RollbackRow> =
            on_db_read!(self, pool => sqlx::query_as(sql).bind(repo).fetch_all(pool).await)?;
        rows.into_iter().map(RollbackRow::rollback).collect()
    }

    /// The version the repository runs now, as far as the bot knows: its newest release, or the
    /// version a later rollback went back to.
    pub async fn deployed_version(&self, repo: &str) -> Result<Option<Version>, StoreError> {
        let released = self.archived(repo).await?.into_iter().next();
        let rolled_back = self.rollbacks(repo).await?.into_iter().next();
        Ok(match (released, rolled_back) {
            (Some(r), Some(b)) if b.at > r.released_at => Some(b.version),
            (Some(r), _) => Some(r.version),
            (None, b) => b.map(|b| b.version),
        })
    }
}
