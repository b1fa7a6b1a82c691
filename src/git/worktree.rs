//! Isolated review worktrees (git2). libgit2 only adds a worktree on a branch, so each gets a
//! throwaway branch that is deleted once the worktree's HEAD is detached at the commit.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use git2::{
    BranchType, Repository, WorktreeAddOptions, WorktreePruneOptions, build::CheckoutBuilder,
};
use tracing::{debug, warn};

use super::GitError;

/// Names of worktrees (and their throwaway branches) that this bot made, so pruning touches
/// nothing else.
const PREFIX: &str = "ra-";
const BRANCH_PREFIX: &str = "release-agent/";

/// Held while a worktree is registered (see `add_blocking`).
static ADDING: Mutex<()> = Mutex::new(());

/// A checkout of one commit, apart from the repository's own working tree. Remove it when done;
/// if the process dies first, start-up prunes it.
#[derive(Debug)]
pub struct Worktree {
    pub path: PathBuf,
    pub commit: String,
    repo_dir: PathBuf,
    name: String,
}

impl Worktree {
    /// Deletes the checkout and its administrative files.
    pub async fn remove(self) -> Result<(), GitError> {
        let (repo_dir, name, path) = (self.repo_dir, self.name, self.path);
        blocking(move || remove_blocking(&repo_dir, &name, &path)).await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, GitError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| GitError::Local {
            what: "git task".into(),
            dir: PathBuf::new(),
            message: e.to_string(),
        })?
}

fn open(dir: &Path) -> Result<Repository, GitError> {
    Repository::open(dir).map_err(|e| GitError::local("opening the repository", dir, e.message()))
}

/// The full id of the commit `rev` names (a branch, `origin/x`, a tag or an id).
pub async fn resolve(repo_dir: &Path, rev: &str) -> Result<String, GitError> {
    let (dir, rev) = (repo_dir.to_owned(), rev.to_owned());
    blocking(move || {
        let repo = open(&dir)?;
        let commit = repo
            .revparse_single(&rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|e| GitError::local(format!("finding commit {rev}"), &dir, e.message()))?;
        Ok(commit.id().to_string())
    })
    .await
}

/// Adds a worktree of the repository at `repo_dir`, detached at `commit`, under `parent`.
pub async fn add_worktree(
    repo_dir: &Path,
    parent: &Path,
    commit: &str,
) -> Result<Worktree, GitError> {
    let (dir, parent, commit) = (repo_dir.to_owned(), parent.to_owned(), commit.to_owned());
    blocking(move || add_blocking(&dir, &parent, &commit)).await
}

fn add_blocking(dir: &Path, parent: &Path, rev: &str) -> Result<Worktree, GitError> {
    let repo = open(dir)?;
    let fail = |what: &str, e: git2::Error| GitError::local(what, dir, e.message());
    let commit = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| fail(&format!("finding commit {rev}"), e))?;
    let name = format!(
        "{PREFIX}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    std::fs::create_dir_all(parent)
        .map_err(|e| GitError::local("creating the worktree directory", parent, e))?;
    let path = parent.join(&name);
    let checkout = {
        // libgit2 does not expect two worktree adds to race in one repository (both create
        // `.git/worktrees`, and one fails); the bookkeeping is quick, the checkout below is not.
        let _serial = ADDING.lock().unwrap_or_else(PoisonError::into_inner);
        let branch_name = format!("{BRANCH_PREFIX}{name}");
        let branch = repo
            .branch(&branch_name, &commit, true)
            .map_err(|e| fail("creating a branch", e))?;
        let mut options = WorktreeAddOptions::new();
        options.reference(Some(branch.get()));
        let worktree = repo
            .worktree(&name, &path, Some(&options))
            .map_err(|e| fail("adding a worktree", e))?;
        let checkout = Repository::open_from_worktree(&worktree)
            .map_err(|e| fail("opening the worktree", e))?;
        checkout
            .set_head_detached(commit.id())
            .map_err(|e| fail("detaching the worktree", e))?;
        drop(branch);
        if let Ok(mut branch) = repo.find_branch(&branch_name, BranchType::Local) {
            branch
                .delete()
                .map_err(|e| fail("deleting the throwaway branch", e))?;
        }
        checkout
    };
    checkout
        .checkout_head(Some(CheckoutBuilder::new().force()))
        .map_err(|e| fail("checking out the worktree", e))?;
    debug!(worktree = %path.display(), commit = %commit.id(), "worktree added");
    Ok(Worktree {
        path,
        commit: commit.id().to_string(),
        repo_dir: dir.to_owned(),
        name,
    })
}

fn remove_blocking(dir: &Path, name: &str, path: &Path) -> Result<(), GitError> {
    if path.exists() {
        std::fs::remove_dir_all(path)
            .map_err(|e| GitError::local("removing the worktree", path, e))?;
    }
    let repo = open(dir)?;
    if let Ok(worktree) = repo.find_worktree(name) {
        worktree
            .prune(Some(
                WorktreePruneOptions::new().valid(true).working_tree(true),
            ))
            .map_err(|e| GitError::local("pruning the worktree", dir, e.message()))?;
    }
    Ok(())
}

/// Removes every worktree (and throwaway branch) this bot made in the repository at `repo_dir`.
pub async fn prune_worktrees(repo_dir: &Path) -> Result<usize, GitError> {
    let dir = repo_dir.to_owned();
    blocking(move || {
        let repo = open(&dir)?;
        let names = repo.worktrees().map_err(|e| GitError::local("listing worktrees", &dir, e.message()))?;
        let mut pruned = 0;
        let ours: Vec<String> = (0..names.len())
            .filter_map(|i| names.get(i).ok().flatten())
            .filter(|n| n.starts_with(PREFIX))
            .map(str::to_owned)
            .collect();
        for name in &ours {
            let Ok(worktree) = repo.find_worktree(name) else { continue };
            let path = worktree.path().to_owned();
            remove_blocking(&dir, name, &path)?;
            pruned += 1;
        }
        let branches = repo.branches(Some(BranchType::Local)).map_err(|e| GitError::local("listing branches", &dir, e.message()))?;
        for (mut branch, _) in branches.flatten() {
            let ours = branch.name().ok().flatten().is_some_and(|n| n.starts_with(BRANCH_PREFIX));
            if ours && let Err(e) = branch.delete() {
                warn!(repo = %dir.display(), error = %e.message(), "cannot delete a throwaway branch");
            }
        }
        Ok(pruned)
    })
    .await
}
