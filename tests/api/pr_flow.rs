//! The PR workflow end to end: Socket Mode in, a fake Azure DevOps and Jira, real git repositories
//! and the stand-in reviewer.

use std::path::PathBuf;

use release_agent::domain::{RunId, RunStatus, Version};
use release_agent::store::{StagedPr, StagingRelease};
use serde_json::Value;

use crate::git::{git, write};
use crate::on_both_backends;
use crate::support::fake_azdo::{BuildPlan, FakeAzdo, FakePr};
use crate::support::fake_jira::FakeJira;
use crate::support::{Backend, TestApp, wait_until};

pub const APPROVE_WITH_FINDING: &str = r#"{"verdict":"approve","summary":"Solid change.","findings":[{"file":"src/login.rs","line":2,"severity":"minor","title":"Name the constant","body":"Use a named constant for the timeout."}]}"#;
pub const REQUEST_CHANGES: &str = r#"{"verdict":"request_changes","summary":"The login accepts any password.","findings":[{"file":"src/login.rs","line":1,"severity":"critical","title":"No password check","body":"Every password is accepted."},{"file":"README.md","line":1,"severity":"minor","title":"Docs","body":"Mention the login page."}]}"#;

/// A bare origin for Billo.Api with `develop`, and the bot's clone of it under REPOS_BASE_DIR.
pub struct Repo {
    _tmp: tempfile::TempDir,
    pub author: PathBuf,
    pub repos_dir: PathBuf,
}

impl Repo {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let bare = tmp.path().join("origin/Billo.Api");
        std::fs::create_dir_all(&bare).unwrap();
        git(
            &bare,
            &["init", "--quiet", "--bare", "--initial-branch=develop"],
        );
        let author = tmp.path().join("author");
        git(
            tmp.path(),
            &["clone", "--quiet", bare.to_str().unwrap(), "author"],
        );
        write(&author, "README.md", "# Billo.Api\n");
        write(&author, "src/lib.rs", "pub mod login;\n");
        write(&author, "src/login.rs", "// login\n");
        git(&author, &["add", "-A"]);
        git(&author, &["commit", "--quiet", "-m", "start"]);
        git(&author, &["push", "--quiet", "origin", "develop"]);
        let repos_dir = tmp.path().join("repos");
        std::fs::create_dir_all(&repos_dir).unwrap();
        git(
            &repos_dir,
            &["clone", "--quiet", bare.to_str().unwrap(), "Billo.Api"],
        );
        Self {
            _tmp: tmp,
            author,
            repos_dir,
        }
    }

    /// Creates `branch` from develop with a change and the reviewer's answers; returns its commit.
    pub fn branch(&self, branch: &str, answer: &str, ticket: Option<&str>) -> String {
        git(&self.author, &["checkout", "--quiet", "develop"]);
        git(&self.author, &["checkout", "--quiet", "-b", branch]);
        write(
            &self.author,
            "src/login.rs",
            "pub fn login(password: &str) -> bool {\n    let timeout = 30;\n    !password.is_empty() && timeout > 0\n}\n",
        );
        write(&self.author, ".fake-claude-answer.json", answer);
        if let Some(ticket) = ticket {
            write(&self.author, ".fake-claude-ticket.json", ticket);
        }
        self.commit_and_push(branch, "login page")
    }

    /// Another commit on `branch` (a push to the PR); returns it.
    pub fn push(&self, branch: &str, answer: &str) -> String {
        git(&self.author, &["checkout", "--quiet", branch]);
        write(
            &self.author,
            "src/login.rs",
            "pub fn login(password: &str) -> bool {\n    password.len() > 8\n}\n",
        );
        write(&self.author, ".fake-claude-answer.json", answer);
        self.commit_and_push(branch, "second try")
    }

    fn commit_and_push(&self, branch: &str, message: &str) -> String {
        git(&self.author, &["add", "-A"]);
        git(&self.author, &["commit", "--quiet", "-m", message]);
        git(&self.author, &["push", "--quiet", "origin", branch]);
        git(&self.author, &["rev-parse", "HEAD"]).trim().to_owned()
    }
}

