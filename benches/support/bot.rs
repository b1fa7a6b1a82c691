//! The real binary against in-process fakes, for the benchmark programs: a fake Slack, Azure
//! DevOps and Jira, a database, and Billo.Api with open PRs on one ticketed branch whose review
//! (the stand-in reviewer) answers at once.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use release_agent::domain::{ApprovalId, RunStatus};
use release_agent::store::{ApprovalRecord, Store};
use tokio::process::{Child, Command};

use crate::support::fake_azdo::{FakeAzdo, FakePr};
use crate::support::fake_jira::FakeJira;
use crate::support::repo::Repo;
use crate::support::{APP_TOKEN, BOT_TOKEN, Backend, FakeSlack, TestDb, init, pr_env};

/// U0BENCHOPS's personal token: decisions need a person.
const OPERATOR_TOKEN: &str = "bench-operator-token-0123456789";
const ANSWER: &str = r#"{"verdict":"approve","summary":"Fine.","findings":[]}"#;

pub struct Scene {
    pub slack: Arc<FakeSlack>,
    pub azdo: FakeAzdo,
    pub jira: FakeJira,
    pub repo: Repo,
    pub db: TestDb,
    pub store: Store,
    logs: tempfile::TempDir,
    /// The operator API of the newest replica started.
    operator: std::sync::Mutex<Option<String>>,
}

impl Scene {
    /// PRs 1..=`prs` open from `feature/ALLPOST-1_change`; `None` without the database.
    pub async fn new(backend: Backend, prs: u32) -> Option<Self> {
        init();
        let db = TestDb::create(backend).await?;
        let store = db.store().await;
        let (azdo, jira, repo) = (
            FakeAzdo::start().await,
            FakeJira::start().await,
            Repo::new(),
        );
        let branch = "feature/ALLPOST-1_change";
        jira.add_issue("ALLPOST-1", "A change", "In Progress");
        let commit = repo.branch(branch, ANSWER, None);
        for id in 1..=prs {
            azdo.add_pr(FakePr::open(id, &format!("Change {id}"), branch, &commit));
        }
        Some(Self {
            slack: FakeSlack::start().await,
            azdo,
            jira,
            repo,
            db,
            store,
            logs: tempfile::tempdir().unwrap(),
            operator: std::sync::Mutex::default(),
        })
    }

