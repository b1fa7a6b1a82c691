//! One decision attempt, from a button or the operator API: judged (see [`judge`]), then
//! accepted by the store's compare-and-set, or refused with an audit entry and, for a Slack user,
//! an explanation in the channel.

use tracing::warn;

use super::{Intake, Place};
use crate::domain::{ApprovalId, Deciders, Decision, OptionName, Through};
use crate::store::{
    AcceptOutcome, ApprovalRecord, AuditEntry, Ballot, Freeze, OutboxItem, RunRecord, StoreError,
};
use crate::workflow::decide::{Own, Permission, Rejection, judge};

/// What became of a decision attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionOutcome {
    Accepted,
    /// A vote towards an option that needs several people; `so_far` of `required` have.
    Counted {
        so_far: u32,
        required: u32,
    },
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

/// Who runs started with the nameless OPERATOR_TOKEN are recorded as started by.
pub const OPERATOR: &str = "operator";

/// Where a decision comes from, which says how it is authorised and how a refusal is told.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    /// A button at `place` in `channel`: the approver policy applies, a refusal is an ephemeral
    /// message.
    Slack {
        who: Who<'a>,
        channel: &'a str,
        place: &'a Place,
        /// The click's `response_url`, where a refusal is told.
        response_url: Option<&'a str>,
    },
    /// The operator REST API, with `user`'s own token (OPERATOR_TOKENS): the same policy as
    /// their clicks; the HTTP answer tells a refusal.
    Operator { user: &'a str },
}

impl<'a> Via<'a> {
    fn who(&self) -> Who<'a> {
        match self {
            Self::Slack { who, .. } => *who,
            Self::Operator { user } => Who {
                id: user,
                name: None,
            },
        }
    }

    fn through(&self) -> Through {
        match self {
            Self::Slack { .. } => Through::Button,
            Self::Operator { .. } => Through::OperatorApi,
        }
    }
}

/// One attempt: which approval, which option, from where, under which delivery (if any).
struct Attempt<'a> {
    delivery_key: Option<&'a str>,
    approval_id: ApprovalId,
    option: &'a OptionName,
    via: Via<'a>,
}

/// Whether a button at `place` in `channel` is one of the run's: on its card, or in the clicker's
/// Home tab (which shows the approvals they may decide).
fn on_card(place: &Place, channel: &str, run: &RunRecord) -> bool {
    match place {
        Place::Message { ts } => {
            run.card_ts.as_deref() == Some(ts.as_str()) && channel == run.channel_id
        }
        Place::Home => true,
        Place::Unknown => false,
    }
}

/// How trying to record the decision ended, when it did not end the attempt.
enum NotAccepted {
    /// The click does not count as the approval stands now.
    Refused,
    /// The run may not go on while another run of its kind holds its repository.
    Blocked,
}

impl Intake {
    /// Judges and records one decision attempt. A refusal is audited, and explained to a Slack
    /// user in the channel.
    pub async fn decide(
        &self,
        delivery_key: Option<&str>,
        approval_id: ApprovalId,
        option: &OptionName,
        via: Via<'_>,
    ) -> Result<DecisionOutcome, StoreError> {
        let attempt = Attempt {
            delivery_key,
            approval_id,
            option,
            via,
        };
        let mut approval = self.store.get_approval(approval_id).await?;
        let run = match &approval {
            Some(a) => self.store.get_run(a.run_id).await?,
            None => None,
        };
        let permission = match self.frozen(option, run.as_ref()).await? {
            Some(freeze) => Err(Rejection::Frozen(Box::new(freeze))),
            None => {
                self.permission(&attempt, approval.as_ref(), run.as_ref())
                    .await
            }
        };
        let required = match (&approval, &run) {
            (Some(a), Some(r)) => self
                .policy
                .rule(r.repo.as_ref(), &a.decides)
                .needed(option.as_str()),
            _ => 1,
        };
        let accepted = self
            .accept(&attempt, &permission, required, &mut approval)
            .await?;
        let blocked = match accepted {
            Ok(outcome) => return Ok(outcome),
            Err(NotAccepted::Blocked) => true,
            Err(NotAccepted::Refused) => false,
        };
        // A click that still looks acceptable here lost to a run that moved on without it.
        let rejection = if blocked {
            Rejection::Blocked
        } else {
            judge(approval.as_ref(), option, &permission, self.clock.now())
                .err()
                .unwrap_or(Rejection::Superseded)
        };
        self.refuse(&attempt, approval.as_ref(), run.as_ref(), rejection)
            .await
    }

    /// The freeze of the run's repository, when the click is a Merge there.
    async fn frozen(
        &self,
        option: &OptionName,
        run: Option<&RunRecord>,
    ) -> Result<Option<Freeze>, StoreError> {
        match run.and_then(|r| r.repo.as_ref()) {
            Some(repo) if option.as_str() == "merge" => self.store.freeze_of(repo.as_str()).await,
            _ => Ok(None),
        }
    }

    /// Whether the person may decide, under the policy for what the approval decides, whether
    /// they clicked or used their operator token. Only worth asking Slack about when the click
    /// could count.
    async fn permission(
        &self,
        attempt: &Attempt<'_>,
        approval: Option<&ApprovalRecord>,
        run: Option<&RunRecord>,
    ) -> Permission {
        let (Some(approval), Some(run)) = (approval, run) else {
            return Ok(());
        };
        if judge(Some(approval), attempt.option, &Ok(()), self.clock.now()).is_err() {
            return Ok(());
        }
        if let Via::Slack { channel, place, .. } = attempt.via
            && !on_card(place, channel, run)
        {
            let channel = run.channel_id.clone();
            return Err(Rejection::NotOnCard { channel });
        }
        self.may_decide(attempt.via.who().id, approval, run).await
    }

