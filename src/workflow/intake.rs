//! The intake carries out what the Slack handlers persisted before they acked: today, clicks on
//! approval buttons. It runs after the ack, so it may ask Slack about group membership without
//! delaying Slack's 3-second deadline.
//!
//! Each delivery is carried out once, also across replicas: accepting or refusing a decision
//! marks the delivery processed in the same transaction (see `Store::accept_decision`).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Wakers;
use super::decide::{Permission, Rejection, judge};
use crate::clock::Clock;
use crate::domain::{ApprovalId, Decision, OptionName};
use crate::slack::approvers::Approvers;
use crate::store::{AcceptOutcome, AuditEntry, DeliveryRecord, OutboxItem, Store, StoreError};

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

#[derive(Clone)]
pub struct Intake {
    store: Store,
    clock: Clock,
    approvers: Arc<Approvers>,
    wakers: Arc<Wakers>,
}

impl Intake {
    pub fn new(store: Store, clock: Clock, approvers: Arc<Approvers>, wakers: Arc<Wakers>) -> Self {
        Self {
            store,
            clock,
            approvers,
            wakers,
        }
    }

    /// Carries out pending deliveries until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            self.process_pending().await;
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wakers.intake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Carries out every pending delivery; returns how many it looked at.
    pub async fn process_pending(&self) -> usize {
        let pending = match self.store.pending_deliveries(100).await {
            Ok(pending) => pending,
            Err(e) => {
                warn!(error = %e, "cannot read pending deliveries");
                return 0;
            }
        };
        let count = pending.len();
        for delivery in pending {
            if let Err(e) = self.process(&delivery).await {
                warn!(key = %delivery.key, error = %e, "cannot carry out a delivery; will try again");
            }
        }
        count
    }

    async fn process(&self, delivery: &DeliveryRecord) -> Result<(), StoreError> {
        let intent = delivery
            .intent
            .as_ref()
            .and_then(|json| serde_json::from_value::<Intent>(json.0.clone()).ok());
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
            .reject_decision(delivery_key, &audit, note.as_ref(), now)
            .await?
        {
            return Ok(DecisionOutcome::AlreadyHandled);
        }
        self.wakers.outbound.notify_one();
        Ok(DecisionOutcome::Refused(rejection))
    }
}
