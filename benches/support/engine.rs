//! The engine alone, in the benchmark's process, for `throughput`'s first two modes: runs of a
//! bench flow of 10 steps, each step one call journaled as real flows journal theirs
//! (`StepContext::once`: a write before the call, one after) and then checkpointed. The engines,
//! the database pools and the program share the machine's two cores, and nothing else runs (no
//! git, no reviewer process, no fakes).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{Backend, TestDb};
use async_trait::async_trait;
use release_agent::clock::Clock;
use release_agent::domain::{Line, RunKind};
use release_agent::store::Store;
use release_agent::workflow::{
    CardView, Engine, EngineSettings, Flow, Flows, StepContext, StepError, Subject, Transition,
    Wakers,
};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio_util::sync::CancellationToken;

const STEPS: u32 = 10;

/// The bench flow: `STEPS` steps, each one journaled call that takes `call` (the third,
/// `review`).
struct Bench {
    call: Duration,
    review: Duration,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum State {
    Step { n: u32 },
    Done,
}

#[async_trait]
impl Flow for Bench {
    type State = State;
    const KIND: RunKind = RunKind::named("bench");

    async fn step(
        &self,
        ctx: &StepContext<'_>,
        state: State,
    ) -> Result<Transition<State>, StepError> {
        let State::Step { n } = state else {
            return Ok(Transition::done(State::Done));
        };
        let wait = if n == 3 { self.review } else { self.call };
        ctx.once(&format!("call-{n}"), |_| async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            Ok(n)
        })
        .await?;
        Ok(if n + 1 < STEPS {
            Transition::go(State::Step { n: n + 1 })
        } else {
            Transition::done(State::Done)
        })
    }

    fn card(&self, _: &State) -> CardView {
        CardView {
            title: "bench".into(),
            lines: vec![Line::from("bench")],
        }
    }
}

/// An engine on `store` driving the bench flow, `concurrency` runs at once.
fn engine(store: &Store, flow: Bench, concurrency: usize) -> Engine {
    let mut settings = EngineSettings::new("C0BENCH", chrono::TimeDelta::hours(1));
    settings.concurrency = concurrency;
    Engine::new(
        store.clone(),
        Flows::new().with(flow),
        Clock::system(),
        settings,
        Arc::new(Wakers::default()),
    )
}

async fn start_runs(engine: &Engine, runs: u32) {
    for i in 0..runs {
        let subject = Subject {
            title: format!("bench {i}"),
            ..Subject::default()
        };
        engine
            .start::<Bench>(State::Step { n: 0 }, subject, "U0BENCH", None)
            .await
            .unwrap();
    }
}

/// Runs one engine executes at once: `ENGINE_CONCURRENCY`, as the bot's own setting, or its
/// default of 16.
fn concurrency() -> usize {
    std::env::var("ENGINE_CONCURRENCY")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(16)
}

/// Runs of the bench flow that are done.
async fn done(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) FROM runs WHERE status = 'done'")
        .await
}

/// This process's CPU time so far.
fn cpu() -> Duration {
    crate::bot::cpu(std::process::id())
}

/// Single-row inserts, each committed on its own, one after the other on one connection set up
/// as the store sets up its own (SQLite: WAL, `synchronous = NORMAL`): the database's commit
/// rate on this machine.
async fn bare_commits(db: &TestDb, backend: Backend, count: i64) -> f64 {
    const CREATE: &str = "DROP TABLE IF EXISTS bench_commits; \
         CREATE TABLE bench_commits (id BIGINT PRIMARY KEY, at TEXT NOT NULL)";
    const INSERT: &str = "INSERT INTO bench_commits (id, at) VALUES ($1, 'now')";
    // The same loop on either backend's connection type.
    macro_rules! commit_loop {
        ($conn:expr) => {{
            sqlx::raw_sql(CREATE).execute(&mut $conn).await.unwrap();
            let started = Instant::now();
            for id in 0..count {
                sqlx::query(INSERT)
                    .bind(id)
                    .execute(&mut $conn)
                    .await
                    .unwrap();
            }
            started.elapsed()
        }};
    }
    let took = match backend {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            let mut conn = options.connect().await.unwrap();
            commit_loop!(conn)
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&db.url).await.unwrap();
            commit_loop!(conn)
        }
    };
    count as f64 / took.as_secs_f64()
}

pub async fn instant(backend: Backend) {
    let runs = 2_000;
    let Some(db) = TestDb::create(backend).await else {
        println!("{backend:?}: skipped (set TEST_DATABASE_URL)");
        return;
    };
    let store = db.store().await;
    let flow = Bench {
        call: Duration::ZERO,
        review: Duration::ZERO,
    };
    let concurrency = concurrency();
    // The commit rate moves with the machine's load: it is taken before and after the engine's
    // run, and the steps compared with the higher figure.
    let bare_before = bare_commits(&db, backend, 5_000).await;
    let engine = engine(&store, flow, concurrency);
    start_runs(&engine, runs).await;
    let stop = CancellationToken::new();
    let (cpu_before, started) = (cpu(), Instant::now());
    let task = tokio::spawn(engine.clone().run(stop.clone()));
    while done(&db).await < i64::from(runs) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (took, cpu_used) = (started.elapsed(), cpu() - cpu_before);
    stop.cancel();
    task.await.unwrap();
    let steps = f64::from(runs * STEPS);
    let bare_after = bare_commits(&db, backend, 5_000).await;
    let bare = bare_before.max(bare_after);
    let rate = steps / took.as_secs_f64();
    println!(
        "instant, {backend:?}: {rate:.0} checkpointed steps/s ({runs} runs of {} steps in {:.1} s, {concurrency} at once), \
         CPU {:.2} ms per run; bare insert-and-commit loop {bare_before:.0}/s before, {bare_after:.0}/s after \
         (steps at {:.0} % of the higher)",
        STEPS,
        took.as_secs_f64(),
        cpu_used.as_secs_f64() * 1e3 / f64::from(runs),
        rate / bare * 100.0
    );
    store.close().await;
    db.drop_database().await;
}

/// Runs completed in `window` by `replicas` engines on one database, from a backlog larger than
/// they can finish.
pub async fn like_the_real_services(backend: Backend, replicas: usize, window: Duration) {
    let backlog = 2_000;
    let Some(db) = TestDb::create(backend).await else {
        println!("{backend:?}: skipped (set TEST_DATABASE_URL)");
        return;
    };
    let mut stores = Vec::new();
    let mut engines = Vec::new();
    for _ in 0..replicas {
        let store = db.store().await;
        let flow = Bench {
            call: Duration::from_millis(50),
            review: Duration::from_secs(2),
        };
        engines.push(engine(&store, flow, concurrency()));
        stores.push(store);
    }
    start_runs(&engines[0], backlog).await;
    let stop = CancellationToken::new();
    let (cpu_before, started) = (cpu(), Instant::now());
    let tasks: Vec<_> = engines
        .iter()
        .map(|engine| tokio::spawn(engine.clone().run(stop.clone())))
        .collect();
    tokio::time::sleep(window).await;
    let completed = done(&db).await;
    let cpu_used = cpu() - cpu_before;
    let took = started.elapsed();
    stop.cancel();
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "like the real services, {backend:?}, {replicas} replica(s): {completed} runs done in {:.1} s \
         ({:.2} runs/s), CPU {:.2} ms per run",
        took.as_secs_f64(),
        completed as f64 / took.as_secs_f64(),
        cpu_used.as_secs_f64() * 1e3 / completed.max(1) as f64
    );
    for store in stores {
        store.close().await;
    }
    db.drop_database().await;
}
