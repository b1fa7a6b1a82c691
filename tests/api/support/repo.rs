//! Real git repositories for tests and benchmarks: git run with no user or system
//! configuration, and Billo.Api's origin with a clone where the bot expects it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::fake_azdo::FakeAzdo;
use super::fake_jira::FakeJira;

/// Runs git with no user or system configuration; returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A bare repository at `bare` whose first branch is `develop`, and an author's clone of it at
/// `{root}/author`; returns the clone.
pub fn origin_with_author(root: &Path, bare: &Path) -> PathBuf {
    std::fs::create_dir_all(bare).unwrap();
    git(
        bare,
        &["init", "--quiet", "--bare", "--initial-branch=develop"],
    );
    git(
        root,
        &["clone", "--quiet", bare.to_str().unwrap(), "author"],
    );
    root.join("author")
}

/// A bare origin for Billo.Api with `develop`, and the bot's clone of it under REPOS_BASE_DIR.
pub struct Repo {
    _tmp: tempfile::TempDir,
    /// The origin, a bare repository.
    pub bare: PathBuf,
    pub author: PathBuf,
    pub repos_dir: PathBuf,
}

impl Repo {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let bare = tmp.path().join("origin/Billo.Api");
        let author = origin_with_author(tmp.path(), &bare);
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
            bare,
            author,
            repos_dir,
        }
    }

    /// The bot's clone of the same origin under another repository name (a second repository
    /// with the same history, for tests about where a repository lives in Azure DevOps).
    pub fn also_as(&self, name: &str) {
        git(
            &self.repos_dir,
            &["clone", "--quiet", self.bare.to_str().unwrap(), name],
        );
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

    /// A commit on `branch` that makes the stand-in reviewer take 2 s; returns it.
    pub fn slow_reviews(&self, branch: &str) -> String {
        git(&self.author, &["checkout", "--quiet", branch]);
        write(&self.author, ".fake-claude-mode", "slow");
        self.commit_and_push(branch, "slow reviewer")
    }

    /// Writes `files` on `branch` (made from develop if new), commits and pushes; returns the
    /// commit.
    pub fn change(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        git(&self.author, &["checkout", "--quiet", "develop"]);
        let new = git(&self.author, &["branch", "--list", branch])
            .trim()
            .is_empty();
        let args: &[&str] = if new {
            &["checkout", "--quiet", "-b", branch]
        } else {
            &["checkout", "--quiet", branch]
        };
        git(&self.author, args);
        for (file, text) in files {
            write(&self.author, file, text);
        }
        self.commit_and_push(branch, message)
    }

    fn commit_and_push(&self, branch: &str, message: &str) -> String {
        git(&self.author, &["add", "-A"]);
        git(&self.author, &["commit", "--quiet", "-m", message]);
        git(&self.author, &["push", "--quiet", "origin", branch]);
        git(&self.author, &["rev-parse", "HEAD"]).trim().to_owned()
    }
}

/// The variables that point the bot at the fakes and the repository.
pub fn pr_env(azdo: &FakeAzdo, jira: &FakeJira, repo: &Repo) -> Vec<(&'static str, String)> {
    vec![
        ("AZDO_BASE_URL", azdo.base_url()),
        ("AZDO_PROJECT", "Proj".into()),
        ("AZDO_PAT", "azdo-pat-secret".into()),
        ("JIRA_BASE_URL", jira.base_url()),
        ("JIRA_EMAIL", "bot@example.com".into()),
        ("JIRA_API_TOKEN", "jira-token-secret".into()),
        (
            "CLAUDE_CMD",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bin/fake-claude").into(),
        ),
        ("REPOS_BASE_DIR", repo.repos_dir.display().to_string()),
        ("WATCHED_REPOS", "Billo.Api".into()),
        ("CI_POLL_INTERVAL_SECONDS", "1".into()),
    ]
}
