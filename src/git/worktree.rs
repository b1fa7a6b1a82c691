//! Isolated review worktrees (git2). libgit2 only adds a worktree on a branch, so each gets a
//! throwaway branch that is deleted once the worktree's HEAD is detached at the commit.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use git2::{
    BranchType, Repository, WorktreeAddOptions, WorktreePruneOptions, build::CheckoutBuilder,
};
use tracing::instrument;
use tracing::{debug, warn};

use super::GitError;

/// Names of worktrees (and their throwaway branches) that this bot made, so pruning touches
/// nothing else.
const PREFIX: &str = "ra-";
const BRANCH_PREFIX: &str = "release-agent/";

/// Held while worktrees are registered or pruned: libgit2 does not expect that bookkeeping to
/// race in one repository (two adds both create `.git/worktrees` and one fails; a branch delete
/// or worktree add that lists worktrees while another is half made takes it for one on its
/// branch). The checkouts and directory removals, the slow parts, run outside it. Replicas that
/// share the repository directory are kept apart by a file lock as well.
static BOOKKEEPING: Mutex<()> = Mutex::new(());

/// Waits for the bookkeeping of `repo`'s worktrees to be ours, in this process and across
/// processes; it is given back when both values are dropped.
fn bookkeeping(repo: &Repository) -> Result<(MutexGuard<'static, ()>, File), GitError> {
    let guard = BOOKKEEPING.lock().unwrap_or_else(PoisonError::into_inner);
    let path = repo.path().join("release-agent-worktrees.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|e| GitError::local("locking the worktree list", &path, e))?;
    Ok((guard, file))
}

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
#[instrument(level = "debug", skip_all, fields(dir = %repo_dir.display(), rev))]
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
#[instrument(level = "debug", skip_all, fields(dir = %repo_dir.display(), commit))]
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
        let _serial = bookkeeping(&repo)?;
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
        if let Ok(mut branch) = repo.find_branch(&branch_name, BranchType::Local)
            && let Err(e) = branch.delete()
        {
            // Harmless for the review; start-up prunes leftover throwaway branches.
            warn!(branch = %branch_name, error = %e.message(), "cannot delete a throwaway branch yet");
        }
        checkout
    };
    // libgit2 checks a new worktree out with the repository's settings, so that first checkout
    // is emptied and done again with ours.
    empty_but_git(&path)?;
    let _setting = plain_files_only(&checkout).map_err(|e| fail("configuring the checkout", e))?;
    let mut options = CheckoutBuilder::new();
    options.force().recreate_missing(true).disable_filters(true);
    checkout
        .checkout_head(Some(&mut options))
        .map_err(|e| fail("checking out the worktree", e))?;
    debug!(worktree = %path.display(), commit = %commit.id(), "worktree added");
    Ok(Worktree {
        path,
        commit: commit.id().to_string(),
        repo_dir: dir.to_owned(),
        name,
    })
}

/// Removes everything in `dir` but its `.git` link; symlinks are removed, never followed.
fn empty_but_git(dir: &Path) -> Result<(), GitError> {
    let gone = |e: std::io::Error| GitError::local("emptying the new worktree", dir, e);
    for entry in std::fs::read_dir(dir).map_err(gone)? {
        let entry = entry.map_err(gone)?;
        if entry.file_name() == ".git" {
            continue;
        }
        let is_dir = entry.file_type().map_err(gone)?.is_dir();
        if is_dir {
            std::fs::remove_dir_all(entry.path()).map_err(gone)?;
        } else {
            std::fs::remove_file(entry.path()).map_err(gone)?;
        }
    }
    Ok(())
}

/// A PR's symlinks are written as plain files holding the link's text (`core.symlinks=false`,
/// as git does on file systems without links), so `link -> /proc/self/environ` or
/// `link -> ../../.env` leads the reviewer nowhere. The setting is given to this checkout only,
/// never written to the repository's own config. libgit2 runs no hooks, no LFS and no external
/// filter driver, and the checkout disables its built-in filters too. Keep the returned file
/// until the checkout is done.
fn plain_files_only(checkout: &Repository) -> Result<tempfile::NamedTempFile, git2::Error> {
    let setting = tempfile::NamedTempFile::new()
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, b"[core]\n\tsymlinks = false\n").map(|()| file)
        })
        .map_err(|e| git2::Error::from_str(&e.to_string()))?;
    let mut config = checkout.config()?;
    config.add_file(setting.path(), git2::ConfigLevel::App, false)?;
    checkout.set_config(&config)?;
    Ok(setting)
}

fn remove_blocking(dir: &Path, name: &str, path: &Path) -> Result<(), GitError> {
    if path.exists() {
        std::fs::remove_dir_all(path)
            .map_err(|e| GitError::local("removing the worktree", path, e))?;
    }
    let repo = open(dir)?;
    let _serial = bookkeeping(&repo)?;
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
#[instrument(level = "debug", skip_all, fields(dir = %repo_dir.display()))]
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
