//! What a re-review costs next to a full review: a PR of 500 changed files, then a one-line
//! push. Prints the prompt's size and the stand-in CLI's tokens (its prompt's characters over 4)
//! for the full review of the PR and for the incremental review of the push, as the PR flow
//! builds them (`git::diff_with`, `ReviewInput::prompt`).
//!
//! `cargo run --release --example rereview_prompt`

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use release_agent::git::{self, Base, DiffRequest, LeftOut, PATCH_BUDGET, PathFilter};
use release_agent::reviewer::{
    ClaudeReviewer, ReviewInput, Reviewer, ReviewerSettings, SandboxMode,
};
use support::repo::{git, write};

const FILES: usize = 500;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let dir = tmp.path();
    git(dir, &["init", "--quiet", "--initial-branch=develop"]);
    write(dir, "README.md", "start\n");
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", "start"]);
    git(dir, &["checkout", "--quiet", "-b", "pr"]);
    for i in 0..FILES {
        let text: String = (0..20)
            .map(|l| format!("let v{l} = {i} + {l};\n"))
            .collect();
        write(dir, &format!("src/m{i:03}.rs"), &text);
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", "500 files"]);
    let reviewed = git(dir, &["rev-parse", "HEAD"]).trim().to_owned();
    let mut one = std::fs::read_to_string(dir.join("src/m250.rs")).expect("the file");
    one = one.replacen("let v3 = 250 + 3;", "let v3 = 250 * 3;", 1);
    write(dir, "src/m250.rs", &one);
    git(dir, &["commit", "--quiet", "-am", "one line"]);
    let pushed = git(dir, &["rev-parse", "HEAD"]).trim().to_owned();

    let request = |base, only| DiffRequest {
        base,
        source: pushed.clone(),
        skip: PathFilter::generated_and(&[]).expect("the default globs"),
        only,
        budget: PATCH_BUDGET,
    };
    let whole = git::diff_with(dir, request(Base::MergeBaseWith("develop".into()), None))
        .await
        .expect("the PR's diff");
    let files: BTreeSet<String> = whole.files.iter().map(|f| f.path.clone()).collect();
    let since = git::diff_with(dir, request(Base::Commit(reviewed.clone()), Some(files)))
        .await
        .expect("the push's diff");
    let input = |diff: &git::PrDiff, since: Option<String>| ReviewInput {
        title: "500 files".into(),
        diff: diff.patch.clone(),
        not_shown: diff
            .left_out(LeftOut::OverBudget)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        since,
        ..ReviewInput::default()
    };
    let full = input(&whole, None);
    let incremental = input(&since, Some(reviewed));
    println!("PR: {FILES} files changed, then a one-line push");
    for (name, input, diff) in [
        ("full review", &full, &whole),
        ("re-review", &incremental, &since),
    ] {
        let tokens = stand_in_tokens(dir, input).await;
        println!(
            "{name:<12} prompt {:>7} bytes, {} file(s) in its diff, {} named as not shown, stand-in tokens {tokens}",
            input.prompt().len(),
            diff.files.len() - diff.left_out(LeftOut::OverBudget).len(),
            input.not_shown.len(),
        );
    }
}

/// The tokens the stand-in CLI reports for reviewing `input`.
async fn stand_in_tokens(dir: &Path, input: &ReviewInput) -> u64 {
    let cli = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bin/fake-claude");
    let mut settings = ReviewerSettings::new(cli, Duration::from_secs(60));
    settings.sandbox = SandboxMode::Off;
    let review = ClaudeReviewer::new(settings)
        .review(dir, input)
        .await
        .expect("the stand-in answers");
    review.tokens.expect("the stand-in reports tokens")
}
