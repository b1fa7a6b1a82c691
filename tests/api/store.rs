//! The store's promises, on SQLite and on PostgreSQL alike.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use release_agent::clock::Clock;
use release_agent::domain::{
    ApprovalId, ApprovalOption, ApprovalStatus, Decides, Decision, Line, Message, OptionName,
    OptionStyle, RepoName, RunId, RunStatus, Through, Version,
};
use release_agent::store::{
    AcceptOutcome, Arrived, AuditEntry, Ballot, Checkpoint, Dedupe, EffectEntry, NewApproval,
    NewDelivery, NewRun, OutboxItem, ReviewSpend, StagedPr, StagingRelease, Started, Store,
    StoreError,
};
use serde_json::json;
use serde_json::value::to_raw_value;

use crate::on_both_backends;

/// One person decides, about a release.
const ONE_RELEASE: Ballot<'static> = Ballot {
    required: 1,
    decides: &Decides::Release,
};
use crate::support::{Backend, FIRST, TestDb, init};

async fn store(backend: Backend) -> Option<(TestDb, Store)> {
    init();
    let db = TestDb::create(backend).await?;
    let store = db.store().await;
    Some((db, store))
}

/// Times as the application makes them: from its clock, in whole milliseconds.
fn now() -> DateTime<Utc> {
    Clock::system().now()
}

fn new_run() -> NewRun {
    NewRun {
        id: RunId::new(),
        kind: "demo".into(),
        repo: RepoName::parse("Billo.Api").ok(),
        pr_id: Some(7),
        subject: "Billo.Api#7".into(),
        step: "prepare".into(),
        state: json!({"step": "prepare"}),
        channel_id: "C1".into(),
        started_by: "U1".into(),
        one_per_pr: false,
    }
}

fn checkpoint(run: RunId, owner: &str, seq: i64, step: &str, status: RunStatus) -> Checkpoint {
    Checkpoint {
        run_id: run,
        owner: owner.into(),
        seq,
        step: step.into(),
        state: json!({"step": step}),
        status,
        wake_at: None,
        attempts: 0,
        polls: 0,
        outcome: None,
        lease_until: (status == RunStatus::Running).then(|| now() + TimeDelta::seconds(30)),
        approval: None,
        replies: Vec::new(),
        audit: AuditEntry::new(Some(run), "release-agent", "step", step),
        had_decision: false,
        had_approval: true,
        repo: None,
    }
}

fn options() -> Vec<ApprovalOption> {
    vec![ApprovalOption {
        name: OptionName::parse("go").unwrap(),
        label: "Go".into(),
        style: OptionStyle::Primary,
    }]
}

/// Creates a run and claims it for engine "A".
async fn claimed_run(store: &Store) -> NewRun {
    let now = now();
    let run = new_run();
    store.create_run(&run, None, now).await.unwrap();
    let claimed = store
        .claim_due_runs("A", now, now + TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    run
}

/// A merge approval `id`, asked at `now`, that expires an hour later.
fn go_or_not(id: ApprovalId, now: DateTime<Utc>) -> NewApproval {
    NewApproval {
        id,
        point: "p".into(),
        decides: Decides::Merge,
        author: None,
        deciders: None,
        prompt: "Go?".into(),
        options: options(),
        expires_at: now + TimeDelta::hours(1),
    }
}

/// Creates a run and moves it to `waiting` on a fresh approval; returns both ids.
async fn waiting_run(store: &Store) -> (RunId, ApprovalId) {
    let now = now();
    let run = claimed_run(store).await;
    let approval = ApprovalId::new();
    let mut cp = checkpoint(run.id, "A", 0, "ask", RunStatus::Waiting);
    cp.approval = Some(go_or_not(approval, now));
    store.checkpoint(&cp, now).await.unwrap();
    (run.id, approval)
}

async fn runs_are_claimed_once_and_checkpoints_are_fenced_by_the_lease(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let run = new_run();
    store.create_run(&run, None, now).await.unwrap();
    let lease = now + TimeDelta::seconds(30);
    assert_eq!(
        store
            .claim_due_runs("A", now, lease, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .claim_due_runs("B", now, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "a leased run is not claimed twice"
    );

    let stolen = store
        .checkpoint(&checkpoint(run.id, "B", 0, "x", RunStatus::Running), now)
        .await;
    assert!(
        matches!(stolen, Err(StoreError::Conflict(_))),
        "only the lease holder may checkpoint"
    );
    let mut keep = checkpoint(run.id, "A", 0, "ask", RunStatus::Running);
    let extended = now + TimeDelta::seconds(90);
    keep.lease_until = Some(extended);
    store.checkpoint(&keep, now).await.unwrap();
    let past_first_lease = lease + TimeDelta::seconds(1);
    let early = store
        .claim_due_runs(
            "B",
            past_first_lease,
            past_first_lease + TimeDelta::seconds(30),
            10,
        )
        .await;
    assert!(
        early.unwrap().is_empty(),
        "a checkpoint that keeps the lease extends it"
    );
    let stale = store
        .checkpoint(&checkpoint(run.id, "A", 0, "ask", RunStatus::Running), now)
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict(_))),
        "a step cannot be checkpointed twice"
    );

    let later = extended + TimeDelta::seconds(1);
    let taken = store
        .claim_due_runs("B", later, later + TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "an expired lease is taken over");
    assert_eq!((taken[0].seq, taken[0].step.as_str()), (1, "ask"));
    assert!(
        !store.renew_lease(run.id, "A", later).await.unwrap(),
        "the old owner cannot renew"
    );
    db.drop_database().await;
}

