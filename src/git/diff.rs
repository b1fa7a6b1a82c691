//! The diff of a PR as `git diff <target>...<source>` prints it: from the merge base of the two to
//! the source, with rename detection, byte for byte; or the changes since a reviewed commit. The
//! files' patches fill a budget, biggest changes first; generated and ignored files are left out
//! (both named). Also records which lines of the new side the PR adds, so review findings can
//! be anchored only where the PR changed something.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use git2::{Delta, DiffDelta, DiffFindOptions, DiffOptions, Patch, Repository};
use tracing::instrument;

use super::GitError;
use super::filter::PathFilter;
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

/// The most of the patch given to the reviewer, in bytes. Files that do not fit are named
/// instead: the reviewer may read them in the worktree.
pub const PATCH_BUDGET: usize = 200_000;

/// New-side line numbers added, by repository-relative path.
type AddedLines = BTreeMap<String, BTreeSet<u32>>;

/// Why a changed file's patch is not in the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftOut {
    /// Generated, a lock file, or ignored by the repository's review rules.
    Ignored,
    /// The budget was spent on files with bigger changes.
    OverBudget,
}

/// One changed file (its new path, for a rename).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    pub path: String,
    pub insertions: usize,
    pub deletions: usize,
    /// The size of its patch, headers included.
    pub bytes: usize,
    pub left_out: Option<LeftOut>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrDiff {
    /// The unified diff of the files that fit the budget, in git's order.
    pub patch: String,
    /// Every changed file, left out or not.
    pub files: Vec<FileDiff>,
    pub insertions: usize,
    pub deletions: usize,
    /// New-side line numbers added, by repository-relative path (every file's).
    pub added_lines: AddedLines,
}

impl PrDiff {
    /// Whether the PR added line `line` of `path` (with or without a leading `/`).
    pub fn adds(&self, path: &str, line: u32) -> bool {
        self.added_lines
            .get(path.trim_start_matches('/'))
            .is_some_and(|lines| lines.contains(&line))
    }

    /// Whether some file's patch did not fit the budget.
    pub fn cut(&self) -> bool {
        self.files
            .iter()
            .any(|f| f.left_out == Some(LeftOut::OverBudget))
    }

    /// The paths left out of the prompt for `why`.
    pub fn left_out(&self, why: LeftOut) -> Vec<&str> {
        self.files
            .iter()
            .filter(|f| f.left_out == Some(why))
            .map(|f| f.path.as_str())
            .collect()
    }
}

/// What a diff is taken from.
#[derive(Debug, Clone)]
pub enum Base {
    /// `target...source`: from the merge base of the two (a whole PR).
    MergeBaseWith(String),
    /// From this commit's tree (the changes pushed since a review of it).
    Commit(String),
}

/// A diff to take: from `base` to `source`, leaving out what `skip` matches, files outside
/// `only` (when set) not even listed, and patches filling at most `budget` bytes.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    pub base: Base,
    pub source: String,
    pub skip: PathFilter,
    pub only: Option<BTreeSet<String>>,
    pub budget: usize,
}

/// The diff of `target...source` in the repository at `repo_dir` (revisions as git reads them),
/// every file's patch kept up to [`PATCH_BUDGET`].
pub async fn diff(repo_dir: &Path, target: &str, source: &str) -> Result<PrDiff, GitError> {
    let request = DiffRequest {
        base: Base::MergeBaseWith(target.to_owned()),
        source: source.to_owned(),
        skip: PathFilter::none(),
        only: None,
        budget: PATCH_BUDGET,
    };
    diff_with(repo_dir, request).await
}

#[instrument(level = "debug", skip_all, fields(dir = %repo_dir.display(), source = request.source))]
pub async fn diff_with(repo_dir: &Path, request: DiffRequest) -> Result<PrDiff, GitError> {
    let dir = repo_dir.to_owned();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(|| diff_blocking(&dir, &request)))
        .await
        .map_err(|e| GitError::local("diff task", repo_dir, e))?
}

/// Whether `ancestor` is `commit` or one of its ancestors (false when either is unknown here).
pub async fn is_ancestor(repo_dir: &Path, ancestor: &str, commit: &str) -> bool {
    let (dir, ancestor, commit) = (repo_dir.to_owned(), ancestor.to_owned(), commit.to_owned());
    tokio::task::spawn_blocking(move || {
        let repo = Repository::open(&dir).ok()?;
        let id = |rev: &str| {
            repo.revparse_single(rev)
                .and_then(|o| o.peel_to_commit())
                .ok()
        };
        let (a, c) = (id(&ancestor)?.id(), id(&commit)?.id());
        Some(a == c || repo.graph_descendant_of(c, a).ok()?)
    })
    .await
    .ok()
    .flatten()
    .unwrap_or(false)
}

