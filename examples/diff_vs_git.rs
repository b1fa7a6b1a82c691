//! The reviewer's diff (libgit2, in process) against `git diff` (the CLI) on a large synthetic
//! repository: 10,000 files on `develop`, a branch that changes 500 of them (edits, additions,
//! deletions and renames). Checks both give the same patch, then prints the median of 5 timed
//! runs of each and their ratio.
//!
//! `cargo run --release --example diff_vs_git`

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FILES: usize = 10_000;
const CHANGED: usize = 500;
const RUNS: usize = 5;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn body(file: usize, version: usize) -> String {
    (0..40)
        .map(|line| {
            format!(
                "// file {file} line {line} version {}\n",
                if line % 7 == 0 { version } else { 0 }
            )
        })
        .collect()
}

fn path(file: usize) -> String {
    format!("src/m{:03}/f{file:05}.rs", file % 200)
}

/// The repository, with `develop` and the branch `pr`.
fn build(dir: &Path) {
    git(dir, &["init", "--quiet", "--initial-branch=develop"]);
    for file in 0..FILES {
        let p = dir.join(path(file));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body(file, 0)).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", "base"]);
    git(dir, &["checkout", "--quiet", "-b", "pr"]);
    std::fs::create_dir_all(dir.join("src/moved")).unwrap();
    for n in 0..CHANGED {
        let file = n * (FILES / CHANGED);
        match n % 10 {
            // 80 % edits, 10 % deletions, 10 % renames, and as many new files as deletions.
            0 => std::fs::remove_file(dir.join(path(file))).unwrap(),
            1 => {
                git(
                    dir,
                    &["mv", &path(file), &format!("src/moved/f{file:05}.rs")],
                );
            }
            _ => std::fs::write(dir.join(path(file)), body(file, 1)).unwrap(),
        }
        if n % 10 == 0 {
            let new = dir.join(format!("src/new/n{file:05}.rs"));
            std::fs::create_dir_all(new.parent().unwrap()).unwrap();
            std::fs::write(new, body(file + FILES, 0)).unwrap();
        }
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", "the PR"]);
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let started = Instant::now();
    build(dir);
    println!(
        "repository: {FILES} files, {CHANGED} changed on the PR branch (built in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let mut ours = Vec::new();
    let mut patch = String::new();
    for _ in 0..RUNS {
        let at = Instant::now();
        // The whole patch, as git prints it: no budget.
        let request = release_agent::git::DiffRequest {
            base: release_agent::git::Base::MergeBaseWith("develop".into()),
            source: "pr".into(),
            skip: release_agent::git::PathFilter::none(),
            only: None,
            budget: usize::MAX,
        };
        let diff = release_agent::git::diff_with(dir, request)
            .await
            .expect("the diff");
        ours.push(at.elapsed());
        patch = diff.patch;
    }
    let mut cli = Vec::new();
    let mut expected = String::new();
    for _ in 0..RUNS {
        let at = Instant::now();
        expected = git(dir, &["diff", "develop...pr"]);
        cli.push(at.elapsed());
    }
    assert!(patch == expected, "the two patches differ");
    let (ours, cli) = (median(ours), median(cli));
    println!("patch: {} bytes, identical", patch.len());
    println!(
        "git2 diff (in process): {:.1} ms",
        ours.as_secs_f64() * 1000.0
    );
    println!(
        "git diff (CLI):         {:.1} ms",
        cli.as_secs_f64() * 1000.0
    );
    println!(
        "ratio git2 / git: {:.2}",
        ours.as_secs_f64() / cli.as_secs_f64()
    );
}