async fn a_decision_that_arrives_during_a_recheck_is_not_overwritten(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let run = claimed_run(&store).await;
    let approval = ApprovalId::new();
    let ask = |seq: i64| {
        let mut cp = checkpoint(run.id, "A", seq, "ask", RunStatus::Waiting);
        cp.wake_at = Some(now);
        cp.approval = Some(go_or_not(ApprovalId::new(), now));
        cp
    };
    let mut first = ask(0);
    first.approval.as_mut().unwrap().id = approval;
    store.checkpoint(&first, now).await.unwrap();
    let due = store
        .claim_due_runs("A", now, now + TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "a waiting run is claimed for its recheck");
    // The recheck asks the same again: the approval (and its buttons) stay as they were.
    store.checkpoint(&ask(1), now).await.unwrap();
    let approvals = store.approvals_for_run(run.id).await.unwrap();
    assert_eq!(
        approvals
            .iter()
            .map(|a| (a.id, a.status))
            .collect::<Vec<_>>(),
        [(approval, ApprovalStatus::Pending)]
    );

    store
        .claim_due_runs("A", now, now + TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    let decision = go(approval, now);
    assert_eq!(
        store
            .accept_decision(run.id, &decision, ONE_RELEASE, None, now)
            .await
            .unwrap(),
        AcceptOutcome::Accepted
    );
    assert!(
        matches!(
            store.checkpoint(&ask(2), now).await,
            Err(StoreError::Conflict(_))
        ),
        "the recheck that ran without the decision cannot overwrite it"
    );
    assert!(
        store.rearm(run.id, "A", 2, now).await.is_err(),
        "nor put the run back to sleep"
    );
    let woken = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(
        (woken.status, woken.decision, woken.lease_owner),
        (RunStatus::Running, Some(decision), None)
    );
    db.drop_database().await;
}

async fn a_waiting_run_that_moves_on_replaces_its_approval(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let run = claimed_run(&store).await;
    let approval = ApprovalId::new();
    let mut ask = checkpoint(run.id, "A", 0, "ask", RunStatus::Waiting);
    ask.wake_at = Some(now);
    ask.approval = Some(go_or_not(approval, now));
    store.checkpoint(&ask, now).await.unwrap();
    let due = store
        .claim_due_runs("A", now, now + TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "a waiting run is claimed for its recheck");
    // The recheck found what it waited for and goes on without asking.
    let on = checkpoint(run.id, "A", 1, "next", RunStatus::Running);
    store.checkpoint(&on, now).await.unwrap();
    assert_eq!(
        store.get_approval(approval).await.unwrap().unwrap().status,
        ApprovalStatus::Superseded,
        "its buttons no longer decide anything"
    );
    db.drop_database().await;
}

/// Two starts with `dedupe`: the first creates the run, the second nothing.
async fn starts_once(store: &Store, dedupe: &Dedupe) {
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        outcomes.push(
            store
                .create_run(&new_run(), Some(dedupe), now())
                .await
                .unwrap(),
        );
    }
    assert_eq!(outcomes, [Started::Created, Started::Duplicate]);
    assert_eq!(store.recent_runs(10).await.unwrap().len(), 1);
}

async fn a_delivery_key_starts_one_run(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let delivery = NewDelivery {
        key: "slack:command:trigger-1".into(),
        source: "slack".into(),
        intent: None,
    };
    let dedupe = Dedupe::New(delivery.key.clone());
    starts_once(&store, &dedupe).await;
    assert!(!store.insert_delivery(&delivery, now()).await.unwrap());
    db.drop_database().await;
}

/// A request saved before its ack starts its run once, and the delivery is then carried out.
async fn a_saved_request_starts_one_run(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let delivery = NewDelivery {
        key: "slack:command:trigger-2".into(),
        source: "slack".into(),
        intent: Some(to_raw_value(&json!({"type": "review"})).unwrap()),
    };
    assert!(store.insert_delivery(&delivery, now()).await.unwrap());
    assert!(!store.insert_delivery(&delivery, now()).await.unwrap());
    let pending = || async { store.pending_deliveries(10).await.unwrap().len() };
    assert_eq!(pending().await, 1);
    let dedupe = Dedupe::Recorded(delivery.key.clone());
    starts_once(&store, &dedupe).await;
    assert_eq!(pending().await, 0, "the request is carried out");
    db.drop_database().await;
}

/// Requests for a run that arrive together are recorded together, except the one whose run is
/// already under way (answered with that run) and the repeat of a key (a redelivery).
async fn a_request_for_a_run_under_way_is_answered_with_it(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let (under_way, _) = waiting_run(&store).await;
    let request = |key: &str| NewDelivery {
        key: key.into(),
        source: "slack".into(),
        intent: Some(to_raw_value(&json!({"type": "review"})).unwrap()),
    };
    let (same_pr, other_pr, other_kind, twice) = (
        request("same-pr"),
        request("other-pr"),
        request("other-kind"),
        request("twice"),
    );
    let arrived = futures_util::future::join_all([
        store.insert_run_request(&same_pr, "demo", 7, now()),
        store.insert_run_request(&other_pr, "demo", 8, now()),
        store.insert_run_request(&other_kind, "release", 7, now()),
        store.insert_run_request(&twice, "demo", 9, now()),
        store.insert_run_request(&twice, "demo", 9, now()),
    ])
    .await;
    let arrived: Vec<Arrived> = arrived.into_iter().map(Result::unwrap).collect();
    match &arrived[0] {
        Arrived::UnderWay(run) => assert_eq!(run.id, under_way),
        other => panic!("the run under way answers the request, not {other:?}"),
    }
    assert_eq!(arrived[1..3], [Arrived::Recorded, Arrived::Recorded]);
    let mut repeated = arrived[3..].to_vec();
    repeated.sort_by_key(|a| matches!(a, Arrived::Duplicate));
    assert_eq!(repeated, [Arrived::Recorded, Arrived::Duplicate]);

    let mut pending: Vec<String> = store
        .pending_deliveries(10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.key)
        .collect();
    pending.sort();
    assert_eq!(pending, ["other-kind", "other-pr", "twice"]);
    db.drop_database().await;
}

