//! A week in minutes: the release binary (release build) works through a simulated week of one
//! repository against the fakes: 2,000 PRs opened at random instants of the week (each with its
//! own branch, commit and Jira ticket), found by the PR poller, reviewed by the stand-in
//! reviewer, merged as soon as asked, staged and built; 50 releases asked at even intervals (each
//! through its release PR, CI, Sandbox and Production, notes and archive). Meanwhile a fifth of
//! the Azure DevOps and Jira calls fail (throttled, a 500, or acted on but answered too late),
//! and the bot is killed (SIGKILL) at random instants and started again at once.
//!
//! The week's clock is accelerated: its events come at their simulated instants, a week in
//! `SOAK_MINUTES` (default 60). The bot's own clock runs in real time, so what it does after
//! hours or days of its own (approval expiry, the pruning of old deliveries) is not part of it.
//! A release is asked only once the one before has ended, so a week whose releases take longer
//! than the compressed week allows runs late, and its later releases ship more; the program says
//! how late. The bot posts up to 50 messages a second per channel (`SLACK_POSTS_PER_SECOND`):
//! at Slack's one, a week's posts would take hours.
//!
//! Prints, every simulated half day, the bot's memory and the database's size; at the end, the
//! count of every effect against the count the week's work calls for.
//!
//! `cargo bench --bench soak` (`SOAK_PRS`, `SOAK_RELEASES`, `SOAK_MINUTES`, `SOAK_KILLS`,
//! `SOAK_SEED` to replay; `SOAK_DATABASE=postgres` with `TEST_DATABASE_URL`)

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "support/bot.rs"]
mod bot;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use release_agent::clock::Clock;
use release_agent::domain::{ApprovalId, RunStatus, Version};
use support::Backend;
use support::fake_azdo::FakePr;
use support::releases::{prepare_cd, released_on};
use tokio::process::Child;

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
const FIRST_PR: u32 = 10_000;
const ANSWER: &str = r#"{"verdict":"approve","summary":"Fine.","findings":[]}"#;
/// Which option to decide, among those a question offers, in this order.
const CHOICES: [&str; 5] = ["merge", "create", "approve", "open", "retry"];

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Week {
    prs: u32,
    releases: u32,
    wall: Duration,
    /// When each PR opens and each release is asked, in simulated time from the week's start.
    opens: Vec<Duration>,
    asks: Vec<Duration>,
    /// When the bot is killed, in wall time from the start.
    kills: Vec<Duration>,
    seed: u64,
}

impl Week {
    fn plan() -> Self {
        let seed = setting("SOAK_SEED", rand::random::<u64>());
        let mut rng = StdRng::seed_from_u64(seed);
        let (prs, releases) = (setting("SOAK_PRS", 2_000), setting("SOAK_RELEASES", 50));
        let wall = Duration::from_secs_f64(setting("SOAK_MINUTES", 60.0) * 60.0);
        let kills = setting("SOAK_KILLS", 20);
        let mut opens: Vec<Duration> = (0..prs)
            .map(|_| rng.random_range(Duration::ZERO..WEEK))
            .collect();
        opens.sort();
        let asks = (0..releases)
            .map(|i| WEEK.mul_f64((f64::from(i) + 1.0) / f64::from(releases + 1)))
            .collect();
        let mut kills: Vec<Duration> = (0..kills)
            .map(|_| rng.random_range(Duration::ZERO..wall))
            .collect();
        kills.sort();
        println!(
            "a week of {prs} PRs and {releases} releases in {:.1} minutes, {} kills, a fifth of \
             Azure DevOps and Jira calls failing (SOAK_SEED={seed})",
            wall.as_secs_f64() / 60.0,
            kills.len()
        );
        Self {
            prs,
            releases,
            wall,
            opens,
            asks,
            kills,
            seed,
        }
    }

    /// The simulated instant `elapsed` wall time into the week.
    fn simulated(&self, elapsed: Duration) -> Duration {
        WEEK.mul_f64(elapsed.as_secs_f64() / self.wall.as_secs_f64())
    }
}

