//! Releases: the staging release each repository is assembling (one current row per repo), the
//! release being shipped (frozen out of staging when its release PR is merged), and the archive
//! of released versions, which the database itself keeps immutable.
//!
//! ```text
//!  stage_pr ──► staging ──ship──► shipping ──archive_shipping──► archived
//!                  ▲                 │
//!                  └─────unship──────┘ (the merge did not happen)
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use sqlx::types::Json;

use super::{BeginWrite, Store, StoreError, on_db, on_db_read};
use crate::domain::Version;

/// A merged PR counted in a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedPr {
    pub id: i64,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StagingRelease {
    pub repo: String,
    pub version: Version,
    pub started_at: DateTime<Utc>,
    pub tickets: Vec<String>,
    pub prs: Vec<StagedPr>,
}

/// A release frozen for shipping by the release run `run_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShippingRelease {
    pub release: StagingRelease,
    pub run_id: String,
    pub frozen_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchivedRelease {
    pub repo: String,
    pub version: Version,
    pub started_at: DateTime<Utc>,
    pub tickets: Vec<String>,
    pub prs: Vec<StagedPr>,
    pub released_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct ReleaseRow {
    repo: String,
    version: String,
    started_at: DateTime<Utc>,
    tickets: Json<Vec<String>>,
    prs: Json<Vec<StagedPr>>,
    released_at: Option<DateTime<Utc>>,
}

impl ReleaseRow {
    fn version(&self) -> Result<Version, StoreError> {
        self.version.parse().map_err(StoreError::Corrupt)
    }

    fn staging(self) -> Result<StagingRelease, StoreError> {
        Ok(StagingRelease {
            version: self.version()?,
            repo: self.repo,
            started_at: self.started_at,
            tickets: self.tickets.0,
            prs: self.prs.0,
        })
    }

    fn archived(self) -> Result<ArchivedRelease, StoreError> {
        Ok(ArchivedRelease {
            version: self.version()?,
            released_at: self.released_at.ok_or_else(|| {
                StoreError::Corrupt("archived release without released_at".into())
            })?,
            repo: self.repo,
            started_at: self.started_at,
            tickets: self.tickets.0,
            prs: self.prs.0,
        })
    }
}

#[derive(FromRow)]
struct ShippingRow {
    repo: String,
    version: String,
    started_at: DateTime<Utc>,
    tickets: Json<Vec<String>>,
    prs: Json<Vec<StagedPr>>,
    run_id: String,
    frozen_at: DateTime<Utc>,
}

impl ShippingRow {
    fn shipping(self) -> Result<ShippingRelease, StoreError> {
        Ok(ShippingRelease {
            release: StagingRelease {
                version: self.version.parse().map_err(StoreError::Corrupt)?,
                repo: self.repo,
                started_at: self.started_at,
                tickets: self.tickets.0,
                prs: self.prs.0,
            },
            run_id: self.run_id,
            frozen_at: self.frozen_at,
        })
    }
}

impl StagingRelease {
    /// This release with everything in `other` counted in too; the version and start stay.
    pub fn absorb(self, other: StagingRelease) -> Self {
        let mut merged = self;
        for pr in other.prs {
            merged = merged.with_pr(pr, &[]);
        }
        merged.with_pr_tickets(&other.tickets)
    }

    fn with_pr_tickets(mut self, tickets: &[String]) -> Self {
        for ticket in tickets {
            if !self.tickets.contains(ticket) {
                self.tickets.push(ticket.clone());
            }
        }
        self
    }

    /// The release with `pr` and its tickets counted in, each once.
    pub fn with_pr(mut self, pr: StagedPr, tickets: &[String]) -> Self {
        if !self.prs.iter().any(|p| p.id == pr.id) {
            self.prs.push(pr);
        }
        self.with_pr_tickets(tickets)
    }
}

const SELECT_STAGING: &str = "SELECT repo, version, started_at, tickets, prs, NULL AS released_at \
     FROM staging_releases";

const STAGING_OF: &str = "SELECT repo, version, started_at, tickets, prs, NULL AS released_at \
     FROM staging_releases WHERE repo = $1";

const UPSERT_STAGING: &str = "INSERT INTO staging_releases (repo, version, started_at, tickets, prs, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo) DO UPDATE SET version = $2, started_at = $3, \
     tickets = $4, prs = $5, updated_at = $6";

const SELECT_SHIPPING: &str = "SELECT repo, version, started_at, tickets, prs, run_id, frozen_at \
     FROM shipping_releases";

const SHIPPING_OF: &str = "SELECT repo, version, started_at, tickets, prs, run_id, frozen_at \
     FROM shipping_releases WHERE repo = $1";

const UPSERT_SHIPPING: &str = "INSERT INTO shipping_releases (repo, version, started_at, tickets, prs, run_id, frozen_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (repo) DO UPDATE SET version = $2, started_at = $3, \
     tickets = $4, prs = $5, run_id = $6, frozen_at = $7";

const ARCHIVE: &str = "INSERT INTO archived_releases (repo, version, started_at, tickets, prs, released_at) \
     SELECT repo, version, started_at, tickets, prs, $4 FROM shipping_releases \
     WHERE repo = $1 AND version = $2 AND run_id = $3 ON CONFLICT (repo, version) DO NOTHING";

/// The repo's staging release (`staging!`) or shipping release (`shipping!`), read on `$ex`.
macro_rules! staging {
    ($ex:expr, $repo:expr) => {
        sqlx::query_as::<_, ReleaseRow>(STAGING_OF)
            .bind($repo)
            .fetch_optional($ex)
            .await?
            .map(ReleaseRow::staging)
            .transpose()?
    };
}

macro_rules! shipping {
    ($ex:expr, $repo:expr) => {
        sqlx::query_as::<_, ShippingRow>(SHIPPING_OF)
            .bind($repo)
            .fetch_optional($ex)
            .await?
            .map(ShippingRow::shipping)
            .transpose()?
    };
}

/// Writes `$release` as the repo's staging release, on `$ex`.
macro_rules! put_staging {
    ($ex:expr, $release:expr, $now:expr) => {
        put_staging!(UPSERT_STAGING, $ex, $release, $now)
    };
    ($sql:expr, $ex:expr, $release:expr, $now:expr) => {
        sqlx::query($sql)
            .bind(&$release.repo)
            .bind($release.version.to_string())
            .bind($release.started_at)
            .bind(Json(&$release.tickets))
            .bind(Json(&$release.prs))
            .bind($now)
            .execute($ex)
            .await?
            .rows_affected()
    };
}

/// A write transaction on `$pool` that holds the lock of `$repo` (PostgreSQL).
macro_rules! locked {
    ($pool:expr, $lock:expr, $repo:expr) => {{
        let mut tx = $pool.begin_write().await?;
        if let Some(lock) = $lock {
            sqlx::query(lock).bind($repo).execute(&mut *tx).await?;
        }
        tx
    }};
}

impl Store {
    pub async fn staging(&self, repo: &str) -> Result<Option<StagingRelease>, StoreError> {
        Ok(on_db_read!(self, pool => staging!(pool, repo)))
    }

    pub async fn all_staging(&self) -> Result<Vec<StagingRelease>, StoreError> {
        let rows: Vec<ReleaseRow> = on_db_read!(self, pool =>
            sqlx::query_as(SELECT_STAGING).fetch_all(pool).await)?;
        let mut releases: Vec<StagingRelease> = rows
            .into_iter()
            .map(ReleaseRow::staging)
            .collect::<Result<_, _>>()?;
        releases.sort_by(|a, b| a.repo.cmp(&b.repo));
        Ok(releases)
    }

    /// Creates or replaces the repo's staging release.
    pub async fn put_staging(
        &self,
        release: &StagingRelease,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_db!(self, pool => put_staging!(pool, release, now));
        Ok(())
    }

    /// Counts a merged PR into the repo's staging release, in one transaction so that PRs merged
    /// at the same moment are all counted. Without a staging release, a new one opens at the last
    /// released (or shipping) version plus one patch (`first` when nothing was released yet).
    pub async fn stage_pr(
        &self,
        repo: &str,
        pr: StagedPr,
        tickets: &[String],
        first: Version,
        now: DateTime<Utc>,
    ) -> Result<StagingRelease, StoreError> {
        let lock = self.repo_lock();
        let staged = on_db!(self, pool => {
            let mut tx = locked!(pool, lock, repo);
            let current = staging!(&mut *tx, repo);
            let released: Vec<String> = sqlx::query_scalar(
                "SELECT version FROM archived_releases WHERE repo = $1 UNION SELECT version FROM shipping_releases WHERE repo = $1",
            )
            .bind(repo)
            .fetch_all(&mut *tx)
            .await?;
            let base = current.unwrap_or_else(|| StagingRelease {
                repo: repo.to_owned(),
                version: released.iter().filter_map(|v| v.parse::<Version>().ok()).max().map_or(first, Version::next_patch),
                started_at: now,
                tickets: Vec::new(),
                prs: Vec::new(),
            });
            let staged = base.with_pr(pr, tickets);
            put_staging!(&mut *tx, staged, now);
            tx.commit().await?;
            staged
        });
        Ok(staged)
    }

    /// PostgreSQL: serialise the writes that move a repository's releases between tables;
    /// SQLite's write lock already does.
    fn repo_lock(&self) -> Option<&'static str> {
        (self.dialect() == super::Dialect::Postgres).then_some(super::ADVISORY_LOCK)
    }

    pub async fn shipping(&self, repo: &str) -> Result<Option<ShippingRelease>, StoreError> {
        Ok(on_db_read!(self, pool => shipping!(pool, repo)))
    }

    pub async fn all_shipping(&self) -> Result<Vec<ShippingRelease>, StoreError> {
        let rows: Vec<ShippingRow> = on_db_read!(self, pool =>
            sqlx::query_as(SELECT_SHIPPING).fetch_all(pool).await)?;
        let mut releases: Vec<ShippingRelease> = rows
            .into_iter()
            .map(ShippingRow::shipping)
            .collect::<Result<_, _>>()?;
        releases.sort_by(|a, b| a.release.repo.cmp(&b.release.repo));
        Ok(releases)
    }

    /// Freezes the repo's release for the release run `run_id`, just before its release PR is
    /// merged: the staging release moves to shipping, so PRs merged from now on open the next
    /// version. A release an earlier run left shipping (it stopped after its merge) is taken over,
    /// with whatever was staged since counted in. Safe to repeat: once this run holds the shipping
    /// release, it is returned unchanged.
    pub async fn ship(
        &self,
        repo: &str,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<ShippingRelease, StoreError> {
        let lock = self.repo_lock();
        let shipping = on_db!(self, pool => {
            let mut tx = locked!(pool, lock, repo);
            let held = shipping!(&mut *tx, repo);
            if let Some(held) = &held && held.run_id == run_id {
                return Ok(held.clone());
            }
            let release = match (held, staging!(&mut *tx, repo)) {
                (Some(held), Some(staged)) => held.release.absorb(staged),
                (Some(held), None) => held.release,
                (None, Some(staged)) => staged,
                (None, None) => {
                    return Err(StoreError::NotFound(format!("nothing is staged for {repo}")));
                }
            };
            sqlx::query(UPSERT_SHIPPING)
                .bind(&release.repo)
                .bind(release.version.to_string())
                .bind(release.started_at)
                .bind(Json(&release.tickets))
                .bind(Json(&release.prs))
                .bind(run_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM staging_releases WHERE repo = $1").bind(repo).execute(&mut *tx).await?;
            tx.commit().await?;
            ShippingRelease { release, run_id: run_id.to_owned(), frozen_at: now }
        });
        Ok(shipping)
    }

    /// Puts the release `run_id` froze back into staging, because its merge did not happen. What
    /// was staged meanwhile (under the next version) is counted in, under the frozen version.
    /// Nothing to do when this run holds no shipping release.
    pub async fn unship(
        &self,
        repo: &str,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let lock = self.repo_lock();
        on_db!(self, pool => {
            let mut tx = locked!(pool, lock, repo);
            let Some(held) = shipping!(&mut *tx, repo).filter(|held| held.run_id == run_id) else {
                return Ok(());
            };
            let release = match staging!(&mut *tx, repo) {
                Some(staged) => held.release.absorb(staged),
                None => held.release,
            };
            put_staging!(&mut *tx, release, now);
            sqlx::query("DELETE FROM shipping_releases WHERE repo = $1").bind(repo).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Moves the release `version` that run `run_id` shipped into the archive, stamped
    /// `released_at`. Safe to repeat: once archived, the same call returns the archived row.
    pub async fn archive_shipping(
        &self,
        repo: &str,
        version: Version,
        run_id: &str,
        released_at: DateTime<Utc>,
    ) -> Result<ArchivedRelease, StoreError> {
        let version_text = version.to_string();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(ARCHIVE).bind(repo).bind(&version_text).bind(run_id).bind(released_at).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM shipping_releases WHERE repo = $1 AND version = $2 AND run_id = $3")
                .bind(repo).bind(&version_text).bind(run_id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.archived(repo)
            .await?
            .into_iter()
            .find(|r| r.version == version)
            .ok_or_else(|| {
                StoreError::NotFound(format!("no shipping or archived release {repo} {version}"))
            })
    }

    /// Adds a release from elsewhere (the old agent's files) to the archive. `false`: that
    /// version of the repository is archived already, and was left as it is.
    pub async fn import_archived(&self, release: &ArchivedRelease) -> Result<bool, StoreError> {
        let sql = "INSERT INTO archived_releases (repo, version, started_at, tickets, prs, released_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo, version) DO NOTHING";
        let inserted = on_db!(self, pool => sqlx::query(sql)
            .bind(&release.repo)
            .bind(release.version.to_string())
            .bind(release.started_at)
            .bind(Json(&release.tickets))
            .bind(Json(&release.prs))
            .bind(release.released_at)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(inserted == 1)
    }

    /// Opens `release` as its repository's staging release unless the repository has one.
    /// `false`: it had one, which was left as it is.
    pub async fn import_staging(
        &self,
        release: &StagingRelease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO staging_releases (repo, version, started_at, tickets, prs, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo) DO NOTHING";
        let inserted = on_db!(self, pool => put_staging!(sql, pool, release, now));
        Ok(inserted == 1)
    }

    /// The archived releases of a repo, newest first.
    pub async fn archived(&self, repo: &str) -> Result<Vec<ArchivedRelease>, StoreError> {
        let sql = "SELECT repo, version, started_at, tickets, prs, released_at FROM archived_releases \
                   WHERE repo = $1 ORDER BY released_at DESC, version DESC";
        let rows: Vec<ReleaseRow> =
            on_db_read!(self, pool => sqlx::query_as(sql).bind(repo).fetch_all(pool).await)?;
        rows.into_iter().map(ReleaseRow::archived).collect()
    }
}