async fn fifty_concurrent_decisions_accept_exactly_one(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let (run, approval) = waiting_run(&store).await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("click-{i}");
            let delivery = NewDelivery {
                key: key.clone(),
                source: "slack".into(),
                intent: Some(to_raw_value(&json!({})).unwrap()),
            };
            store.insert_delivery(&delivery, now()).await.unwrap();
            let decision = Decision {
                approval,
                point: "p".into(),
                option: OptionName::parse("go").unwrap(),
                by: format!("U{i:03}"),
                by_name: None,
                at: now(),
                earlier: Vec::new(),
                through: Through::Button,
            };
            store
                .accept_decision(run, &decision, ONE_RELEASE, Some(&key), now())
                .await
                .unwrap()
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        if task.await.unwrap() == AcceptOutcome::Accepted {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
    let record = store.get_approval(approval).await.unwrap().unwrap();
    assert_eq!(record.status, ApprovalStatus::Decided);
    let woken = store.get_run(run).await.unwrap().unwrap();
    assert_eq!(woken.status, RunStatus::Running);
    assert_eq!(woken.decision.unwrap().by, record.decided_by.unwrap());
    let decisions = store
        .audit_for_run(run)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "decision")
        .count();
    assert_eq!(decisions, 1);
    db.drop_database().await;
}

