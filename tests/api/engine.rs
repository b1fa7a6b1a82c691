//! The engine on its own (no Slack): loop guards, unknown kinds, two engines sharing one
//! PostgreSQL database, and engines that die in the middle of a step.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use release_agent::clock::Clock;
use release_agent::domain::{RunId, RunKind, RunStatus};
use release_agent::store::{NewRun, Store};
use release_agent::workflow::{
    CardView, Engine, EngineSettings, Flow, Flows, StepContext, StepError, Subject, Transition,
    Wakers,
};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::on_both_backends;
use crate::support::{
    Backend, Demo, DemoFlow, EffectService, Hooks, TestDb, engine_settings, init, wait_until,
};

/// An engine running in a task of its own, which a test can stop gracefully or kill.
struct Running {
    engine: Engine,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

fn spawn_engine(store: &Store, flows: Flows, settings: EngineSettings) -> Running {
    let engine = Engine::new(
        store.clone(),
        flows,
        Clock::system(),
        settings,
        Arc::new(Wakers::default()),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(engine.clone().run(shutdown.clone()));
    Running {
        engine,
        shutdown,
        task,
    }
}

async fn finished(store: &Store, run: RunId) -> release_agent::store::RunRecord {
    wait_until("the run to finish", || async {
        let record = store.get_run(run).await.unwrap().unwrap();
        record.status.is_finished().then_some(record)
    })
    .await
}

/// Steps forever: `spin` goes on to itself, `poll` polls itself.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Endless {
    Spin { n: u32 },
    Poll,
}

struct EndlessFlow;

#[async_trait]
impl Flow for EndlessFlow {
    type State = Endless;
    const KIND: RunKind = RunKind::named("endless");

    async fn step(
        &self,
        _ctx: &StepContext<'_>,
        state: Endless,
    ) -> Result<Transition<Endless>, StepError> {
        Ok(match state {
            Endless::Spin { n } => Transition::go(Endless::Spin { n: n + 1 }),
            Endless::Poll => Transition::poll(Endless::Poll, Duration::from_millis(5), 3),
        })
    }

    fn card(&self, _state: &Endless) -> CardView {
        CardView {
            title: "endless".into(),
            lines: Vec::new(),
        }
    }
}

async fn endless_loops_are_stopped(backend: Backend) {
    init();
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let store = db.store().await;
    let mut settings = engine_settings();
    settings.max_steps = 25;
    let running = spawn_engine(&store, Flows::new().with(EndlessFlow), settings);
    let spin = running
        .engine
        .start::<EndlessFlow>(Endless::Spin { n: 0 }, Subject::default(), "U1", None)
        .await
        .unwrap()
        .0;
    let poll = running
        .engine
        .start::<EndlessFlow>(Endless::Poll, Subject::default(), "U1", None)
        .await
        .unwrap()
        .0;

    let spun = finished(&store, spin).await;
    assert_eq!(spun.status, RunStatus::Failed);
    assert_eq!(
        spun.outcome.as_deref(),
        Some("stopped after 25 steps without finishing; a loop?")
    );
    let polled = finished(&store, poll).await;
    assert_eq!(polled.status, RunStatus::Failed);
    assert_eq!(
        polled.outcome.as_deref(),
        Some("gave up: still waiting in poll after 3 checks")
    );
    assert_eq!(polled.seq, 4, "three polls, then the fourth check gave up");
    running.shutdown.cancel();
    running.task.await.unwrap();
    db.drop_database().await;
}

async fn a_run_of_an_unknown_kind_fails_with_a_reason(backend: Backend) {
    init();
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let store = db.store().await;
    let run = NewRun {
        id: RunId::new(),
        kind: "ghost".into(),
        repo: None,
        pr_id: None,
        subject: "left over by a newer version".into(),
        step: "haunt".into(),
        state: serde_json::json!({"step": "haunt"}),
        channel_id: "C1".into(),
        started_by: "U1".into(),
        one_per_pr: false,
    };
    store
        .create_run(&run, None, Clock::system().now())
        .await
        .unwrap();
    let running = spawn_engine(&store, Flows::new(), engine_settings());
    let failed = finished(&store, run.id).await;
    assert_eq!(
        failed.outcome.as_deref(),
        Some("this release-agent does not know runs of kind `ghost`")
    );
    running.shutdown.cancel();
    running.task.await.unwrap();
    db.drop_database().await;
}

/// Four steps with a timer in the middle; each execution is counted by engine and step.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Relay {
    Start,
    Pause { polled: bool },
    Carry,
    End,
}

