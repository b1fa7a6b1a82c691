//! Repositories on disk. Each Azure DevOps repository lives under REPOS_BASE_DIR in a directory of
//! its own name; a missing one is cloned. Reviews never touch that clone's working tree: each gets
//! an isolated, detached worktree at the PR's commit, so several reviews of one repository can run
//! at once, and a crash leaves nothing that start-up cannot prune.
//!
//! Network work (clone, fetch) runs the git CLI, which brings the system's TLS, proxy and CA
//! setup; the PAT travels as an HTTP header in the child's environment, never in its arguments or
//! in `.git/config`. Local work (worktrees, the merge-base diff) uses git2 on a blocking thread.
//!
//! Read `worktree.rs`, `diff.rs`, then `cli.rs`.

mod blob;
mod cli;
mod diff;
mod filter;
mod similarity;
mod worktree;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use tracing::info;
use tracing::instrument;

use crate::domain::{RepoName, TagFormat, Version};

pub use blob::file_at;
pub use diff::{
    Base, DiffRequest, FileDiff, LeftOut, PATCH_BUDGET, PrDiff, diff, diff_with, is_ancestor,
};
pub use filter::PathFilter;
pub use worktree::{Worktree, add_worktree, prune_worktrees, resolve};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{repo} is not in {dir} and cannot be cloned from {url}: {reason}")]
    Clone {
        repo: String,
        dir: PathBuf,
        url: String,
        reason: String,
    },
    #[error("`git {args}` in {dir} failed: {output}")]
    Command {
        dir: PathBuf,
        args: String,
        output: String,
    },
    #[error("{what} in {dir}: {message}")]
    Local {
        what: String,
        dir: PathBuf,
        message: String,
    },
}

impl GitError {
    pub(crate) fn local(
        what: impl Into<String>,
        dir: &Path,
        error: impl std::fmt::Display,
    ) -> Self {
        Self::Local {
            what: what.into(),
            dir: dir.to_owned(),
            message: error.to_string(),
        }
    }

    /// Whether trying again may work: a git command (a fetch over the network) can fail for a
    /// moment; a clone that cannot start or a broken repository on disk needs a person.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Command { .. })
    }
}

/// Where clones come from: `{prefix}/{repo}`. For Azure DevOps the prefix is
/// `{collection}/{project}/_git`; it may also be a local directory of mirrors.
#[derive(Debug, Clone)]
pub struct Remote {
    pub prefix: String,
    /// Repositories whose clones come from another prefix (another Azure DevOps project).
    pub elsewhere: Vec<(RepoName, String)>,
    /// Sent as a Basic auth header to http(s) remotes.
    pub pat: Option<SecretString>,
    /// The proxy variables of the config (`Proxies::env`), which git gets in place of the
    /// process's own.
    pub proxy_env: Vec<(String, SecretString)>,
}

impl Remote {
    fn url_for(&self, repo: &RepoName) -> String {
        let prefix = self
            .elsewhere
            .iter()
            .find(|(r, _)| r.same_as(repo.as_str()))
            .map_or(self.prefix.as_str(), |(_, p)| p.as_str());
        match url::Url::parse(prefix) {
            Ok(mut url) if matches!(url.scheme(), "http" | "https") => {
                if let Ok(mut path) = url.path_segments_mut() {
                    path.pop_if_empty().push(repo.as_str());
                }
                url.to_string()
            }
            _ => Path::new(prefix).join(repo.as_str()).display().to_string(),
        }
    }
}