async fn expiry_cancels_the_waiting_run(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let (run, approval) = waiting_run(&store).await;
    assert!(store.due_expiries(now(), 10).await.unwrap().is_empty());
    let later = now() + TimeDelta::hours(2);
    let due = store.due_expiries(later, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(
        store
            .expire_approval(&due[0], "timed out", later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .expire_approval(&due[0], "timed out", later)
            .await
            .unwrap(),
        "expires once"
    );
    let record = store.get_run(run).await.unwrap().unwrap();
    assert_eq!(
        (record.status, record.outcome.as_deref()),
        (RunStatus::Cancelled, Some("timed out"))
    );
    let decision = go(approval, later);
    let late = store
        .accept_decision(run, &decision, ONE_RELEASE, None, later)
        .await
        .unwrap();
    assert_eq!(late, AcceptOutcome::NoLongerPending);
    db.drop_database().await;
}

async fn superseding_cancels_the_run_and_its_approval(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let (run, approval) = waiting_run(&store).await;
    assert!(
        store
            .supersede_run(run, "a newer push", "release-agent", now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .supersede_run(run, "again", "release-agent", now())
            .await
            .unwrap()
    );
    let approval = store.get_approval(approval).await.unwrap().unwrap();
    assert_eq!(approval.status, ApprovalStatus::Superseded);
    assert_eq!(
        store.get_run(run).await.unwrap().unwrap().status,
        RunStatus::Cancelled
    );
    db.drop_database().await;
}

async fn the_effect_journal_counts_attempts_and_keeps_results(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let run = new_run();
    let now = now();
    store.create_run(&run, None, now).await.unwrap();
    assert_eq!(
        store.start_effect(run.id, "merge", now).await.unwrap(),
        EffectEntry::Started { attempts: 1 }
    );
    assert_eq!(
        store.start_effect(run.id, "merge", now).await.unwrap(),
        EffectEntry::Started { attempts: 2 }
    );
    store
        .finish_effect(run.id, "merge", &json!({"merged": "abc"}), now)
        .await
        .unwrap();
    // Done is final: a later start answers the result and counts no attempt.
    for _ in 0..2 {
        assert_eq!(
            store.start_effect(run.id, "merge", now).await.unwrap(),
            EffectEntry::Done(json!({"merged": "abc"}))
        );
    }
    let attempts = db
        .count("SELECT attempts FROM effects WHERE name = 'merge'")
        .await;
    assert_eq!(attempts, 2);
    db.drop_database().await;
}

/// Journal entries that arrive together share a transaction on SQLite, with one statement for
/// the starts and one for the results, yet each keeps its own answer.
async fn journal_entries_written_together_keep_their_answers(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let mut runs = Vec::new();
    for _ in 0..12 {
        let run = new_run();
        store.create_run(&run, None, now).await.unwrap();
        runs.push(run.id);
    }
    for &run in &runs[..4] {
        store.start_effect(run, "a", now).await.unwrap();
    }
    for (i, &run) in runs[4..8].iter().enumerate() {
        store.start_effect(run, "b", now).await.unwrap();
        store.finish_effect(run, "b", &json!(i), now).await.unwrap();
    }
    for &run in &runs[8..] {
        store.start_effect(run, "c", now).await.unwrap();
    }

    let starts = runs[..8]
        .iter()
        .map(|&run| store.start_effect(run, "a", now))
        .chain(
            runs[4..8]
                .iter()
                .map(|&run| store.start_effect(run, "b", now)),
        )
        .chain([
            store.start_effect(runs[0], "twice", now),
            store.start_effect(runs[0], "twice", now),
        ]);
    let values: Vec<_> = (0..4).map(|i| json!(i)).collect();
    let results = runs[8..]
        .iter()
        .zip(&values)
        .map(|(&run, value)| store.finish_effect(run, "c", value, now));
    let (started, finished) = tokio::join!(
        futures_util::future::join_all(starts),
        futures_util::future::join_all(results)
    );
    let started: Vec<EffectEntry> = started.into_iter().map(Result::unwrap).collect();
    let again = |attempts| EffectEntry::Started { attempts };
    assert_eq!(started[..4], [again(2), again(2), again(2), again(2)]);
    assert_eq!(started[4..8], [again(1), again(1), again(1), again(1)]);
    let done: Vec<_> = (0..4).map(|i| EffectEntry::Done(json!(i))).collect();
    assert_eq!(started[8..12], done[..], "a done effect answers its result");
    let mut twice = started[12..].to_vec();
    twice.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        twice,
        [again(1), again(2)],
        "an effect started twice at once"
    );
    assert!(finished.into_iter().all(|f| f.is_ok()));
    for (i, &run) in runs[8..].iter().enumerate() {
        assert_eq!(
            store.start_effect(run, "c", now).await.unwrap(),
            EffectEntry::Done(json!(i)),
            "each result is recorded with its effect"
        );
    }
    db.drop_database().await;
}

/// Checkpoints of several runs share a transaction and a statement (on SQLite); each still gets
/// its own answer, audit entry and approval, and one refused leaves nothing behind. Of two
/// checkpoints of one step (two engines), one is written.
async fn checkpoints_written_together_keep_their_answers(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let run = new_run();
        store.create_run(&run, None, now).await.unwrap();
        runs.push(run.id);
    }
    let claimed = store
        .claim_due_runs("A", now, now + TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5);
    let approval = ApprovalId::new();
    let mut asks = checkpoint(runs[1], "A", 0, "ask", RunStatus::Waiting);
    asks.approval = Some(go_or_not(approval, now));
    asks.had_approval = false;
    let cps = [
        checkpoint(runs[0], "A", 0, "alone", RunStatus::Running),
        asks,
        checkpoint(runs[2], "A", 0, "end", RunStatus::Done),
        checkpoint(runs[3], "B", 0, "stolen", RunStatus::Running),
        checkpoint(runs[4], "A", 0, "first", RunStatus::Running),
        checkpoint(runs[4], "A", 0, "second", RunStatus::Running),
    ];
    let answers =
        futures_util::future::join_all(cps.iter().map(|cp| store.checkpoint(cp, now))).await;
    let answered: Vec<Option<(i64, String)>> = answers[..3]
        .iter()
        .map(|a| a.as_ref().ok().map(|run| (run.seq, run.step.clone())))
        .collect();
    assert_eq!(
        answered,
        [
            Some((1, "alone".into())),
            Some((1, "ask".into())),
            Some((1, "end".into())),
        ],
        "{answers:?}"
    );
    assert!(matches!(answers[3], Err(StoreError::Conflict(_))));
    let won = match (&answers[4], &answers[5]) {
        (Ok(run), Err(StoreError::Conflict(_))) | (Err(StoreError::Conflict(_)), Ok(run)) => {
            run.step.clone()
        }
        other => panic!("one of the two must be written: {other:?}"),
    };
    let audit = store.audit_for_runs(&runs).await.unwrap();
    let steps = |run: RunId| -> Vec<String> {
        audit
            .iter()
            .filter(|a| a.run_id == Some(run.to_string()) && a.action == "step")
            .map(|a| a.detail.clone())
            .collect()
    };
    let steps: Vec<Vec<String>> = runs.iter().map(|&run| steps(run)).collect();
    assert_eq!(
        steps,
        [
            vec!["alone".to_owned()],
            vec!["ask".to_owned()],
            vec!["end".to_owned()],
            vec![],
            vec![won],
        ]
    );
    let asked = store.approvals_for_run(runs[1]).await.unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].id, approval);
    let stolen = store.get_run(runs[3]).await.unwrap().unwrap();
    assert_eq!((stolen.seq, stolen.step.as_str()), (0, "prepare"));
    db.drop_database().await;
}

