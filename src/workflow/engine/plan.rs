//! What a step's result means for its run, as data: the checkpoint a transition leads to, a
//! failure, the backoff before a retry. Pure, so the engine's bookkeeping (attempts, polls, caps,
//! wake-up times, approval expiry) is tested without a database.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::EngineSettings;
use crate::BOT_ACTOR;
use crate::domain::{ApprovalId, RunStatus};
use crate::store::{AuditEntry, Checkpoint, NewApproval, RunRecord};
use crate::workflow::flow::{ApprovalRequest, Next, Transition, step_name};

/// The recheck interval when a waiting run's recheck asks the same again with the same state.
pub(super) fn unchanged_wait(run: &RunRecord, transition: &Transition<Value>) -> Option<Duration> {
    match &transition.next {
        Next::Wait {
            recheck: Some(after),
            ..
        } if run.status == RunStatus::Waiting
            && run.decision.is_none()
            && transition.state == run.state
            && transition.replies.is_empty() =>
        {
            Some(*after)
        }
        _ => None,
    }
}

/// The checkpoint a transition leads to. Pure: the engine's bookkeeping (attempts, polls, caps,
/// wake-up times, approval expiry) in one place.
pub(super) fn checkpoint(
    run: &RunRecord,
    transition: Transition<Value>,
    owner: &str,
    now: DateTime<Utc>,
    settings: &EngineSettings,
) -> Checkpoint {
    let step = step_name(&transition.state);
    let after = after(transition.next, run, &step, now, settings);
    let detail = match &transition.note {
        Some(note) => format!("{} → {step}: {note}", run.step),
        None => format!("{} → {step}", run.step),
    };
    let mut audit = AuditEntry::new(Some(run.id), BOT_ACTOR, "step", detail);
    audit.via = transition.via.map(str::to_owned);
    Checkpoint {
        run_id: run.id,
        owner: owner.to_owned(),
        seq: run.seq,
        step,
        state: transition.state,
        status: after.status,
        wake_at: after.wake_at,
        attempts: 0,
        polls: after.polls,
        outcome: after.outcome,
        lease_until: (after.status == RunStatus::Running && after.wake_at.is_none())
            .then(|| now + to_delta(settings.lease)),
        approval: after.approval,
        replies: transition.replies,
        audit,
        had_decision: run.decision.is_some(),
        had_approval: run.status != RunStatus::Running,
        repo: transition.repo,
    }
}

/// Where a transition leaves the run.
struct After {
    status: RunStatus,
    outcome: Option<String>,
    approval: Option<NewApproval>,
    wake_at: Option<DateTime<Utc>>,
    /// Polls of this step in a row, this one counted.
    polls: i64,
}

impl After {
    fn at(status: RunStatus) -> Self {
        Self {
            status,
            outcome: None,
            approval: None,
            wake_at: None,
            polls: 0,
        }
    }
}

/// What `next` means for `run`, now at `step`: a poll past its cap fails the run, a wait opens
/// an approval, a failure may offer a retry.
fn after(
    next: Next,
    run: &RunRecord,
    step: &str,
    now: DateTime<Utc>,
    settings: &EngineSettings,
) -> After {
    match next {
        Next::Continue => After::at(RunStatus::Running),
        Next::Poll { after, max_polls } => {
            let polls = if step == run.step { run.polls + 1 } else { 1 };
            if polls > i64::from(max_polls) {
                let reason = format!("gave up: still waiting in {step} after {max_polls} checks");
                After {
                    outcome: Some(reason),
                    polls,
                    ..After::at(RunStatus::Failed)
                }
            } else {
                After {
                    wake_at: Some(now + to_delta(after)),
                    polls,
                    ..After::at(RunStatus::Running)
                }
            }
        }
        Next::Wait { request, recheck } => After {
            approval: Some(new_approval(request, now, settings)),
            wake_at: recheck.map(|after| now + to_delta(after)),
            ..After::at(RunStatus::Waiting)
        },
        Next::Done => After::at(RunStatus::Done),
        Next::Cancel(reason) => After {
            outcome: Some(reason),
            ..After::at(RunStatus::Cancelled)
        },
        Next::Fail { reason, retry } => After {
            outcome: Some(reason),
            approval: retry.map(|request| new_approval(request, now, settings)),
            ..After::at(RunStatus::Failed)
        },
    }
}

fn new_approval(
    request: ApprovalRequest,
    now: DateTime<Utc>,
    settings: &EngineSettings,
) -> NewApproval {
    NewApproval {
        id: ApprovalId::new(),
        point: request.point,
        decides: request.decides,
        author: request.author,
        deciders: request.deciders,
        prompt: request.prompt,
        options: request.options,
        expires_at: now + settings.approval_timeout,
    }
}

/// Exponential backoff from `backoff_base`, doubled per attempt, capped at `backoff_cap`, with up
/// to a quarter of jitter so replicas do not retry in lockstep.
pub(super) fn backoff(settings: &EngineSettings, attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    let raw = settings
        .backoff_base
        .saturating_mul(1 << exponent)
        .min(settings.backoff_cap);
    let jitter = raw.mul_f64(rand::random::<f64>() / 4.0);
    (raw + jitter).min(settings.backoff_cap)
}

