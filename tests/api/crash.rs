//! The crash test: the real binary runs a ticketless PR through review → merge → CI and is killed
//! (SIGKILL) once its run has checkpointed k steps, for every k, then started again. Each time the
//! outcome is the uninterrupted one: one ticket, one merge, one build, each PR thread once.

use std::process::Stdio;
use std::time::{Duration, Instant};

use sqlx::{Connection, SqliteConnection};
use tokio::process::{Child, Command};

use crate::pr_flow::{APPROVE_WITH_FINDING, Repo, pr_env};
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

#[derive(Debug, PartialEq)]
struct Outcome {
    status: String,
    merges: usize,
    tickets: usize,
    builds: usize,
    threads: usize,
    staged_prs: Vec<i64>,
    jira_status: String,
}

impl Scene {
    async fn new() -> Self {
        init();
        let dir = tempfile::tempdir().unwrap();
        let slack = FakeSlack::start().await;
        let azdo = FakeAzdo::start().await;
        let jira = FakeJira::start().await;
        let repo = Repo::new();
        let ticket = r#"{"summary":"Add the login page","description":"Users can log in."}"#;
        let commit = repo.branch("chore/login", APPROVE_WITH_FINDING, Some(ticket));
        azdo.add_pr(FakePr {
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

    async fn seen(&self) -> Option<Seen> {
        let url = format!(
            "sqlite://{}?mode=ro",
            self.dir.path().join("agent.db").display()
        );
        let mut db = SqliteConnection::connect(&url).await.ok()?;
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

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("bot.log")).unwrap_or_default();
        log.lines()
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Drives the PR to its end, killing the bot once when the run has made `kill_after` steps.
    async fn drive(&self, kill_after: Option<i64>) -> Outcome {
        let mut bot = self.start().await;
        let ack = self.slack.slash("/review", "13", "U0ADA").await;
        assert!(ack.to_string().contains("Reviewing PR 13"), "{ack}");
        let (mut killed, mut clicked) = (kill_after.is_none(), false);
        let deadline = Instant::now() + Duration::from_secs(90);
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
            if seen.status == "waiting"
                && seen.step == "ask_merge"
                && !clicked
                && let (Some(approval), Some(ts)) = (&seen.approval, &seen.card_ts)
            {
                let click = self.slack.click_envelope(
                    "decide:merge",
                    &format!("{approval}:merge"),
                    "U0ADA",
                    ts,
                );
                let id = self.slack.deliver(click).await;
                self.slack.ack(&id).await;
                clicked = true;
            }
            if matches!(seen.status.as_str(), "done" | "failed" | "cancelled") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bot.start_kill().unwrap();
        let _ = bot.wait().await;
        self.outcome().await
    }

    async fn outcome(&self) -> Outcome {
        let seen = self.seen().await.unwrap();
        let url = format!(
            "sqlite://{}?mode=ro",
            self.dir.path().join("agent.db").display()
        );
        let mut db = SqliteConnection::connect(&url).await.unwrap();
        let prs: Option<String> =
            sqlx::query_scalar("SELECT prs FROM staging_releases WHERE repo = 'Billo.Api'")
                .fetch_optional(&mut db)
                .await
                .unwrap();
        let staged: Vec<serde_json::Value> = prs
            .map(|p| serde_json::from_str(&p).unwrap())
            .unwrap_or_default();
        let created = self.jira.with(|s| s.created.clone());
        Outcome {
            status: seen.status,
            merges: self.azdo.with(|s| s.completions.len()),
            tickets: created.len(),
            builds: self.azdo.with(|s| s.builds.len()),
            threads: self.azdo.with(|s| s.threads.len()),
            staged_prs: staged.iter().filter_map(|p| p["id"].as_i64()).collect(),
            jira_status: created
                .first()
                .map(|key| self.jira.status(key))
                .unwrap_or_default(),
        }
    }

    /// How many times the bot started, from its own log.
    fn starts(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("bot.log"))
            .unwrap_or_default()
            .matches("release-agent is running")
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_every_step_boundary_changes_nothing() {
    let baseline = Scene::new().await;
    let expected = baseline.drive(None).await;
    assert_eq!(
        expected,
        Outcome {
            status: "done".into(),
            merges: 1,
            tickets: 1,
            builds: 1,
            threads: 2,
            staged_prs: vec![13],
            jira_status: "Ready for QA".into(),
        }
    );
    let steps = baseline.seen().await.unwrap().steps;
    assert!(steps >= 10, "the path has {steps} steps");
    eprintln!(
        "crash test: the uninterrupted run took {steps} steps; killing after each of 1..{steps}"
    );

    for kill_after in 1..steps {
        let scene = Scene::new().await;
        let got = scene.drive(Some(kill_after)).await;
        assert_eq!(
            got,
            expected,
            "killed after {kill_after} steps; the bot's log ends:\n{}",
            scene.log_tail()
        );
        assert_eq!(scene.starts(), 2, "the bot was killed and started again");
    }
}