/// Each change of what the Home tab shows is published once per viewer, whatever the number of
/// replicas looking: a publish is claimed first. A failed publish, and a claim whose replica
/// died (after a minute), are taken again.
async fn a_home_tab_publish_is_claimed_once(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let (since, stale) = (now - TimeDelta::days(7), now - TimeDelta::seconds(60));
    for user in ["U1", "U2"] {
        store.saw_home(user, now).await.unwrap();
    }
    store
        .saw_home("U0OLD", now - TimeDelta::days(8))
        .await
        .unwrap();
    let due = |fingerprint: &'static str, stale| store.home_due(fingerprint, since, stale);
    assert_eq!(due("f1", stale).await.unwrap(), ["U1", "U2"]);

    assert!(store.claim_home("U1", "f1", now, stale).await.unwrap());
    assert!(
        !store.claim_home("U1", "f1", now, stale).await.unwrap(),
        "another replica leaves it to the first"
    );
    store.home_shown("U1", "f1", true, now).await.unwrap();
    assert_eq!(due("f1", stale).await.unwrap(), ["U2"]);

    assert!(store.claim_home("U2", "f1", now, stale).await.unwrap());
    store.home_shown("U2", "f1", false, now).await.unwrap();
    assert_eq!(due("f1", stale).await.unwrap(), ["U2"], "a failed publish");
    assert!(store.claim_home("U2", "f1", now, stale).await.unwrap());
    assert!(due("f1", stale).await.unwrap().is_empty());
    let later = now + TimeDelta::seconds(61);
    let stale_later = later - TimeDelta::seconds(60);
    assert_eq!(
        due("f1", stale_later).await.unwrap(),
        ["U2"],
        "a claim whose replica died is taken again"
    );
    assert!(
        store
            .claim_home("U2", "f1", later, stale_later)
            .await
            .unwrap()
    );
    assert_eq!(due("f2", stale).await.unwrap(), ["U1", "U2"], "a change");
    db.drop_database().await;
}

async fn outbox_replies_wait_for_their_card_and_are_claimed_once(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let run = claimed_run(&store).await;
    let mut cp = checkpoint(run.id, "A", 0, "next", RunStatus::Running);
    cp.replies = vec![Message::new([Line::from("details")])];
    store.checkpoint(&cp, now).await.unwrap();
    let note = OutboxItem::ephemeral("C1", "U2", Message::new([Line::from("only you")]));
    let audit = AuditEntry::new(None, "U2", "decision_refused", "a refused click");
    assert!(
        store
            .refuse_delivery(None, &audit, Some(&note), now)
            .await
            .unwrap()
    );

    let until = now + TimeDelta::seconds(60);
    let first = store.claim_outbox("S1", now, until, 10).await.unwrap();
    assert_eq!(
        first.len(),
        1,
        "the reply waits for its card; the ephemeral goes"
    );
    assert!(first[0].is_ephemeral());
    store.outbox_sent(first[0].id, now).await.unwrap();

    let cards = store.claim_cards("S1", now, until, 10).await.unwrap();
    assert_eq!(cards.len(), 1);
    assert!(
        store
            .claim_cards("S2", now, until, 10)
            .await
            .unwrap()
            .is_empty(),
        "a card is claimed once"
    );
    store
        .card_synced(run.id, "S1", cards[0].card_version, Some("1.1"))
        .await
        .unwrap();

    let replies = store.claim_outbox("S1", now, until, 10).await.unwrap();
    assert_eq!(replies.len(), 1);
    assert!(
        store
            .claim_outbox("S2", now, until, 10)
            .await
            .unwrap()
            .is_empty(),
        "a message is claimed once"
    );
    assert_eq!(replies[0].message.0.lines[0], Line::from("details"));
    db.drop_database().await;
}

fn staged_pr(id: i64) -> StagedPr {
    StagedPr::merged(id, &format!("PR {id}"), "", &[])
}

/// Stages PR `id` of Billo.Api with `tickets`; the first version would be 0.1.0.
async fn stage(store: &Store, id: i64, tickets: &[&str], now: DateTime<Utc>) -> StagingRelease {
    let tickets: Vec<String> = tickets.iter().map(|t| (*t).to_owned()).collect();
    store
        .stage_pr("Billo.Api", staged_pr(id), &tickets, &FIRST, now)
        .await
        .unwrap()
}

/// A choice of `go` on `approval` by U1, at `at`.
fn go(approval: ApprovalId, at: DateTime<Utc>) -> Decision {
    Decision {
        approval,
        point: "p".into(),
        option: OptionName::parse("go").unwrap(),
        by: "U1".into(),
        by_name: None,
        at,
        earlier: Vec::new(),
        through: Through::Button,
    }
}

async fn staging_is_one_per_repo_and_the_archive_is_immutable(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let mut release = StagingRelease {
        repo: "Billo.Api".into(),
        version: Version::new(1, 4, 3),
        started_at: now,
        tickets: vec!["ALLPOST-1".into()],
        prs: vec![staged_pr(12)],
    };
    store.put_staging(&release, now).await.unwrap();
    release.tickets.push("ALLPOST-2".into());
    store.put_staging(&release, now).await.unwrap();
    assert_eq!(store.all_staging().await.unwrap(), vec![release.clone()]);

    let run = RunId::new().to_string();
    let shipping = store.ship("Billo.Api", &run, None, now).await.unwrap();
    assert_eq!(shipping.release, release);
    assert_eq!(store.staging("Billo.Api").await.unwrap(), None);
    let released_at = now + TimeDelta::days(3);
    let archived = store
        .archive_shipping("Billo.Api", release.version, &run, released_at, None)
        .await
        .unwrap();
    assert_eq!(
        (archived.tickets.len(), archived.released_at),
        (2, released_at)
    );
    assert_eq!(store.shipping("Billo.Api").await.unwrap(), None);
    let again = store
        .archive_shipping("Billo.Api", release.version, &run, now, None)
        .await
        .unwrap();
    assert_eq!(again, archived, "archiving again changes nothing");
    assert!(
        store
            .archive_shipping("Billo.Api", Version::new(9, 9, 9), &run, now, None)
            .await
            .is_err(),
        "nothing to archive is an error"
    );
    for sql in [
        "UPDATE archived_releases SET version = '0.0.1'",
        "DELETE FROM archived_releases",
    ] {
        let refused = db
            .execute(sql)
            .await
            .expect_err("the archive refuses changes");
        assert!(
            refused
                .to_string()
                .contains("archived releases are immutable"),
            "{refused}"
        );
    }
    assert_eq!(store.archived("Billo.Api").await.unwrap(), vec![archived]);
    db.drop_database().await;
}