pub struct World {
    pub app: TestApp,
    pub azdo: FakeAzdo,
    pub jira: FakeJira,
    pub repo: Repo,
}

pub async fn world(backend: Backend, extra: &[(&str, &str)]) -> Option<World> {
    let azdo = FakeAzdo::start().await;
    let jira = FakeJira::start().await;
    let repo = Repo::new();
    let stand_in = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bin/fake-claude");
    let (azdo_url, jira_url, repos) = (
        azdo.base_url(),
        jira.base_url(),
        repo.repos_dir.display().to_string(),
    );
    let mut vars = vec![
        ("AZDO_BASE_URL", azdo_url.as_str()),
        ("AZDO_PROJECT", "Proj"),
        ("AZDO_PAT", "azdo-pat-secret"),
        ("JIRA_BASE_URL", jira_url.as_str()),
        ("JIRA_EMAIL", "bot@example.com"),
        ("JIRA_API_TOKEN", "jira-token-secret"),
        ("CLAUDE_CMD", stand_in),
        ("REPOS_BASE_DIR", repos.as_str()),
        ("WATCHED_REPOS", "Billo.Api"),
        ("CI_POLL_INTERVAL_SECONDS", "1"),
    ];
    vars.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, &vars).await?;
    Some(World {
        app,
        azdo,
        jira,
        repo,
    })
}

impl World {
    pub fn open_pr(&self, id: u32, branch: &str, commit: &str) {
        self.azdo.add_pr(FakePr {
            id,
            repo: "Billo.Api".into(),
            title: "Login page".into(),
            source_branch: branch.into(),
            target_branch: "develop".into(),
            source_commit: commit.into(),
            status: "active".into(),
            merge_commit: None,
            closed: None,
            draft: false,
        });
    }

    /// `/review text` through Socket Mode; returns the ack's text and the run it started.
    pub async fn review(&self, text: &str) -> (String, RunId) {
        let ack = self.app.slack.slash("/review", text, "U0ADA").await;
        let answer = ack["payload"]["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let runs = self.app.store.recent_runs(1).await.unwrap();
        let run = runs
            .first()
            .unwrap_or_else(|| panic!("no run started: {answer}"))
            .id;
        (answer, run)
    }

    /// Presses `option` on the run's pending approval and waits until the decision counts.
    pub async fn press(&self, run: RunId, option: &str) {
        let before = self.app.run(run).await.seq;
        let id = self.app.press(run, option, "U0ADA").await;
        self.app.slack.ack(&id).await;
        self.app
            .wait_for_run(run, "the decision to count", |r| r.seq > before)
            .await;
    }

    pub async fn waits_at(&self, run: RunId, step: &str) {
        let what = format!("the run to wait at {step}");
        self.app
            .wait_for_run(run, &what, |r| {
                r.status == RunStatus::Waiting && r.step == step
            })
            .await;
    }

    /// The texts of the replies in the run's thread.
    pub async fn replies(&self, run: RunId) -> Vec<String> {
        self.app.settled(run).await;
        let ts = self.app.run(run).await.card_ts.unwrap();
        self.app
            .slack
            .calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body["thread_ts"] == ts.as_str())
            .map(|c| blocks_text(&c.body))
            .collect()
    }

    /// The text of the run's card as it is now on screen.
    pub async fn card(&self, run: RunId) -> String {
        self.app.settled(run).await;
        let ts = self.app.run(run).await.card_ts.unwrap();
        let calls = [
            self.app.slack.calls("chat.postMessage"),
            self.app.slack.calls("chat.update"),
        ]
        .concat();
        let last = calls
            .into_iter()
            .filter(|c| {
                c.body["ts"] == ts.as_str()
                    || (c.body.get("thread_ts").is_none() && c.body["channel"].is_string())
            })
            .max_by_key(|c| c.at)
            .unwrap();
        blocks_text(&last.body)
    }
}