    /// Starts a replica of the bot (the release binary), with its operator API, and waits until
    /// it is connected.
    pub async fn spawn(&self, extra: &[(&str, &str)]) -> Child {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        *self.operator.lock().unwrap() = Some(format!("http://127.0.0.1:{port}"));
        let mut env = pr_env(&self.azdo, &self.jira, &self.repo);
        env.extend([
            ("DATABASE_URL", self.db.url.clone()),
            ("SLACK_BOT_TOKEN", BOT_TOKEN.into()),
            ("SLACK_APP_TOKEN", APP_TOKEN.into()),
            ("SLACK_CHANNEL_ID", "C0RELEASES".into()),
            ("SLACK_API_URL", self.slack.api_url()),
            ("RUST_LOG", "warn".into()),
            ("HTTP_PORT", port.to_string()),
            ("HTTP_BIND", "127.0.0.1".into()),
            ("OPERATOR_TOKENS", format!("U0BENCHOPS:{OPERATOR_TOKEN}")),
            ("SLACK_APPROVERS", "anyone".into()),
            // One person asks for every review here: the most the per-person limit allows.
            ("REVIEW_RATE_PER_USER_PER_HOUR", "10000".into()),
        ]);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.path().join("bot.log"))
            .unwrap();
        let opened = self.slack.connections_opened();
        let child = Command::new(env!("CARGO_BIN_EXE_release-agent"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(extra.iter().copied())
            .current_dir(self.logs.path())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.slack.connected_since(opened).await;
        child
    }

    /// `/review Billo.Api#N` for each PR, each acked.
    pub async fn review(&self, prs: impl IntoIterator<Item = u32>) {
        for pr in prs {
            self.slack
                .slash("/review", &format!("Billo.Api#{pr}"), "U0ADA")
                .await;
        }
    }

    /// Runs by status.
    pub async fn runs(&self, status: RunStatus) -> usize {
        let runs = self.store.count_runs().await.unwrap();
        let status = status.to_string();
        runs.iter()
            .filter(|(_, s, _)| *s == status)
            .map(|(_, _, n)| usize::try_from(*n).unwrap())
            .sum()
    }

    /// Waits until `count` runs have `status`, deciding `option` on every pending approval
    /// meanwhile when one is given, through the operator API: clicks would need the cards, and
    /// Slack lets the bot post one message per second per channel.
    pub async fn until(&self, status: RunStatus, count: usize, option: Option<&str>) {
        let deadline = Instant::now() + Duration::from_secs(1800);
        let mut decided = HashSet::new();
        let http = reqwest::Client::new();
        while self.runs(status).await < count {
            let failed = self.runs(RunStatus::Failed).await;
            assert!(
                Instant::now() < deadline && failed == 0,
                "waiting for {count} runs to be {status}; runs by kind and status: {:?}; the log ends:\n{}",
                self.store.count_runs().await.unwrap(),
                self.log_tail()
            );
            if let Some(option) = option {
                for approval in self.store.pending_approvals(500).await.unwrap() {
                    if decided.insert(approval.id) {
                        self.decide(&http, approval.id, option).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Scene {
    /// Decides `option` on `approval` through the operator API, as the person U0BENCHOPS.
    pub async fn decide(&self, http: &reqwest::Client, approval: ApprovalId, option: &str) {
        if let Err(e) = self.try_decide(http, approval, option).await {
            panic!("{e}");
        }
    }

    /// [`Self::decide`], saying why when the bot did not take it.
    pub async fn try_decide(
        &self,
        http: &reqwest::Client,
        approval: ApprovalId,
        option: &str,
    ) -> Result<(), String> {
        let api = self.operator.lock().unwrap().clone();
        let api = api.expect("a replica was started");
        let answer = http
            .post(format!("{api}/approvals/{approval}"))
            .header("X-Operator-Token", OPERATOR_TOKEN)
            .json(&serde_json::json!({ "option": option }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(answer.text().await.unwrap_or_default())
        }
    }

    /// [`Self::decide`], timed until the run's next step is checkpointed (its sequence number
    /// moves), looked for every millisecond.
    pub async fn decide_timed(
        &self,
        http: &reqwest::Client,
        approval: &ApprovalRecord,
        option: &str,
    ) -> Duration {
        let seq = || async {
            let run = self.store.get_run(approval.run_id).await.unwrap();
            run.expect("the approval's run").seq
        };
        let before = seq().await;
        let started = Instant::now();
        self.decide(http, approval.id, option).await;
        while seq().await == before {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        started.elapsed()
    }

    pub fn log_path(&self) -> std::path::PathBuf {
        self.logs.path().join("bot.log")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.logs.path().join("bot.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// How many runs a benchmark makes: `BENCH_RUNS`, or `default`.
pub fn runs_or(default: u32) -> u32 {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The memory of a process, in KiB, from /proc/<pid>/status.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident now (VmRSS), and its parts: anonymous (heap, stacks) and file-backed (the
    /// binary's pages, shared libraries).
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
    /// The peak resident set (VmHWM).
    pub peak: u64,
    pub threads: u64,
}

pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        peak: field("VmHWM:"),
        threads: field("Threads:"),
    }
}

/// The CPU time process `pid` has used so far, user and system, with that of its children it has
/// reaped (the reviewer, git), from /proc/<pid>/stat (USER_HZ is 100 on Linux).
pub fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, fields)| {
            let fields = fields.split_whitespace().skip(11).take(4);
            fields.filter_map(|f| f.parse::<u64>().ok()).sum()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}
