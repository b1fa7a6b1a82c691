//! The reviewer against a stand-in `claude` (tests/bin/fake-claude): valid answers, every kind of
//! failure, and a hard timeout that leaves no process behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use release_agent::reviewer::{
    ClaudeReviewer, ReviewError, ReviewInput, Reviewer, ReviewerSettings, SandboxMode, Severity,
    TicketInput, Verdict,
};

fn stand_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin/fake-claude")
}

/// A worktree-like directory that makes the stand-in behave as `mode`.
fn worktree(mode: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".fake-claude-mode"), mode).unwrap();
    dir
}

/// Without the sandbox, which would mount these directories read-only: these tests read what the
/// stand-in records in them (tests/api/hostile.rs runs it in the sandbox).
fn settings(timeout: Duration) -> ReviewerSettings {
    let mut settings = ReviewerSettings::new(stand_in(), timeout);
    settings.model = Some("sonnet".into());
    settings.sandbox = SandboxMode::Off;
    settings
}

fn reviewer(timeout: Duration) -> ClaudeReviewer {
    ClaudeReviewer::new(settings(timeout))
}

fn input() -> ReviewInput {
    ReviewInput {
        title: "Login page".into(),
        description: "Adds the login page".into(),
        ticket: Some("ALLPOST-4028: Login page".into()),
        diff: "diff --git a/src/lib.rs b/src/lib.rs\n+fn login() {}\n".into(),
        ..ReviewInput::default()
    }
}

fn args(dir: &Path) -> Vec<String> {
    let raw = std::fs::read(dir.join(".fake-claude-args")).unwrap();
    let raw = raw.strip_suffix(&[0]).unwrap_or(&raw);
    raw.split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn value_after<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} missing from {args:?}"));
    &args[at + 1]
}

