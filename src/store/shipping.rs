//! Shipping: the release frozen out of staging just before its release PR merges, put back if
//! the merge does not happen, and archived once deployed. Moves between the tables hold the
//! repository's lock (PostgreSQL), so two runs never move one repository's releases at once.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use sqlx::types::Json;
use tracing::instrument;

use super::releases::{
    ArchivedRelease, ReleaseRow, STAGING_OF, ShippingRelease, StagedPr, StagingRelease,
    UPSERT_STAGING, locked, put_staging, staging,
};
use super::{BeginWrite, Store, StoreError, on_db, on_db_read};
use crate::domain::{Bump, CdRelease, Version};

#[derive(FromRow)]
struct ShippingRow {
    repo: String,
    version: String,
    started_at: DateTime<Utc>,
    tickets: Json<Vec<String>>,
    prs: Json<Vec<StagedPr>>,
    run_id: String,
    frozen_at: DateTime<Utc>,
    tagged: bool,
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
            tagged: self.tagged,
        })
    }
}

const SELECT_SHIPPING: &str = "SELECT repo, version, started_at, tickets, prs, run_id, frozen_at, \
     tagged FROM shipping_releases";

const SHIPPING_OF: &str = "SELECT repo, version, started_at, tickets, prs, run_id, frozen_at, \
     tagged FROM shipping_releases WHERE repo = $1";

const UPSERT_SHIPPING: &str = "INSERT INTO shipping_releases (repo, version, started_at, tickets, prs, run_id, frozen_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (repo) DO UPDATE SET version = $2, started_at = $3, \
     tickets = $4, prs = $5, run_id = $6, frozen_at = $7, tagged = FALSE";

const ARCHIVE: &str = "INSERT INTO archived_releases (repo, version, started_at, tickets, prs, released_at, cd) \
     SELECT repo, version, started_at, tickets, prs, $4, $5 FROM shipping_releases \
     WHERE repo = $1 AND version = $2 AND run_id = $3 ON CONFLICT (repo, version) DO NOTHING";

/// The repo's shipping release, read on `$ex`.
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

impl Store {
    #[instrument(level = "debug", skip_all, fields(repo))]
    pub async fn shipping(&self, repo: &str) -> Result<Option<ShippingRelease>, StoreError> {
        Ok(on_db_read!(self, pool => shipping!(pool, repo)))
    }

    #[instrument(level = "debug", skip_all)]
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
    /// with whatever was staged since counted in. `chosen`: the version someone asked for, in
    /// place of the staged one. Safe to repeat: once this run holds the shipping release, it is
    /// returned unchanged.
    #[instrument(level = "debug", skip_all, fields(repo, run_id))]
    pub async fn ship(
        &self,
        repo: &str,
        run_id: &str,
        chosen: Option<Version>,
        now: DateTime<Utc>,
    ) -> Result<ShippingRelease, StoreError> {
        let lock = self.repo_lock();
        let shipping = on_db!(self, pool => {
            let mut tx = locked!(pool, lock, repo);
            let held = shipping!(&mut *tx, repo);
            if let Some(held) = &held && held.run_id == run_id {
                return Ok(held.clone());
            }
            let staged = staging!(&mut *tx, repo);
            let mut release = match (held, staged) {
                (Some(held), staged) => held.carried(staged),
                (None, Some(staged)) => staged,
                (None, None) => {
                    return Err(StoreError::NotFound(format!("nothing is staged for {repo}")));
                }
            };
            match chosen {
                Some(chosen) => release.version = chosen,
                None => {
                    let archived: Vec<String> = sqlx::query_scalar("SELECT version FROM archived_releases WHERE repo = $1")
                        .bind(repo).fetch_all(&mut *tx).await?;
                    release.version = above_archived(release.version, &archived, &release.prs);
                }
            }
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
            ShippingRelease { release, run_id: run_id.to_owned(), frozen_at: now, tagged: false }
        });
        Ok(shipping)
    }