async fn a_shipping_release_is_frozen_and_prs_merged_meanwhile_open_the_next_version(
    backend: Backend,
) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let first = Version::new(0, 1, 0);
    stage(&store, 1, &["AB-1"], now).await;
    let run = RunId::new().to_string();
    let frozen = store.ship("Billo.Api", &run, None, now).await.unwrap();
    assert_eq!(frozen.release.version, first);
    assert_eq!(
        store.ship("Billo.Api", &run, None, now).await.unwrap(),
        frozen,
        "freezing again for the same run changes nothing"
    );
    let next = stage(&store, 2, &["AB-2"], now).await;
    assert_eq!(
        next.version,
        Version::new(0, 1, 1),
        "a PR merged while a release ships opens the next version"
    );
    assert_eq!(
        store.ship("Billo.Api", &run, None, now).await.unwrap(),
        frozen,
        "what was staged after the freeze is not shipped by this run"
    );

    store.unship("Billo.Api", &run, now).await.unwrap();
    let back = store.staging("Billo.Api").await.unwrap().unwrap();
    assert_eq!(back.version, first, "an unmerged release keeps its version");
    assert_eq!(
        back.prs.iter().map(|p| p.id).collect::<Vec<_>>(),
        [1, 2],
        "and counts in what was staged meanwhile"
    );
    assert_eq!(store.shipping("Billo.Api").await.unwrap(), None);

    // A release left shipping by a run that stopped is taken over by the next one.
    store.ship("Billo.Api", &run, None, now).await.unwrap();
    stage(&store, 3, &["AB-3"], now).await;
    let later = RunId::new().to_string();
    let taken = store.ship("Billo.Api", &later, None, now).await.unwrap();
    assert_eq!(
        (
            taken.release.version,
            taken.run_id.as_str(),
            taken.release.prs.len()
        ),
        (first, later.as_str(), 3)
    );
    assert_eq!(store.staging("Billo.Api").await.unwrap(), None);
    assert!(matches!(
        store.ship("Other", &later, None, now).await,
        Err(StoreError::NotFound(_))
    ));
    db.drop_database().await;
}

async fn a_repository_has_one_unfinished_release_at_a_time(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let release = |repo: &str| NewRun {
        kind: "release".into(),
        repo: RepoName::parse(repo).ok(),
        pr_id: None,
        ..new_run()
    };
    let first = release("Billo.Api");
    assert_eq!(
        store.create_run(&first, None, now).await.unwrap(),
        Started::Created
    );
    assert!(matches!(
        store.create_run(&release("Billo.Api"), None, now).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .create_run(&release("Billo.Web"), None, now)
            .await
            .unwrap(),
        Started::Created,
        "other repositories release at the same time"
    );
    assert!(
        store
            .supersede_run(first.id, "done with it", "U1", now)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .create_run(&release("Billo.Api"), None, now)
            .await
            .unwrap(),
        Started::Created,
        "once the first run ended, the next may start"
    );
    db.drop_database().await;
}

/// Starts that arrive together are written together (group commit), yet each keeps its own
/// outcome: a repeated delivery key starts nothing; of many requests by people for one PR, one
/// starts and the others are answered with it (or with the run already under way before); of
/// many releases of one repository one starts and the rest conflict without using their keys.
async fn a_burst_of_starts_keeps_each_outcome(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let key = |name: String| Some(Dedupe::New(name));
    // Requests saved before their ack, as `/review` does.
    let saved = async |name: String| {
        let delivery = NewDelivery {
            key: name.clone(),
            source: "slack".into(),
            intent: Some(to_raw_value(&json!({})).unwrap()),
        };
        assert!(store.insert_delivery(&delivery, now()).await.unwrap());
        Some(Dedupe::Recorded(name))
    };
    let asked = |pr: i64| NewRun {
        pr_id: Some(pr),
        one_per_pr: true,
        ..new_run()
    };
    let before = asked(901);
    store.create_run(&before, None, now()).await.unwrap();

    let mut starts = Vec::new();
    for i in 0..200 {
        // Watchers' starts 0..150 come twice with the same key; the rest once.
        let times = if i < 150 { 2 } else { 1 };
        for _ in 0..times {
            starts.push((new_run(), key(format!("pr:{i}"))));
        }
    }
    for i in 0..50 {
        let release = NewRun {
            kind: "release".into(),
            pr_id: None,
            ..new_run()
        };
        let release_key = if i % 2 == 0 {
            key(format!("release:{i}"))
        } else {
            saved(format!("release:{i}")).await
        };
        starts.push((release, release_key));
        starts.push((asked(900), saved(format!("asked:900:{i}")).await));
        starts.push((asked(901), key(format!("asked:901:{i}"))));
    }
    let store = Arc::new(store);
    let mut tasks = tokio::task::JoinSet::new();
    for (run, delivery) in starts {
        let store = store.clone();
        tasks.spawn(async move {
            let outcome = store.create_run(&run, delivery.as_ref(), now()).await;
            (run, delivery, outcome)
        });
    }
    let (mut created, mut duplicates) = (0, 0);
    let (mut conflicts, mut answered_with) = (Vec::new(), Vec::new());
    let mut unused_saved = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (run, delivery, outcome) = done.unwrap();
        match outcome {
            Ok(Started::Created) => created += 1,
            Ok(Started::Duplicate) => duplicates += 1,
            Ok(Started::AlreadyRunning(other)) => {
                answered_with.push((run.pr_id, other.id));
                if let Some(Dedupe::Recorded(key)) = delivery {
                    unused_saved.push(key);
                }
            }
            Err(StoreError::Conflict(_)) if run.kind == "release" => {
                conflicts.push(delivery.unwrap())
            }
            Err(other) => panic!("unexpected outcome: {other}"),
        }
    }
    assert_eq!(
        (created, duplicates, conflicts.len(), answered_with.len()),
        (202, 150, 49, 99)
    );
    let runs = store.recent_runs(1000).await.unwrap();
    assert_eq!(runs.len(), 203, "202 new runs and the one before");
    let releases = runs.iter().filter(|r| r.kind == "release").count();
    assert_eq!(releases, 1, "one release of the repository at a time");
    let for_900: Vec<RunId> = runs
        .iter()
        .filter(|r| r.pr_id == Some(900))
        .map(|r| r.id)
        .collect();
    assert_eq!(for_900.len(), 1, "people asking at once start one run");
    for (pr, run) in answered_with {
        let expected = if pr == Some(900) {
            for_900[0]
        } else {
            before.id
        };
        assert_eq!(run, expected, "PR {pr:?} is answered with its run");
    }
    for run in runs.iter().filter(|r| r.id != before.id) {
        let started = store.audit_for_run(run.id).await.unwrap();
        assert_eq!(started.len(), 1, "each run has its own started entry");
        assert_eq!(
            (started[0].action.as_str(), started[0].detail.as_str()),
            ("started", run.subject.as_str())
        );
    }
    // A start that started nothing leaves its key as it was: a new key unknown, a saved request
    // still to be carried out.
    let mut still_pending = unused_saved;
    let mut unknown = Vec::new();
    for dedupe in conflicts {
        match dedupe {
            Dedupe::New(key) => unknown.push(key),
            Dedupe::Recorded(key) => still_pending.push(key),
        }
    }
    let mut pending: Vec<String> = (store.pending_deliveries(1000).await.unwrap())
        .into_iter()
        .map(|d| d.key)
        .collect();
    pending.sort();
    still_pending.sort();
    assert_eq!(pending, still_pending);
    for key in unknown {
        let delivery = NewDelivery {
            key,
            source: "slack".into(),
            intent: None,
        };
        assert!(
            store.insert_delivery(&delivery, now()).await.unwrap(),
            "a start that conflicted leaves its key unused: {}",
            delivery.key
        );
    }
    db.drop_database().await;
}

