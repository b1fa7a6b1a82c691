//! The test harness: `TestApp` runs the real application (Socket Mode listener, engine, intake,
//! outbound queue) against a fake Slack, a fake effect service and a fresh database, with the
//! demo flow registered. It has one method per thing a user or operator does.

pub mod db;
pub mod demo_flow;
pub mod effects;
pub mod fake_azdo;
pub mod fake_cd;
pub mod fake_history;
pub mod fake_jira;
pub mod fake_origin;
pub mod fake_policy;
pub mod fake_projects;
pub mod fake_proxy;
pub mod fake_slack;
pub mod fake_threads;
pub mod fake_versions;
pub mod fake_yaml;
pub mod http_fakes;
pub mod https;
pub mod pg_server;
pub mod releases;
pub mod repo;

use std::collections::HashMap;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use release_agent::clock::Clock;
use release_agent::config::Config;
use release_agent::domain::{ApprovalStatus, RepoName, RunId};
use release_agent::slack::outbound::OutboundSettings;
use release_agent::slack::socket_mode::SocketSettings;
use release_agent::slack::socket_mode::reconnect::BackoffSettings;
use release_agent::startup::{Application, Parts, StartupError};
use release_agent::store::{ApprovalRecord, RunRecord, Store};
use release_agent::telemetry::LogFormat;
use release_agent::workflow::{Engine, EngineSettings, Subject};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use db::{Backend, TestDb};
pub use demo_flow::{Demo, DemoFlow, Hooks};
pub use effects::EffectService;
pub use fake_slack::{APP_TOKEN, BOT_TOKEN, FakeSlack};
pub use repo::pr_env;

pub const CHANNEL: &str = "C0RELEASES";

/// Installs the TLS provider once, and a log subscriber when `TEST_LOG` is set.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if std::env::var_os("TEST_LOG").is_some() {
            release_agent::telemetry::init(LogFormat::Pretty);
        }
    });
}

/// Engine timings short enough for tests.
pub fn engine_settings() -> EngineSettings {
    let mut settings = EngineSettings::new(CHANNEL, chrono::TimeDelta::hours(168));
    settings.idle_poll = Duration::from_millis(50);
    settings.backoff_base = Duration::from_millis(20);
    settings.backoff_cap = Duration::from_millis(200);
    settings.max_attempts = 5;
    settings.lease = Duration::from_secs(5);
    settings
}

/// Socket Mode timings short enough for tests; `too_many_websockets` still waits half a second.
pub fn socket_settings() -> SocketSettings {
    SocketSettings {
        backoff: BackoffSettings {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(500),
            too_many: Duration::from_millis(500),
            too_many_cap: Duration::from_secs(2),
        },
        drain: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(5),
        ..SocketSettings::default()
    }
}

pub fn outbound_settings() -> OutboundSettings {
    OutboundSettings {
        channel_gap: Duration::from_millis(10),
        idle_poll: Duration::from_millis(50),
        ..OutboundSettings::default()
    }
}

struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), StartupError>>,
    engine: Engine,
    http: Option<std::net::SocketAddr>,
}

pub struct TestApp {
    pub slack: Arc<FakeSlack>,
    pub effects: Arc<EffectService>,
    pub hooks: Arc<Hooks>,
    pub clock: Clock,
    pub store: Store,
    pub db: TestDb,
    _repos: tempfile::TempDir,
    vars: HashMap<String, String>,
    running: Option<Running>,
}