pub(super) fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// The checkpoint that fails a run, keeping its state, with `reason` on its card and the flow's
/// `retry`, if it offers one.
pub(super) fn failure(
    run: &RunRecord,
    owner: &str,
    reason: &str,
    retry: Option<ApprovalRequest>,
    now: DateTime<Utc>,
    settings: &EngineSettings,
) -> Checkpoint {
    Checkpoint {
        run_id: run.id,
        owner: owner.to_owned(),
        seq: run.seq,
        step: run.step.clone(),
        state: run.state.clone(),
        status: RunStatus::Failed,
        wake_at: None,
        attempts: run.attempts,
        polls: run.polls,
        outcome: Some(reason.to_owned()),
        lease_until: None,
        approval: retry.map(|request| new_approval(request, now, settings)),
        replies: Vec::new(),
        audit: AuditEntry::new(Some(run.id), BOT_ACTOR, "failed", reason),
        had_decision: run.decision.is_some(),
        had_approval: run.status != RunStatus::Running,
        repo: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApprovalOption, OptionName, OptionStyle, RunId};
    use serde_json::json;

    fn settings() -> EngineSettings {
        EngineSettings::new("C1", TimeDelta::hours(168))
    }

    fn run_at(step: &str, polls: i64) -> RunRecord {
        let now = Utc::now();
        RunRecord {
            id: RunId::new(),
            kind: "k".into(),
            repo: None,
            pr_id: None,
            subject: "s".into(),
            step: step.into(),
            state: json!({"step": step}),
            status: RunStatus::Running,
            seq: 3,
            attempts: 2,
            polls,
            wake_at: None,
            lease_owner: Some("me".into()),
            lease_until: None,
            decision: None,
            outcome: None,
            channel_id: "C1".into(),
            card_ts: None,
            card_version: 1,
            card_synced: 0,
            started_by: "U1".into(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn continuing_keeps_the_lease_and_resets_counters() {
        let now = Utc::now();
        let cp = checkpoint(
            &run_at("a", 4),
            Transition::go(json!({"step": "b"})),
            "me",
            now,
            &settings(),
        );
        assert_eq!(
            (cp.step.as_str(), cp.status, cp.lease_until),
            ("b", RunStatus::Running, Some(now + TimeDelta::seconds(30)))
        );
        assert_eq!((cp.attempts, cp.polls, cp.seq), (0, 0, 3));
        assert_eq!(cp.audit.detail, "a → b");
    }

    #[test]
    fn polling_counts_repeats_of_one_step_and_gives_up_past_the_cap() {
        let now = Utc::now();
        let poll = |run: &RunRecord| {
            let t = Transition::poll(json!({"step": "ci"}), Duration::from_secs(30), 3);
            checkpoint(run, t, "me", now, &settings())
        };
        let first = poll(&run_at("merge", 7));
        assert_eq!(
            (first.polls, first.status, first.lease_until),
            (1, RunStatus::Running, None)
        );
        assert_eq!(first.wake_at, Some(now + TimeDelta::seconds(30)));
        let third = poll(&run_at("ci", 2));
        assert_eq!(third.status, RunStatus::Running);
        let fourth = poll(&run_at("ci", 3));
        assert_eq!(fourth.status, RunStatus::Failed);
        assert!(fourth.outcome.unwrap().contains("after 3 checks"));
    }

    #[test]
    fn waiting_creates_an_approval_that_expires_after_the_timeout() {
        let now = Utc::now();
        let request = ApprovalRequest {
            point: "merge".into(),
            decides: crate::domain::Decides::Merge,
            author: None,
            deciders: None,
            prompt: "Merge?".into(),
            options: vec![ApprovalOption {
                name: OptionName::parse("merge").unwrap(),
                label: "Merge".into(),
                style: OptionStyle::Primary,
            }],
        };
        let cp = checkpoint(
            &run_at("review", 0),
            Transition::wait(json!({"step": "ask"}), request),
            "me",
            now,
            &settings(),
        );
        assert_eq!(cp.status, RunStatus::Waiting);
        assert_eq!(cp.lease_until, None);
        assert_eq!(cp.approval.unwrap().expires_at, now + TimeDelta::hours(168));
    }

    #[test]
    fn only_a_run_that_was_waiting_or_failed_has_an_approval_to_replace() {
        let had_approval = |status| {
            let run = RunRecord {
                status,
                ..run_at("a", 0)
            };
            let go = checkpoint(
                &run,
                Transition::go(json!("b")),
                "me",
                Utc::now(),
                &settings(),
            );
            let failed = failure(&run, "me", "broke", None, Utc::now(), &settings());
            assert_eq!(go.had_approval, failed.had_approval);
            go.had_approval
        };
        assert!(!had_approval(RunStatus::Running));
        assert!(had_approval(RunStatus::Waiting));
        assert!(had_approval(RunStatus::Failed));
    }

    #[test]
    fn cancelling_records_the_reason() {
        let cp = checkpoint(
            &run_at("a", 0),
            Transition::cancel(json!("x"), "user said no"),
            "me",
            Utc::now(),
            &settings(),
        );
        assert_eq!(
            (cp.status, cp.outcome.as_deref()),
            (RunStatus::Cancelled, Some("user said no"))
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = settings();
        let first = backoff(&s, 1);
        assert!(
            first >= Duration::from_secs(2) && first <= Duration::from_millis(2500),
            "{first:?}"
        );
        let third = backoff(&s, 3);
        assert!(
            third >= Duration::from_secs(8) && third <= Duration::from_secs(10),
            "{third:?}"
        );
        assert_eq!(backoff(&s, 40), Duration::from_secs(300));
    }
}
