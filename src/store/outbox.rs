//! The outbox: Slack messages to send, written in the transaction that decided to send them, so
//! a crash can delay a message but never lose it. A sender claims rows under a short lease, so two
//! replicas do not send the same row.
//!
//! Cards are not in the outbox: a run's card is re-rendered from the run whenever
//! `card_version` moves past `card_synced`, so only the latest state is ever sent.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use sqlx::types::Json;
use tracing::instrument;

use super::runs::{RunRow, records};
use super::{RunRecord, Store, StoreError, on_db, on_db_read};
use crate::domain::{Message, RunId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// A reply in the thread of a run's card.
    ThreadReply,
    /// A note only one user sees.
    Ephemeral,
}

impl OutboxKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ThreadReply => "thread_reply",
            Self::Ephemeral => "ephemeral",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub kind: OutboxKind,
    pub run_id: Option<RunId>,
    pub channel_id: String,
    pub user_id: Option<String>,
    pub message: Message,
    /// For an ephemeral note: the command's or click's `response_url`, which reaches the user
    /// where `chat.postEphemeral` cannot (a DM, a channel the bot is not in).
    pub response_url: Option<String>,
}

impl OutboxItem {
    pub fn ephemeral(channel_id: &str, user_id: &str, message: Message) -> Self {
        Self {
            kind: OutboxKind::Ephemeral,
            run_id: None,
            channel_id: channel_id.to_owned(),
            user_id: Some(user_id.to_owned()),
            message,
            response_url: None,
        }
    }

    /// A reply in the thread of `run`'s card, which is in `channel_id`.
    pub fn thread_reply(run: RunId, channel_id: &str, message: Message) -> Self {
        Self {
            kind: OutboxKind::ThreadReply,
            run_id: Some(run),
            channel_id: channel_id.to_owned(),
            user_id: None,
            message,
            response_url: None,
        }
    }

    /// The note goes through `response_url` when there is one.
    pub fn answering(mut self, response_url: Option<&str>) -> Self {
        self.response_url = response_url.map(str::to_owned);
        self
    }
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct OutboxRecord {
    pub id: i64,
    pub run_id: Option<String>,
    pub kind: String,
    pub channel_id: String,
    pub user_id: Option<String>,
    pub message: Json<Message>,
    pub attempts: i64,
    pub sent_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub response_url: Option<String>,
}

impl OutboxRecord {
    pub fn is_ephemeral(&self) -> bool {
        self.kind == OutboxKind::Ephemeral.as_str()
    }
}

/// Queues `$item` on executor `$exec`.
macro_rules! insert_outbox {
    ($exec:expr, $item:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO outbox (run_id, kind, channel_id, user_id, message, not_before, created_at, \
             response_url) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind($item.run_id.map(|id| id.to_string()))
        .bind($item.kind.as_str())
        .bind(&$item.channel_id)
        .bind(&$item.user_id)
        .bind(sqlx::types::Json(&$item.message))
        .bind($now)
        .bind(&$item.response_url)
        .execute($exec)
        .await
        .map(|done| done.rows_affected())
    };
}
pub(crate) use insert_outbox;

/// Thread replies wait until their card exists, so they always have a thread to go to.
const CLAIM_OUTBOX_SQLITE: &str = "UPDATE outbox SET claim_by = $1, claim_until = $2 WHERE id IN (\
     SELECT o.id FROM outbox o LEFT JOIN runs r ON r.id = o.run_id \
     WHERE o.sent_at IS NULL AND o.error IS NULL AND o.not_before <= $3 \
     AND (o.claim_until IS NULL OR o.claim_until < $3) \
     AND (o.kind = 'ephemeral' OR r.card_ts IS NOT NULL) ORDER BY o.id LIMIT $4) \
     RETURNING id, run_id, kind, channel_id, user_id, message, attempts, sent_at, error, response_url";

const CLAIM_OUTBOX_POSTGRES: &str = "UPDATE outbox SET claim_by = $1, claim_until = $2 WHERE id IN (\
     SELECT o.id FROM outbox o LEFT JOIN runs r ON r.id = o.run_id \
     WHERE o.sent_at IS NULL AND o.error IS NULL AND o.not_before <= $3 \
     AND (o.claim_until IS NULL OR o.claim_until < $3) \
     AND (o.kind = 'ephemeral' OR r.card_ts IS NOT NULL) ORDER BY o.id LIMIT $4 \
     FOR UPDATE OF o SKIP LOCKED) \
     RETURNING id, run_id, kind, channel_id, user_id, message, attempts, sent_at, error, response_url";

const CLAIM_CARDS_SQLITE: &str = "UPDATE runs SET card_claim_by = $1, card_claim_until = $2 WHERE id IN (\
     SELECT id FROM runs WHERE card_version > card_synced \
     AND (card_claim_until IS NULL OR card_claim_until < $3) ORDER BY created_at LIMIT $4) \
     RETURNING *";

const CLAIM_CARDS_POSTGRES: &str = "UPDATE runs SET card_claim_by = $1, card_claim_until = $2 WHERE id IN (\
     SELECT id FROM runs WHERE card_version > card_synced \
     AND (card_claim_until IS NULL OR card_claim_until < $3) ORDER BY created_at LIMIT $4 \
     FOR UPDATE SKIP LOCKED) RETURNING *";

/// Records that `version` of the card is on screen. A newer version written meanwhile stays
/// pending, so the card is rendered again.
const CARD_SYNCED: &str = "UPDATE runs SET \
     card_synced = CASE WHEN card_synced < $3 THEN $3 ELSE card_synced END, \
     card_ts = COALESCE(card_ts, $4), card_claim_by = NULL, card_claim_until = NULL \
     WHERE id = $1 AND card_claim_by = $2";

impl Store {
    /// Claims messages that are due, oldest first.
    #[instrument(level = "debug", skip_all, fields(limit))]
    pub async fn claim_outbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = self.sql(CLAIM_OUTBOX_SQLITE, CLAIM_OUTBOX_POSTGRES);
        let mut rows: Vec<OutboxRecord> = self.claim(sql, owner, now, until, limit).await?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    #[instrument(level = "debug", skip_all, fields(outbox_id = id))]
    pub async fn outbox_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let sql =
            "UPDATE outbox SET sent_at = $2, claim_by = NULL, claim_until = NULL WHERE id = $1";
        on_db!(self, pool => sqlx::query(sql).bind(id).bind(now).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }

    /// Puts a message back until `not_before`, counting the failed attempt.
    #[instrument(level = "debug", skip_all, fields(outbox_id = id))]
    pub async fn outbox_retry(&self, id: i64, not_before: DateTime<Utc>) -> Result<(), StoreError> {
        let sql = "UPDATE outbox SET not_before = $2, attempts = attempts + 1, claim_by = NULL, \
                   claim_until = NULL WHERE id = $1";
        on_db!(self, pool => sqlx::query(sql).bind(id).bind(not_before).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }

    /// Gives up on a message that Slack refuses for good; the error stays for operators.
    #[instrument(level = "debug", skip_all, fields(outbox_id = id))]
    pub async fn outbox_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        let sql = "UPDATE outbox SET error = $2, claim_by = NULL, claim_until = NULL WHERE id = $1";
        on_db!(self, pool => sqlx::query(sql).bind(id).bind(error).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }

    /// All messages of a run, oldest first (for status pages and tests).
    #[instrument(level = "debug", skip_all, fields(run_id = %run_id))]
    pub async fn outbox_for_run(&self, run_id: RunId) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = "SELECT id, run_id, kind, channel_id, user_id, message, attempts, sent_at, error, response_url FROM outbox \
                   WHERE run_id = $1 ORDER BY id";
        let rows = on_db_read!(self, pool => sqlx::query_as(sql).bind(run_id.to_string()).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Claims runs whose card is behind their state.
    #[instrument(level = "debug", skip_all, fields(limit))]
    pub async fn claim_cards(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let sql = self.sql(CLAIM_CARDS_SQLITE, CLAIM_CARDS_POSTGRES);
        let mut runs = records(self.claim::<RunRow>(sql, owner, now, until, limit).await?)?;
        runs.sort_by_key(|r| r.created_at);
        Ok(runs)
    }

    /// Records that `version` of a run's card was sent (posted as `ts` the first time), or was
    /// given up on (`ts` = `None`).
    #[instrument(level = "debug", skip_all, fields(run_id = %id, card_version = version))]
    pub async fn card_synced(
        &self,
        id: RunId,
        owner: &str,
        version: i64,
        ts: Option<&str>,
    ) -> Result<(), StoreError> {
        on_db!(self, pool =>
            sqlx::query(CARD_SYNCED).bind(id.to_string()).bind(owner).bind(version).bind(ts).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }

    /// Leaves a card claimed by nobody until `retry_at`, after a failed send.
    #[instrument(level = "debug", skip_all, fields(run_id = %id))]
    pub async fn card_retry_at(
        &self,
        id: RunId,
        owner: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE runs SET card_claim_by = NULL, card_claim_until = $3 WHERE id = $1 AND card_claim_by = $2";
        on_db!(self, pool => sqlx::query(sql).bind(id.to_string()).bind(owner).bind(retry_at).execute(pool).await.map(|d| d.rows_affected()))?;
        Ok(())
    }
}