#[derive(Default)]
struct Tally {
    /// `run/step` → the engines that executed it.
    by_step: Mutex<HashMap<String, Vec<&'static str>>>,
    /// Pauses taken so far, by either engine.
    pauses: AtomicUsize,
}

struct RelayFlow {
    engine: &'static str,
    tally: Arc<Tally>,
    stop_after_pauses: Option<(usize, CancellationToken)>,
}

#[async_trait]
impl Flow for RelayFlow {
    type State = Relay;
    const KIND: RunKind = RunKind::named("relay");

    async fn step(
        &self,
        ctx: &StepContext<'_>,
        state: Relay,
    ) -> Result<Transition<Relay>, StepError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (name, next) = match state {
            Relay::Start => ("start", Transition::go(Relay::Pause { polled: false })),
            Relay::Pause { polled: false } => {
                let paused = self.tally.pauses.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some((after, token)) = &self.stop_after_pauses
                    && paused >= *after
                {
                    token.cancel();
                }
                (
                    "pause",
                    Transition::poll(Relay::Pause { polled: true }, Duration::from_millis(30), 5),
                )
            }
            Relay::Pause { polled: true } => ("resume", Transition::go(Relay::Carry)),
            Relay::Carry => ("carry", Transition::go(Relay::End)),
            Relay::End => ("end", Transition::done(Relay::End)),
        };
        let key = format!("{}/{name}", ctx.run_id());
        self.tally
            .by_step
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .push(self.engine);
        Ok(next)
    }

    fn card(&self, _state: &Relay) -> CardView {
        CardView {
            title: "relay".into(),
            lines: Vec::new(),
        }
    }
}

/// Two engines on one PostgreSQL database share 100 runs; engine A is stopped midway and B
/// finishes everything. Every step runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_share_a_hundred_runs_and_each_step_runs_once() {
    init();
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (store_a, store_b) = (db.store().await, db.store().await);
    let tally = Arc::new(Tally::default());
    let stop_a = CancellationToken::new();
    let mut settings = engine_settings();
    settings.concurrency = 8;
    let flow_a = RelayFlow {
        engine: "A",
        tally: tally.clone(),
        stop_after_pauses: Some((30, stop_a.clone())),
    };
    let flow_b = RelayFlow {
        engine: "B",
        tally: tally.clone(),
        stop_after_pauses: None,
    };
    let engine_a = Engine::new(
        store_a.clone(),
        Flows::new().with(flow_a),
        Clock::system(),
        settings.clone(),
        Arc::new(Wakers::default()),
    );
    let a = tokio::spawn(engine_a.clone().run(stop_a.clone()));
    let b = spawn_engine(&store_b, Flows::new().with(flow_b), settings);

    let mut runs = Vec::new();
    for i in 0..100 {
        let starter = if i % 2 == 0 { &engine_a } else { &b.engine };
        let subject = Subject {
            title: format!("relay {i}"),
            ..Subject::default()
        };
        runs.push(
            starter
                .start::<RelayFlow>(Relay::Start, subject, "U1", None)
                .await
                .unwrap()
                .0,
        );
    }
    a.await.unwrap();
    assert!(stop_a.is_cancelled(), "engine A was stopped midway");
    for run in &runs {
        assert_eq!(finished(&store_b, *run).await.status, RunStatus::Done);
    }
    b.shutdown.cancel();
    b.task.await.unwrap();

    let by_step = tally.by_step.lock().unwrap().clone();
    assert_eq!(by_step.len(), 500, "five steps of each of the 100 runs ran");
    let repeated: Vec<_> = by_step
        .iter()
        .filter(|(_, engines)| engines.len() != 1)
        .collect();
    assert!(
        repeated.is_empty(),
        "steps that ran more than once: {repeated:?}"
    );
    let handed_over = runs.iter().filter(|run| {
        let engines = |step: &str| by_step[&format!("{run}/{step}")][0];
        engines("pause") == "A" && engines("end") == "B"
    });
    assert!(
        handed_over.count() > 0,
        "B finished runs that A had started"
    );
    db.drop_database().await;
}