impl TestApp {
    /// A running app on `backend`, or `None` when that backend is not available here.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, &[]).await
    }

    /// Like [`spawn`](Self::spawn), with extra environment variables for the config.
    pub async fn spawn_with(backend: Backend, vars: &[(&str, &str)]) -> Option<Self> {
        init();
        let db = TestDb::create(backend).await?;
        Some(Self::spawn_on(db, vars).await)
    }

    /// A running app on the given database.
    pub async fn spawn_on(db: TestDb, vars: &[(&str, &str)]) -> Self {
        init();
        Self::spawn_with_slack(db, vars, FakeSlack::start().await).await
    }

    /// Like [`spawn_on`](Self::spawn_on), with a fake Slack the test prepared.
    pub async fn spawn_with_slack(
        db: TestDb,
        vars: &[(&str, &str)],
        slack: Arc<FakeSlack>,
    ) -> Self {
        init();
        let repos = tempfile::tempdir().unwrap();
        let mut env: HashMap<String, String> = [
            ("REPOS_BASE_DIR", repos.path().display().to_string()),
            ("DATABASE_URL", db.url.clone()),
            ("SLACK_BOT_TOKEN", BOT_TOKEN.into()),
            ("SLACK_APP_TOKEN", APP_TOKEN.into()),
            ("SLACK_CHANNEL_ID", CHANNEL.into()),
            ("SLACK_API_URL", slack.api_url()),
            ("WATCHED_REPOS", "Billo.Api,Billo.Web".into()),
            // Most stories are about something else than who may click: one person may do
            // everything. The approval stories set these themselves.
            ("SLACK_APPROVERS", "anyone".into()),
            ("ALLOW_SELF_APPROVAL", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in vars {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut app = Self {
            store: db.store().await,
            slack,
            effects: EffectService::start().await,
            hooks: Arc::new(Hooks::default()),
            clock: Clock::system(),
            db,
            _repos: repos,
            vars: env,
            running: None,
        };
        app.start().await;
        app
    }

    pub fn config(&self) -> Config {
        Config::from_lookup(|name| self.vars.get(name).cloned()).expect("test config is valid")
    }

    /// Builds and runs a new application process on the same database and fakes: the
    /// production parts, with the demo flow added and test timings.
    pub async fn start(&mut self) {
        assert!(self.running.is_none(), "already running");
        let config = self.config();
        let production = Parts::for_config(&config).expect("the app's clients");
        let demo = DemoFlow::new(self.effects.url(), self.hooks.clone());
        let parts = Parts {
            flows: production.flows.with(demo),
            clock: self.clock.clone(),
            engine: engine_settings(),
            outbound: outbound_settings(),
            socket: socket_settings(),
            ..production
        };
        let opened = self.slack.connections_opened();
        let app = Application::build_with(self.config(), parts)
            .await
            .expect("the app starts");
        let engine = app.engine().clone();
        let http = app.http_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        self.running = Some(Running {
            shutdown,
            task,
            engine,
            http,
        });
        // Without an app token Slack comes over HTTP alone: there is no connection to wait for.
        if self
            .vars
            .get("SLACK_APP_TOKEN")
            .is_some_and(|t| !t.is_empty())
        {
            self.slack.connected_since(opened).await;
        }
    }

    /// Whether the app still runs: nothing stopped it, and no part of it stopped on its own.
    pub fn still_running(&self) -> bool {
        self.running.as_ref().is_some_and(|r| !r.task.is_finished())
    }

    /// The token that stops the running app, for hooks that stop it from inside a step.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.running.as_ref().expect("running").shutdown.clone()
    }

    /// Waits for the running app to stop (after its shutdown token fired).
    pub async fn stopped(&mut self) {
        let running = self.running.take().expect("running");
        tokio::time::timeout(Duration::from_secs(15), running.task)
            .await
            .expect("the app stops within 15 s")
            .unwrap()
            .unwrap();
    }

    /// A graceful stop: steps reach their checkpoint, leases are given back.
    pub async fn stop(&mut self) {
        self.shutdown_token().cancel();
        self.stopped().await;
    }

    pub fn engine(&self) -> &Engine {
        &self.running.as_ref().expect("running").engine
    }

    /// The base URL of the HTTP receiver (the config must set HTTP_PORT, 0 for any port).
    pub fn http_url(&self) -> String {
        let addr = self
            .running
            .as_ref()
            .expect("running")
            .http
            .expect("HTTP_PORT is set");
        format!("http://127.0.0.1:{}", addr.port())
    }

    pub async fn start_demo(&self) -> RunId {
        let subject = Subject {
            repo: RepoName::parse("Billo.Api").ok(),
            pr_id: Some(12),
            title: "Billo.Api#12".into(),
            one_per_pr: false,
        };
        let (id, _) = self
            .engine()
            .start::<DemoFlow>(Demo::Prepare, subject, "U0STARTER", None)
            .await
            .unwrap();
        id
    }

    pub async fn run(&self, id: RunId) -> RunRecord {
        self.store.get_run(id).await.unwrap().expect("run exists")
    }

    /// Waits (up to 15 s) until the run satisfies `done`.
    pub async fn wait_for_run(
        &self,
        id: RunId,
        what: &str,
        done: impl Fn(&RunRecord) -> bool,
    ) -> RunRecord {
        wait_until(what, || async {
            let run = self.run(id).await;
            done(&run).then_some(run)
        })
        .await
    }

    /// Waits until the run is done, failed or cancelled.
    pub async fn finished(&self, id: RunId) -> RunRecord {
        self.wait_for_run(id, "the run to finish", |r| r.status.is_finished())
            .await
    }

    pub async fn pending_approval(&self, id: RunId) -> ApprovalRecord {
        wait_until("a pending approval", || async {
            let approvals = self.store.approvals_for_run(id).await.unwrap();
            approvals
                .into_iter()
                .find(|a| a.status == ApprovalStatus::Pending)
        })
        .await
    }

    /// The root message (card) of a run once posted, with its ts.
    pub async fn card_ts(&self, id: RunId) -> String {
        self.wait_for_run(id, "the card to be posted", |r| r.card_ts.is_some())
            .await
            .card_ts
            .unwrap()
    }

    /// Delivers a click on the run's pending approval and returns the envelope id.
    pub async fn press(&self, id: RunId, option: &str, user: &str) -> String {
        let approval = self.pending_approval(id).await;
        let envelope = self.click_envelope(&approval, option, user).await;
        self.slack.deliver(envelope).await
    }

    /// [`Self::press`] with the envelope delivered twice, as Slack may.
    pub async fn press_twice(&self, id: RunId, option: &str, user: &str) -> String {
        let approval = self.pending_approval(id).await;
        let envelope = self.click_envelope(&approval, option, user).await;
        let first = self.slack.deliver(envelope.clone()).await;
        self.slack.redeliver(&envelope).await;
        first
    }

    pub async fn click_envelope(
        &self,
        approval: &ApprovalRecord,
        option: &str,
        user: &str,
    ) -> Value {
        let ts = self.card_ts(approval.run_id).await;
        let action = format!("decide:{option}");
        let value = format!("{}:{option}", approval.id);
        self.slack.click_envelope(&action, &value, user, &ts)
    }

    /// Waits until nothing is left for the outbound queue and the intake.
    pub async fn settled(&self, id: RunId) {
        wait_until("Slack to be up to date", || async {
            let run = self.run(id).await;
            let outbox = self.store.outbox_for_run(id).await.unwrap();
            let pending = self.store.pending_deliveries(10).await.unwrap();
            let quiet = run.card_synced >= run.card_version && pending.is_empty();
            (quiet
                && outbox
                    .iter()
                    .all(|m| m.sent_at.is_some() || m.error.is_some()))
            .then_some(())
        })
        .await;
    }

    /// Stops the app if it runs, and drops a PostgreSQL test database.
    pub async fn finish(mut self) {
        if self.running.is_some() {
            self.stop().await;
        }
        self.store.close().await;
        self.db.drop_database().await;
    }
}

/// Polls `probe` until it yields a value; panics after 15 s naming `what`.
pub async fn wait_until<T, F, Fut>(what: &str, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_within(Duration::from_secs(15), what, probe).await
}

/// Polls `probe` until it yields a value; panics after `limit` naming `what`.
pub async fn wait_within<T, F, Fut>(limit: Duration, what: &str, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `test` on SQLite and, when `TEST_DATABASE_URL` is set, on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Backend::Postgres).await })*
        }
    };
}

/// Versions as a bot with the default FIRST_VERSION and no version tags computes them.
pub const FIRST: release_agent::store::Versioning = release_agent::store::Versioning {
    first: release_agent::domain::Version::new(0, 1, 0),
    last: None,
    minor_pre_major: false,
};