/// The repositories under one base directory.
pub struct Repos {
    base_dir: PathBuf,
    remote: Option<Remote>,
    /// Fetches into one repository are serialised: they contend on its ref locks.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Repos {
    pub fn new(base_dir: PathBuf, remote: Option<Remote>) -> Self {
        Self {
            base_dir,
            remote,
            locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn dir(&self, repo: &RepoName) -> PathBuf {
        self.base_dir.join(repo.as_str())
    }

    /// Where this base directory's review worktrees go.
    pub fn worktrees_dir(&self) -> PathBuf {
        self.base_dir.join(".release-agent-worktrees")
    }

    fn lock(&self, repo: &RepoName) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks
            .entry(repo.as_str().to_ascii_lowercase())
            .or_default()
            .clone()
    }

    /// The repository's directory, cloned first if it is missing.
    #[instrument(level = "debug", skip_all, fields(repo = %repo))]
    pub async fn ensure(&self, repo: &RepoName) -> Result<PathBuf, GitError> {
        let dir = self.dir(repo);
        if dir.exists() {
            return Ok(dir);
        }
        let lock = self.lock(repo);
        let _guard = lock.lock().await;
        if dir.exists() {
            return Ok(dir);
        }
        let Some(remote) = &self.remote else {
            return Err(GitError::Clone {
                repo: repo.to_string(),
                dir: self.base_dir.clone(),
                url: "(none)".into(),
                reason: "no remote is configured to clone it from (set the Azure DevOps variables)"
                    .into(),
            });
        };
        let url = remote.url_for(repo);
        info!(%repo, %url, "cloning");
        std::fs::create_dir_all(&self.base_dir)
            .map_err(|e| GitError::local("creating the base directory", &self.base_dir, e))?;
        let target = dir.display().to_string();
        cli::git(
            &self.base_dir,
            // No checkout: reviews read worktrees of one commit, never the clone's own files.
            &["clone", "--quiet", "--no-checkout", &url, &target],
            Some(remote),
            &url,
        )
        .await
        .map_err(|e| GitError::Clone {
            repo: repo.to_string(),
            dir: self.base_dir.clone(),
            url: url.clone(),
            reason: e.to_string(),
        })?;
        Ok(dir)
    }

    /// Fetches `origin` (pruning deleted branches), cloning first if needed.
    #[instrument(level = "debug", skip_all, fields(repo = %repo))]
    pub async fn fetch(&self, repo: &RepoName) -> Result<PathBuf, GitError> {
        let dir = self.ensure(repo).await?;
        let lock = self.lock(repo);
        let _guard = lock.lock().await;
        let url = cli::git(&dir, &["remote", "get-url", "origin"], None, "").await?;
        cli::git(
            &dir,
            &["fetch", "--quiet", "--prune", "origin"],
            self.remote.as_ref(),
            url.trim(),
        )
        .await?;
        Ok(dir)
    }

    /// The highest version tagged in `format` on `branch` at origin.
    pub async fn highest_tag(
        &self,
        repo: &RepoName,
        branch: &str,
        format: &TagFormat,
    ) -> Result<Option<Version>, GitError> {
        let tags = self.tags_on(repo, branch).await?;
        Ok(format.highest(tags.iter().map(String::as_str)))
    }

    /// The tags reachable from `branch` on origin, after fetching the branches and every tag
    /// (forced, so a tag moved on origin is seen where it is now). None while origin has no
    /// such branch.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, branch))]
    async fn tags_on(&self, repo: &RepoName, branch: &str) -> Result<Vec<String>, GitError> {
        let dir = self.ensure(repo).await?;
        let lock = self.lock(repo);
        let _guard = lock.lock().await;
        self.fetch_all(&dir).await?;
        let Some(tracking) = tracking(&dir, branch).await else {
            return Ok(Vec::new());
        };
        let merged = cli::git(&dir, &["tag", "--merged", &tracking], None, "").await?;
        Ok(merged.lines().map(str::to_owned).collect())
    }

    /// The commits on `from` at origin that `into` lacks, merges left out, newest first, each
    /// as `<short hash> <subject>`: what a back-merge of `from` into `into` would bring. Empty
    /// while origin lacks either branch.
    #[instrument(level = "debug", skip_all, fields(repo = %repo, from, into))]
    pub async fn missing_from(
        &self,
        repo: &RepoName,
        from: &str,
        into: &str,
    ) -> Result<Vec<String>, GitError> {
        let dir = self.ensure(repo).await?;
        let lock = self.lock(repo);
        let _guard = lock.lock().await;
        self.fetch_all(&dir).await?;
        let (Some(from), Some(into)) = (tracking(&dir, from).await, tracking(&dir, into).await)
        else {
            return Ok(Vec::new());
        };
        let range = format!("{into}..{from}");
        let args = ["log", "--no-merges", "--format=%h %s", range.as_str()];
        let log = cli::git(&dir, &args, None, "").await?;
        Ok(log.lines().map(str::to_owned).collect())
    }

    /// Fetches every branch and every tag of origin, forced.
    async fn fetch_all(&self, dir: &Path) -> Result<(), GitError> {
        let url = cli::git(dir, &["remote", "get-url", "origin"], None, "").await?;
        let refspecs = [
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/tags/*:refs/tags/*",
        ];
        let mut args = vec!["fetch", "--quiet", "--prune", "origin"];
        args.extend(refspecs);
        cli::git(dir, &args, self.remote.as_ref(), url.trim()).await?;
        Ok(())
    }

    /// A detached worktree of `repo` at `commit`.
    #[instrument(level = "debug", skip_all, fields(repo = %repo))]
    pub async fn worktree(&self, repo: &RepoName, commit: &str) -> Result<Worktree, GitError> {
        let dir = self.ensure(repo).await?;
        add_worktree(&dir, &self.worktrees_dir().join(repo.as_str()), commit).await
    }

    /// For `check`: whether the repository's directory is a usable clone, or can become one.
    pub fn describe(&self, repo: &RepoName) -> Result<String, String> {
        let dir = self.dir(repo);
        if !dir.exists() {
            return match &self.remote {
                Some(remote) => Ok(format!(
                    "not cloned yet; the first review clones {}",
                    remote.url_for(repo)
                )),
                None => Err(format!(
                    "{} is missing and there is no remote to clone it from",
                    dir.display()
                )),
            };
        }
        match git2::Repository::open(&dir) {
            Ok(repo) => Ok(format!(
                "{} ({})",
                dir.display(),
                repo.head()
                    .ok()
                    .and_then(|h| h.shorthand().ok().map(str::to_owned))
                    .unwrap_or_else(|| "no HEAD".into())
            )),
            Err(e) => Err(format!(
                "{} is not a git repository: {}",
                dir.display(),
                e.message()
            )),
        }
    }

    /// Removes the worktrees a crash left behind, in every repository here. Returns how many.
    #[instrument(level = "debug", skip_all)]
    pub async fn prune_stale(&self) -> Result<usize, GitError> {
        let mut pruned = 0;
        let entries = match std::fs::read_dir(&self.base_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(GitError::local("listing repositories", &self.base_dir, e)),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.join(".git").exists() || path.join("HEAD").exists() {
                pruned += prune_worktrees(&path).await?;
            }
        }
        let leftovers = self.worktrees_dir();
        if leftovers.exists() {
            std::fs::remove_dir_all(&leftovers)
                .map_err(|e| GitError::local("removing stale worktrees", &leftovers, e))?;
        }
        Ok(pruned)
    }
}

/// `branch`'s remote-tracking ref in `dir`, if origin has that branch.
async fn tracking(dir: &Path, branch: &str) -> Option<String> {
    let tracking = format!("refs/remotes/origin/{branch}");
    let verify = ["rev-parse", "--verify", "--quiet", tracking.as_str()];
    cli::git(dir, &verify, None, "")
        .await
        .ok()
        .map(|_| tracking)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_urls_encode_names_for_http_and_join_paths_otherwise() {
        let repo = RepoName::parse("My Repo").unwrap();
        let azdo = Remote {
            prefix: "https://dev.azure.com/org/Proj/_git".into(),
            elsewhere: vec![(
                RepoName::parse("Billo.Mobile").unwrap(),
                "https://dev.azure.com/org/Mobile/_git".into(),
            )],
            pat: None,
            proxy_env: Vec::new(),
        };
        assert_eq!(
            azdo.url_for(&repo),
            "https://dev.azure.com/org/Proj/_git/My%20Repo"
        );
        assert_eq!(
            azdo.url_for(&RepoName::parse("billo.mobile").unwrap()),
            "https://dev.azure.com/org/Mobile/_git/billo.mobile",
            "a repository in another project is cloned from there"
        );
        let mirrors = Remote {
            prefix: "/srv/mirrors".into(),
            elsewhere: Vec::new(),
            pat: None,
            proxy_env: Vec::new(),
        };
        assert_eq!(mirrors.url_for(&repo), "/srv/mirrors/My Repo");
    }
}