    /// Whether `user` may decide `approval` of `run`: the policy for what it decides, and the
    /// four-eyes rule. The Home tab asks it to show buttons only to who may press them.
    pub async fn may_decide(
        &self,
        user: &str,
        approval: &ApprovalRecord,
        run: &RunRecord,
    ) -> Permission {
        let rule = self.policy.rule(run.repo.as_ref(), &approval.decides);
        // A stage whose approvers come from Azure DevOps has them on its question.
        let deciders = if rule.from_azure_devops {
            approval.deciders.clone()
        } else {
            rule.deciders
        };
        if !self.policy.self_approval(run.repo.as_ref())
            && let Some(own) = self.own_work(user, approval, run).await
        {
            return Err(Rejection::OwnWork { own, deciders });
        }
        self.one_of(user, deciders, approval.decides.describe())
            .await
    }

    /// Whether `user` is one of `deciders` (by id or user group), who decide `what`.
    pub(super) async fn one_of(
        &self,
        user: &str,
        deciders: Option<Deciders>,
        what: String,
    ) -> Permission {
        let Some(listed) = &deciders else {
            return Err(Rejection::NotAllowed {
                what,
                deciders: None,
            });
        };
        match self.chat.is_decider(user, listed).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Rejection::NotAllowed { what, deciders }),
            Err(reason) => Err(Rejection::Unverifiable { reason }),
        }
    }

    /// Whether deciding `approval` would be `user`'s own work: they asked for the run, or they
    /// wrote its PR (found by the author's email). A lookup that fails blocks nobody.
    async fn own_work(
        &self,
        user: &str,
        approval: &ApprovalRecord,
        run: &RunRecord,
    ) -> Option<Own> {
        if run.started_by == user {
            return Some(Own::Requested);
        }
        let email = approval.author.as_deref()?;
        match self.chat.user_by_email(email).await {
            Ok(author) => (author.as_deref() == Some(user)).then_some(Own::Authored),
            Err(reason) => {
                warn!(run_id = %run.id, %reason, "cannot tell whether the PR's author clicked; not blocking");
                None
            }
        }
    }

    /// Records the decision if it counts. Two passes at most: if the compare-and-set loses a
    /// race, the approval is read again (into `approval`) so the refusal can explain.
    async fn accept(
        &self,
        attempt: &Attempt<'_>,
        permission: &Permission,
        required: u32,
        approval: &mut Option<ApprovalRecord>,
    ) -> Result<Result<DecisionOutcome, NotAccepted>, StoreError> {
        for _ in 0..2 {
            let now = self.clock.now();
            let Some(record) = approval.as_ref() else {
                break;
            };
            if judge(Some(record), attempt.option, permission, now).is_err() {
                break;
            }
            let who = attempt.via.who();
            let decision = Decision {
                approval: attempt.approval_id,
                point: record.point.clone(),
                option: attempt.option.clone(),
                by: who.id.to_owned(),
                by_name: who.name.map(str::to_owned),
                at: now,
                earlier: Vec::new(),
                through: attempt.via.through(),
            };
            let ballot = Ballot {
                required,
                decides: &record.decides,
            };
            let outcome = self
                .store
                .accept_decision(record.run_id, &decision, ballot, attempt.delivery_key, now)
                .await?;
            match outcome {
                AcceptOutcome::Accepted => {
                    self.wakers.engine.notify_one();
                    self.wakers.outbound.notify_one();
                    return Ok(Ok(DecisionOutcome::Accepted));
                }
                AcceptOutcome::Counted {
                    so_far, required, ..
                } => {
                    self.wakers.outbound.notify_one();
                    return Ok(Ok(DecisionOutcome::Counted { so_far, required }));
                }
                AcceptOutcome::AlreadyHandled => return Ok(Ok(DecisionOutcome::AlreadyHandled)),
                AcceptOutcome::Blocked => return Ok(Err(NotAccepted::Blocked)),
                AcceptOutcome::NoLongerPending => {
                    *approval = self.store.get_approval(attempt.approval_id).await?;
                }
            }
        }
        Ok(Err(NotAccepted::Refused))
    }

    /// Audits the refusal and, for a Slack user, explains it in the channel, once per delivery.
    async fn refuse(
        &self,
        attempt: &Attempt<'_>,
        approval: Option<&ApprovalRecord>,
        run: Option<&RunRecord>,
        rejection: Rejection,
    ) -> Result<DecisionOutcome, StoreError> {
        let user = attempt.via.who().id;
        let run_id = approval.map(|a| a.run_id);
        let detail = format!(
            "{} on approval {} refused: {}",
            attempt.option,
            attempt.approval_id,
            rejection.code()
        );
        let audit = AuditEntry::new(run_id, user, "decision_refused", detail)
            .via(attempt.via.through().label());
        let note = match attempt.via {
            Via::Slack {
                channel,
                response_url,
                ..
            } => {
                // A click in the App Home tab has no channel: the run's is used.
                let channel = match (channel, run) {
                    ("", Some(run)) => run.channel_id.clone(),
                    _ => channel.to_owned(),
                };
                let mut note = OutboxItem::ephemeral(&channel, user, rejection.explain())
                    .answering(response_url);
                note.run_id = run_id;
                Some(note)
            }
            Via::Operator { .. } => None,
        };
        let now = self.clock.now();
        if !self
            .store
            .refuse_delivery(attempt.delivery_key, &audit, note.as_ref(), now)
            .await?
        {
            return Ok(DecisionOutcome::AlreadyHandled);
        }
        self.wakers.outbound.notify_one();
        Ok(DecisionOutcome::Refused(rejection))
    }
}