/// One branch per PR, `feature/ALLPOST-<n>-change`, each adding its own file and the stand-in
/// reviewer's answer, written by one `git fast-import` and pushed at once; their commits.
fn branches(repo: &support::repo::Repo, prs: u32) -> Vec<String> {
    let author = &repo.author;
    let develop = support::repo::git(author, &["rev-parse", "develop"])
        .trim()
        .to_owned();
    let mut stream = String::new();
    let data = |text: &str| format!("data {}\n{text}\n", text.len());
    for n in 1..=prs {
        let change = format!("pub fn feature_{n}() -> u32 {{\n    {n}\n}}\n");
        stream += &format!(
            "commit refs/heads/feature/ALLPOST-{n}-change\ncommitter Bench <bench@example.com> 1767225600 +0000\n{}from {develop}\nM 100644 inline src/feature_{n}.rs\n{}M 100644 inline .fake-claude-answer.json\n{}\n",
            data(&format!("feature {n}")),
            data(&change),
            data(ANSWER)
        );
    }
    let mut import = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(author)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    import
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(import.wait().unwrap().success(), "git fast-import");
    support::repo::git(
        author,
        &[
            "push",
            "--quiet",
            "origin",
            "refs/heads/feature/*:refs/heads/feature/*",
        ],
    );
    (1..=prs)
        .map(|n| {
            let branch = format!("feature/ALLPOST-{n}-change");
            support::repo::git(author, &["rev-parse", &branch])
                .trim()
                .to_owned()
        })
        .collect()
}

struct Soak {
    scene: bot::Scene,
    week: Week,
    commits: Vec<String>,
    http: reqwest::Client,
    bot: Child,
    restarts: usize,
    /// When each pending approval was decided, to decide it again if a kill lost the decision.
    decided: HashMap<ApprovalId, Instant>,
    releases_asked: u32,
    /// Releases not asked: when their time came, nothing was staged.
    nothing_staged: u32,
    /// When the release under way was asked, and how long each one took.
    asked_at: Option<Instant>,
    took: Vec<Duration>,
    /// How late each release was asked, against its simulated instant.
    late: Vec<Duration>,
}

const EXTRA: [(&str, &str); 7] = [
    ("PR_POLL_ENABLED", "true"),
    ("PR_POLL_INTERVAL_SECONDS", "1"),
    ("CI_AUTO_TRIGGER", "true"),
    ("RELEASE_POLL_INTERVAL_SECONDS", "1"),
    ("HTTP_TIMEOUT_SECONDS", "1"),
    ("RUST_LOG", "warn"),
    // A week's posts in minutes: Slack's one a second per channel would take hours.
    ("SLACK_POSTS_PER_SECOND", "50"),
];

impl Soak {
    async fn new(backend: Backend) -> Option<Self> {
        let week = Week::plan();
        let scene = bot::Scene::new(backend, 0).await?;
        released_on(&scene.store, Version::new(1, 4, 2), Clock::system().now()).await;
        prepare_cd(&scene.azdo);
        let started = Instant::now();
        let commits = branches(&scene.repo, week.prs);
        // Merges happen in the real repository, so each release PR has a commit of its own.
        let author = &scene.repo.author;
        support::repo::git(
            author,
            &["push", "--quiet", "origin", "develop:refs/heads/main"],
        );
        scene.azdo.with_mut(|s| {
            s.origin = Some(scene.repo.bare.clone());
            s.heads.clear();
        });
        for n in 1..=week.prs {
            scene.jira.add_issue(
                &format!("ALLPOST-{n}"),
                &format!("Feature {n}"),
                "In Progress",
            );
        }
        println!(
            "{} branches pushed in {:.1} s",
            week.prs,
            started.elapsed().as_secs_f64()
        );
        let seed = week.seed;
        scene
            .azdo
            .faults
            .enable(5, Duration::from_millis(1500), seed);
        scene
            .jira
            .faults
            .enable(5, Duration::from_millis(1500), seed.wrapping_add(1));
        let bot = scene.spawn(&EXTRA).await;
        Some(Self {
            scene,
            week,
            commits,
            http: reqwest::Client::new(),
            bot,
            restarts: 0,
            decided: HashMap::new(),
            releases_asked: 0,
            nothing_staged: 0,
            asked_at: None,
            took: Vec::new(),
            late: Vec::new(),
        })
    }

