//! The intake carries out what the Slack handlers persisted before they acked: clicks on
//! approval buttons and `/review` requests. It runs after the ack, so it may ask Slack about
//! group membership, and start runs, without delaying Slack's 3-second deadline.
//!
//! Each delivery is carried out once, also across replicas: accepting or refusing a decision, or
//! starting a run, marks the delivery processed in the same transaction (see
//! `Store::accept_decision` and `Store::create_run`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::acks_first;
use super::decide::{Permission, Rejection, judge};
use super::pr::start::{Requested, Requester, ReviewRequest, request_review};
use super::{Engine, Wakers};
use crate::clock::Clock;
use crate::domain::{ApprovalId, Decision, Message, OptionName, PrRef, RepoName};
use crate::slack::approvers::Approvers;
use crate::slack::front_door::under_way_line;
use crate::store::{
    AcceptOutcome, AuditEntry, Dedupe, DeliveryRecord, OutboxItem, Store, StoreError,
};

/// An intent persisted with a delivery, to be carried out after the ack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Intent {
    /// Someone clicked an approval button.
    Decide {
        approval: ApprovalId,
        option: OptionName,
        user: String,
        /// The user's Slack name, if the payload had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_name: Option<String>,
        channel: String,
    },
    /// Someone asked for a review with `/review`.
    Review {
        pr_id: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repo: Option<RepoName>,
        user: String,
        /// Where the command was typed, to tell the user there if a run was under way already.
        channel: String,
        /// The workspace's domain, for a link to that run's card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team_domain: Option<String>,
    },
}

/// What became of a decision attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionOutcome {
    Accepted,
    Refused(Rejection),
    /// Another replica handled this delivery.
    AlreadyHandled,
}

/// Who decides: a Slack user id and, if known, their name.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
}

/// The name decisions made through the operator REST API are recorded under.
pub const OPERATOR: &str = "operator";

/// Where a decision comes from, which says how it is authorised and how a refusal is told.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    /// A button in `channel`: the approver policy applies, a refusal is an ephemeral message.
    Slack { who: Who<'a>, channel: &'a str },
    /// The operator REST API: its token is the authorisation, the HTTP answer tells a refusal.
    Operator,
}

impl<'a> Via<'a> {
    fn who(&self) -> Who<'a> {
        match self {
            Self::Slack { who, .. } => *who,
            Self::Operator => Who {
                id: OPERATOR,
                name: Some(OPERATOR),
            },
        }
    }
}

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
    approvers: Arc<Approvers>,
    wakers: Arc<Wakers>,
}

impl Intake {
    pub fn new(
        store: Store,
        clock: Clock,
        engine: Engine,
        approvers: Arc<Approvers>,
        wakers: Arc<Wakers>,
    ) -> Self {
        Self {
            store,
            clock,
            engine,
            approvers,
            wakers,
        }
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
            }) => {
                let who = Who {
                    id: &user,
                    name: user_name.as_deref(),
                };
                let via = Via::Slack {
                    who,
                    channel: &channel,
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
            }) => {
                let name = PrRef {
                    id: pr_id,
                    repo: repo.clone(),
                }
                .to_string();
                let request = ReviewRequest {
                    pr_id,
                    repo,
                    requester: Requester::Person {
                        user: user.clone(),
                        dedupe: Dedupe::Recorded(delivery.key.clone()),
                    },
                };
                match request_review(&self.engine, request).await? {
                    Requested::Started(run) => {
                        info!(key = %delivery.key, %run, %user, "review requested");
                    }
                    Requested::Duplicate => {}
                    // Another request started a run after this one was acked.
                    Requested::AlreadyRunning(run) => {
                        let detail = format!("{name} asked for again while this run is under way");
                        let audit = AuditEntry::new(Some(run.id), &user, "request_refused", detail);
                        let line = under_way_line(&name, &run, team_domain.as_deref());
                        let mut note = OutboxItem::ephemeral(&channel, &user, Message::new([line]));
                        note.run_id = Some(run.id);
                        let now = self.clock.now();
                        if self
                            .store
                            .refuse_delivery(Some(&delivery.key), &audit, Some(&note), now)
                            .await?
                        {
                            self.wakers.outbound.notify_one();
                        }
                    }
                }
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

    /// Judges and records one decision attempt. A refusal is audited, and explained to a Slack
    /// user in the channel.
    pub async fn decide(
        &self,
        delivery_key: Option<&str>,
        approval_id: ApprovalId,
        option: &OptionName,
        via: Via<'_>,
    ) -> Result<DecisionOutcome, StoreError> {
        let who = via.who();
        let user = who.id;
        let mut approval = self.store.get_approval(approval_id).await?;
        // Membership is only worth asking Slack about when the click could count.
        let could_count = judge(
            approval.as_ref(),
            option,
            &Permission::Allowed,
            self.clock.now(),
        )
        .is_ok();
        let permission = match via {
            Via::Slack { .. } if could_count => self.approvers.check(user).await,
            _ => Permission::Allowed,
        };
        let mut blocked = false;
        // Two passes at most: if the compare-and-set loses a race, read again and explain.
        for _ in 0..2 {
            let now = self.clock.now();
            let Some(record) = approval.as_ref() else {
                break;
            };
            if judge(Some(record), option, &permission, now).is_err() {
                break;
            }
            let decision = Decision {
                approval: approval_id,
                point: record.point.clone(),
                option: option.clone(),
                by: user.to_owned(),
                by_name: who.name.map(str::to_owned),
                at: now,
            };
            match self
                .store
                .accept_decision(record.run_id, &decision, delivery_key, now)
                .await?
            {
                AcceptOutcome::Accepted => {
                    self.wakers.engine.notify_one();
                    self.wakers.outbound.notify_one();
                    return Ok(DecisionOutcome::Accepted);
                }
                AcceptOutcome::AlreadyHandled => return Ok(DecisionOutcome::AlreadyHandled),
                AcceptOutcome::Blocked => {
                    blocked = true;
                    break;
                }
                AcceptOutcome::NoLongerPending => {
                    approval = self.store.get_approval(approval_id).await?
                }
            }
        }
        let now = self.clock.now();
        // A click that still looks acceptable here lost to a run that moved on without it.
        let rejection = if blocked {
            Rejection::Blocked
        } else {
            judge(approval.as_ref(), option, &permission, now)
                .err()
                .unwrap_or(Rejection::Superseded)
        };
        let run_id = approval.as_ref().map(|a| a.run_id);
        let detail = format!(
            "{} on approval {approval_id} refused: {}",
            option,
            rejection.code()
        );
        let audit = AuditEntry::new(run_id, user, "decision_refused", detail);
        let note = match via {
            Via::Slack { channel, .. } => {
                // A click in the App Home tab has no channel; the run's channel is the place.
                let channel = match (channel, run_id) {
                    ("", Some(run)) => self.store.get_run(run).await?.map(|r| r.channel_id),
                    _ => None,
                }
                .unwrap_or_else(|| channel.to_owned());
                let mut note = OutboxItem::ephemeral(&channel, user, rejection.explain());
                note.run_id = run_id;
                Some(note)
            }
            Via::Operator => None,
        };
        if !self
            .store
            .refuse_delivery(delivery_key, &audit, note.as_ref(), now)
            .await?
        {
            return Ok(DecisionOutcome::AlreadyHandled);
        }
        self.wakers.outbound.notify_one();
        Ok(DecisionOutcome::Refused(rejection))
    }
}
