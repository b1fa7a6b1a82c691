//! Mentions of the bot in a run card's thread, after the ack (`workflow::questions`). A mention is
//! recorded with the end of its delivery, its audit entry and any note in one transaction, so a
//! redelivered event counts once. A question is then answered once: a worker claims it under a
//! lease, and the answer is queued in the outbox by the write that marks it answered. A finding
//! someone ignores is kept per PR (`dismissals`), so later reviews of the PR leave it out.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use tracing::instrument;

use super::audit::insert_audit;
use super::deliveries::claim_delivery;
use super::outbox::insert_outbox;
use super::{AuditEntry, BeginWrite, OutboxItem, Store, StoreError, on_db, on_db_read};
use crate::domain::{RepoName, RunId};

/// What a mention asks of the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestionKind {
    /// A question for the reviewer.
    Question,
    /// A finding someone ignored: its Azure DevOps thread is closed as won't fix.
    Ignore,
}

impl QuestionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Question => "question",
            Self::Ignore => "ignore",
        }
    }
}

/// A mention to record, under the key of the Slack event that carried it.
#[derive(Debug, Clone)]
pub struct NewQuestion<'a> {
    pub key: &'a str,
    pub run_id: RunId,
    pub kind: QuestionKind,
    pub asked_by: &'a str,
    /// The question, or the fingerprint of the ignored finding.
    pub text: &'a str,
}

/// A finding a person marked won't fix for a PR.
#[derive(Debug, Clone)]
pub struct Dismissal<'a> {
    pub repo: &'a RepoName,
    pub pr_id: u32,
    pub fingerprint: &'a str,
    pub title: &'a str,
    pub by: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct QuestionRecord {
    pub key: String,
    pub run_id: String,
    pub kind: String,
    pub asked_by: String,
    pub text: String,
    pub attempts: i64,
}

impl QuestionRecord {
    pub fn kind(&self) -> QuestionKind {
        if self.kind == QuestionKind::Ignore.as_str() {
            QuestionKind::Ignore
        } else {
            QuestionKind::Question
        }
    }
}

const CLAIM_SQLITE: &str = "UPDATE questions SET claim_by = $1, claim_until = $2 WHERE key IN (\
     SELECT key FROM questions WHERE answered_at IS NULL \
     AND (claim_until IS NULL OR claim_until < $3) ORDER BY asked_at LIMIT $4) \
     RETURNING key, run_id, kind, asked_by, text, attempts";

const CLAIM_POSTGRES: &str = "UPDATE questions SET claim_by = $1, claim_until = $2 WHERE key IN (\
     SELECT key FROM questions WHERE answered_at IS NULL \
     AND (claim_until IS NULL OR claim_until < $3) ORDER BY asked_at LIMIT $4 \
     FOR UPDATE SKIP LOCKED) RETURNING key, run_id, kind, asked_by, text, attempts";

impl Store {
    /// Records `question` for the delivery of its key, with `dismissal` (an ignore), its audit
    /// entry and `note`. `false`: the delivery was handled already (a redelivered event).
    #[instrument(level = "debug", skip_all, fields(key = question.key))]
    pub async fn record_question(
        &self,
        question: &NewQuestion<'_>,
        dismissal: Option<&Dismissal<'_>>,
        audit: &AuditEntry,
        note: Option<&OutboxItem>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if claim_delivery!(&mut *tx, question.key, now)? == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO questions (key, run_id, kind, asked_by, text, asked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
            )
            .bind(question.key)
            .bind(question.run_id.to_string())
            .bind(question.kind.as_str())
            .bind(question.asked_by)
            .bind(question.text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(d) = dismissal {
                sqlx::query(
                    "INSERT INTO dismissals (repo, pr_id, fingerprint, title, dismissed_by, dismissed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo, pr_id, fingerprint) DO NOTHING",
                )
                .bind(d.repo.as_str())
                .bind(i64::from(d.pr_id))
                .bind(d.fingerprint)
                .bind(d.title)
                .bind(d.by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            insert_audit!(&mut *tx, audit, now)?;
            if let Some(note) = note {
                insert_outbox!(&mut *tx, note, now)?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// When `user`'s questions of the last hour were asked, oldest first.
    #[instrument(level = "debug", skip_all)]
    pub async fn questions_asked_since(
        &self,
        user: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let sql = "SELECT asked_at FROM questions WHERE asked_by = $1 AND kind = 'question' \
                   AND asked_at > $2 ORDER BY asked_at";
        let rows: Vec<(DateTime<Utc>,)> = on_db_read!(self, pool =>
            sqlx::query_as(sql).bind(user).bind(since).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(at,)| at).collect())
    }

    /// Claims unanswered mentions until `until`, oldest first.
    #[instrument(level = "debug", skip_all)]
    pub async fn claim_questions(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<QuestionRecord>, StoreError> {
        let sql = self.sql(CLAIM_SQLITE, CLAIM_POSTGRES);
        self.claim(sql, owner, now, until, limit).await
    }

    /// Marks the mention `key` answered and queues `reply`, once: a second worker's answer to
    /// the same mention is dropped. `false`: it was answered already.
    #[instrument(level = "debug", skip_all, fields(key))]
    pub async fn answer_question(
        &self,
        key: &str,
        reply: Option<&OutboxItem>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE questions SET answered_at = $2, claim_by = NULL, claim_until = NULL \
                 WHERE key = $1 AND answered_at IS NULL",
            )
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Ok(false);
            }
            if let Some(reply) = reply {
                insert_outbox!(&mut *tx, reply, now)?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Keeps `owner`'s claim on the mention `key` until `until`, while it is being answered.
    #[instrument(level = "debug", skip_all, fields(key))]
    pub async fn renew_question(
        &self,
        key: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE questions SET claim_until = $3 \
                   WHERE key = $1 AND claim_by = $2 AND answered_at IS NULL";
        on_db!(self, pool => sqlx::query(sql).bind(key).bind(owner).bind(until).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }

    /// Puts the mention `key` back, to be tried again from `not_before`.
    #[instrument(level = "debug", skip_all, fields(key))]
    pub async fn retry_question(
        &self,
        key: &str,
        not_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE questions SET attempts = attempts + 1, claim_by = NULL, claim_until = $2 \
                   WHERE key = $1 AND answered_at IS NULL";
        on_db!(self, pool => sqlx::query(sql).bind(key).bind(not_before).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }

    /// The fingerprints of the findings people ignored on the PR.
    #[instrument(level = "debug", skip_all)]
    pub async fn dismissed(&self, repo: &RepoName, pr_id: u32) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT fingerprint FROM dismissals WHERE repo = $1 AND pr_id = $2 ORDER BY fingerprint";
        let rows: Vec<(String,)> = on_db_read!(self, pool =>
            sqlx::query_as(sql).bind(repo.as_str()).bind(i64::from(pr_id)).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(f,)| f).collect())
    }
}
