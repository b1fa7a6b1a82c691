//! The way out: everything the bot posts goes through here, paced to about one message per second
//! per channel (Slack's posting limit), and held back as long as Slack's 429 `Retry-After` asks.
//!
//! Two sources feed it. Cards are synced from the runs table: whenever a run's `card_version` is
//! ahead of `card_synced`, the card is rendered from the run's current state and posted (first
//! time) or updated in place, so a burst of changes costs one update. Thread replies and
//! ephemeral notes come from the outbox table. Both are claimed under a short lease, so replicas
//! do not send the same thing twice, and a crash only delays a message. A post tried before (the
//! bot died, or Slack's answer was lost, before its `ts` was recorded) is looked for in Slack by
//! the metadata it carries (`posted.rs`), and posted only if it is not there.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use slack_morphism::prelude::SlackMessageContent;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::blocks::{self, CardModel};
use super::pacer::Pacer;
use super::posted;
use super::web::{SlackApi, SlackError};
use crate::clock::Clock;
use crate::domain::{APPROVE, ApprovalStatus, Voter};
use crate::store::{ApprovalRecord, OutboxRecord, RunRecord, Store, StoreError};
use crate::workflow::{Flows, Wakers};

#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// The gap between two posts to one channel.
    pub channel_gap: Duration,
    /// How long a claimed card or message stays ours.
    pub claim: Duration,
    /// How often to look for work that other replicas queued.
    pub idle_poll: Duration,
    /// Sends of one message before it is given up as undeliverable.
    pub max_attempts: i64,
    /// Who this process is across restarts (`startup::instance`): the owner of its claims.
    pub instance: String,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            channel_gap: Duration::from_secs(1),
            claim: Duration::from_secs(60),
            idle_poll: Duration::from_secs(1),
            max_attempts: 10,
            instance: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

pub struct Outbound {
    store: Store,
    api: SlackApi,
    flows: Flows,
    clock: Clock,
    wakers: Arc<Wakers>,
    settings: OutboundSettings,
    owner: String,
    pacer: Mutex<Pacer>,
}

