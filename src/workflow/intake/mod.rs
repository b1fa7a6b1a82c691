//! The intake carries out what the Slack handlers persisted before they acked (`intent.rs`):
//! clicks on approval buttons (`decision.rs`), `/review` requests, freezes (`freeze.rs`) and
//! mentions of the bot in a card's thread (`mention.rs`). It runs after the ack, so it may ask
//! the chat about group membership (through [`Chat`], which Slack implements), and start runs,
//! without delaying Slack's 3-second deadline.
//!
//! Each delivery is carried out once, also across replicas: accepting or refusing a decision, or
//! starting a run, marks the delivery processed in the same transaction (see
//! `Store::accept_decision` and `Store::create_run`).

mod decision;
mod freeze;
mod intent;
mod mention;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::acks_first;
use super::chat::Chat;
use super::pr::start::{Requested, Requester, ReviewRequest, request_review};
use super::pr::view::under_way_line;
use super::{Engine, Wakers};
use crate::clock::Clock;
use crate::domain::{ApprovalId, ApprovalPolicy, Line, Message, PrRef};
use crate::store::{AuditEntry, Dedupe, DeliveryRecord, OutboxItem, RunRecord, Store, StoreError};

pub use decision::{DecisionOutcome, OPERATOR, Via, Who};
pub use intent::{Intent, Place};

/// Deliveries read per pass.
const PENDING_BATCH: usize = 256;

/// The intent saved with `delivery`, if this version understands it.
fn intent(delivery: &DeliveryRecord) -> Option<Intent> {
    let json = delivery.intent.as_ref()?;
    serde_json::from_value(json.0.clone()).ok()
}

#[derive(Clone)]
pub struct Intake {
    store: Store,
    clock: Clock,
    engine: Engine,
    chat: Arc<dyn Chat>,
    /// Who may decide what (SLACK_APPROVERS, REPOS_CONFIG's `approvers`, ALLOW_SELF_APPROVAL).
    policy: Arc<ApprovalPolicy>,
    wakers: Arc<Wakers>,
    /// `/review`s one person may ask for in an hour (REVIEW_RATE_PER_USER_PER_HOUR).
    reviews_per_hour: u32,
}

impl Intake {
    pub fn new(
        store: Store,
        clock: Clock,
        engine: Engine,
        chat: Arc<dyn Chat>,
        policy: ApprovalPolicy,
        wakers: Arc<Wakers>,
        reviews_per_hour: u32,
    ) -> Self {
        Self {
            store,
            clock,
            engine,
            chat,
            policy: Arc::new(policy),
            wakers,
            reviews_per_hour,
        }
    }