    async fn kill_and_restart(&mut self) {
        self.bot.start_kill().unwrap();
        self.bot.wait().await.unwrap();
        self.bot = self.scene.spawn(&EXTRA).await;
        self.restarts += 1;
    }

    /// Decides every pending question with the first of [`CHOICES`] it offers; again when a
    /// decision made 3 s ago has not counted (a kill lost it).
    async fn decide(&mut self) {
        for approval in self.scene.store.pending_approvals(500).await.unwrap() {
            if self
                .decided
                .get(&approval.id)
                .is_some_and(|at| at.elapsed() < Duration::from_secs(3))
            {
                continue;
            }
            let offered: Vec<&str> = approval.options.iter().map(|o| o.name.as_str()).collect();
            let Some(choice) = CHOICES.iter().find(|c| offered.contains(c)) else {
                panic!("no answer for {} offering {offered:?}", approval.point);
            };
            // A refusal while the bot restarts is decided again later.
            let _ = self.scene.try_decide(&self.http, approval.id, choice).await;
            self.decided.insert(approval.id, Instant::now());
        }
    }

    /// Asks the next release when it is due and the one before has ended.
    async fn ask_release(&mut self, now: Duration) {
        if self.unfinished("release").await > 0 {
            return;
        }
        if let Some(at) = self.asked_at.take() {
            self.took.push(at.elapsed());
        }
        let next = self.releases_asked + self.nothing_staged;
        let Some(&due) = self.week.asks.get(next as usize) else {
            return;
        };
        if now < due {
            return;
        }
        let staged = self.scene.store.staging("Billo.Api").await.unwrap();
        if staged.is_none_or(|s| s.prs.is_empty()) {
            // The release before, late, shipped everything: nothing to ask this time.
            self.nothing_staged += 1;
            return;
        }
        self.scene
            .slack
            .slash("/release", "Billo.Api", "U0ADA")
            .await;
        self.late.push(now - due);
        self.asked_at = Some(Instant::now());
        self.releases_asked += 1;
    }

    /// Messages and card updates the bot has yet to send to Slack.
    async fn unsent(&self) -> i64 {
        let sql = "SELECT (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND error IS NULL) \
                   + (SELECT COUNT(*) FROM runs WHERE card_version > card_synced)";
        self.scene.db.count(sql).await
    }

    async fn unfinished(&self, kind: &str) -> i64 {
        let runs = self.scene.store.count_runs().await.unwrap();
        runs.iter()
            .filter(|(k, s, _)| k == kind && !matches!(s.as_str(), "done" | "failed" | "cancelled"))
            .map(|(_, _, n)| n)
            .sum()
    }

