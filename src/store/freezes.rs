//! Freezes: a repository frozen with `/release freeze` refuses Merge clicks and release starts
//! until `/release unfreeze`. A change is written with its audit entry, the note to whoever asked
//! and the end of the delivery that asked, in one transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use tracing::instrument;

use super::audit::insert_audit;
use super::deliveries::claim_delivery;
use super::outbox::insert_outbox;
use super::{AuditEntry, BeginWrite, OutboxItem, Store, StoreError, on_db, on_db_read};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Freeze {
    pub repo: String,
    pub reason: String,
    /// The Slack user id of who froze it.
    pub frozen_by: String,
    pub frozen_at: DateTime<Utc>,
}

const FREEZE_OF: &str = "SELECT repo, reason, frozen_by, frozen_at FROM freezes WHERE repo = $1";
const ALL: &str = "SELECT repo, reason, frozen_by, frozen_at FROM freezes ORDER BY repo";

impl Store {
    /// The repository's freeze, if it is frozen.
    #[instrument(level = "debug", skip_all, fields(repo))]
    pub async fn freeze_of(&self, repo: &str) -> Result<Option<Freeze>, StoreError> {
        Ok(
            on_db_read!(self, pool => sqlx::query_as(FREEZE_OF).bind(repo).fetch_optional(pool).await)?,
        )
    }

    /// Every frozen repository, by name.
    #[instrument(level = "debug", skip_all)]
    pub async fn freezes(&self) -> Result<Vec<Freeze>, StoreError> {
        Ok(on_db_read!(self, pool => sqlx::query_as(ALL).fetch_all(pool).await)?)
    }

    /// Freezes `freeze.repo` (a new reason replaces the old one), or unfreezes `repo` when
    /// `freeze` is `None`, for the delivery `key`. `false`: the delivery was already handled.
    #[instrument(level = "debug", skip_all, fields(key, repo))]
    pub async fn change_freeze(
        &self,
        key: &str,
        repo: &str,
        freeze: Option<&Freeze>,
        audit: &AuditEntry,
        note: &OutboxItem,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if claim_delivery!(&mut *tx, key, now)? == 0 {
                return Ok(false);
            }
            match freeze {
                Some(freeze) => {
                    sqlx::query(
                        "INSERT INTO freezes (repo, reason, frozen_by, frozen_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (repo) DO UPDATE SET reason = $2, frozen_by = $3, frozen_at = $4",
                    )
                    .bind(&freeze.repo)
                    .bind(&freeze.reason)
                    .bind(&freeze.frozen_by)
                    .bind(freeze.frozen_at)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM freezes WHERE repo = $1").bind(repo).execute(&mut *tx).await?;
                }
            }
            insert_audit!(&mut *tx, audit, now)?;
            insert_outbox!(&mut *tx, note, now)?;
            tx.commit().await?;
        });
        Ok(true)
    }
}