    /// The time on the intake's clock (the engine's, so tests can move it).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Carries out pending deliveries until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            self.wakers.acks.settled(acks_first::WAIT_AT_MOST).await;
            // A full pass that got somewhere leaves more behind: go on at once.
            if self.process_pending().await == PENDING_BATCH {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wakers.intake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Carries out up to [`PENDING_BATCH`] pending deliveries; returns how many it carried out.
    /// Review requests are started together, so a burst of them shares few transactions; clicks
    /// go one by one, in the order they came.
    async fn process_pending(&self) -> usize {
        let pending = match self.store.pending_deliveries(PENDING_BATCH as i64).await {
            Ok(pending) => pending,
            Err(e) => {
                warn!(error = %e, "cannot read pending deliveries");
                return 0;
            }
        };
        let (reviews, others): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .map(|delivery| (intent(&delivery), delivery))
            .partition(|(intent, _)| matches!(intent, Some(Intent::Review { .. })));
        let reviews = reviews
            .into_iter()
            .map(|(intent, delivery)| self.process(delivery, intent));
        let mut done = join_all(reviews).await.into_iter().filter(|ok| *ok).count();
        for (intent, delivery) in others {
            done += usize::from(self.process(delivery, intent).await);
        }
        done
    }

    /// Whether `delivery` was carried out; if not, it stays pending for the next pass.
    async fn process(&self, delivery: DeliveryRecord, intent: Option<Intent>) -> bool {
        match self.carry_out(&delivery, intent).await {
            Ok(()) => true,
            Err(e) => {
                warn!(key = %delivery.key, error = %e, "cannot carry out a delivery; will try again");
                false
            }
        }
    }

    async fn carry_out(
        &self,
        delivery: &DeliveryRecord,
        intent: Option<Intent>,
    ) -> Result<(), StoreError> {
        match intent {
            Some(Intent::Decide {
                approval,
                option,
                user,
                user_name,
                channel,
                place,
                response_url,
            }) => {
                let who = Who {
                    id: &user,
                    name: user_name.as_deref(),
                };
                let via = Via::Slack {
                    who,
                    channel: &channel,
                    place: &place,
                    response_url: response_url.as_deref(),
                };
                let outcome = self
                    .decide(Some(&delivery.key), approval, &option, via)
                    .await?;
                info!(key = %delivery.key, %approval, %user, ?outcome, "decision handled");
            }
            Some(Intent::Review {
                pr_id,
                repo,
                user,
                channel,
                team_domain,
                response_url,
            }) => {
                let asker = Asker {
                    user: &user,
                    channel: &channel,
                    team_domain: team_domain.as_deref(),
                    response_url: response_url.as_deref(),
                };
                let pr = PrRef { id: pr_id, repo };
                self.start_review(&delivery.key, pr, asker).await?;
            }
            Some(Intent::Freeze {
                repo,
                reason,
                user,
                channel,
                response_url,
            }) => {
                let asker = Asker {
                    user: &user,
                    channel: &channel,
                    team_domain: None,
                    response_url: response_url.as_deref(),
                };
                self.change_freeze(&delivery.key, &repo, reason, asker)
                    .await?;
            }
            Some(Intent::Mention {
                user,
                channel,
                thread_ts,
                text,
            }) => {
                let mentioned = mention::Mentioned {
                    key: &delivery.key,
                    user: &user,
                    channel: &channel,
                    thread_ts: thread_ts.as_deref(),
                    text: &text,
                };
                self.mention(mentioned).await?;
            }
            Some(Intent::Foreign {
                user,
                detail,
                approval,
            }) => {
                self.audit_foreign(&delivery.key, user.as_deref(), detail, approval)
                    .await?;
            }
            None => {
                warn!(key = %delivery.key, "delivery has no intent this version understands; dropping it");
                self.store
                    .finish_delivery(&delivery.key, self.clock.now())
                    .await?;
            }
        }
        Ok(())
    }

    /// Audits an envelope from another workspace, organisation or app, under the run of the
    /// approval it clicked, if any.
    async fn audit_foreign(
        &self,
        key: &str,
        user: Option<&str>,
        detail: String,
        approval: Option<ApprovalId>,
    ) -> Result<(), StoreError> {
        let run_id = match approval {
            Some(id) => self.store.get_approval(id).await?.map(|a| a.run_id),
            None => None,
        };
        let actor = user.unwrap_or("slack");
        let audit = AuditEntry::new(run_id, actor, "envelope_ignored", detail).via("Slack");
        let now = self.clock.now();
        self.store
            .refuse_delivery(Some(key), &audit, None, now)
            .await?;
        Ok(())
    }

    /// Starts the review a `/review` saved under `key`. A run that another request started after
    /// this one was acked is told to the asker.
    async fn start_review(&self, key: &str, pr: PrRef, asker: Asker<'_>) -> Result<(), StoreError> {
        let name = pr.to_string();
        if let Some(next) = self.next_review_at(asker.user).await? {
            return self.tell_rate(key, &name, next, asker).await;
        }
        let request = ReviewRequest {
            pr_id: pr.id,
            repo: pr.repo,
            requester: Requester::Person {
                user: asker.user.to_owned(),
                dedupe: Dedupe::Recorded(key.to_owned()),
            },
        };
        match request_review(&self.engine, request).await? {
            Requested::Started(run) => info!(key, %run, user = asker.user, "review requested"),
            Requested::Duplicate => {}
            Requested::AlreadyRunning(run) => self.tell_under_way(key, &name, &run, asker).await?,
        }
        Ok(())
    }

    /// When `user` may ask for a review again, if they have asked for their hour's share.
    async fn next_review_at(&self, user: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = self.clock.now();
        let asked = self
            .store
            .reviews_asked_since(user, now - TimeDelta::hours(1))
            .await?;
        Ok(next_allowed(&asked, self.reviews_per_hour))
    }

    /// Refuses the request saved under `key` for the asker's hourly limit: audited, and the
    /// asker learns when the next review is possible.
    async fn tell_rate(
        &self,
        key: &str,
        name: &str,
        next: DateTime<Utc>,
        asker: Asker<'_>,
    ) -> Result<(), StoreError> {
        let most = self.reviews_per_hour;
        let detail = format!(
            "a review of {name} refused: {most} reviews asked for in the last hour \
             (REVIEW_RATE_PER_USER_PER_HOUR)"
        );
        let audit =
            AuditEntry::new(None, asker.user, "request_refused", detail).via("slash command");
        let text = format!(
            "You have asked for {most} reviews in the last hour, the most one person may \
             (REVIEW_RATE_PER_USER_PER_HOUR). The next is possible at {} UTC; {name} was not \
             reviewed.",
            next.format("%H:%M")
        );
        let note = OutboxItem::ephemeral(
            asker.channel,
            asker.user,
            Message::new([Line::new().plain(text)]),
        )
        .answering(asker.response_url);
        if self
            .store
            .refuse_delivery(Some(key), &audit, Some(&note), self.clock.now())
            .await?
        {
            self.wakers.outbound.notify_one();
        }
        Ok(())
    }

    /// Refuses the request saved under `key`: audited, and the asker is pointed at `run`.
    async fn tell_under_way(
        &self,
        key: &str,
        name: &str,
        run: &RunRecord,
        asker: Asker<'_>,
    ) -> Result<(), StoreError> {
        let detail = format!("{name} asked for again while this run is under way");
        let audit = AuditEntry::new(Some(run.id), asker.user, "request_refused", detail)
            .via("slash command");
        let card = asker
            .team_domain
            .and_then(|domain| self.chat.card_link(domain, run));
        let line = under_way_line(name, run, card);
        let mut note = OutboxItem::ephemeral(asker.channel, asker.user, Message::new([line]))
            .answering(asker.response_url);
        note.run_id = Some(run.id);
        let now = self.clock.now();
        if self
            .store
            .refuse_delivery(Some(key), &audit, Some(&note), now)
            .await?
        {
            self.wakers.outbound.notify_one();
        }
        Ok(())
    }
}

/// When one more request is possible, if `asked` (the last hour's, oldest first) holds `most`
/// already: the oldest of the last `most` stops counting an hour after it was made.
fn next_allowed(asked: &[DateTime<Utc>], most: u32) -> Option<DateTime<Utc>> {
    let most = usize::try_from(most.max(1)).unwrap_or(usize::MAX);
    (asked.len() >= most).then(|| asked[asked.len() - most] + TimeDelta::hours(1))
}

/// Who asked for a review, and where to answer them.
#[derive(Clone, Copy)]
struct Asker<'a> {
    user: &'a str,
    channel: &'a str,
    /// The workspace's domain, for a link to a run's card.
    team_domain: Option<&'a str>,
    response_url: Option<&'a str>,
}