/// A demo run at its `act` step, with engines that can be killed and replaced.
struct Crashable {
    db: TestDb,
    store: Store,
    effects: Arc<EffectService>,
    hooks: Arc<Hooks>,
    settings: EngineSettings,
    run: RunId,
    engine: Running,
}

impl Crashable {
    async fn start(backend: Backend, lease: Duration, effect_delay: Duration) -> Option<Self> {
        init();
        let db = TestDb::create(backend).await?;
        let store = db.store().await;
        let effects = EffectService::start().await;
        let hooks = Arc::new(Hooks::default());
        *hooks.effect_delay.lock().unwrap() = effect_delay;
        let mut settings = engine_settings();
        settings.lease = lease;
        let engine = spawn_engine(
            &store,
            Flows::new().with(DemoFlow::new(effects.url(), hooks.clone())),
            settings.clone(),
        );
        let state = Demo::Act {
            chosen_by: "U1".into(),
        };
        let subject = Subject {
            title: "crash test".into(),
            ..Subject::default()
        };
        let run = engine
            .engine
            .start::<DemoFlow>(state, subject, "U1", None)
            .await
            .unwrap()
            .0;
        Some(Self {
            db,
            store,
            effects,
            hooks,
            settings,
            run,
            engine,
        })
    }

    /// Kills the engine (its task is aborted mid-whatever) and starts a fresh one.
    async fn kill_and_replace(&mut self) {
        self.engine.task.abort();
        let _ = (&mut self.engine.task).await;
        let flows = Flows::new().with(DemoFlow::new(self.effects.url(), self.hooks.clone()));
        self.engine = spawn_engine(&self.store, flows, self.settings.clone());
    }

    /// Waits for the run to finish, checks each effect happened exactly once, and cleans up.
    async fn finish(self) {
        assert_eq!(
            finished(&self.store, self.run).await.status,
            RunStatus::Done
        );
        let id = self.run.to_string();
        let caused = (
            self.effects.count("act", &id),
            self.effects.count("finish", &id),
        );
        assert_eq!(caused, (1, 1), "each effect exactly once");
        self.engine.shutdown.cancel();
        self.engine.task.await.unwrap();
        self.db.drop_database().await;
    }
}

/// Engines killed at random instants, also in the middle of an effect: after enough restarts
/// the run is done and every effect was caused exactly once.
async fn engines_killed_at_random_instants_cause_each_effect_once(backend: Backend) {
    let Some(mut crash) = Crashable::start(
        backend,
        Duration::from_millis(600),
        Duration::from_millis(40),
    )
    .await
    else {
        return;
    };
    let mut kills = 0;
    for delay_ms in [15u64, 35, 55, 20, 45, 65, 30, 50, 10, 60] {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        crash.kill_and_replace().await;
        kills += 1;
        if crash
            .store
            .get_run(crash.run)
            .await
            .unwrap()
            .unwrap()
            .status
            .is_finished()
        {
            break;
        }
    }
    assert!(kills >= 2, "the engine was killed while the run went on");
    crash.finish().await;
}

/// The hardest moment to die: the service has caused the effect, but its answer was never
/// recorded. The next engine must find the effect instead of causing it again.
async fn an_effect_whose_answer_was_lost_is_found_not_repeated(backend: Backend) {
    let Some(mut crash) =
        Crashable::start(backend, Duration::from_millis(300), Duration::from_secs(30)).await
    else {
        return;
    };
    let id = crash.run.to_string();
    let effects = crash.effects.clone();
    wait_until("the service to cause the effect", || async {
        (effects.count("act", &id) == 1).then_some(())
    })
    .await;
    *crash.hooks.effect_delay.lock().unwrap() = Duration::ZERO;
    crash.kill_and_replace().await;
    let sql = format!(
        "SELECT COUNT(*) FROM effects WHERE run_id = '{id}' AND name = 'act' AND attempts = 2"
    );
    // The effect was recorded as started twice: the second attempt is the one that looked.
    wait_until("a second attempt at the effect", || async {
        (crash.db.count(&sql).await == 1).then_some(())
    })
    .await;
    crash.finish().await;
}

on_both_backends!(
    an_effect_whose_answer_was_lost_is_found_not_repeated,
    endless_loops_are_stopped,
    a_run_of_an_unknown_kind_fails_with_a_reason,
    engines_killed_at_random_instants_cause_each_effect_once,
);