fn diff_blocking(dir: &Path, request: &DiffRequest) -> Result<PrDiff, GitError> {
    let fail = |what: &str, e: git2::Error| GitError::local(what, dir, e.message());
    let repo = Repository::open(dir).map_err(|e| fail("opening the repository", e))?;
    let diff = match &request.base {
        Base::MergeBaseWith(target) => merge_base_diff(&repo, target, &request.source, &fail)?,
        Base::Commit(from) => tree_diff(&repo, from, &request.source, &fail)?,
    };
    let mut files = Vec::new();
    let mut indexes = Vec::new();
    let mut added_lines = AddedLines::new();
    for index in 0..diff.deltas().len() {
        let Some(patch) = Patch::from_diff(&diff, index).map_err(|e| fail("diffing a file", e))?
        else {
            continue;
        };
        let Some(path) = patch
            .delta()
            .new_file()
            .path()
            .map(|p| p.to_string_lossy().into_owned())
        else {
            continue;
        };
        if request
            .only
            .as_ref()
            .is_some_and(|only| !only.contains(&path))
        {
            continue;
        }
        let (_, insertions, deletions) = patch.line_stats().map_err(|e| fail("counting", e))?;
        let added = added_in(&patch).map_err(|e| fail("reading a patch", e))?;
        if !added.is_empty() {
            added_lines.insert(path.clone(), added);
        }
        files.push(FileDiff {
            left_out: request.skip.skips(&path).then_some(LeftOut::Ignored),
            bytes: patch.size(true, true, true),
            path,
            insertions,
            deletions,
        });
        indexes.push(index);
    }
    fill(&mut files, request.budget);
    let mut patch = Vec::new();
    for (file, &index) in files.iter().zip(&indexes) {
        if file.left_out.is_none()
            && let Some(mut one) =
                Patch::from_diff(&diff, index).map_err(|e| fail("diffing a file", e))?
        {
            print(&repo, &mut one, &mut patch).map_err(|e| fail("printing the diff", e))?;
        }
    }
    Ok(PrDiff {
        patch: String::from_utf8_lossy(&patch).into_owned(),
        insertions: files.iter().map(|f| f.insertions).sum(),
        deletions: files.iter().map(|f| f.deletions).sum(),
        files,
        added_lines,
    })
}

/// Marks the files that do not fit `budget` bytes: the biggest changes are given room first,
/// and a file too big for what is left leaves it to smaller ones.
fn fill(files: &mut [FileDiff], budget: usize) {
    let mut order: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].left_out.is_none())
        .collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(files[i].insertions + files[i].deletions),
            i,
        )
    });
    let mut left = budget;
    for i in order {
        if files[i].bytes <= left {
            left -= files[i].bytes;
        } else {
            files[i].left_out = Some(LeftOut::OverBudget);
        }
    }
}

/// The new-side numbers of the lines `patch` adds.
fn added_in(patch: &Patch<'_>) -> Result<BTreeSet<u32>, git2::Error> {
    let mut added = BTreeSet::new();
    for hunk in 0..patch.num_hunks() {
        for line in 0..patch.num_lines_in_hunk(hunk)? {
            let line = patch.line_in_hunk(hunk, line)?;
            if let ('+', Some(number)) = (line.origin(), line.new_lineno()) {
                added.insert(number);
            }
        }
    }
    Ok(added)
}

/// From `from`'s tree to `source`'s, with renames found as git finds them.
fn tree_diff<'r>(
    repo: &'r Repository,
    from: &str,
    source: &str,
    fail: &dyn Fn(&str, git2::Error) -> GitError,
) -> Result<git2::Diff<'r>, GitError> {
    let tree = |rev: &str| {
        repo.revparse_single(rev)
            .and_then(|o| o.peel_to_tree())
            .map_err(|e| fail(&format!("reading the tree of {rev}"), e))
    };
    let mut diff = repo
        .diff_tree_to_tree(Some(&tree(from)?), Some(&tree(source)?), None)
        .map_err(|e| fail("diffing", e))?;
    find_renames(&mut diff).map_err(|e| fail("detecting renames", e))?;
    Ok(diff)
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
    find_renames(&mut diff).map_err(|e| fail("detecting renames", e))?;
    Ok(diff)
}

fn find_renames(diff: &mut git2::Diff<'_>) -> Result<(), git2::Error> {
    // git's default diff.renameLimit.
    diff.find_similar(Some(
        DiffFindOptions::new().renames(true).rename_limit(1000),
    ))
}

/// One file's patch as `git diff` prints it, appended to `out`.
fn print(repo: &Repository, patch: &mut Patch<'_>, out: &mut Vec<u8>) -> Result<(), git2::Error> {
    patch.print(&mut |delta, _hunk, line| {
        let origin = line.origin();
        if matches!(origin, '+' | '-' | ' ') {
            out.push(origin as u8);
        }
        match (origin, delta.status()) {
            ('F', Delta::Renamed) => {
                out.extend_from_slice(git_similarity(repo, &delta, line.content()).as_bytes())
            }
            _ => out.extend_from_slice(line.content()),
        }
        true
    })
}
