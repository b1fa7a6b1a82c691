//! Releases: the staging release each repository is assembling (one current row per repo), the
//! release being shipped (frozen out of staging when its release PR is merged), and the archive
//! of released versions, which the database itself keeps immutable. This file has the types and
//! staging; `shipping.rs` the moves from staging to the archive.
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
use tracing::instrument;

use super::{BeginWrite, Store, StoreError, on_db, on_db_read};
use crate::domain::{Bump, CdRelease, Version};

/// A merged PR counted in a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedPr {
    pub id: i64,
    pub title: String,
    /// What it does to the version (patch for PRs staged before bumps were read).
    #[serde(default)]
    pub bump: Bump,
}

impl StagedPr {
    /// A merged PR, with the bump its title, description and labels ask for.
    pub fn merged(id: i64, title: &str, description: &str, labels: &[String]) -> Self {
        Self {
            id,
            title: title.to_owned(),
            bump: Bump::of(title, description, labels),
        }
    }
}

/// How a repository's next version is computed from its last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioning {
    /// The first release's version, when nothing was released or tagged before.
    pub first: Version,
    /// The last version as read before staging: the last release, or before the first one, the
    /// highest version tag on the release branch. What the database holds by the time the PR is
    /// counted wins.
    pub last: Option<Version>,
    pub minor_pre_major: bool,
}

impl Versioning {
    /// The version after `last` (the database's last release, else [`Self::last`]) for `bump`.
    pub fn next(&self, last: Option<Version>, bump: Bump) -> Version {
        last.or(self.last)
            .map_or(self.first, |last| last.bumped(bump, self.minor_pre_major))
    }
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
    /// Its run tagged the merge commit with the version.
    pub tagged: bool,
}