pub fn blocks_text(body: &Value) -> String {
    body["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["text"]["text"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn released(app: &TestApp, version: Version) {
    let release = StagingRelease {
        repo: "Billo.Api".into(),
        version,
        started_at: app.clock.now(),
        tickets: vec!["ALLPOST-1".into()],
        prs: vec![StagedPr {
            id: 1,
            title: "first".into(),
        }],
    };
    app.store
        .put_staging(&release, app.clock.now())
        .await
        .unwrap();
    app.store
        .archive_staging("Billo.Api", version, app.clock.now())
        .await
        .unwrap();
}

async fn a_ticketed_pr_is_reviewed_merged_moved_staged_and_built(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    released(&w.app, Version::new(1, 4, 2)).await;
    w.jira
        .add_issue("ALLPOST-4028", "Login page", "In Progress");
    let commit = w
        .repo
        .branch("feature/ALLPOST-4028_login", APPROVE_WITH_FINDING, None);
    w.open_pr(12, "feature/ALLPOST-4028_login", &commit);

    let (ack, run) = w.review("Billo.Api#12").await;
    assert_eq!(
        ack,
        "Reviewing Billo.Api#12. Follow it on its card in <#C0RELEASES>."
    );
    w.waits_at(run, "ask_merge").await;
    assert_eq!(w.jira.status("ALLPOST-4028"), "Code Review");
    let threads = w.azdo.with(|s| s.threads.clone());
    assert_eq!(threads.len(), 2, "a summary thread and one inline finding");
    assert!(
        threads[0].1["comments"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("## AI review: Approve")
    );
    assert_eq!(threads[1].1["threadContext"]["filePath"], "/src/login.rs");
    assert_eq!(threads[1].1["threadContext"]["rightFileStart"]["line"], 2);
    assert_eq!(
        w.azdo.with(|s| s.votes.clone()),
        [(12, 5)],
        "approve with suggestions"
    );
    let replies = w.replies(run).await;
    assert!(
        replies[0].contains(&format!("*AI review of {}: approve*", &commit[..8])),
        "{replies:?}"
    );
    assert!(
        replies[0].contains("src/login.rs:2") && replies[0].contains("*Name the constant*"),
        "{replies:?}"
    );

    w.press(run, "merge").await;
    w.waits_at(run, "ask_ci").await;
    assert_eq!(
        w.azdo.with(|s| s.completions.clone()),
        [(12, commit.clone())],
        "merged once, at the reviewed commit"
    );
    assert_eq!(w.jira.status("ALLPOST-4028"), "Ready for QA");
    let staged = w.app.store.staging("Billo.Api").await.unwrap().unwrap();
    assert_eq!(staged.version, Version::new(1, 4, 3));
    assert_eq!(
        (
            staged.tickets,
            staged.prs.iter().map(|p| p.id).collect::<Vec<_>>()
        ),
        (vec!["ALLPOST-4028".to_owned()], vec![12])
    );

    w.press(run, "trigger").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done);
    let builds = w.azdo.with(|s| s.builds.clone());
    assert_eq!(builds.len(), 1);
    assert_eq!(
        (builds[0].branch.as_str(), builds[0].commit.as_deref()),
        ("develop", Some(format!("merge-{}", &commit[..8]).as_str()))
    );
    let replies = w.replies(run).await;
    assert!(
        replies
            .iter()
            .any(|r| r.contains("Counted in the staging release *Billo.Api 1.4.3*")),
        "{replies:?}"
    );
    assert!(
        replies.last().unwrap().contains("build 2026.900")
            && replies.last().unwrap().ends_with("succeeded"),
        "{replies:?}"
    );
    let card = w.card(run).await;
    assert!(
        card.contains(":white_check_mark: Billo.Api#12: Login page"),
        "{card}"
    );
    assert!(
        card.contains("Counted in the staging release *Billo.Api 1.4.3*")
            && card.contains("CI passed."),
        "{card}"
    );
    w.app.finish().await;
}

on_both_backends!(a_ticketed_pr_is_reviewed_merged_moved_staged_and_built);
