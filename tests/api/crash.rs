//! The crash tests: the real binary runs a workflow from its slash command to its end and is
//! killed (SIGKILL) once its run has checkpointed k steps, for every k, then started again. Each
//! time the outcome is the uninterrupted one.
//! - PR: a ticketless PR through review → merge → CI: one ticket, one merge, one build, each PR
//!   thread once.
//! - Release: a staged release through release PR → merge → CI → Sandbox → Production → Jira →
//!   notes → archive: one release PR, one merge, one build, one approval call per stage.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use release_agent::config::DatabaseUrl;
use release_agent::store::Store;
use sqlx::{Connection, SqliteConnection};
use tokio::process::{Child, Command};

use crate::pr_flow::{APPROVE_WITH_FINDING, Repo, pr_env};
use crate::release_flow::stage_release;
use crate::support::fake_azdo::{FakeAzdo, FakePr};
use crate::support::fake_jira::FakeJira;
use crate::support::{APP_TOKEN, BOT_TOKEN, FakeSlack, init};

struct Scene {
    dir: tempfile::TempDir,
    slack: std::sync::Arc<FakeSlack>,
    azdo: FakeAzdo,
    jira: FakeJira,
    _repo: Repo,
    env: Vec<(&'static str, String)>,
}

/// What the run's database says now.
#[derive(Debug)]
struct Seen {
    steps: i64,
    status: String,
    step: String,
    approval: Option<String>,
    card_ts: Option<String>,
}

/// What a workflow asks, and which option the test answers with.
struct Script {
    command: &'static str,
    text: &'static str,
    answers: &'static [(&'static str, &'static str)],
}

const PR_SCRIPT: Script = Script {
    command: "/review",
    text: "13",
    answers: &[("ask_merge", "merge")],
};

const RELEASE_SCRIPT: Script = Script {
    command: "/release",
    text: "Billo.Api",
    answers: &[
        ("ask_create", "create"),
        ("ask_merge", "merge"),
        ("ask_stage", "approve"),
    ],
};

impl Scene {
    async fn new() -> Self {
        init();
        let dir = tempfile::tempdir().unwrap();
        let slack = FakeSlack::start().await;
        let azdo = FakeAzdo::start().await;
        let jira = FakeJira::start().await;
        let repo = Repo::new();
        let mut env = pr_env(&azdo, &jira, &repo);
        env.extend([
            (
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("agent.db").display()),
            ),
            ("SLACK_BOT_TOKEN", BOT_TOKEN.into()),
            ("SLACK_APP_TOKEN", APP_TOKEN.into()),
            ("SLACK_CHANNEL_ID", "C0RELEASES".into()),
            ("SLACK_API_URL", slack.api_url()),
            ("CI_AUTO_TRIGGER", "true".into()),
            ("RELEASE_POLL_INTERVAL_SECONDS", "1".into()),
            ("RUN_LEASE_SECONDS", "2".into()),
            ("RUST_LOG", "info".into()),
        ]);
        Self {
            dir,
            slack,
            azdo,
            jira,
            _repo: repo,
            env,
        }
    }

    /// A ticketless PR, 13, ready for review.
    async fn pr() -> Self {
        let scene = Self::new().await;
        let ticket = r#"{"summary":"Add the login page","description":"Users can log in."}"#;
        let commit = scene
            ._repo
            .branch("chore/login", APPROVE_WITH_FINDING, Some(ticket));
        scene.azdo.add_pr(FakePr {
            id: 13,
            repo: "Billo.Api".into(),
            title: "Login page".into(),
            source_branch: "chore/login".into(),
            target_branch: "develop".into(),
            source_commit: commit,
            status: "active".into(),
            merge_commit: None,
            closed: None,
            draft: false,
        });
        scene
    }