impl ShippingRelease {
    /// What a later release ships when this one's run stopped after its merge: this release
    /// with what was `staged` since counted in. Its version stays unless the run tagged it: a
    /// tag names one commit, so the later release takes the next version (the staged one, which
    /// was counted after this one, else the next patch).
    pub fn carried(self, staged: Option<StagingRelease>) -> StagingRelease {
        let next = match &staged {
            Some(staged) => staged.version,
            None => self.release.version.bumped(Bump::Patch, false),
        };
        let mut release = match staged {
            Some(staged) => self.release.absorb(staged),
            None => self.release,
        };
        if self.tagged {
            release.version = next;
        }
        release
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchivedRelease {
    pub repo: String,
    pub version: Version,
    pub started_at: DateTime<Utc>,
    pub tickets: Vec<String>,
    pub prs: Vec<StagedPr>,
    pub released_at: DateTime<Utc>,
    /// What deployed it, for a rollback; none for releases archived before this was kept, or
    /// imported.
    pub cd: Option<CdRelease>,
    /// The hotfix branch it shipped from, for a hotfix.
    pub hotfix: Option<String>,
}

#[derive(FromRow)]
pub(super) struct ReleaseRow {
    repo: String,
    version: String,
    started_at: DateTime<Utc>,
    tickets: Json<Vec<String>>,
    prs: Json<Vec<StagedPr>>,
    released_at: Option<DateTime<Utc>>,
    #[sqlx(default)]
    cd: Option<Json<CdRelease>>,
    #[sqlx(default)]
    hotfix: Option<String>,
}

impl ReleaseRow {
    pub(super) fn version(&self) -> Result<Version, StoreError> {
        self.version.parse().map_err(StoreError::Corrupt)
    }

    pub(super) fn staging(self) -> Result<StagingRelease, StoreError> {
        Ok(StagingRelease {
            version: self.version()?,
            repo: self.repo,
            started_at: self.started_at,
            tickets: self.tickets.0,
            prs: self.prs.0,
        })
    }

    pub(super) fn archived(self) -> Result<ArchivedRelease, StoreError> {
        Ok(ArchivedRelease {
            version: self.version()?,
            released_at: self.released_at.ok_or_else(|| {
                StoreError::Corrupt("archived release without released_at".into())
            })?,
            repo: self.repo,
            started_at: self.started_at,
            tickets: self.tickets.0,
            prs: self.prs.0,
            cd: self.cd.map(|cd| cd.0),
            hotfix: self.hotfix,
        })
    }
}

impl StagingRelease {
    /// The highest bump among the PRs, and the first PR that asks for it: why the version is
    /// what it is.
    pub fn why(&self) -> Option<&StagedPr> {
        why(&self.prs)
    }

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

/// The first of `prs` with the highest bump.
pub fn why(prs: &[StagedPr]) -> Option<&StagedPr> {
    let highest = prs.iter().map(|p| p.bump).max()?;
    prs.iter().find(|p| p.bump == highest)
}

const SELECT_STAGING: &str = "SELECT repo, version, started_at, tickets, prs, NULL AS released_at \
     FROM staging_releases";

pub(super) const STAGING_OF: &str = "SELECT repo, version, started_at, tickets, prs, NULL AS released_at \
     FROM staging_releases WHERE repo = $1";

pub(super) const UPSERT_STAGING: &str = "INSERT INTO staging_releases (repo, version, started_at, tickets, prs, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo) DO UPDATE SET version = $2, started_at = $3, \
     tickets = $4, prs = $5, updated_at = $6";

/// The repo's staging release, read on `$ex`.
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

/// The highest archived or shipping version of the repo, read on `$ex`.
macro_rules! last_version {
    ($ex:expr, $repo:expr) => {
        sqlx::query_scalar::<_, String>(
            "SELECT version FROM archived_releases WHERE repo = $1 \
             UNION SELECT version FROM shipping_releases WHERE repo = $1",
        )
        .bind($repo)
        .fetch_all($ex)
        .await?
        .iter()
        .filter_map(|v| v.parse::<Version>().ok())
        .max()
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
pub(super) use {locked, put_staging, staging};

impl Store {
    #[instrument(level = "debug", skip_all, fields(repo))]
    pub async fn staging(&self, repo: &str) -> Result<Option<StagingRelease>, StoreError> {
        Ok(on_db_read!(self, pool => staging!(pool, repo)))
    }

    #[instrument(level = "debug", skip_all)]
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
    #[instrument(level = "debug", skip_all, fields(repo = %release.repo, version = %release.version))]
    pub async fn put_staging(
        &self,
        release: &StagingRelease,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_db!(self, pool => put_staging!(pool, release, now));
        Ok(())
    }

    /// Counts a merged PR into the repo's staging release, in one transaction so that PRs merged
    /// at the same moment are all counted. The version is recomputed each time: the last
    /// released (or shipping) version plus the highest bump among the staged PRs.
    #[instrument(level = "debug", skip_all, fields(repo, pr = pr.id))]
    pub async fn stage_pr(
        &self,
        repo: &str,
        pr: StagedPr,
        tickets: &[String],
        versioning: &Versioning,
        now: DateTime<Utc>,
    ) -> Result<StagingRelease, StoreError> {
        let lock = self.repo_lock();
        let staged = on_db!(self, pool => {
            let mut tx = locked!(pool, lock, repo);
            let current = staging!(&mut *tx, repo);
            let last = last_version!(&mut *tx, repo);
            let base = current.unwrap_or_else(|| StagingRelease {
                repo: repo.to_owned(),
                version: versioning.first,
                started_at: now,
                tickets: Vec::new(),
                prs: Vec::new(),
            });
            let mut staged = base.with_pr(pr, tickets);
            let bump = staged.why().map(|p| p.bump).unwrap_or_default();
            staged.version = versioning.next(last, bump);
            put_staging!(&mut *tx, staged, now);
            tx.commit().await?;
            staged
        });
        Ok(staged)
    }

    /// The repository's last released or shipping version in the database; `None` before its
    /// first release here.
    #[instrument(level = "debug", skip_all, fields(repo))]
    pub async fn last_version(&self, repo: &str) -> Result<Option<Version>, StoreError> {
        Ok(on_db_read!(self, pool => last_version!(pool, repo)))
    }

    /// PostgreSQL: serialise the writes that move a repository's releases between tables;
    /// SQLite's write lock already does.
    pub(super) fn repo_lock(&self) -> Option<&'static str> {
        (self.dialect() == super::Dialect::Postgres).then_some(super::ADVISORY_LOCK)
    }

    /// Opens `release` as its repository's staging release unless the repository has one.
    /// `false`: it had one, which was left as it is.
    #[instrument(level = "debug", skip_all, fields(repo = %release.repo, version = %release.version))]
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
}
