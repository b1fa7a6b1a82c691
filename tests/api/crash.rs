//! The crash and fault tests: the real binary runs a workflow from its slash command to its end
//! and is killed (SIGKILL) once its run has checkpointed k steps, for every k, or at random
//! instants, then started again; or its Azure DevOps and Jira fail a fifth of their calls. Each
//! time the outcome is the uninterrupted one.
//! - PR: a ticketless PR through review → merge → CI: one ticket, one merge, one build, each PR
//!   thread once; and the same PR held by a build policy, merged by Azure DevOps' auto-complete
//!   (set once, no completion by the bot).
//! - Release: a staged release through release PR → merge → CI → Sandbox → Production → Jira →
//!   notes → archive: one release PR, one merge, one build, one approval call per stage.

use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use release_agent::clock::Clock;
use release_agent::domain::{RepoName, RunId, Version};
use release_agent::store::DatabaseUrl;
use release_agent::store::Store;
use sqlx::{Connection, SqliteConnection};
use tokio::process::{Child, Command};

use crate::http::pr_event;
use crate::pr_flow::APPROVE_WITH_FINDING;
use crate::release_flow::stage_release;
use crate::support::fake_azdo::{FakeAzdo, FakePr};
use crate::support::fake_jira::FakeJira;
use crate::support::fake_policy::FakePolicy;
use crate::support::fake_yaml::YamlStagePlan;
use crate::support::http_fakes::Fault;
use crate::support::releases::{prepare_cd, released_on};
use crate::support::repo::{Repo, git, write};
use crate::support::{APP_TOKEN, BOT_TOKEN, Backend, FakeSlack, TestDb, init, pr_env};

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
    /// What the pending approval decides (`merge`, `stage:Production`, …).
    decides: Option<String>,
    /// Approve votes on the pending approval so far.
    votes: i64,
    card_ts: Option<String>,
}

/// What a workflow asks, and which option the test answers with.
struct Script {
    /// The kind of run the command starts.
    kind: &'static str,
    command: &'static str,
    text: &'static str,
    answers: &'static [(&'static str, &'static str)],
}

impl Script {
    /// The answer to what `seen` waits for: by what it decides (`stage:Sandbox`), else by step.
    fn answer(&self, seen: &Seen) -> Option<&(&'static str, &'static str)> {
        let by = |key: &str| self.answers.iter().find(|(when, _)| *when == key);
        seen.decides
            .as_deref()
            .and_then(by)
            .or_else(|| by(&seen.step))
    }
}

/// Merge after the review, or on the review another run did of the same commit.
const PR_SCRIPT: Script = Script {
    kind: "pr",
    command: "/review",
    text: "13",
    answers: &[
        ("ask_merge", "merge"),
        ("reviewed", "merge"),
        ("merge_held", "auto-complete"),
    ],
};

const RELEASE_SCRIPT: Script = Script {
    kind: "release",
    command: "/release",
    text: "Billo.Api",
    answers: &[
        ("ask_create", "create"),
        ("ask_merge", "merge"),
        ("ask_stage", "approve"),
        ("ask_back_merge", "open"),
    ],
};

/// Sandbox skipped: its approval is rejected in Azure DevOps, and Production is started only
/// after its own Start question, then approved.
const SKIP_SCRIPT: Script = Script {
    kind: "release",
    command: "/release",
    text: "Billo.Api",
    answers: &[
        ("ask_create", "create"),
        ("ask_merge", "merge"),
        ("stage:Sandbox", "skip"),
        ("ask_start", "approve"),
        ("ask_stage", "approve"),
        ("ask_back_merge", "open"),
    ],
};

/// Who asks for every run; under the four-eyes rule they decide nothing of it.
const ASKER: &str = "U0ADA";

/// The policy of every scene: four eyes, and Production approved by two of its operators.
const POLICY: &str = "[repos.\"Billo.Api\".approvers.stages.Production]\n\
                      users = [\"U0OPS1\", \"U0OPS2\"]\nrequired = 2\n";

/// Who clicks the question about `decides`, in order: first the asker (refused, changing
/// nothing), then who decides it; Production takes both of its operators.
fn clickers(decides: &str) -> &'static [&'static str] {
    match decides {
        "stage:Production" => &[ASKER, "U0OPS1", "U0OPS2"],
        _ => &[ASKER, "U0BOB"],
    }
}