async fn every_checkpoint_writes_its_audit_entry(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let run = claimed_run(&store).await;
    for (seq, step) in ["one", "two", "three"].iter().enumerate() {
        let status = if *step == "three" {
            RunStatus::Done
        } else {
            RunStatus::Running
        };
        store
            .checkpoint(&checkpoint(run.id, "A", seq as i64, step, status), now)
            .await
            .unwrap();
    }
    let audit = store.audit_for_run(run.id).await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.detail.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("started", "Billo.Api#7"),
            ("step", "one"),
            ("step", "two"),
            ("step", "three")
        ]
    );
    let record = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!((record.seq, record.status), (3, RunStatus::Done));
    db.drop_database().await;
}

async fn migrations_can_run_again(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let applied = db
        .execute("DELETE FROM _sqlx_migrations WHERE version = 1")
        .await
        .unwrap();
    assert_eq!(applied, 1, "the core migration was recorded once");
    db.drop_database().await;
}

async fn merged_prs_are_staged_at_the_next_patch_and_none_is_lost(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let first = stage(&store, 1, &["A-1"], now).await;
    assert_eq!(
        first.version,
        Version::new(0, 1, 0),
        "nothing released yet: the first version"
    );
    let run = RunId::new().to_string();
    store.ship("Billo.Api", &run, None, now).await.unwrap();
    store
        .archive_shipping("Billo.Api", first.version, &run, now, None)
        .await
        .unwrap();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 2..12 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let ticket = format!("A-{}", i % 3);
            stage(&store, i, &[ticket.as_str()], now).await
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let staged = store.staging("Billo.Api").await.unwrap().unwrap();
    assert_eq!(
        staged.version,
        Version::new(0, 1, 1),
        "the last release plus one patch"
    );
    assert_eq!(
        staged.prs.len(),
        10,
        "every concurrently merged PR is counted"
    );
    assert_eq!(staged.tickets.len(), 3, "each ticket once");
    let again = stage(&store, 5, &["A-2"], now).await;
    assert_eq!(again.prs.len(), 10, "staging a PR twice counts it once");
    db.drop_database().await;
}

async fn cursors_keep_their_first_value(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    assert_eq!(
        store
            .cursor_or_init("poller:Billo.Api", "2026-11-23", now())
            .await
            .unwrap(),
        "2026-11-23"
    );
    assert_eq!(
        store
            .cursor_or_init("poller:Billo.Api", "2027-01-01", now())
            .await
            .unwrap(),
        "2026-11-23"
    );
    db.drop_database().await;
}