    /// Records that run `run_id` tagged the merge commit of the release it ships. Safe to repeat.
    #[instrument(level = "debug", skip_all, fields(repo, run_id))]
    pub async fn mark_tagged(&self, repo: &str, run_id: &str) -> Result<(), StoreError> {
        let sql = "UPDATE shipping_releases SET tagged = TRUE WHERE repo = $1 AND run_id = $2";
        on_db!(self, pool => sqlx::query(sql).bind(repo).bind(run_id).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Puts the release `run_id` froze back into staging, because its merge did not happen. What
    /// was staged meanwhile (under the next version) is counted in, under the frozen version.
    /// Nothing to do when this run holds no shipping release.
    #[instrument(level = "debug", skip_all, fields(repo, run_id))]
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
    /// `released_at`, with what deployed it (`cd`). Safe to repeat: once archived, the same call
    /// returns the archived row.
    #[instrument(level = "debug", skip_all, fields(repo, version = %version, run_id))]
    pub async fn archive_shipping(
        &self,
        repo: &str,
        version: Version,
        run_id: &str,
        released_at: DateTime<Utc>,
        cd: Option<&CdRelease>,
    ) -> Result<ArchivedRelease, StoreError> {
        let version_text = version.to_string();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(ARCHIVE).bind(repo).bind(&version_text).bind(run_id).bind(released_at).bind(cd.map(Json))
                .execute(&mut *tx).await?;
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

    /// Archives a release that never was in staging: a hotfix (whose PRs the run read from Azure
    /// DevOps), or one from the old agent's files. `false`: that version of the repository is
    /// archived already, and was left as it is.
    #[instrument(level = "debug", skip_all, fields(repo = %release.repo, version = %release.version))]
    pub async fn archive_release(&self, release: &ArchivedRelease) -> Result<bool, StoreError> {
        let sql = "INSERT INTO archived_releases (repo, version, started_at, tickets, prs, released_at, cd, hotfix) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (repo, version) DO NOTHING";
        let inserted = on_db!(self, pool => sqlx::query(sql)
            .bind(&release.repo)
            .bind(release.version.to_string())
            .bind(release.started_at)
            .bind(Json(&release.tickets))
            .bind(Json(&release.prs))
            .bind(release.released_at)
            .bind(release.cd.as_ref().map(Json))
            .bind(&release.hotfix)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(inserted == 1)
    }

    /// The archived releases of a repo, newest first.
    #[instrument(level = "debug", skip_all, fields(repo))]
    pub async fn archived(&self, repo: &str) -> Result<Vec<ArchivedRelease>, StoreError> {
        let sql = "SELECT repo, version, started_at, tickets, prs, released_at, cd, hotfix FROM archived_releases \
                   WHERE repo = $1 ORDER BY released_at DESC, version DESC";
        let rows: Vec<ReleaseRow> =
            on_db_read!(self, pool => sqlx::query_as(sql).bind(repo).fetch_all(pool).await)?;
        rows.into_iter().map(ReleaseRow::archived).collect()
    }
}

/// The staged version, or, when a hotfix released it (or a higher one) since it was computed,
/// the version after the highest released one by the staged PRs' highest bump.
fn above_archived(staged: Version, archived: &[String], prs: &[StagedPr]) -> Version {
    let top = archived
        .iter()
        .filter_map(|v| v.parse::<Version>().ok())
        .max();
    match top {
        Some(top) if top >= staged => {
            let bump = super::releases::why(prs).map_or(Bump::Patch, |pr| pr.bump);
            top.bumped(bump, false)
        }
        _ => staged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_version_a_hotfix_took_moves_above_it() {
        let fix = [StagedPr::merged(1, "fix: x", "", &[])];
        let feat = [StagedPr::merged(2, "feat: y", "", &[])];
        let v = |s: &str| s.parse::<Version>().unwrap();
        let archived = ["1.4.3".to_owned(), "1.4.4".to_owned()];
        assert_eq!(above_archived(v("1.4.4"), &archived, &fix), v("1.4.5"));
        assert_eq!(above_archived(v("1.4.4"), &archived, &feat), v("1.5.0"));
        assert_eq!(above_archived(v("1.5.0"), &archived, &feat), v("1.5.0"));
        assert_eq!(above_archived(v("1.4.4"), &[], &fix), v("1.4.4"));
    }

    #[test]
    fn a_left_release_keeps_its_version_unless_its_run_tagged_it() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        let release = |version: &str, id: i64| StagingRelease {
            repo: "Billo.Api".into(),
            version: v(version),
            started_at: DateTime::UNIX_EPOCH,
            tickets: Vec::new(),
            prs: vec![StagedPr::merged(id, "fix: x", "", &[])],
        };
        let left = |tagged| ShippingRelease {
            release: release("1.4.3", 1),
            run_id: "r".into(),
            frozen_at: DateTime::UNIX_EPOCH,
            tagged,
        };
        let staged = || Some(release("1.5.0", 2));
        assert_eq!(left(false).carried(None).version, v("1.4.3"));
        assert_eq!(left(false).carried(staged()).version, v("1.4.3"));
        assert_eq!(left(true).carried(None).version, v("1.4.4"));
        let carried = left(true).carried(staged());
        assert_eq!(carried.version, v("1.5.0"));
        assert_eq!(carried.prs.iter().map(|p| p.id).collect::<Vec<_>>(), [1, 2]);
    }
}