impl Scene {
    async fn new() -> Self {
        init();
        let dir = tempfile::tempdir().unwrap();
        let slack = FakeSlack::start().await;
        let azdo = FakeAzdo::start().await;
        let jira = FakeJira::start().await;
        let repo = Repo::new();
        let mut env = pr_env(&azdo, &jira, &repo);
        let policy = dir.path().join("repos.toml");
        std::fs::write(&policy, POLICY).unwrap();
        env.extend([
            ("REPOS_CONFIG", policy.display().to_string()),
            (
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("agent.db").display()),
            ),
            ("SLACK_BOT_TOKEN", BOT_TOKEN.into()),
            ("SLACK_APP_TOKEN", APP_TOKEN.into()),
            ("SLACK_CHANNEL_ID", "C0RELEASES".into()),
            ("SLACK_API_URL", slack.api_url()),
            ("CI_AUTO_TRIGGER", "true".into()),
            ("SLACK_APPROVERS", "anyone".into()),
            ("ALLOW_SELF_APPROVAL", "false".into()),
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

    /// PR 13, whose review takes the stand-in 2 s (long enough to kill the bot during it).
    fn slow_pr(&self) {
        let commit = self._repo.change(
            "chore/login",
            &[
                ("src/login.rs", "let ok = true;\n"),
                (".fake-claude-answer.json", APPROVE_WITH_FINDING),
                (".fake-claude-mode", "slow"),
            ],
            "login",
        );
        self.azdo
            .add_pr(FakePr::open(13, "Login page", "chore/login", &commit));
    }

    /// A ticketless PR, 13, ready for review.
    async fn pr() -> Self {
        let scene = Self::new().await;
        let ticket = r#"{"summary":"Add the login page","description":"Users can log in."}"#;
        let commit = scene
            ._repo
            .branch("chore/login", APPROVE_WITH_FINDING, Some(ticket));
        scene
            .azdo
            .add_pr(FakePr::open(13, "Login page", "chore/login", &commit));
        scene
    }

    /// Billo.Api 1.4.3 staged, with CD to Sandbox and Production, and a fix on main that
    /// develop lacks (so the release ends with a back-merge PR).
    async fn release() -> Self {
        let scene = Self::new().await;
        let store = scene.store().await;
        stage_release(&store, &scene.azdo, &scene.jira, Clock::system().now()).await;
        store.close().await;
        let author = &scene._repo.author;
        git(author, &["checkout", "--quiet", "-b", "main"]);
        write(author, "src/fix.rs", "// fixed on main\n");
        git(author, &["add", "-A"]);
        git(author, &["commit", "--quiet", "-m", "fix: on main"]);
        git(author, &["push", "--quiet", "origin", "main"]);
        let main = git(author, &["rev-parse", "HEAD"]).trim().to_owned();
        scene.azdo.with_mut(|s| s.heads.insert("main".into(), main));
        scene
    }

    /// The back-merge PRs (main → develop), and how many runs review each.
    async fn back_merges(&self) -> Vec<(String, i64)> {
        let prs: Vec<(u32, String)> = self.azdo.with(|s| {
            s.prs
                .values()
                .filter(|p| p.source_branch == "main" && p.target_branch == "develop")
                .map(|p| (p.id, p.title.clone()))
                .collect()
        });
        let mut db = self.db().await.unwrap();
        let mut seen = Vec::new();
        for (id, title) in prs {
            let runs: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE kind = 'pr' AND pr_id = $1")
                    .bind(i64::from(id))
                    .fetch_one(&mut db)
                    .await
                    .unwrap();
            seen.push((title, runs));
        }
        seen
    }

    /// The PR of [`pr`](Self::pr) after Billo.Api 1.4.2, with CD to Sandbox and Production: the
    /// PR's merge stages 1.4.3, which `/release` then ships.
    pub async fn full() -> Self {
        let scene = Self::pr().await;
        let store = scene.store().await;
        released_on(&store, Version::new(1, 4, 2), Clock::system().now()).await;
        store.close().await;
        prepare_cd(&scene.azdo);
        scene
    }

    /// The bot's database, migrated.
    async fn store(&self) -> Store {
        let store = Store::connect(&DatabaseUrl::parse(&self.env_var("DATABASE_URL")).unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    fn env_var(&self, name: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    async fn start(&self) -> Child {
        let opened = self.slack.connections_opened();
        let child = self.spawn();
        self.slack.connected_since(opened).await;
        child
    }

    /// Starts the bot without waiting for it to connect.
    fn spawn(&self) -> Child {
        self.spawn_with(&[])
    }

    /// Starts the bot with `extra` variables over the scene's.
    fn spawn_with(&self, extra: &[(&'static str, String)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("bot.log"))
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_release-agent"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    async fn db(&self) -> Option<SqliteConnection> {
        let url = format!(
            "sqlite://{}?mode=ro",
            self.dir.path().join("agent.db").display()
        );
        SqliteConnection::connect(&url).await.ok()
    }

    /// The newest run of `kind`.
    async fn seen(&self, kind: &str) -> Option<Seen> {
        let mut db = self.db().await?;
        let (id, status, step, card_ts): (String, String, String, Option<String>) = sqlx::query_as(
            "SELECT id, status, step, card_ts FROM runs WHERE kind = $1 \
                 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(kind)
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
        let pending: Option<(String, String)> = sqlx::query_as(
            "SELECT id, decides FROM approvals WHERE run_id = $1 AND status = 'pending'",
        )
        .bind(&id)
        .fetch_optional(&mut db)
        .await
        .ok()?;
        let votes: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM approval_votes v JOIN approvals a ON a.id = v.approval_id \
             WHERE a.run_id = $1 AND a.status = 'pending'",
        )
        .bind(&id)
        .fetch_one(&mut db)
        .await
        .ok()?;
        let (approval, decides) = pending.unzip();
        Some(Seen {
            steps,
            status,
            step,
            approval,
            decides,
            votes,
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

    /// Starts the bot and runs `script` to its end; returns the run's final status.
    async fn drive(&self, script: &Script, kills: &mut Kills) -> String {
        let bot = self.start().await;
        self.follow(bot, script, kills).await
    }

    /// Sends the script's command until a run of its kind exists (again when the bot died
    /// before acking it, as a person would), then answers the run's questions until it ends,
    /// killing `bot` and starting it again when `kills` says. Stops the bot at the end.
    async fn follow(&self, mut bot: Child, script: &Script, kills: &mut Kills) -> String {
        // The command's envelope and when it was sent.
        let mut command: Option<(String, Instant)> = None;
        // Each approval is clicked once by each of its clickers, in order, and again if the
        // click was lost with a killed bot.
        let mut clicked: BTreeMap<(String, &str), Instant> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let seen = self.seen(script.kind).await;
            assert!(
                Instant::now() < deadline,
                "the {} run did not finish (it is at {seen:?}); the bot's log ends:\n{}",
                script.kind,
                self.log_tail()
            );
            if kills.due(script.kind, seen.as_ref(), self.slack.stalled()) {
                bot.start_kill().unwrap();
                bot.wait().await.unwrap();
                bot = if kills.waits_for_connection() {
                    self.start().await
                } else {
                    self.spawn()
                };
                continue;
            }
            let Some(seen) = seen else {
                let lost = command.as_ref().is_none_or(|(id, at)| {
                    self.slack.acked_at(id).is_none() && at.elapsed() > Duration::from_secs(3)
                });
                if lost {
                    let envelope = self
                        .slack
                        .slash_envelope(script.command, script.text, ASKER);
                    command = Some((self.slack.deliver(envelope).await, Instant::now()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let answer = script.answer(&seen);
            if seen.status == "waiting"
                && let (Some((_, option)), Some(approval), Some(decides), Some(ts)) =
                    (answer, &seen.approval, &seen.decides, &seen.card_ts)
                && let Some(user) = next_clicker(&clicked, approval, decides, seen.votes)
            {
                let click = self.slack.click_envelope(
                    &format!("decide:{option}"),
                    &format!("{approval}:{option}"),
                    user,
                    ts,
                );
                // Not waiting for the ack: the bot may be killed before it sends one.
                self.slack.deliver(click).await;
                clicked.insert((approval.clone(), user), Instant::now());
            }
            if matches!(seen.status.as_str(), "done" | "failed" | "cancelled") {
                bot.start_kill().unwrap();
                let _ = bot.wait().await;
                return seen.status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (approval id, status) of every CD approval call, classic or YAML, in order.
    fn approval_calls(&self) -> Vec<(String, String)> {
        self.azdo.with(|s| {
            let classic =
                s.cd.decisions
                    .iter()
                    .map(|(id, status, _)| (id.to_string(), status.clone()));
            let yaml = s
                .yaml
                .decisions
                .iter()
                .map(|(id, status, _)| (id.clone(), status.clone()));
            classic.chain(yaml).collect()
        })
    }

    fn tags(&self) -> Vec<(String, String)> {
        self.azdo.with(|s| {
            s.tags
                .iter()
                .map(|t| (t.name.clone(), t.commit.clone()))
                .collect()
        })
    }

    /// How many release PRs the bot created.
    fn release_prs(&self) -> usize {
        self.azdo.with(|s| {
            s.created
                .iter()
                .filter(|(title, _)| title.starts_with("Release "))
                .count()
        })
    }

    async fn run_count(&self) -> i64 {
        let mut db = self.db().await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM runs")
            .fetch_one(&mut db)
            .await
            .unwrap()
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

    /// The channel once the bot has sent everything it queued (started again for it, and killed
    /// and started once more when `kills` says): each message's text, numbers and hashes
    /// masked, with the texts of its thread.
    async fn settled_channel(&self, kills: &mut Kills) -> Vec<(String, Vec<String>)> {
        let mut bot = self.start().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if kills.due("", None, self.slack.stalled()) {
                bot.start_kill().unwrap();
                bot.wait().await.unwrap();
                bot = self.start().await;
            }
            let mut db = self.db().await.unwrap();
            let pending: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM outbox WHERE kind = 'thread_reply' \
                 AND sent_at IS NULL AND error IS NULL) \
                 + (SELECT COUNT(*) FROM runs WHERE card_version > card_synced)",
            )
            .fetch_one(&mut db)
            .await
            .unwrap();
            if pending == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "messages left unsent:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(bot);
        // Numbers and commit ids (runs of hex digits with a digit, 8 long, or after the fake's
        // `merge-`) become `#`.
        let masked = |message: &serde_json::Value| {
            let text = message["text"].as_str().unwrap_or_default();
            let mut out = String::new();
            let mut run = String::new();
            for c in text.chars().chain(std::iter::once(' ')) {
                if c.is_ascii_hexdigit() {
                    run.push(c);
                    continue;
                }
                let id = run.len() >= 8 || out.ends_with("merge-");
                if id || run.chars().any(|d| d.is_ascii_digit()) {
                    out.push('#');
                } else {
                    out.push_str(&run);
                }
                run.clear();
                out.push(c);
            }
            out.pop();
            out
        };
        self.slack
            .channel("C0RELEASES")
            .iter()
            .map(|(root, thread)| (masked(root), thread.iter().map(masked).collect()))
            .collect()
    }

    /// How many times the bot started, from its own log.
    fn starts(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("bot.log"))
            .unwrap_or_default()
            .matches("release-agent is running")
            .count()
    }
}

/// Who clicks `approval` next: the first of its clickers not clicked yet, once the one before
/// had time to count (a voter's vote is in the database), or one whose click was lost with a
/// killed bot (3 s without effect).
fn next_clicker(
    clicked: &BTreeMap<(String, &'static str), Instant>,
    approval: &str,
    decides: &str,
    votes: i64,
) -> Option<&'static str> {
    let mut voters_before = 0;
    for (i, &user) in clickers(decides).iter().enumerate() {
        match clicked.get(&(approval.to_owned(), user)) {
            None => {
                let settled = i == 0 || votes >= voters_before;
                return settled.then_some(user);
            }
            Some(at) if at.elapsed() > Duration::from_secs(3) && user != ASKER => {
                return Some(user);
            }
            Some(_) => {}
        }
        if user != ASKER {
            voters_before += 1;
        }
    }
    None
}

/// When [`Scene::follow`] kills the bot (SIGKILL) and starts it again.
enum Kills {
    Never,
    /// Once, when the run has checkpointed this many steps.
    AfterSteps(i64),
    /// Once, when a question that needs several people has its first vote.
    AfterFirstVote,
    /// Once, when Slack has taken the post [`FakeSlack::stall_post`] holds, before the bot
    /// hears its answer.
    AtStalledPost,
    /// At random instants, until none are left.
    Random(RandomKills),
}

/// Kills at random instants of a path: instants drawn evenly over the uninterrupted path's
/// duration, each kill the gap between two instants after the previous start, so kills land
/// inside steps, in HTTP calls, during waits and during start-up alike.
struct RandomKills {
    gaps: VecDeque<Duration>,
    /// When the running bot was started.
    since: Option<Instant>,
    /// Where each kill landed: the run's kind and step, `-` before the run existed.
    landed: Vec<String>,
}

impl Kills {
    /// `count` kills at instants drawn evenly over `span`.
    fn random(count: usize, span: Duration, rng: &mut StdRng) -> Self {
        let mut instants: Vec<Duration> = (0..count)
            .map(|_| rng.random_range(Duration::ZERO..span))
            .collect();
        instants.sort();
        let mut last = Duration::ZERO;
        let gaps = instants
            .into_iter()
            .map(|at| at - std::mem::replace(&mut last, at))
            .collect();
        Self::Random(RandomKills {
            gaps,
            since: None,
            landed: Vec::new(),
        })
    }

    /// Whether to kill the bot now, given the newest run of `kind` and whether the fake Slack
    /// holds the answer to a post.
    fn due(&mut self, kind: &str, seen: Option<&Seen>, stalled: bool) -> bool {
        match self {
            Self::Never => false,
            Self::AfterSteps(steps) => {
                // A path whose polling took fewer steps this time ends below the mark: the kill
                // then lands after the end, and the restart must change nothing either.
                let due = seen.is_some_and(|s| {
                    s.steps >= *steps
                        || matches!(s.status.as_str(), "done" | "failed" | "cancelled")
                });
                if due {
                    *self = Self::Never;
                }
                due
            }
            Self::AfterFirstVote => {
                let due = seen.is_some_and(|s| s.votes >= 1);
                if due {
                    *self = Self::Never;
                }
                due
            }
            Self::AtStalledPost => {
                if stalled {
                    *self = Self::Never;
                }
                stalled
            }
            Self::Random(random) => {
                let Some(&gap) = random.gaps.front() else {
                    return false;
                };
                if random.since.get_or_insert_with(Instant::now).elapsed() < gap {
                    return false;
                }
                random.gaps.pop_front();
                random.since = None;
                let step = seen.map_or("-", |s| s.step.as_str());
                random.landed.push(format!("{kind}:{step}"));
                true
            }
        }
    }

    /// Random kills land anywhere, during start-up too; the others restart a connected bot.
    fn waits_for_connection(&self) -> bool {
        !matches!(self, Self::Random(_))
    }
}

/// A workflow the crash test drives: its scene and the outcome to compare.
trait Workflow {
    const KIND: &'static str;
    type Outcome: PartialEq + std::fmt::Debug;
    async fn scene() -> Scene;
    async fn outcome(scene: &Scene, kills: &mut Kills) -> Self::Outcome;
}

/// Runs the workflow once uninterrupted and checks `expected`; then, for every step boundary
/// k, runs it in a fresh scene killed after k steps and checks the outcome is the same.
async fn kill_at_every_step<W: Workflow>(expected: W::Outcome, min_steps: i64) {
    let baseline = W::scene().await;
    assert_eq!(W::outcome(&baseline, &mut Kills::Never).await, expected);
    let steps = baseline.seen(W::KIND).await.unwrap().steps;
    assert!(steps >= min_steps, "the path has {steps} steps");
    eprintln!(
        "crash test: the uninterrupted run took {steps} steps; killing after each of 1..{steps}"
    );
    for kill_after in 1..steps {
        let scene = W::scene().await;
        let got = W::outcome(&scene, &mut Kills::AfterSteps(kill_after)).await;
        assert_eq!(
            got,
            expected,
            "killed after {kill_after} steps; the bot's log ends:\n{}",
            scene.log_tail()
        );
        assert_eq!(scene.starts(), 2, "the bot was killed and started again");
    }
}

/// Runs the workflow once uninterrupted and notes what its channel shows; then, for every post
/// n of that run, runs it in a fresh scene whose fake Slack takes the n-th post but holds its
/// answer, so the bot is killed between the post and its record, and started again. The
/// outcome, and the channel (every message, thread and final card), are the uninterrupted ones.
async fn kill_after_every_post<W: Workflow>(min_posts: usize) {
    let baseline = W::scene().await;
    let expected = W::outcome(&baseline, &mut Kills::Never).await;
    let channel = baseline.settled_channel(&mut Kills::Never).await;
    let posts = baseline.slack.calls("chat.postMessage").len();
    assert!(posts >= min_posts, "the path posts {posts} messages");
    eprintln!("crash test: the uninterrupted run posted {posts} messages; killing after each");
    for n in 1..=posts {
        let scene = W::scene().await;
        scene.slack.stall_post(n);
        let mut kills = Kills::AtStalledPost;
        let got = W::outcome(&scene, &mut kills).await;
        assert_eq!(
            got,
            expected,
            "killed after post {n}:\n{}",
            scene.log_tail()
        );
        let settled = scene.settled_channel(&mut kills).await;
        assert!(
            matches!(kills, Kills::Never),
            "post {n} was made and the bot killed"
        );
        assert_eq!(
            settled,
            channel,
            "killed after post {n}; the bot's log ends:\n{}",
            scene.log_tail()
        );
    }
}

/// The PR of [`Scene::pr`] driven by [`PR_SCRIPT`]; with `REUSED`, another run has reviewed
/// its commit already, so the run merges on that review without one of its own; with `HELD`, a
/// build policy holds the merge until auto-complete is set, and Azure DevOps completes it; with
/// `PUSHED`, an earlier commit was reviewed with a finding whose code the push changed, so the
/// review is incremental and resolves that finding's thread, with one note.
struct Reviewing<const REUSED: bool, const HELD: bool, const PUSHED: bool>;
type Review = Reviewing<false, false, false>;
type ReusedReview = Reviewing<true, false, false>;
type AutoCompleted = Reviewing<false, true, false>;
type ReReview = Reviewing<false, false, true>;

#[derive(Debug, PartialEq)]
struct PrOutcome {
    status: String,
    merges: usize,
    tickets: usize,
    builds: usize,
    threads: usize,
    staged_prs: Vec<i64>,
    jira_status: String,
    auto_completes: usize,
    /// (status, replies) of the finding threads from before the run.
    earlier_threads: Vec<(String, usize)>,
}

impl<const REUSED: bool, const HELD: bool, const PUSHED: bool> Workflow
    for Reviewing<REUSED, HELD, PUSHED>
{
    const KIND: &'static str = "pr";
    type Outcome = PrOutcome;

    async fn scene() -> Scene {
        let scene = Scene::pr().await;
        if REUSED {
            let commit = scene.azdo.with(|s| s.prs[&13].source_commit.clone());
            let brief = serde_json::json!({
                "commit": commit, "verdict": "approve", "summary": "Fine.", "findings": 0
            });
            let store = scene.store().await;
            let repo = RepoName::parse("Billo.Api").unwrap();
            let now = Clock::system().now();
            store
                .keep_review(&repo, 13, &commit, RunId::new(), &brief, now)
                .await
                .unwrap();
            store.close().await;
        }
        if PUSHED {
            earlier_finding(&scene).await;
        }
        if HELD {
            let policy = FakePolicy {
                passes_with_auto_complete: true,
                ..FakePolicy::build("queued")
            };
            scene.azdo.with_mut(|s| s.policies.push(policy));
        }
        scene
    }

    async fn outcome(scene: &Scene, kills: &mut Kills) -> PrOutcome {
        let status = scene.drive(&PR_SCRIPT, kills).await;
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
            auto_completes: scene.azdo.with(|s| s.auto_completes.len()),
            earlier_threads: scene.azdo.with(|s| {
                s.threads
                    .iter()
                    .filter(|(_, t)| t["comments"][0]["content"] == EARLIER_FINDING)
                    .map(|(_, t)| {
                        let replies = t["comments"].as_array().map_or(0, |c| c.len() - 1);
                        (t["status"].as_str().unwrap_or_default().to_owned(), replies)
                    })
                    .collect()
            }),
        }
    }
}

const EARLIER_FINDING: &str = "**Major: Check the length**\n\nAn earlier finding.";

/// PR 13's commit reviewed, with a finding thread on line 2 of src/login.rs; then a push that
/// rewrites that file.
async fn earlier_finding(scene: &Scene) {
    let (earlier, repo) = (
        scene.azdo.with(|s| s.prs[&13].source_commit.clone()),
        RepoName::parse("Billo.Api").unwrap(),
    );
    let text = |value: &str| serde_json::json!({"$type": "System.String", "$value": value});
    let thread = serde_json::json!({
        "comments": [{"parentCommentId": 0, "content": EARLIER_FINDING, "commentType": 1}],
        "status": "active",
        "threadContext": {"filePath": "/src/login.rs", "rightFileStart": {"line": 2, "offset": 1}, "rightFileEnd": {"line": 2, "offset": 1}},
        "properties": {"release-agent.fingerprint": text("0123456789abcdef"), "release-agent.commit": text(&earlier)},
    });
    scene.azdo.with_mut(|s| s.threads.push((13, thread)));
    let brief = serde_json::json!({
        "commit": earlier, "verdict": "request_changes", "summary": "Check it.", "findings": 1
    });
    let store = scene.store().await;
    let now = Clock::system().now();
    store
        .keep_review(&repo, 13, &earlier, RunId::new(), &brief, now)
        .await
        .unwrap();
    store.close().await;
    let pushed = scene._repo.push("chore/login", APPROVE_WITH_FINDING);
    scene.azdo.push(13, &pushed);
}

/// A release of [`Scene::release`], driven by [`RELEASE_SCRIPT`], or by [`SKIP_SCRIPT`] when it
/// skips Sandbox; with `YAML`, deployed by the CI build's own YAML run (REPOS_CONFIG `cd =
/// "yaml"`) instead of a classic release.
struct Shipping<const SKIPS_SANDBOX: bool, const YAML: bool>;
type Release = Shipping<false, false>;
type SkippedRelease = Shipping<true, false>;
type YamlRelease = Shipping<false, true>;

#[derive(Debug, PartialEq)]
struct ReleaseOutcome {
    status: String,
    release_prs: usize,
    merges: usize,
    builds: usize,
    /// (approval id, status) of every approval call.
    approvals: Vec<(String, String)>,
    stage_starts: usize,
    jira: Vec<String>,
    archived: Vec<String>,
    /// (name, commit) of every tag created.
    tags: Vec<(String, String)>,
    /// (name, released) of every Jira version, and the fix versions of each ticket.
    jira_versions: Vec<(String, bool)>,
    fix_versions: Vec<Vec<String>>,
    /// (title, review runs) of every back-merge PR.
    back_merges: Vec<(String, i64)>,
}

impl<const SKIPS_SANDBOX: bool, const YAML: bool> Workflow for Shipping<SKIPS_SANDBOX, YAML> {
    const KIND: &'static str = "release";
    type Outcome = ReleaseOutcome;

    async fn scene() -> Scene {
        let scene = Scene::release().await;
        if YAML {
            let config = format!("[repos.\"Billo.Api\"]\ncd = \"yaml\"\n\n{POLICY}");
            std::fs::write(scene.env_var("REPOS_CONFIG"), config).unwrap();
            scene.azdo.with_mut(|s| {
                s.cd.plan.clear();
                s.yaml.plan = vec![
                    YamlStagePlan::approved("Sandbox"),
                    YamlStagePlan::approved("Production"),
                ];
            });
        }
        scene
    }

    /// What Azure DevOps, Jira and the archive saw of the release.
    async fn outcome(scene: &Scene, kills: &mut Kills) -> ReleaseOutcome {
        let script = if SKIPS_SANDBOX {
            &SKIP_SCRIPT
        } else {
            &RELEASE_SCRIPT
        };
        let status = scene.drive(script, kills).await;
        ReleaseOutcome {
            status,
            release_prs: scene.release_prs(),
            merges: scene.azdo.with(|s| s.completions.len()),
            builds: scene.azdo.with(|s| s.builds.len()),
            approvals: scene.approval_calls(),
            stage_starts: scene.azdo.with(|s| s.cd.starts.len()),
            jira: ["ALLPOST-1", "ALLPOST-2", "ALLPOST-3"]
                .map(|key| scene.jira.status(key))
                .to_vec(),
            archived: scene.archived_versions().await,
            tags: scene.tags(),
            jira_versions: scene.jira.with(|s| {
                s.versions
                    .iter()
                    .map(|v| (v.name.clone(), v.released))
                    .collect()
            }),
            fix_versions: ["ALLPOST-1", "ALLPOST-2", "ALLPOST-3"]
                .map(|key| scene.jira.with(|s| s.issues[key].fix_versions.clone()))
                .to_vec(),
            back_merges: scene.back_merges().await,
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
        auto_completes: 0,
        earlier_threads: Vec::new(),
    };
    kill_at_every_step::<Review>(expected, 10).await;
}

/// The same PR after a push: its earlier commit was reviewed with a finding whose code the push
/// rewrote; the review is incremental, resolves that thread once with one note, and posts its
/// own summary and finding; killed at every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_every_step_of_a_re_review_changes_nothing() {
    let expected = PrOutcome {
        status: "done".into(),
        merges: 1,
        tickets: 1,
        builds: 1,
        threads: 3,
        staged_prs: vec![13],
        jira_status: "Ready for QA".into(),
        auto_completes: 0,
        earlier_threads: vec![("fixed".into(), 1)],
    };
    kill_at_every_step::<ReReview>(expected, 10).await;
}

/// The same PR held by a build policy: auto-complete set once, Azure DevOps completes it (no
/// completion by the bot), staged once, killed at every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_every_step_of_an_auto_completed_merge_changes_nothing() {
    let expected = PrOutcome {
        status: "done".into(),
        merges: 0,
        tickets: 1,
        builds: 1,
        threads: 2,
        staged_prs: vec![13],
        jira_status: "Ready for QA".into(),
        auto_completes: 1,
        earlier_threads: Vec::new(),
    };
    kill_at_every_step::<AutoCompleted>(expected, 12).await;
}

/// The same PR, its commit reviewed by another run before: merged on that review (no threads
/// of its own, no reviewer run), killed at every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_every_step_of_a_reused_review_changes_nothing() {
    let expected = PrOutcome {
        status: "done".into(),
        merges: 1,
        tickets: 1,
        builds: 1,
        threads: 0,
        staged_prs: vec![13],
        jira_status: "Ready for QA".into(),
        auto_completes: 0,
        earlier_threads: Vec::new(),
    };
    kill_at_every_step::<ReusedReview>(expected, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_between_each_post_of_a_pr_and_its_record_posts_it_once() {
    kill_after_every_post::<Review>(3).await;
}

/// An app installed without the history scopes cannot look for its earlier post: the card in
/// flight during the kill shows twice rather than be lost, and the log says what to grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_history_scopes_a_post_in_flight_during_a_kill_shows_twice() {
    let scene = Review::scene().await;
    scene.slack.without_history_scopes();
    scene.slack.stall_post(1);
    let mut kills = Kills::AtStalledPost;
    Review::outcome(&scene, &mut kills).await;
    let channel = scene.settled_channel(&mut kills).await;
    let cards: Vec<&str> = channel.iter().map(|(card, _)| card.as_str()).collect();
    assert_eq!(
        cards,
        ["PR #: in progress", "Billo.Api##: Login page: done"]
    );
    let log = std::fs::read_to_string(scene.dir.path().join("bot.log")).unwrap();
    assert!(
        log.contains("give the app the channels:history and groups:history scopes"),
        "{}",
        scene.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_between_each_post_of_a_release_and_its_record_posts_it_once() {
    kill_after_every_post::<Release>(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_every_step_of_a_release_changes_nothing() {
    kill_at_every_step::<Release>(release_expected(), 19).await;
}

/// What the release gives when nothing goes wrong: one release PR, merged and built, each stage
/// approved once (Production after its second operator), the tickets Done, 1.4.3 archived, and
/// one back-merge PR with one review run.
fn release_expected() -> ReleaseOutcome {
    ReleaseOutcome {
        status: "done".into(),
        release_prs: 1,
        merges: 1,
        builds: 1,
        approvals: vec![
            ("500".into(), "approved".into()),
            ("501".into(), "approved".into()),
        ],
        stage_starts: 0,
        jira: vec!["Done".into(), "Done".into(), "Done".into()],
        archived: vec!["1.4.2".into(), "1.4.3".into()],
        tags: vec![("v1.4.3".into(), "merge-d0d0d0d0".into())],
        jira_versions: vec![("Billo.Api 1.4.3".into(), true)],
        fix_versions: vec![vec!["Billo.Api 1.4.3".into()]; 3],
        back_merges: vec![(
            "Back-merge main into develop after Billo.Api 1.4.3".into(),
            1,
        )],
    }
}

/// The release through a YAML pipeline run, killed at every step boundary: one approval PATCH
/// per stage (Production after both its operators), the tickets Done, 1.4.3 archived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_every_step_of_a_yaml_release_changes_nothing() {
    let expected = ReleaseOutcome {
        approvals: vec![
            (
                "00000384-0000-4000-8000-000000000001".into(),
                "approved".into(),
            ),
            (
                "00000384-0000-4000-8000-000000000101".into(),
                "approved".into(),
            ),
        ],
        ..release_expected()
    };
    kill_at_every_step::<YamlRelease>(expected, 19).await;
}

/// Skipping Sandbox, killed at every step: Sandbox's approval is rejected once, Production is
/// started once (after both its operators pressed Start) and approved once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_every_step_of_a_skipped_stage_changes_nothing() {
    let expected = ReleaseOutcome {
        approvals: vec![
            ("500".into(), "rejected".into()),
            ("501".into(), "approved".into()),
        ],
        stage_starts: 1,
        ..release_expected()
    };
    kill_at_every_step::<SkippedRelease>(expected, 21).await;
}

/// Production needs two people: the bot is killed after the first one's vote, before the
/// second clicks. The vote survives, the second completes it, and Production is approved in
/// Azure DevOps exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_between_two_approvals_of_a_stage_changes_nothing() {
    let scene = Release::scene().await;
    let mut kills = Kills::AfterFirstVote;
    let got = Release::outcome(&scene, &mut kills).await;
    assert!(matches!(kills, Kills::Never), "the kill landed");
    assert_eq!(scene.starts(), 2, "started again after the kill");
    assert_eq!(got, release_expected());
}

/// The PR of [`Scene::full`] reviewed, merged and built, then released through Sandbox and
/// Production.
struct Full;

#[derive(Debug, PartialEq)]
struct FullOutcome {
    /// The PR run's status, then the release run's.
    statuses: [String; 2],
    runs: i64,
    tickets: usize,
    ticket_status: String,
    threads: usize,
    /// The PR's merge, then the release PR's.
    merges: Vec<u32>,
    release_prs: usize,
    builds: usize,
    approvals: Vec<(String, String)>,
    stage_starts: usize,
    archived: Vec<String>,
    tags: Vec<(String, String)>,
}

impl Workflow for Full {
    const KIND: &'static str = "release";
    type Outcome = FullOutcome;

    async fn scene() -> Scene {
        Scene::full().await
    }

    async fn outcome(scene: &Scene, kills: &mut Kills) -> FullOutcome {
        let pr = scene.drive(&PR_SCRIPT, kills).await;
        let release = scene.drive(&RELEASE_SCRIPT, kills).await;
        let created = scene.jira.with(|s| s.created.clone());
        FullOutcome {
            statuses: [pr, release],
            runs: scene.run_count().await,
            tickets: created.len(),
            ticket_status: created
                .first()
                .map(|key| scene.jira.status(key))
                .unwrap_or_default(),
            threads: scene.azdo.with(|s| s.threads.len()),
            merges: scene
                .azdo
                .with(|s| s.completions.iter().map(|(pr, _)| *pr).collect()),
            release_prs: scene.azdo.with(|s| s.created.len()),
            builds: scene.azdo.with(|s| s.builds.len()),
            approvals: scene.approval_calls(),
            stage_starts: scene.azdo.with(|s| s.cd.starts.len()),
            archived: scene.archived_versions().await,
            tags: scene.tags(),
        }
    }
}

/// What the full path gives when nothing goes wrong: one ticket (Done once released), one review
/// (summary and one finding), two merges (the PR, then the release PR), two CI builds, one
/// approval per stage and 1.4.3 archived after 1.4.2.
fn full_path_expected() -> FullOutcome {
    FullOutcome {
        statuses: ["done".into(), "done".into()],
        runs: 2,
        tickets: 1,
        ticket_status: "Done".into(),
        threads: 2,
        merges: vec![13, 401],
        release_prs: 1,
        builds: 2,
        approvals: vec![
            ("500".into(), "approved".into()),
            ("501".into(), "approved".into()),
        ],
        stage_starts: 0,
        archived: vec!["1.4.2".into(), "1.4.3".into()],
        tags: vec![("v1.4.3".into(), "merge-d0d0d0d0".into())],
    }
}

/// A seed from `name` in the environment, or a new one; printed so a failure can be replayed.
pub fn seed(name: &str) -> u64 {
    let seed = std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{name}={seed}");
    seed
}

/// The bot is killed (SIGKILL) at 50 random instants of the full PR-plus-release path, during
/// start-up, steps, HTTP calls and waits alike, and started again each time. The path is run
/// afresh with up to 10 kills each time until 50 have landed; every time the end is what an
/// uninterrupted run gives, every effect in Azure DevOps and Jira done exactly once.
/// `CRASH_SEED` replays a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_at_50_random_instants_of_the_full_path_changes_nothing() {
    let baseline = Full::scene().await;
    let started = Instant::now();
    assert_eq!(
        Full::outcome(&baseline, &mut Kills::Never).await,
        full_path_expected()
    );
    let span = started.elapsed();
    eprintln!("the uninterrupted full path took {span:?}");

    let mut rng = StdRng::seed_from_u64(seed("CRASH_SEED"));
    let mut landed: Vec<String> = Vec::new();
    let mut paths = 0;
    while landed.len() < 50 {
        paths += 1;
        assert!(
            paths <= 30,
            "only {} kills landed in 30 paths",
            landed.len()
        );
        let scene = Full::scene().await;
        let mut kills = Kills::random((50 - landed.len()).min(10), span, &mut rng);
        let got = Full::outcome(&scene, &mut kills).await;
        let Kills::Random(random) = kills else {
            unreachable!()
        };
        eprintln!("path {paths}: kills landed at {}", random.landed.join(", "));
        assert_eq!(
            got,
            full_path_expected(),
            "path {paths}, kills landed at {:?}; the bot's log ends:\n{}",
            random.landed,
            scene.log_tail()
        );
        landed.extend(random.landed);
    }
    let runs_hit =
        ["pr:", "release:"].map(|kind| landed.iter().filter(|at| at.starts_with(kind)).count());
    assert!(
        runs_hit.iter().all(|&n| n > 0),
        "kills landed in both runs: {landed:?}"
    );
}

/// A fifth of all Azure DevOps and Jira requests fail: throttled (429, `Retry-After: 1`), a 500
/// before acting, or acted on but answered after the client gave up. The full path still ends as
/// an uninterrupted run does, nothing done twice. `FAULT_SEED` replays a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_path_finishes_with_a_fifth_of_azure_devops_and_jira_calls_failing() {
    let mut scene = Full::scene().await;
    scene.env.push(("HTTP_TIMEOUT_SECONDS", "1".into()));
    let seed = seed("FAULT_SEED");
    let late = Duration::from_millis(1500);
    scene.azdo.faults.enable(5, late, seed);
    scene.jira.faults.enable(5, late, seed.wrapping_add(1));
    let got = Full::outcome(&scene, &mut Kills::Never).await;
    let (azdo, jira) = (scene.azdo.faults.injected(), scene.jira.faults.injected());
    eprintln!("faults injected: Azure DevOps {azdo:?}, Jira {jira:?}");
    assert_eq!(
        got,
        full_path_expected(),
        "faults injected: Azure DevOps {azdo:?}, Jira {jira:?}; the bot's log ends:\n{}",
        scene.log_tail()
    );
    for fault in [Fault::Throttled, Fault::ServerError, Fault::LostAnswer] {
        assert!(
            azdo.contains_key(&fault),
            "Azure DevOps saw {fault:?}: {azdo:?}"
        );
    }
    assert!(!jira.is_empty(), "Jira saw faults: {jira:?}");
}

/// The full path at TRACE level with every secret configured, the webhook and the operator API
/// used too: not one secret, nor its Basic-auth encoding, in the bot's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_path_at_trace_level_logs_no_secret() {
    const WEBHOOK: &str = "webhook-secret-0123456789";
    const OPERATOR: &str = "operator-token-9876543210";
    const PERSONAL: &str = "personal-token-0123456789";
    const ANTHROPIC: &str = "sk-ant-test-key-4f0c2b";
    let mut scene = Full::scene().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    scene.env.extend([
        ("RUST_LOG", "trace".into()),
        ("HTTP_PORT", port.to_string()),
        ("HTTP_BIND", "127.0.0.1".into()),
        ("WEBHOOK_SECRET", WEBHOOK.into()),
        ("OPERATOR_TOKEN", OPERATOR.into()),
        ("OPERATOR_TOKENS", format!("U0OPS:{PERSONAL}")),
        ("ANTHROPIC_API_KEY", ANTHROPIC.into()),
    ]);
    let bot = scene.start().await;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let commit = scene.azdo.with(|s| s.prs[&13].source_commit.clone());
    let hook = http
        .post(format!("{base}/webhooks/azdo"))
        .header("X-Webhook-Secret", WEBHOOK)
        .json(&pr_event("git.pullrequest.created", 13, "active", &commit))
        .send()
        .await
        .unwrap();
    assert!(hook.status().is_success(), "{}", hook.text().await.unwrap());
    for token in [OPERATOR, PERSONAL] {
        let pending = http
            .get(format!("{base}/approvals/pending"))
            .header("X-Operator-Token", token)
            .send()
            .await
            .unwrap();
        assert!(pending.status().is_success());
    }
    assert_eq!(
        scene.follow(bot, &PR_SCRIPT, &mut Kills::Never).await,
        "done"
    );
    assert_eq!(
        scene.drive(&RELEASE_SCRIPT, &mut Kills::Never).await,
        "done"
    );

    let log = std::fs::read_to_string(scene.dir.path().join("bot.log")).unwrap();
    assert!(
        log.contains("TRACE") && log.lines().count() > 1000,
        "the log is at TRACE level ({} lines)",
        log.lines().count()
    );
    let basic = |user: &str, secret: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    };
    let secrets = [
        BOT_TOKEN.to_owned(),
        APP_TOKEN.to_owned(),
        "azdo-pat-secret".to_owned(),
        basic("", "azdo-pat-secret"),
        "jira-token-secret".to_owned(),
        basic("bot@example.com", "jira-token-secret"),
        WEBHOOK.to_owned(),
        OPERATOR.to_owned(),
        PERSONAL.to_owned(),
        ANTHROPIC.to_owned(),
    ];
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret is in the log");
    }
    eprintln!(
        "trace log: {} lines checked against {} secrets",
        log.lines().count(),
        secrets.len()
    );
    database_password_at_trace_level(&scene, &secrets).await;
}

/// The database password: the same binary and secrets at TRACE on PostgreSQL with a password in
/// its URL (when the suite has PostgreSQL), through `migrate` and `check`, which connect to
/// the database and to every fake service.
async fn database_password_at_trace_level(scene: &Scene, secrets: &[String]) {
    const DB_PASSWORD: &str = "db-password-5e1c7a";
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let db = db.with_password(DB_PASSWORD);
    for command in ["migrate", "check"] {
        let output = Command::new(env!("CARGO_BIN_EXE_release-agent"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(scene.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("DATABASE_URL", &db.url)
            .env("LOG_FORMAT", "json")
            .arg(command)
            .current_dir(scene.dir.path())
            .output()
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            text.contains("\"level\":\"TRACE\"") || text.contains("\"level\":\"DEBUG\""),
            "{command} logged below INFO:\n{text}"
        );
        assert!(
            !text.contains(DB_PASSWORD),
            "the database password is in `{command}`"
        );
        for secret in secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret is in `{command}`"
            );
        }
    }
    db.drop_database().await;
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
        if let Some(seen) = scene.seen("pr").await
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
    let after = scene.seen("pr").await.unwrap();
    assert!(
        after.steps > before.steps && after.step != "review",
        "the review step reached its checkpoint: {before:?} → {after:?}"
    );
    assert_eq!(scene.lease_owner().await, None, "the lease was given back");

    let bot = scene.start().await;
    assert_eq!(
        scene.follow(bot, &PR_SCRIPT, &mut Kills::Never).await,
        "done"
    );
    assert_eq!(scene.azdo.with(|s| s.completions.len()), 1);
    assert_eq!(scene.jira.with(|s| s.created.len()), 1);
    let reviews = scene.azdo.with(|s| s.threads.len());
    assert_eq!(
        reviews, 2,
        "the review was published once (summary and one finding)"
    );
}

/// A question in a PR card's thread, with the bot killed (SIGKILL) while the reviewer answers it,
/// then started again: the restarted bot takes the question back (its instance's claim) and the
/// thread gets exactly one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bot_while_it_answers_a_question_answers_it_once() {
    let scene = Scene::new().await;
    scene.slow_pr();
    assert_eq!(scene.drive(&PR_SCRIPT, &mut Kills::Never).await, "done");
    let ts = scene.seen("pr").await.unwrap().card_ts.unwrap();
    let mut bot = scene.start().await;
    let envelope = scene.slack.mention_envelope(
        "U0BOB",
        "C0RELEASES",
        Some(&ts),
        "<@U0BOT> why this finding?",
    );
    let id = scene.slack.deliver(envelope).await;
    scene.slack.ack(&id).await;
    let scene = &scene;
    let count = |sql: &'static str| async move {
        let mut db = scene.db().await?;
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut db)
            .await
            .ok()
    };
    let claimed =
        "SELECT COUNT(*) FROM questions WHERE claim_by IS NOT NULL AND answered_at IS NULL";
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(claimed).await != Some(1) {
        assert!(Instant::now() < deadline, "the question was not taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bot.start_kill().unwrap();
    bot.wait().await.unwrap();
    assert_eq!(
        count("SELECT COUNT(*) FROM questions WHERE answered_at IS NULL").await,
        Some(1),
        "killed before it answered"
    );

    let mut bot = scene.start().await;
    let answers = || {
        scene
            .slack
            .calls("chat.postMessage")
            .into_iter()
            .filter(|c| {
                c.body["thread_ts"] == ts.as_str()
                    && c.body.to_string().contains("You asked: why this finding?")
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while answers() == 0 {
        assert!(
            Instant::now() < deadline,
            "no answer; the bot's log ends:\n{}",
            scene.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Longer than a claim: a second answer would have come by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    bot.start_kill().unwrap();
    bot.wait().await.unwrap();
    assert_eq!(answers(), 1, "one answer in the thread");
    assert_eq!(
        count("SELECT COUNT(*) FROM questions WHERE answered_at IS NOT NULL").await,
        Some(1)
    );
}

/// A single bot killed while it holds a run's lease (20 s here) takes the run back as soon as it
/// is started again: the instance id kept under REPOS_BASE_DIR says the claims were its own.
/// Another replica (another directory) started meanwhile leaves the run alone until the lease
/// runs out. Prints how soon after the restart the card moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bot_takes_its_runs_back_at_once_and_another_replica_waits() {
    let mut scene = Scene::new().await;
    scene.env.retain(|(k, _)| *k != "RUN_LEASE_SECONDS");
    scene.env.push(("RUN_LEASE_SECONDS", "20".into()));
    scene.slow_pr();
    let mut bot = scene.start().await;
    let id = scene
        .slack
        .deliver(scene.slack.slash_envelope("/review", "13", ASKER))
        .await;
    scene.slack.ack(&id).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let held = loop {
        assert!(Instant::now() < deadline, "the review did not start");
        if let Some(seen) = scene.seen("pr").await
            && seen.step == "review"
            && scene.lease_owner().await.is_some()
        {
            break seen.steps;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    bot.start_kill().unwrap();
    bot.wait().await.unwrap();
    let killed = Instant::now();

    // Another replica, with a directory (and so an instance) of its own, waits for the lease.
    let elsewhere = tempfile::tempdir().unwrap();
    let repos = elsewhere.path().display().to_string();
    let mut other = scene.spawn_with(&[("REPOS_BASE_DIR", repos)]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let seen = scene.seen("pr").await.unwrap();
    assert_eq!(
        (seen.step.as_str(), seen.steps),
        ("review", held),
        "another replica left the run alone while the lease held"
    );

    // The killed bot, started again, takes its run back at once. The other replica goes first:
    // the restart gives the run's lease back before claiming it, and the other, which has no
    // clone of the repository in its directory (the fake serves no git), could take it then.
    other.start_kill().unwrap();
    other.wait().await.unwrap();
    let updates = scene.slack.calls("chat.update").len();
    let restarted = Instant::now();
    let mut bot = scene.spawn();
    let moved = loop {
        let seen = scene.seen("pr").await.unwrap();
        if seen.steps > held && scene.slack.calls("chat.update").len() > updates {
            break restarted.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "the run waited for its lease; the bot's log ends:\n{}",
            scene.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "the card moved {:.1} s after the restart",
        moved.as_secs_f64()
    );
    bot.start_kill().unwrap();
    bot.wait().await.unwrap();
}

/// Two replicas on one database: opening the Home tab publishes it once, and a change made
/// through either (here, a freeze written straight to the database) is published once to each
/// viewer, not once per replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_publish_a_change_of_the_home_tab_once() {
    let scene = Scene::new().await;
    let opened = scene.slack.connections_opened();
    let mut first = scene.spawn();
    let elsewhere = tempfile::tempdir().unwrap();
    let repos = elsewhere.path().display().to_string();
    let mut second = scene.spawn_with(&[("REPOS_BASE_DIR", repos)]);
    scene.slack.connected_since(opened).await;
    let publishes = || {
        scene
            .slack
            .calls("views.publish")
            .into_iter()
            .filter(|c| c.body["user_id"] == ASKER)
            .count()
    };
    let id = scene
        .slack
        .deliver(scene.slack.home_opened_envelope(ASKER))
        .await;
    scene.slack.ack(&id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while publishes() == 0 {
        assert!(
            Instant::now() < deadline,
            "the opened tab was not published"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each replica looks every 3 s: two looks each.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let settled = publishes();

    let mut db = SqliteConnection::connect(&scene.env_var("DATABASE_URL"))
        .await
        .unwrap();
    sqlx::query("INSERT INTO freezes (repo, reason, frozen_by, frozen_at) VALUES ($1, $2, $3, $4)")
        .bind("Billo.Api")
        .bind("payment outage")
        .bind("U0BOB")
        .bind(Clock::system().now())
        .execute(&mut db)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while publishes() == settled {
        assert!(Instant::now() < deadline, "the change was not published");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    let views: Vec<String> = scene
        .slack
        .calls("views.publish")
        .into_iter()
        .filter(|c| c.body["user_id"] == ASKER)
        .map(|c| c.body["view"].to_string())
        .collect();
    assert_eq!(
        views.len(),
        settled + 1,
        "one publish of the change, whatever the number of replicas"
    );
    assert!(
        views[settled].contains("payment outage"),
        "{}",
        views[settled]
    );
    for child in [&mut first, &mut second] {
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
}
