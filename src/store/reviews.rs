//! The AI reviews done, one per (repository, PR, source commit) across runs: a review costs
//! money, so a second request for a commit already reviewed is shown the first one. The brief is
//! the workflow's JSON; the store does not read it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::instrument;

use super::{Store, StoreError, on_db, on_db_read};
use crate::domain::{RepoName, RunId};

/// A review kept for a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptReview {
    pub run_id: RunId,
    pub brief: Value,
    pub reviewed_at: DateTime<Utc>,
}

/// What one review cost, as the CLI reported it.
#[derive(Debug, Clone, Copy)]
pub struct ReviewSpend<'a> {
    pub run_id: RunId,
    pub source: &'a str,
    pub cost_usd: Option<f64>,
    pub tokens: Option<u64>,
}

/// Reviews and what they cost over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    pub reviews: i64,
    pub cost_usd: f64,
    pub tokens: i64,
}

impl Store {
    /// Keeps the review of `source` that `run_id` did; a fresh review replaces an older one.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr = pr_id))]
    pub async fn keep_review(
        &self,
        repo: &RepoName,
        pr_id: u32,
        source: &str,
        run_id: RunId,
        brief: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO reviews (repo, pr_id, source, run_id, brief, reviewed_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo, pr_id, source) DO UPDATE \
                   SET run_id = excluded.run_id, brief = excluded.brief, \
                   reviewed_at = excluded.reviewed_at";
        on_db!(self, pool => {
            sqlx::query(sql)
                .bind(repo.as_str())
                .bind(i64::from(pr_id))
                .bind(source)
                .bind(run_id.to_string())
                .bind(brief.to_string())
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records what the review of `source` by `run_id` cost, once (a retry records nothing).
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr = pr_id))]
    pub async fn record_spend(
        &self,
        spend: &ReviewSpend<'_>,
        repo: &RepoName,
        pr_id: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO review_spend (run_id, source, repo, pr_id, cost_usd, tokens, at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, source) DO NOTHING";
        on_db!(self, pool => {
            sqlx::query(sql)
                .bind(spend.run_id.to_string())
                .bind(spend.source)
                .bind(repo.as_str())
                .bind(i64::from(pr_id))
                .bind(spend.cost_usd)
                .bind(spend.tokens.and_then(|t| i64::try_from(t).ok()))
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The reviews done since `since` (questions answered about them are not counted as
    /// reviews), and the dollars and tokens of both.
    #[instrument(level = "debug", skip_all)]
    pub async fn spent_since(&self, since: DateTime<Utc>) -> Result<Spent, StoreError> {
        let sql = "SELECT CAST(COALESCE(SUM(CASE WHEN source LIKE 'question:%' THEN 0 ELSE 1 END), 0) \
                   AS BIGINT), CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION), \
                   CAST(COALESCE(SUM(tokens), 0) AS BIGINT) FROM review_spend WHERE at >= $1";
        let (reviews, cost_usd, tokens): (i64, f64, i64) = on_db_read!(self, pool =>
            sqlx::query_as(sql).bind(since).fetch_one(pool).await)?;
        Ok(Spent {
            reviews,
            cost_usd,
            tokens,
        })
    }

    /// When `user` started PR runs since `since`, oldest first: how many reviews they asked for
    /// in the last hour, and when the oldest of them stops counting.
    #[instrument(level = "debug", skip_all)]
    pub async fn reviews_asked_since(
        &self,
        user: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let sql = "SELECT created_at FROM runs WHERE kind = 'pr' AND started_by = $1 \
                   AND created_at > $2 ORDER BY created_at";
        let times = on_db_read!(self, pool =>
            sqlx::query_scalar(sql).bind(user).bind(since).fetch_all(pool).await)?;
        Ok(times)
    }

    /// The source commit of the PR reviewed most recently, other than `except`: what a
    /// review of `except` may review incrementally from.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr = pr_id))]
    pub async fn last_review(
        &self,
        repo: &RepoName,
        pr_id: u32,
        except: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT source FROM reviews WHERE repo = $1 AND pr_id = $2 AND source <> $3 \
                   ORDER BY reviewed_at DESC LIMIT 1";
        let source = on_db_read!(self, pool =>
            sqlx::query_scalar(sql)
                .bind(repo.as_str())
                .bind(i64::from(pr_id))
                .bind(except)
                .fetch_optional(pool)
                .await)?;
        Ok(source)
    }

    /// The review kept for `source` of the PR, if any.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, pr = pr_id))]
    pub async fn kept_review(
        &self,
        repo: &RepoName,
        pr_id: u32,
        source: &str,
    ) -> Result<Option<KeptReview>, StoreError> {
        let sql = "SELECT run_id, brief, reviewed_at FROM reviews \
                   WHERE repo = $1 AND pr_id = $2 AND source = $3";
        let row: Option<(String, String, DateTime<Utc>)> = on_db_read!(self, pool =>
            sqlx::query_as(sql)
                .bind(repo.as_str())
                .bind(i64::from(pr_id))
                .bind(source)
                .fetch_optional(pool)
                .await)?;
        row.map(|(run_id, brief, reviewed_at)| {
            Ok(KeptReview {
                run_id: RunId::parse(&run_id)
                    .ok_or_else(|| StoreError::Corrupt(format!("run id {run_id:?}")))?,
                brief: serde_json::from_str(&brief)
                    .map_err(|e| StoreError::Corrupt(format!("review brief: {e}")))?,
                reviewed_at,
            })
        })
        .transpose()
    }
}
