//! git on real repositories in a temp dir: a bare "origin", a clone made by the bot, review
//! worktrees, and the merge-base diff checked byte for byte against `git diff A...B`.

use std::path::PathBuf;
use std::process::Command;

use release_agent::domain::RepoName;
use release_agent::git::{
    Base, DiffRequest, GitError, LeftOut, PATCH_BUDGET, PathFilter, Remote, Repos, diff, diff_with,
    resolve,
};

use crate::support::repo::{git, origin_with_author, write};

/// An origin with `develop` and a `feature` branch that edits, adds, deletes, renames and changes
/// a binary file; `develop` moves on after the branch point, so the merge base matters.
struct Fixture {
    _tmp: tempfile::TempDir,
    origins: PathBuf,
    author: PathBuf,
    repos: Repos,
}

fn numbered(lines: usize, changed: &[usize]) -> String {
    (1..=lines)
        .map(|i| {
            if changed.contains(&i) {
                format!("line {i} changed\n")
            } else {
                format!("line {i}\n")
            }
        })
        .collect()
}

fn fixture() -> Fixture {
    crate::support::init();
    let tmp = tempfile::tempdir().unwrap();
    let origins = tmp.path().join("origins");
    let author = origin_with_author(tmp.path(), &origins.join("Billo.Api"));

    write(&author, "src/lib.rs", &numbered(30, &[]));
    write(&author, "README.md", "# Billo.Api\n");
    write(&author, "docs/old_name.md", &numbered(12, &[]));
    write(&author, "gone.txt", "to be deleted\n");
    std::fs::write(author.join("logo.bin"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    git(&author, &["add", "-A"]);
    git(&author, &["commit", "--quiet", "-m", "initial"]);
    git(&author, &["push", "--quiet", "origin", "develop"]);

    git(&author, &["checkout", "--quiet", "-b", "feature"]);
    write(&author, "src/lib.rs", &numbered(32, &[5, 15]));
    write(
        &author,
        "src/new.rs",
        "pub fn new() {}\n// no newline at the end",
    );
    std::fs::remove_file(author.join("gone.txt")).unwrap();
    git(&author, &["mv", "docs/old_name.md", "docs/new_name.md"]);
    write(&author, "docs/new_name.md", &numbered(12, &[12]));
    std::fs::write(author.join("logo.bin"), [0u8, 1, 2, 3, 0, 9]).unwrap();
    git(&author, &["add", "-A"]);
    git(&author, &["commit", "--quiet", "-m", "feature work"]);
    git(&author, &["push", "--quiet", "origin", "feature"]);

    git(&author, &["checkout", "--quiet", "develop"]);
    write(&author, "README.md", "# Billo.Api\n\nMoved on.\n");
    git(&author, &["commit", "--quiet", "-am", "develop moves on"]);
    git(&author, &["push", "--quiet", "origin", "develop"]);

    let remote = Remote {
        prefix: origins.display().to_string(),
        elsewhere: Vec::new(),
        pat: None,
        proxy_env: Vec::new(),
    };
    let repos = Repos::new(tmp.path().join("repos"), Some(remote));
    Fixture {
        _tmp: tmp,
        origins,
        author,
        repos,
    }
}

fn api() -> RepoName {
    RepoName::parse("Billo.Api").unwrap()
}

#[tokio::test]
async fn a_missing_repository_is_cloned_and_fetch_brings_new_commits() {
    let f = fixture();
    let dir = f.repos.fetch(&api()).await.unwrap();
    assert_eq!(dir, f.repos.dir(&api()));
    let before = resolve(&dir, "origin/develop").await.unwrap();
    assert_eq!(before, git(&f.author, &["rev-parse", "develop"]).trim());

    write(&f.author, "CHANGELOG.md", "1.4.3\n");
    git(&f.author, &["add", "-A"]);
    git(&f.author, &["commit", "--quiet", "-m", "later"]);
    git(&f.author, &["push", "--quiet", "origin", "develop"]);
    f.repos.fetch(&api()).await.unwrap();
    let after = resolve(&dir, "origin/develop").await.unwrap();
    assert_ne!(before, after);
    assert_eq!(after, git(&f.author, &["rev-parse", "develop"]).trim());
}

#[tokio::test]
async fn a_repository_that_cannot_be_cloned_says_which_and_why() {
    let f = fixture();
    let missing = RepoName::parse("Billo.Missing").unwrap();
    let error = f.repos.ensure(&missing).await.unwrap_err();
    assert!(matches!(error, GitError::Clone { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with("Billo.Missing is not in"), "{text}");
    assert!(
        text.contains(&f.origins.join("Billo.Missing").display().to_string()),
        "{text}"
    );
    assert!(
        text.contains("does not exist"),
        "git's own reason is kept: {text}"
    );
}

#[tokio::test]
async fn a_review_worktree_is_detached_at_the_commit_and_leaves_the_clone_alone() {
    let f = fixture();
    let dir = f.repos.fetch(&api()).await.unwrap();
    let feature = resolve(&dir, "origin/feature").await.unwrap();
    let worktree = f.repos.worktree(&api(), &feature).await.unwrap();

    assert_eq!(git(&worktree.path, &["rev-parse", "HEAD"]).trim(), feature);
    let symbolic = Command::new("git")
        .args(["symbolic-ref", "-q", "HEAD"])
        .current_dir(&worktree.path)
        .output()
        .unwrap();
    assert!(!symbolic.status.success(), "HEAD is detached");
    assert!(worktree.path.join("src/new.rs").exists());
    assert!(git(&worktree.path, &["status", "--porcelain"]).is_empty());
    assert_eq!(
        git(&dir, &["symbolic-ref", "--short", "HEAD"]).trim(),
        "develop",
        "the clone stays on its branch"
    );
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        [".git"],
        "the clone has no checkout: nothing of a PR is ever written outside a worktree"
    );
    assert!(!dir.join("src/new.rs").exists());
    assert!(
        git(&dir, &["branch", "--list", "release-agent/*"]).is_empty(),
        "no throwaway branch is left"
    );

    let path = worktree.path.clone();
    worktree.remove().await.unwrap();
    assert!(!path.exists());
    assert_eq!(
        git(&dir, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_merge_base_diff_is_byte_identical_to_git_diff_three_dots() {
    let f = fixture();
    let dir = f.repos.fetch(&api()).await.unwrap();
    let ours = diff(&dir, "origin/develop", "origin/feature")
        .await
        .unwrap();
    let theirs = git(
        &dir,
        &[
            "--no-pager",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "origin/develop...origin/feature",
        ],
    );
    assert_eq!(ours.patch, theirs);
    assert!(
        ours.patch.contains("rename from docs/old_name.md"),
        "renames are detected:\n{}",
        ours.patch
    );
    assert!(ours.patch.contains("Binary files"), "{}", ours.patch);
    assert!(
        !ours.patch.contains("Moved on"),
        "develop's later commit is not part of the PR"
    );

    let shortstat = git(
        &dir,
        &["diff", "--shortstat", "origin/develop...origin/feature"],
    );
    let expected = format!(
        " {} files changed, {} insertions(+), {} deletions(-)\n",
        ours.files.len(),
        ours.insertions,
        ours.deletions
    );
    assert_eq!(shortstat, expected);

    assert!(
        ours.adds("src/lib.rs", 5) && ours.adds("/src/lib.rs", 15) && ours.adds("src/lib.rs", 32)
    );
    assert!(
        !ours.adds("src/lib.rs", 6),
        "an unchanged line is not the PR's"
    );
    assert!(ours.adds("docs/new_name.md", 12) && ours.adds("src/new.rs", 2));
}

/// A file whose patch does not fit the budget is left out and named, and smaller ones still
/// fit; stats and added lines are still the whole PR's. Generated files are left out first.
#[tokio::test]
async fn files_fill_the_budget_biggest_change_first_and_the_rest_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    write(repo, "README.md", "start\n");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", "start"]);
    git(repo, &["checkout", "--quiet", "-b", "huge"]);
    let line = format!("{}\n", "é".repeat(99));
    write(repo, "data.txt", &line.repeat(5_000));
    write(repo, "src/small.rs", "fn small() {}\n");
    write(repo, "Cargo.lock", "# generated\n");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", "huge"]);
    let request = DiffRequest {
        base: Base::MergeBaseWith("main".into()),
        source: "huge".into(),
        skip: PathFilter::generated_and(&[]).unwrap(),
        only: None,
        budget: PATCH_BUDGET,
    };
    let huge = diff_with(repo, request).await.unwrap();
    assert!(huge.cut());
    assert_eq!(huge.left_out(LeftOut::OverBudget), ["data.txt"]);
    assert_eq!(huge.left_out(LeftOut::Ignored), ["Cargo.lock"]);
    assert!(
        huge.patch
            .starts_with("diff --git a/src/small.rs b/src/small.rs\n"),
        "{}",
        huge.patch
    );
    assert_eq!((huge.files.len(), huge.insertions), (3, 5_002));
    assert!(huge.adds("data.txt", 5_000), "every added line is known");
    let small = diff(repo, "main", "main").await.unwrap();
    assert!(!small.cut() && small.patch.is_empty() && small.files.is_empty());
}

/// 5,000 changed files: the patch stays within the budget, the biggest changes are in it, and
/// every file left out is named.
#[tokio::test]
async fn a_five_thousand_file_change_stays_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    write(repo, "README.md", "start\n");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", "start"]);
    git(repo, &["checkout", "--quiet", "-b", "wide"]);
    for i in 0..5_000 {
        let lines = if i % 100 == 0 { 40 } else { 2 };
        write(
            repo,
            &format!("src/m{i:04}.rs"),
            &"let x = 1;\n".repeat(lines),
        );
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", "wide"]);
    let wide = diff(repo, "main", "wide").await.unwrap();
    assert_eq!(wide.files.len(), 5_000);
    assert!(wide.patch.len() <= PATCH_BUDGET, "{}", wide.patch.len());
    let left_out = wide.left_out(LeftOut::OverBudget);
    assert!(!left_out.is_empty() && left_out.len() < 5_000);
    assert_eq!(
        wide.patch.matches("diff --git").count() + left_out.len(),
        5_000,
        "every file is in the patch or named"
    );
    assert!(
        wide.patch
            .contains("diff --git a/src/m4900.rs b/src/m4900.rs"),
        "the biggest changes come first"
    );
}

#[tokio::test]
async fn two_worktrees_of_one_repository_can_exist_at_once() {
    let f = fixture();
    let dir = f.repos.fetch(&api()).await.unwrap();
    let feature = resolve(&dir, "origin/feature").await.unwrap();
    let develop = resolve(&dir, "origin/develop").await.unwrap();
    let repo = api();
    let (a, b) = tokio::join!(
        f.repos.worktree(&repo, &feature),
        f.repos.worktree(&repo, &develop)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.path, b.path);
    assert_eq!(git(&a.path, &["rev-parse", "HEAD"]).trim(), feature);
    assert_eq!(git(&b.path, &["rev-parse", "HEAD"]).trim(), develop);
    assert!(a.path.join("src/new.rs").exists() && !b.path.join("src/new.rs").exists());
    a.remove().await.unwrap();
    assert!(
        b.path.join("src/lib.rs").exists(),
        "removing one leaves the other"
    );
    b.remove().await.unwrap();
}

#[tokio::test]
async fn worktrees_left_by_a_crash_are_pruned_at_start() {
    let f = fixture();
    let dir = f.repos.fetch(&api()).await.unwrap();
    let feature = resolve(&dir, "origin/feature").await.unwrap();
    let left = f.repos.worktree(&api(), &feature).await.unwrap();
    let path = left.path.clone();
    drop(left);
    assert_eq!(
        git(&dir, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        2
    );

    assert_eq!(f.repos.prune_stale().await.unwrap(), 1);
    assert!(!path.exists());
    assert_eq!(
        git(&dir, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(
        f.repos.prune_stale().await.unwrap(),
        0,
        "pruning again finds nothing"
    );
}