impl Outbound {
    pub fn new(
        store: Store,
        api: SlackApi,
        flows: Flows,
        clock: Clock,
        wakers: Arc<Wakers>,
        settings: OutboundSettings,
    ) -> Self {
        Self {
            owner: format!("outbound-{}", settings.instance),
            store,
            api,
            flows,
            clock,
            wakers,
            settings,
            pacer: Mutex::new(Pacer::default()),
        }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let busy = self.pass().await;
            if shutdown.is_cancelled() {
                return;
            }
            if busy {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wakers.outbound.notified() => {}
                () = tokio::time::sleep(self.settings.idle_poll) => {}
            }
        }
    }

    /// Syncs due cards, then sends due messages. Returns whether there was anything to do.
    pub async fn pass(&self) -> bool {
        let now = self.clock.now();
        let until = now + delta(self.settings.claim);
        let cards = or_nothing(
            self.store.claim_cards(&self.owner, now, until, 10).await,
            "cards",
        );
        for run in &cards {
            self.sync_card(run).await;
        }
        let messages = or_nothing(
            self.store.claim_outbox(&self.owner, now, until, 20).await,
            "messages",
        );
        for message in &messages {
            self.send(message).await;
        }
        !cards.is_empty() || !messages.is_empty()
    }

    async fn sync_card(&self, run: &RunRecord) {
        let approvals = match self.store.approvals_for_run(run.id).await {
            Ok(approvals) => approvals,
            Err(e) => {
                return warn!(run_id = %run.id, error = %e, "cannot read approvals for the card");
            }
        };
        let voters = match self.voters(&approvals).await {
            Ok(voters) => voters,
            Err(e) => {
                return warn!(run_id = %run.id, error = %e, "cannot read the votes for the card");
            }
        };
        let content = blocks::card(&CardModel {
            run,
            view: self.flows.card(&run.kind, &run.state),
            approvals: &approvals,
            voters: &voters,
        });
        let key = format!("card:{}", run.id);
        let sent = match &run.card_ts {
            None => {
                self.post_once(&run.channel_id, None, &key, content, false)
                    .await
            }
            Some(ts) => {
                self.pace(&run.channel_id).await;
                self.api
                    .update_message(&run.channel_id, ts, posted::tagged(content, &key))
                    .await
                    .map(|()| ts.clone())
            }
        };
        let recorded = match sent {
            Ok(ts) => {
                self.store
                    .card_synced(run.id, &self.owner, run.card_version, Some(&ts))
                    .await
            }
            Err(e) if e.is_transient() => {
                let wait = self.back_off(&run.channel_id, &e, 1).await;
                warn!(run_id = %run.id, error = %e, "card not sent; trying again");
                self.store
                    .card_retry_at(run.id, &self.owner, self.clock.now() + delta(wait))
                    .await
            }
            Err(e) => {
                error!(run_id = %run.id, error = %e, "Slack refused the card; this version is skipped");
                self.store
                    .card_synced(run.id, &self.owner, run.card_version, None)
                    .await
            }
        };
        if let Err(e) = recorded {
            warn!(run_id = %run.id, error = %e, "cannot record the card's state; it will be sent again");
        }
    }

    /// Who approved the pending approval so far, when it needs several people.
    async fn voters(&self, approvals: &[ApprovalRecord]) -> Result<Vec<Voter>, StoreError> {
        let voting = approvals
            .iter()
            .find(|a| a.status == ApprovalStatus::Pending && a.required > 1);
        match voting {
            Some(a) => self.store.voters(a.id, APPROVE).await,
            None => Ok(Vec::new()),
        }
    }

    async fn send(&self, message: &OutboxRecord) {
        let result = if message.is_ephemeral() {
            self.send_ephemeral(message).await
        } else {
            self.send_reply(message).await
        };
        let recorded = match result {
            Ok(()) => self.store.outbox_sent(message.id, self.clock.now()).await,
            Err(e) if e.is_transient() && message.attempts + 1 < self.settings.max_attempts => {
                let wait = self
                    .back_off(&message.channel_id, &e, message.attempts + 1)
                    .await;
                warn!(id = message.id, error = %e, "message not sent; trying again");
                self.store
                    .outbox_retry(message.id, self.clock.now() + delta(wait))
                    .await
            }
            Err(e) => {
                error!(id = message.id, error = %e, "message given up");
                self.store.outbox_failed(message.id, &e.to_string()).await
            }
        };
        if let Err(e) = recorded {
            warn!(id = message.id, error = %e, "cannot record a message's state; it may be sent again");
        }
    }

    /// Ephemeral notes are not bound by the channel posting limit, only by 429s. They go through
    /// the command's or click's `response_url`, which reaches a DM or a channel the bot is not
    /// in; `chat.postEphemeral` is the fallback when there is none, or it no longer takes notes
    /// (5 uses, 30 minutes).
    async fn send_ephemeral(&self, message: &OutboxRecord) -> Result<(), SlackError> {
        let user = message.user_id.as_deref().unwrap_or_default();
        for content in blocks::message(&message.message.0) {
            if let Some(url) = message.response_url.as_deref() {
                match self.api.respond(url, content.clone()).await {
                    Ok(()) => continue,
                    Err(e @ SlackError::RateLimited { .. }) => return Err(e),
                    Err(e) => warn!(
                        id = message.id,
                        error = %e,
                        "the response_url did not take the note; using chat.postEphemeral"
                    ),
                }
            }
            self.api
                .post_ephemeral(&message.channel_id, user, content)
                .await?;
        }
        Ok(())
    }

    async fn send_reply(&self, message: &OutboxRecord) -> Result<(), SlackError> {
        let run = match message
            .run_id
            .as_deref()
            .and_then(crate::domain::RunId::parse)
        {
            Some(id) => self
                .store
                .get_run(id)
                .await
                .map_err(|e| SlackError::Transport(e.to_string()))?,
            None => None,
        };
        let Some(thread) = run.and_then(|r| r.card_ts) else {
            return Err(SlackError::Api {
                code: "no_card".into(),
                detail: vec!["the run has no card to reply to".into()],
            });
        };
        for (part, content) in blocks::message(&message.message.0).into_iter().enumerate() {
            let key = format!("outbox:{}:{part}", message.id);
            self.post_once(
                &message.channel_id,
                Some(&thread),
                &key,
                content,
                message.message.0.broadcast,
            )
            .await?;
        }
        Ok(())
    }

    /// Posts `content` as post `key` unless an earlier try already did (its `ts` unrecorded
    /// when the bot died or the answer was lost), and returns the message's `ts`. A card found
    /// that way is brought up to date.
    async fn post_once(
        &self,
        channel: &str,
        thread: Option<&str>,
        key: &str,
        content: SlackMessageContent,
        broadcast: bool,
    ) -> Result<String, SlackError> {
        let content = posted::tagged(content, key);
        if let Some(ts) = self.posted_before(channel, thread, key).await? {
            info!(
                key,
                ts, "found the earlier post in Slack; not posting it again"
            );
            if thread.is_none() {
                self.pace(channel).await;
                self.api.update_message(channel, &ts, content).await?;
            }
            return Ok(ts);
        }
        self.pace(channel).await;
        self.api
            .post_message(channel, content, thread, broadcast)
            .await
    }

    /// The `ts` of post `key` if an earlier try reached Slack. Only a post tried before is
    /// looked for. When Slack's history cannot be read (the app lacks the history scopes, or
    /// is not in the channel), the post goes out again rather than be lost.
    async fn posted_before(
        &self,
        channel: &str,
        thread: Option<&str>,
        key: &str,
    ) -> Result<Option<String>, SlackError> {
        let since = match self.store.mark_post(key, self.clock.now()).await {
            Ok(None) => return Ok(None),
            Ok(Some(since)) => since,
            Err(e) => return Err(SlackError::Transport(format!("cannot mark the post: {e}"))),
        };
        match self.api.find_posts(channel, thread, since).await {
            Ok(mut found) => Ok(found.remove(key)),
            Err(e) if e.is_transient() => Err(e),
            Err(e) => {
                warn!(
                    key,
                    error = %e,
                    "cannot read Slack's history to look for an earlier try of this post, so it \
                     may show twice; give the app the channels:history and groups:history scopes \
                     and invite it to the channel"
                );
                Ok(None)
            }
        }
    }

    /// Waits for this channel's next slot.
    async fn pace(&self, channel: &str) {
        let at =
            self.pacer
                .lock()
                .await
                .reserve(channel, Instant::now(), self.settings.channel_gap);
        tokio::time::sleep_until(at).await;
    }

    /// How long to wait before the next try; a 429 also silences the channel that long.
    async fn back_off(&self, channel: &str, error: &SlackError, attempt: i64) -> Duration {
        match error {
            SlackError::RateLimited { retry_after } => {
                info!(
                    channel,
                    retry_after_s = retry_after.as_secs(),
                    "Slack asked us to slow down"
                );
                self.pacer
                    .lock()
                    .await
                    .hold(channel, Instant::now() + *retry_after);
                *retry_after
            }
            _ => Duration::from_secs(
                2u64.saturating_pow(u32::try_from(attempt.clamp(1, 8)).unwrap_or(8)),
            ),
        }
    }
}

/// What was claimed, or nothing (logged) when the store failed; the next pass tries again.
fn or_nothing<T>(claimed: Result<Vec<T>, StoreError>, what: &str) -> Vec<T> {
    claimed.unwrap_or_else(|e| {
        warn!(error = %e, "cannot claim {what} to send");
        Vec::new()
    })
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}