/// A post's first try is told to post; every later try gets the first try's time, to look
/// for the message from there.
async fn a_post_is_marked_once_and_later_tries_learn_when_it_began(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let first = now();
    assert_eq!(store.mark_post("card:r1", first).await.unwrap(), None);
    let later = first + TimeDelta::seconds(30);
    assert_eq!(
        store.mark_post("card:r1", later).await.unwrap(),
        Some(first)
    );
    assert_eq!(store.mark_post("outbox:1:0", later).await.unwrap(), None);
    assert_eq!(store.prune_post_marks(later).await.unwrap(), 1);
    assert_eq!(
        store.mark_post("outbox:1:0", later).await.unwrap(),
        Some(later)
    );
    db.drop_database().await;
}

/// Questions answered about a review cost money, but are not reviews.
async fn questions_count_in_the_spend_but_not_as_reviews(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let repo = RepoName::parse("Billo.Api").unwrap();
    let run_id = RunId::new();
    for (source, cost) in [("abc123", 0.5), ("question:slack:event:Ev1", 0.25)] {
        let spend = ReviewSpend {
            run_id,
            source,
            cost_usd: Some(cost),
            tokens: Some(100),
        };
        store.record_spend(&spend, &repo, 13, now()).await.unwrap();
    }
    let spent = store
        .spent_since(now() - TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!(
        (spent.reviews, spent.cost_usd, spent.tokens),
        (1, 0.75, 200)
    );
    db.drop_database().await;
}

async fn unfinished_runs_of_a_pr_are_found(backend: Backend) {
    let Some((db, store)) = store(backend).await else {
        return;
    };
    let (waiting, _) = waiting_run(&store).await;
    let other = NewRun {
        id: RunId::new(),
        pr_id: Some(8),
        ..new_run()
    };
    store.create_run(&other, None, now()).await.unwrap();
    let found: Vec<RunId> = store
        .unfinished_runs_for_pr("demo", 7)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(found, [waiting]);
    store
        .supersede_run(waiting, "newer push", "release-agent", now())
        .await
        .unwrap();
    assert!(
        store
            .unfinished_runs_for_pr("demo", 7)
            .await
            .unwrap()
            .is_empty()
    );
    db.drop_database().await;
}

/// Deliveries handled more than the retention ago are deleted; pending ones, merge markers and
/// the audit log stay.
async fn old_handled_deliveries_are_pruned_and_nothing_else(backend: Backend) {
    let Some((_db, store)) = store(backend).await else {
        return;
    };
    let now = now();
    let old = now - TimeDelta::days(20);
    let key = |key: &str| NewDelivery {
        key: key.into(),
        source: "test".into(),
        intent: None,
    };
    for (name, at) in [
        ("pr:Billo.Api:1:abc", old),
        ("pr:Billo.Api:1:merged", old),
        ("pr:Billo.Api:2:def", now),
    ] {
        assert!(store.remember_delivery(&key(name), at).await.unwrap());
    }
    let pending = NewDelivery {
        intent: Some(to_raw_value(&json!({"kind": "review"})).unwrap()),
        ..key("slack:old-but-pending")
    };
    assert!(store.insert_delivery(&pending, old).await.unwrap());
    let run = claimed_run(&store).await;
    let audit = AuditEntry::new(Some(run.id), "U2", "request_refused", "long ago");
    store
        .refuse_delivery(None, &audit, None, old)
        .await
        .unwrap();

    let deleted = store
        .prune_deliveries(now - TimeDelta::days(14))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert!(
        store
            .remember_delivery(&key("pr:Billo.Api:1:abc"), now)
            .await
            .unwrap(),
        "the old key is gone"
    );
    for kept in ["pr:Billo.Api:1:merged", "pr:Billo.Api:2:def"] {
        assert!(
            !store.remember_delivery(&key(kept), now).await.unwrap(),
            "{kept}"
        );
    }
    let waiting = store.pending_deliveries(10).await.unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let audit = store.audit_for_run(run.id).await.unwrap();
    assert!(audit.iter().any(|a| a.detail == "long ago"), "{audit:?}");
}

on_both_backends!(
    old_handled_deliveries_are_pruned_and_nothing_else,
    a_request_for_a_run_under_way_is_answered_with_it,
    merged_prs_are_staged_at_the_next_patch_and_none_is_lost,
    cursors_keep_their_first_value,
    a_post_is_marked_once_and_later_tries_learn_when_it_began,
    questions_count_in_the_spend_but_not_as_reviews,
    unfinished_runs_of_a_pr_are_found,
    runs_are_claimed_once_and_checkpoints_are_fenced_by_the_lease,
    a_decision_that_arrives_during_a_recheck_is_not_overwritten,
    a_waiting_run_that_moves_on_replaces_its_approval,
    journal_entries_written_together_keep_their_answers,
    checkpoints_written_together_keep_their_answers,
    a_home_tab_publish_is_claimed_once,
    a_delivery_key_starts_one_run,
    a_saved_request_starts_one_run,
    fifty_concurrent_decisions_accept_exactly_one,
    expiry_cancels_the_waiting_run,
    superseding_cancels_the_run_and_its_approval,
    the_effect_journal_counts_attempts_and_keeps_results,
    outbox_replies_wait_for_their_card_and_are_claimed_once,
    staging_is_one_per_repo_and_the_archive_is_immutable,
    a_shipping_release_is_frozen_and_prs_merged_meanwhile_open_the_next_version,
    a_repository_has_one_unfinished_release_at_a_time,
    a_burst_of_starts_keeps_each_outcome,
    every_checkpoint_writes_its_audit_entry,
    migrations_can_run_again,
);