    async fn run(&mut self) {
        let started = Instant::now();
        let (mut opened, mut killed, mut reported) = (0_usize, 0_usize, 0_u32);
        let half_day = Duration::from_secs(12 * 3600);
        println!("simulated  wall      RSS       peak      restarts  runs done  database");
        loop {
            let now = self.week.simulated(started.elapsed());
            while opened < self.week.opens.len() && self.week.opens[opened] <= now {
                let n = opened as u32 + 1;
                let branch = format!("feature/ALLPOST-{n}-change");
                let pr = FakePr::open(
                    FIRST_PR + n,
                    &format!("Feature {n}"),
                    &branch,
                    &self.commits[opened],
                );
                self.scene.azdo.add_pr(pr);
                opened += 1;
            }
            if killed < self.week.kills.len() && self.week.kills[killed] <= started.elapsed() {
                self.kill_and_restart().await;
                killed += 1;
            }
            self.ask_release(now).await;
            self.decide().await;
            // Every half day of the week, then every 30 s until the work of the week is done.
            let due = if reported <= 14 {
                half_day * reported <= now
            } else {
                self.week.wall + Duration::from_secs(30) * (reported - 14) <= started.elapsed()
            };
            if due {
                self.report_progress(now, started.elapsed()).await;
                reported += 1;
            }
            let scheduled = opened == self.week.opens.len()
                && self.releases_asked + self.nothing_staged == self.week.releases;
            if scheduled
                && self.unfinished("pr").await + self.unfinished("release").await == 0
                && self.unsent().await == 0
            {
                break;
            }
            assert!(
                started.elapsed() < self.week.wall * 4 + Duration::from_secs(600),
                "the week did not end; runs: {:?}",
                self.scene.store.count_runs().await.unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let now = self.week.simulated(started.elapsed());
        self.report_progress(now, started.elapsed()).await;
        let late = self.late.iter().max().copied().unwrap_or_default();
        self.took.sort();
        if let (Some(median), Some(longest)) =
            (self.took.get(self.took.len() / 2), self.took.last())
        {
            println!(
                "a release took {:.1} s of wall time (median), {:.1} s at most",
                median.as_secs_f64(),
                longest.as_secs_f64()
            );
        }
        println!(
            "the week took {:.1} minutes of wall time; the latest release was asked {:.1} h \
             (simulated) after its instant; {} releases not asked, nothing being staged then",
            started.elapsed().as_secs_f64() / 60.0,
            late.as_secs_f64() / 3600.0,
            self.nothing_staged
        );
    }

    async fn report_progress(&self, simulated: Duration, wall: Duration) {
        let m = bot::memory(self.bot.id().unwrap());
        let mib = |kib: u64| kib as f64 / 1024.0;
        let done = self.scene.store.count_runs().await.unwrap();
        let done: i64 = done
            .iter()
            .filter(|(_, s, _)| s == "done")
            .map(|(_, _, n)| n)
            .sum();
        println!(
            "day {:<5.1}  {:>5.0} s  {:>5.1} MiB  {:>5.1} MiB  {:>8}  {:>9}  {:.1} MiB",
            simulated.as_secs_f64() / 86_400.0,
            wall.as_secs_f64(),
            mib(m.rss),
            mib(m.peak),
            self.restarts,
            done,
            database_size(&self.scene.db).await as f64 / 1_048_576.0
        );
    }

    /// Every effect the week had, against what its work calls for.
    async fn report_effects(&self) {
        let prs = self.week.prs as usize;
        let runs = self.scene.store.count_runs().await.unwrap();
        let count = |kind: &str, status: &str| -> usize {
            runs.iter()
                .filter(|(k, s, _)| {
                    (kind.is_empty() || k == kind) && (status.is_empty() || s == status)
                })
                .map(|(_, _, n)| usize::try_from(*n).unwrap())
                .sum()
        };
        let releases = count("release", "done");
        let azdo = self.scene.azdo.with(|s| AzdoEffects {
            merges: tally(s.completions.iter().map(|(pr, _)| *pr)),
            summaries: tally(
                s.threads
                    .iter()
                    .filter(|(_, t)| {
                        t["comments"][0]["content"]
                            .as_str()
                            .is_some_and(|c| c.starts_with("## AI review"))
                    })
                    .map(|(pr, _)| *pr),
            ),
            builds: s.builds.len(),
            approvals: s.cd.decisions.len(),
            release_prs: s.created.len(),
            tags: s.tags.len(),
        });
        let (moves, created) = self.scene.jira.with(|s| {
            (
                tally(
                    s.history
                        .iter()
                        .map(|(key, _, to, _)| (key.clone(), to.clone())),
                ),
                s.created.len(),
            )
        });
        let moved = |to: &str, once: bool| {
            moves
                .iter()
                .filter(|((_, t), n)| t == to && (**n == 1) == once)
                .count()
        };
        // 1.4.2, the release the week starts from, shipped PR 1.
        let archived = self.scene.store.archived("Billo.Api").await.unwrap();
        let shipped = tally(
            archived
                .iter()
                .flat_map(|a| a.prs.iter().map(|p| p.id))
                .filter(|&id| id != 1),
        );
        let staged = self
            .scene
            .store
            .staging("Billo.Api")
            .await
            .unwrap()
            .map_or(0, |s| s.prs.len());
        let messages = self.scene.slack.channel("C0RELEASES");
        let posts = tally(
            messages
                .iter()
                .flat_map(|(root, replies)| std::iter::once(root).chain(replies))
                .map(|m| m["metadata"]["event_payload"]["post"].to_string()),
        );
        let undeliverable = self
            .scene
            .db
            .count("SELECT COUNT(*) FROM outbox WHERE error IS NOT NULL")
            .await;
        let feature = |m: &BTreeMap<u32, usize>, once: bool| {
            m.iter()
                .filter(|(pr, n)| **pr > FIRST_PR && (**n == 1) == once)
                .count()
        };
        let rows: [(&str, usize, usize); 20] = [
            ("PR runs done", prs, count("pr", "done")),
            ("runs failed", 0, count("", "failed")),
            ("PRs merged once", prs, feature(&azdo.merges, true)),
            ("PRs merged more than once", 0, feature(&azdo.merges, false)),
            (
                "PRs with one review summary",
                prs,
                feature(&azdo.summaries, true),
            ),
            ("PRs with more than one", 0, feature(&azdo.summaries, false)),
            (
                "tickets moved to Ready for QA once",
                prs,
                moved("Ready for QA", true),
            ),
            (
                "tickets moved there more than once",
                0,
                moved("Ready for QA", false),
            ),
            ("tickets created (every PR has one)", 0, created),
            (
                "releases done (as asked)",
                self.releases_asked as usize,
                releases,
            ),
            ("release PRs created", releases, azdo.release_prs),
            ("version tags", releases, azdo.tags),
            (
                "stage approvals in Azure DevOps",
                2 * releases,
                azdo.approvals,
            ),
            (
                "PRs shipped once, or staged for the next",
                prs,
                shipped.values().filter(|&&n| n == 1).count() + staged,
            ),
            (
                "PRs shipped more than once",
                0,
                shipped.values().filter(|&&n| n > 1).count(),
            ),
            (
                "tickets moved to Done once (shipped)",
                shipped.len(),
                moved("Done", true),
            ),
            (
                "CI builds (one per merge)",
                azdo.merges.values().sum(),
                azdo.builds,
            ),
            (
                "cards in the channel (one per run)",
                count("", ""),
                messages.len(),
            ),
            (
                "Slack messages posted twice",
                0,
                posts.values().filter(|&&n| n > 1).count(),
            ),
            (
                "messages given up as undeliverable",
                0,
                usize::try_from(undeliverable).unwrap_or(0),
            ),
        ];
        println!("\n{:<44} {:>9} {:>9}", "effect", "expected", "counted");
        for (what, expected, got) in rows {
            let mark = if expected == got { "" } else { "  <-- differs" };
            println!("{what:<44} {expected:>9} {got:>9}{mark}");
        }
        for run in self.scene.store.recent_runs(10_000).await.unwrap() {
            if run.status == RunStatus::Failed {
                let why = run.outcome.unwrap_or_default();
                println!(
                    "failed: {} {} at {}: {why}",
                    run.kind, run.subject, run.step
                );
            }
        }
        let (azdo, jira) = (
            self.scene.azdo.faults.injected(),
            self.scene.jira.faults.injected(),
        );
        println!(
            "faults injected: Azure DevOps {azdo:?}, Jira {jira:?}; {} restarts",
            self.restarts
        );
    }
}

/// What the fake Azure DevOps saw.
struct AzdoEffects {
    /// Completions by PR, and review summary threads by PR.
    merges: BTreeMap<u32, usize>,
    summaries: BTreeMap<u32, usize>,
    builds: usize,
    approvals: usize,
    release_prs: usize,
    tags: usize,
}

/// The database's size on disk in bytes: PostgreSQL's own figure, or the SQLite file with its
/// write-ahead log.
async fn database_size(db: &support::TestDb) -> u64 {
    let Some(path) = db.url.strip_prefix("sqlite://") else {
        let bytes = db
            .count("SELECT pg_database_size(current_database())")
            .await;
        return u64::try_from(bytes).unwrap_or(0);
    };
    ["", "-wal"]
        .iter()
        .filter_map(|end| std::fs::metadata(format!("{path}{end}")).ok())
        .map(|m| m.len())
        .sum()
}

/// How many times each value occurs.
fn tally<T: Ord>(values: impl Iterator<Item = T>) -> BTreeMap<T, usize> {
    let mut counts = BTreeMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    counts
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    support::init();
    let backend = match std::env::var("SOAK_DATABASE").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let Some(mut soak) = Soak::new(backend).await else {
        println!("PostgreSQL asked for: set TEST_DATABASE_URL");
        return;
    };
    soak.run().await;
    soak.report_effects().await;
}
