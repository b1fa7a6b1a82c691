//! The diff of a PR as `git diff <target>...<source>` prints it: from the merge base of the two to
//! the source, with rename detection, byte for byte. Also records which lines of the new side the
//! PR adds, so review findings can be anchored only where the PR changed something.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use git2::{Delta, DiffDelta, DiffFindOptions, DiffFormat, DiffOptions, Repository};
use tracing::instrument;

use super::GitError;
use super::similarity::similarity_index;

/// A rename's file header with git's similarity figure in place of libgit2's.
fn git_similarity(repo: &Repository, delta: &DiffDelta<'_>, header: &[u8]) -> String {
    let header = String::from_utf8_lossy(header);
    let blob = |id| {
        repo.find_blob(id)
            .map(|b| b.content().to_vec())
            .unwrap_or_default()
    };
    let index = similarity_index(&blob(delta.old_file().id()), &blob(delta.new_file().id()));
    header
        .lines()
        .map(|line| match line.strip_prefix("similarity index ") {
            Some(_) => format!("similarity index {index}%\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

/// The most of the patch kept for the reviewer, in bytes. The rest is not held in memory: the
/// reviewer reads the files themselves.
pub const PATCH_BUDGET: usize = 200_000;

/// New-side line numbers added, by repository-relative path.
type AddedLines = BTreeMap<String, BTreeSet<u32>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrDiff {
    /// The unified diff, at most [`PATCH_BUDGET`] bytes of it.
    pub patch: String,
    /// Whether the patch was cut at the budget.
    pub cut: bool,
    pub files: usize,
    pub insertions: usize,
    pub deletions: usize,
    /// New-side line numbers added by the PR, by repository-relative path.
    pub added_lines: AddedLines,
}

impl PrDiff {
    /// Whether the PR added line `line` of `path` (with or without a leading `/`).
    pub fn adds(&self, path: &str, line: u32) -> bool {
        self.added_lines
            .get(path.trim_start_matches('/'))
            .is_some_and(|lines| lines.contains(&line))
    }
}

/// The diff of `target...source` in the repository at `repo_dir` (revisions as git reads them).
#[instrument(level = "debug", skip_all, fields(dir = %repo_dir.display(), target, source))]
pub async fn diff(repo_dir: &Path, target: &str, source: &str) -> Result<PrDiff, GitError> {
    let (dir, target, source) = (repo_dir.to_owned(), target.to_owned(), source.to_owned());
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(|| diff_blocking(&dir, &target, &source)))
        .await
        .map_err(|e| GitError::local("diff task", repo_dir, e))?
}

fn diff_blocking(dir: &Path, target: &str, source: &str) -> Result<PrDiff, GitError> {
    let fail = |what: &str, e: git2::Error| GitError::local(what, dir, e.message());
    let repo = Repository::open(dir).map_err(|e| fail("opening the repository", e))?;
    let diff = merge_base_diff(&repo, target, source, &fail)?;
    let (patch, added_lines) = print(&repo, &diff).map_err(|e| fail("printing the diff", e))?;
    let stats = diff.stats().map_err(|e| fail("counting the diff", e))?;
    let cut = patch.len() > PATCH_BUDGET;
    let mut patch = String::from_utf8_lossy(&patch[..patch.len().min(PATCH_BUDGET)]).into_owned();
    if cut {
        // A character split at the budget became U+FFFD; it goes, the rest stays whole.
        patch.truncate(patch.trim_end_matches('\u{FFFD}').len());
    }
    Ok(PrDiff {
        patch,
        cut,
        files: stats.files_changed(),
        insertions: stats.insertions(),
        deletions: stats.deletions(),
        added_lines,
    })
}

/// From the merge base of `target` and `source` to `source`, with renames found as git finds
/// them.
fn merge_base_diff<'r>(
    repo: &'r Repository,
    target: &str,
    source: &str,
    fail: &dyn Fn(&str, git2::Error) -> GitError,
) -> Result<git2::Diff<'r>, GitError> {
    let commit = |rev: &str| {
        repo.revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|e| fail(&format!("finding commit {rev}"), e))
    };
    let (target, source) = (commit(target)?, commit(source)?);
    let base = repo
        .merge_base(target.id(), source.id())
        .map_err(|e| fail("finding the merge base", e))?;
    let base_tree = repo
        .find_commit(base)
        .and_then(|c| c.tree())
        .map_err(|e| fail("reading the merge base", e))?;
    let source_tree = source
        .tree()
        .map_err(|e| fail("reading the source tree", e))?;
    let mut diff = repo
        .diff_tree_to_tree(
            Some(&base_tree),
            Some(&source_tree),
            Some(&mut DiffOptions::new()),
        )
        .map_err(|e| fail("diffing", e))?;
    // git's default diff.renameLimit.
    diff.find_similar(Some(
        DiffFindOptions::new().renames(true).rename_limit(1000),
    ))
    .map_err(|e| fail("detecting renames", e))?;
    Ok(diff)
}

/// The patch as `git diff` prints it, kept up to one byte past [`PATCH_BUDGET`] (so a cut is
/// seen) as it is printed, and the lines each file adds (numbered in the new file), all of them.
fn print(repo: &Repository, diff: &git2::Diff<'_>) -> Result<(Vec<u8>, AddedLines), git2::Error> {
    let mut patch = Vec::new();
    let mut added_lines = AddedLines::new();
    diff.print(DiffFormat::Patch, |delta, _hunk, line| {
        let origin = line.origin();
        if patch.len() <= PATCH_BUDGET {
            if matches!(origin, '+' | '-' | ' ') {
                patch.push(origin as u8);
            }
            match (origin, delta.status()) {
                ('F', Delta::Renamed) => {
                    patch.extend_from_slice(git_similarity(repo, &delta, line.content()).as_bytes())
                }
                _ => patch.extend_from_slice(line.content()),
            }
            patch.truncate(PATCH_BUDGET + 1);
        }
        if origin == '+'
            && let (Some(path), Some(number)) = (delta.new_file().path(), line.new_lineno())
        {
            added_lines
                .entry(path.to_string_lossy().into_owned())
                .or_default()
                .insert(number);
        }
        true
    })?;
    Ok((patch, added_lines))
}