/// The error a review ends with when the stand-in behaves as `mode`.
async fn failure(mode: &str) -> ReviewError {
    let dir = worktree(mode);
    reviewer(Duration::from_secs(30))
        .review(dir.path(), &input())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_valid_answer_becomes_a_review_with_its_cost_and_duration() {
    let dir = worktree("valid");
    std::fs::write(
        dir.path().join(".fake-claude-answer.json"),
        r#"{"verdict":"request_changes","summary":"One bug.","findings":[{"file":"src/lib.rs","line":2,"severity":"major","title":"Unchecked login","body":"Anyone can log in."}]}"#,
    )
    .unwrap();
    let review = reviewer(Duration::from_secs(30))
        .review(dir.path(), &input())
        .await
        .unwrap();
    assert_eq!(
        (review.verdict, review.summary.as_str()),
        (Verdict::RequestChanges, "One bug.")
    );
    assert_eq!(
        (review.findings[0].line, review.findings[0].severity),
        (2, Severity::Major)
    );
    assert_eq!(
        (review.cost_usd, review.duration_ms, review.turns),
        (Some(0.0421), Some(4210), Some(3))
    );
}

#[tokio::test]
async fn the_cli_runs_headless_read_only_in_the_worktree_with_the_prompt_on_stdin() {
    let dir = worktree("valid");
    reviewer(Duration::from_secs(30))
        .review(dir.path(), &input())
        .await
        .unwrap();
    let args = args(dir.path());
    assert!(args.contains(&"-p".to_owned()));
    assert_eq!(value_after(&args, "--output-format"), "json");
    assert_eq!(value_after(&args, "--tools"), "Read,Grep,Glob");
    assert_eq!(value_after(&args, "--permission-mode"), "dontAsk");
    assert_eq!(value_after(&args, "--setting-sources"), "");
    assert_eq!(value_after(&args, "--model"), "sonnet");
    assert!(
        args.contains(&"--strict-mcp-config".to_owned())
            && args.contains(&"--no-session-persistence".to_owned())
    );
    let schema: serde_json::Value =
        serde_json::from_str(value_after(&args, "--json-schema")).unwrap();
    assert_eq!(
        schema["properties"]["verdict"]["enum"],
        serde_json::json!(["approve", "request_changes"])
    );
    assert!(
        value_after(&args, "--append-system-prompt")
            .contains("Comment only on lines the pull request adds or changes")
    );

    let stdin = std::fs::read_to_string(dir.path().join(".fake-claude-stdin")).unwrap();
    assert!(
        stdin.contains("<pr-title>\nLogin page\n</pr-title>") && stdin.contains("+fn login() {}"),
        "{stdin}"
    );
    assert!(
        stdin.contains("<ticket>\nALLPOST-4028: Login page\n</ticket>"),
        "{stdin}"
    );

    let env = std::fs::read_to_string(dir.path().join(".fake-claude-env")).unwrap();
    let allowed = [
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "DISABLE_AUTOUPDATER",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
        "PWD",
        "SHLVL",
        "_",
        "OLDPWD",
    ];
    for line in env.lines() {
        let name = line.split('=').next().unwrap_or_default();
        assert!(
            allowed.contains(&name),
            "the reviewer's environment has {name}"
        );
    }
    assert!(env.contains("DISABLE_AUTOUPDATER=1"));
}

#[tokio::test]
async fn is_error_is_a_failure_even_with_exit_code_zero() {
    let error = failure("is_error").await;
    assert_eq!(
        error,
        ReviewError::Failed {
            kind: "success".into(),
            message: "API Error: 500 Internal Server Error".into()
        }
    );
}

#[tokio::test]
async fn a_non_zero_exit_is_a_failure_with_the_stderr() {
    let error = failure("exit").await;
    assert_eq!(
        error,
        ReviewError::Exit {
            code: Some(3),
            stderr: "Error: unknown option --frobnicate".into()
        }
    );
}

#[tokio::test]
async fn garbage_output_is_a_failure() {
    let error = failure("garbage").await;
    assert_eq!(
        error,
        ReviewError::Garbage("I think this PR is fine!".into())
    );
}

#[tokio::test]
async fn an_answer_outside_the_schema_is_a_failure_not_an_approval() {
    let error = failure("schema").await;
    assert!(
        matches!(&error, ReviewError::Schema(reason) if reason.contains("lgtm")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_ticket_summary_longer_than_120_characters_is_refused() {
    let dir = worktree("valid");
    let long = "x".repeat(121);
    std::fs::write(
        dir.path().join(".fake-claude-ticket.json"),
        format!(r#"{{"summary":"{long}","description":"d"}}"#),
    )
    .unwrap();
    let input = TicketInput {
        title: "chore: deps".into(),
        description: String::new(),
        diff: "+x".into(),
        diff_cut: false,
    };
    let error = reviewer(Duration::from_secs(30))
        .draft_ticket(dir.path(), &input)
        .await
        .unwrap_err();
    assert!(matches!(error, ReviewError::Schema(_)), "{error:?}");

    std::fs::write(
        dir.path().join(".fake-claude-ticket.json"),
        r#"{"summary":"Update dependencies","description":"Bumps serde."}"#,
    )
    .unwrap();
    let draft = reviewer(Duration::from_secs(30))
        .draft_ticket(dir.path(), &input)
        .await
        .unwrap();
    assert_eq!(draft.summary, "Update dependencies");
}

/// Whether `pid` is still a live process (a zombie waiting to be reaped counts as gone).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z')),
        Err(_) => false,
    }
}

async fn killed_within_timeout(mode: &str) {
    let dir = worktree(mode);
    let started = Instant::now();
    let error = reviewer(Duration::from_secs(1))
        .review(dir.path(), &input())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(error, ReviewError::Timeout { seconds: 1 });
    assert!(
        took < Duration::from_secs(3),
        "stopped {took:?} after start; the limit is timeout + 2 s"
    );
    let pids = std::fs::read_to_string(dir.path().join(".fake-claude-pids")).unwrap();
    // A killed process takes a moment to die on a busy machine; one never killed lives 300 s.
    let deadline = Instant::now() + Duration::from_secs(2);
    for pid in pids.split_whitespace() {
        while alive(pid) {
            assert!(
                Instant::now() < deadline,
                "process {pid} outlived the review"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    killed_within_timeout("sleep").await;
}

#[tokio::test]
async fn a_reviewer_that_ignores_sigterm_is_killed_too() {
    killed_within_timeout("stubborn").await;
}

#[tokio::test]
async fn a_missing_command_names_claude_cmd() {
    let dir = worktree("valid");
    let missing = ClaudeReviewer::new(ReviewerSettings::new(
        "/nonexistent/claude",
        Duration::from_secs(5),
    ));
    let error = missing.review(dir.path(), &input()).await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot start the reviewer `/nonexistent/claude`"),
        "{error}"
    );
    assert!(error.to_string().ends_with("(check CLAUDE_CMD)"), "{error}");
    assert_eq!(
        reviewer(Duration::from_secs(5)).version().await.unwrap(),
        "2.1.330 (Claude Code)"
    );
}

/// REVIEW_CONCURRENCY=1: three reviews asked at once run one after the other.
#[tokio::test]
async fn reviews_beyond_the_concurrency_wait_their_turn() {
    let parent = tempfile::tempdir().unwrap();
    let log = parent.path().join(".fake-claude-log");
    std::fs::write(&log, "").unwrap();
    let dirs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let dir = parent.path().join(format!("worktree-{i}"));
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join(".fake-claude-mode"), "slow").unwrap();
            dir
        })
        .collect();
    let mut settings = settings(Duration::from_secs(30));
    settings.concurrency = 1;
    let reviewer = ClaudeReviewer::new(settings);
    let input = input();
    let reviews =
        futures_util::future::join_all(dirs.iter().map(|dir| reviewer.review(dir, &input))).await;
    assert!(reviews.iter().all(Result::is_ok), "{reviews:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    let events: Vec<&str> = log.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(
        events,
        ["start", "end", "start", "end", "start", "end"],
        "one at a time: {log}"
    );
}