    /// Billo.Api 1.4.3 staged, with CD to Sandbox and Production.
    async fn release() -> Self {
        let scene = Self::new().await;
        let store = Store::connect(&DatabaseUrl::parse(&scene.env_var("DATABASE_URL")).unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let now = release_agent::clock::Clock::system().now();
        stage_release(&store, &scene.azdo, &scene.jira, now).await;
        store.close().await;
        scene
    }

    fn env_var(&self, name: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    async fn start(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("bot.log"))
            .unwrap();
        let opened = self.slack.connections_opened();
        let child = Command::new(env!("CARGO_BIN_EXE_release-agent"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.slack.connected_since(opened).await;
        child
    }

    async fn db(&self) -> Option<SqliteConnection> {
        let url = format!(
            "sqlite://{}?mode=ro",
            self.dir.path().join("agent.db").display()
        );
        SqliteConnection::connect(&url).await.ok()
    }

    async fn seen(&self) -> Option<Seen> {
        let mut db = self.db().await?;
        let (id, status, step, card_ts): (String, String, String, Option<String>) =
            sqlx::query_as("SELECT id, status, step, card_ts FROM runs LIMIT 1")
                .fetch_optional(&mut db)
                .await
                .ok()??;
        let steps: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE run_id = $1 AND action = 'step'",
        )
        .bind(&id)
        .fetch_one(&mut db)
        .await
        .ok()?;
        let approval: Option<String> =
            sqlx::query_scalar("SELECT id FROM approvals WHERE run_id = $1 AND status = 'pending'")
                .bind(&id)
                .fetch_optional(&mut db)
                .await
                .ok()?;
        Some(Seen {
            steps,
            status,
            step,
            approval,
            card_ts,
        })
    }

    async fn lease_owner(&self) -> Option<String> {
        let mut db = self.db().await?;
        sqlx::query_scalar("SELECT lease_owner FROM runs LIMIT 1")
            .fetch_one(&mut db)
            .await
            .ok()?
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("bot.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }

    /// Runs `script` to its end, killing the bot once when the run has made `kill_after` steps.
    /// Returns the run's final status.
    async fn drive(&self, script: &Script, kill_after: Option<i64>) -> String {
        let bot = self.start().await;
        self.slack.slash(script.command, script.text, "U0ADA").await;
        self.follow(bot, script, kill_after).await
    }

    /// Answers the run's questions until it ends, killing `bot` once as [`drive`] says.
    async fn follow(&self, mut bot: Child, script: &Script, kill_after: Option<i64>) -> String {
        let mut killed = kill_after.is_none();
        // Each approval is clicked once, and again if the click was lost with a killed bot.
        let mut clicked: BTreeMap<String, Instant> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(
                Instant::now() < deadline,
                "the run did not finish; the bot's log ends:\n{}",
                self.log_tail()
            );
            let Some(seen) = self.seen().await else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            if !killed && seen.steps >= kill_after.unwrap_or_default() {
                bot.start_kill().unwrap();
                bot.wait().await.unwrap();
                killed = true;
                bot = self.start().await;
                continue;
            }
            let answer = script.answers.iter().find(|(step, _)| *step == seen.step);
            if seen.status == "waiting"
                && let (Some((_, option)), Some(approval), Some(ts)) =
                    (answer, &seen.approval, &seen.card_ts)
                && clicked
                    .get(approval)
                    .is_none_or(|at| at.elapsed() > Duration::from_secs(3))
            {
                let click = self.slack.click_envelope(
                    &format!("decide:{option}"),
                    &format!("{approval}:{option}"),
                    "U0ADA",
                    ts,
                );
                let id = self.slack.deliver(click).await;
                self.slack.ack(&id).await;
                clicked.insert(approval.clone(), Instant::now());
            }
            if matches!(seen.status.as_str(), "done" | "failed" | "cancelled") {
                bot.start_kill().unwrap();
                let _ = bot.wait().await;
                return seen.status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn staged_prs(&self) -> Vec<i64> {
        let mut db = self.db().await.unwrap();
        let prs: Option<String> =
            sqlx::query_scalar("SELECT prs FROM staging_releases WHERE repo = 'Billo.Api'")
                .fetch_optional(&mut db)
                .await
                .unwrap();
        let staged: Vec<serde_json::Value> = prs
            .map(|p| serde_json::from_str(&p).unwrap())
            .unwrap_or_default();
        staged.iter().filter_map(|p| p["id"].as_i64()).collect()
    }

    async fn archived_versions(&self) -> Vec<String> {
        let mut db = self.db().await.unwrap();
        sqlx::query_scalar("SELECT version FROM archived_releases ORDER BY version")
            .fetch_all(&mut db)
            .await
            .unwrap()
    }

    /// How many times the bot started, from its own log.
    fn starts(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("bot.log"))
            .unwrap_or_default()
            .matches("release-agent is running")
            .count()
    }
}

/// A workflow the crash test drives: its scene and the outcome to compare.
trait Workflow {
    type Outcome: PartialEq + std::fmt::Debug;
    async fn scene() -> Scene;
    async fn outcome(scene: &Scene, kill_after: Option<i64>) -> Self::Outcome;
}

/// Runs the workflow once uninterrupted and checks `expected`; then, for every step boundary
/// k, runs it in a fresh scene killed after k steps and checks the outcome is the same.
async fn kill_at_every_step<W: Workflow>(expected: W::Outcome, min_steps: i64) {
    let baseline = W::scene().await;
    assert_eq!(W::outcome(&baseline, None).await, expected);
    let steps = baseline.seen().await.unwrap().steps;
    assert!(steps >= min_steps, "the path has {steps} steps");
    eprintln!(
        "crash test: the uninterrupted run took {steps} steps; killing after each of 1..{steps}"
    );
    for kill_after in 1..steps {
        let scene = W::scene().await;
        let got = W::outcome(&scene, Some(kill_after)).await;
        assert_eq!(
            got,
            expected,
            "killed after {kill_after} steps; the bot's log ends:\n{}",
            scene.log_tail()
        );
        assert_eq!(scene.starts(), 2, "the bot was killed and started again");
    }
}

struct Review;

#[derive(Debug, PartialEq)]
struct PrOutcome {
    status: String,
    merges: usize,
    tickets: usize,
    builds: usize,
    threads: usize,
    staged_prs: Vec<i64>,
    jira_status: String,
}

impl Workflow for Review {
    type Outcome = PrOutcome;

    async fn scene() -> Scene {
        Scene::pr().await
    }

    async fn outcome(scene: &Scene, kill_after: Option<i64>) -> PrOutcome {
        let status = scene.drive(&PR_SCRIPT, kill_after).await;
        let created = scene.jira.with(|s| s.created.clone());
        PrOutcome {
            status,
            merges: scene.azdo.with(|s| s.completions.len()),
            tickets: created.len(),
            builds: scene.azdo.with(|s| s.builds.len()),
            threads: scene.azdo.with(|s| s.threads.len()),
            staged_prs: scene.staged_prs().await,
            jira_status: created
                .first()
                .map(|key| scene.jira.status(key))
                .unwrap_or_default(),
        }
    }
}

struct Release;

#[derive(Debug, PartialEq)]
struct ReleaseOutcome {
    status: String,
    release_prs: usize,
    merges: usize,
    builds: usize,
    /// (approval id, status) of every approval call.
    approvals: Vec<(i64, String)>,
    stage_starts: usize,
    jira: Vec<String>,
    archived: Vec<String>,
}

impl Workflow for Release {
    type Outcome = ReleaseOutcome;

    async fn scene() -> Scene {
        Scene::release().await
    }

    async fn outcome(scene: &Scene, kill_after: Option<i64>) -> ReleaseOutcome {
        let status = scene.drive(&RELEASE_SCRIPT, kill_after).await;
        ReleaseOutcome {
            status,
            release_prs: scene.azdo.with(|s| s.created.len()),
            merges: scene.azdo.with(|s| s.completions.len()),
            builds: scene.azdo.with(|s| s.builds.len()),
            approvals: scene.azdo.with(|s| {
                s.cd.decisions
                    .iter()
                    .map(|(id, status, _)| (*id, status.clone()))
                    .collect()
            }),
            stage_starts: scene.azdo.with(|s| s.cd.starts.len()),
            jira: ["ALLPOST-1", "ALLPOST-2", "ALLPOST-3"]
                .map(|key| scene.jira.status(key))
                .to_vec(),
            archived: scene.archived_versions().await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_every_step_of_a_pr_changes_nothing() {
    let expected = PrOutcome {
        status: "done".into(),
        merges: 1,
        tickets: 1,
        builds: 1,
        threads: 2,
        staged_prs: vec![13],
        jira_status: "Ready for QA".into(),
    };
    kill_at_every_step::<Review>(expected, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_every_step_of_a_release_changes_nothing() {
    let expected = ReleaseOutcome {
        status: "done".into(),
        release_prs: 1,
        merges: 1,
        builds: 1,
        approvals: vec![(500, "approved".into()), (501, "approved".into())],
        stage_starts: 0,
        jira: vec!["Done".into(), "Done".into(), "Done".into()],
        archived: vec!["1.4.2".into(), "1.4.3".into()],
    };
    kill_at_every_step::<Release>(expected, 14).await;
}

/// SIGTERM while the reviewer works: the step finishes and checkpoints, the process exits 0
/// within 10 s and gives its lease back, and a new process finishes the run without redoing it.
#[tokio::test]
async fn sigterm_mid_step_checkpoints_and_a_restart_finishes_the_run() {
    let mut scene = Scene::pr().await;
    scene.env.push(("LOG_FORMAT", "json".into()));
    let slow = scene._repo.slow_reviews("chore/login");
    scene.azdo.push(13, &slow);
    let mut bot = scene.start().await;
    scene.slack.slash("/review", "13", "U0ADA").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        assert!(Instant::now() < deadline, "{}", scene.log_tail());
        if let Some(seen) = scene.seen().await
            && seen.step == "review"
        {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let pid = nix::unistd::Pid::from_raw(i32::try_from(bot.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), bot.wait())
        .await
        .unwrap_or_else(|_| panic!("no exit within 10 s after SIGTERM:\n{}", scene.log_tail()))
        .unwrap();
    assert!(exit.success(), "exit status {exit}:\n{}", scene.log_tail());
    let after = scene.seen().await.unwrap();
    assert!(
        after.steps > before.steps && after.step != "review",
        "the review step reached its checkpoint: {before:?} → {after:?}"
    );
    assert_eq!(scene.lease_owner().await, None, "the lease was given back");

    let bot = scene.start().await;
    assert_eq!(scene.follow(bot, &PR_SCRIPT, None).await, "done");
    assert_eq!(scene.azdo.with(|s| s.completions.len()), 1);
    assert_eq!(scene.jira.with(|s| s.created.len()), 1);
    let reviews = scene.azdo.with(|s| s.threads.len());
    assert_eq!(
        reviews, 2,
        "the review was published once (summary and one finding)"
    );
}
