//! The real binary: configuration errors, `migrate`, `check`, and `serve` refusing a bad token or
//! stopping on SIGTERM.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use sqlx::Connection;
use tokio::process::Command;

use crate::support::{APP_TOKEN, BOT_TOKEN, Backend, FakeSlack, TestDb, init};

pub fn binary(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_release-agent"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .kill_on_drop(true);
    command
}

fn required(slack: &FakeSlack) -> Vec<(&'static str, String)> {
    vec![
        ("SLACK_BOT_TOKEN", BOT_TOKEN.into()),
        ("SLACK_APP_TOKEN", APP_TOKEN.into()),
        ("SLACK_CHANNEL_ID", "C0RELEASES".into()),
        ("SLACK_API_URL", slack.api_url()),
        ("CLAUDE_CMD", stand_in_claude()),
        ("SLACK_APPROVERS", "anyone".into()),
    ]
}

pub async fn run(command: &mut Command) -> Output {
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the binary finishes")
        .unwrap()
}

/// The output with runs of spaces collapsed, so table alignment does not matter.
pub fn collapsed(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn missing_required_variables_are_named_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(binary(dir.path()).arg("check")).await;
    assert_eq!(output.status.code(), Some(2));
    let errors = lines(&output.stderr);
    let vars: Vec<&str> = errors
        .iter()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        vars,
        ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CHANNEL_ID"],
        "{errors:#?}"
    );
    assert!(
        errors[0].contains("is required: the bot token from OAuth & Permissions (xoxb-…)"),
        "{errors:#?}"
    );
}

#[tokio::test]
async fn an_invalid_value_is_named_on_its_own_line() {
    init();
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(binary(dir.path())
        .envs(required(&slack))
        .env("APPROVAL_TIMEOUT_HOURS", "soon")
        .arg("serve"))
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        lines(&output.stderr),
        ["APPROVAL_TIMEOUT_HOURS: `soon` must be a whole number of hours from 1 to 8760"]
    );
}

#[tokio::test]
async fn migrate_reads_dotenv_and_creates_the_default_sqlite_database_in_wal_mode() {
    init();
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let dotenv: String = required(&slack)
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(dir.path().join(".env"), dotenv).unwrap();
    let output = run(binary(dir.path()).arg("migrate")).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        lines(&output.stdout),
        ["migrations applied to sqlite://release-agent.db"]
    );

    let file = dir.path().join("release-agent.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 1);
}

#[tokio::test]
async fn check_reports_each_service_and_shows_no_secret() {
    init();
    let slack = FakeSlack::start().await;
    slack.set_group("S0LEADS", &["U1", "U2"]);
    let dir = tempfile::tempdir().unwrap();
    let output = run(binary(dir.path())
        .envs(required(&slack))
        .env("SLACK_APPROVERS", "S0LEADS")
        .arg("check"))
    .await;
    let stdout = collapsed(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for row in [
        "SLACK_BOT_TOKEN [redacted]",
        "SLACK_APPROVERS S0LEADS",
        "APPROVAL_TIMEOUT_HOURS 168",
        "ok database sqlite://release-agent.db (sqlite)",
        "ok Slack auth.test (SLACK_BOT_TOKEN) bot user U0BOT in team Test team",
        "ok Slack apps.connections.open (SLACK_APP_TOKEN) Socket Mode URL issued",
        "ok approvers (SLACK_APPROVERS) S0LEADS",
        "ok Slack user group S0LEADS 2 members",
        "ok Slack users.lookupByEmail works: PR authors are recognised by their email",
        "ok Slack history of SLACK_CHANNEL_ID readable: a message in flight during a crash is found",
    ] {
        assert!(stdout.contains(row), "missing {row:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains(BOT_TOKEN) && !stdout.contains(APP_TOKEN),
        "{stdout}"
    );
}

#[tokio::test]
async fn check_shows_a_postgres_url_without_its_password() {
    init();
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let db = db.with_password("s3cret-pw");
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(binary(dir.path())
        .envs(required(&slack))
        .env("DATABASE_URL", &db.url)
        .arg("check"))
    .await;
    let stdout = collapsed(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("DATABASE_URL postgres://postgres:***@127.0.0.1"),
        "{stdout}"
    );
    assert!(stdout.contains("(postgres)"), "{stdout}");
    assert!(!stdout.contains("s3cret-pw"), "{stdout}");
    db.drop_database().await;
}

#[tokio::test]
async fn check_fails_when_slack_refuses_a_token() {
    init();
    let slack = FakeSlack::start().await;
    slack.refuse_tokens("invalid_auth");
    let dir = tempfile::tempdir().unwrap();
    let output = run(binary(dir.path()).envs(required(&slack)).arg("check")).await;
    assert_eq!(output.status.code(), Some(1));
    let stdout = collapsed(&output.stdout);
    assert!(
        stdout.contains(
            "FAIL Slack auth.test (SLACK_BOT_TOKEN) Slack refused the call: invalid_auth"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok database"),
        "the other checks still ran: {stdout}"
    );
}

#[tokio::test]
async fn check_shows_who_may_decide_what_in_each_repository() {
    init();
    let slack = FakeSlack::start().await;
    slack.set_group("S0PRODOPS1", &["U1", "U2", "U3"]);
    slack.without_history_scopes();
    slack.script(
        "users.lookupByEmail",
        wiremock::ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"ok": false, "error": "missing_scope"})),
    );
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos.toml");
    std::fs::write(
        &repos,
        "[repos.\"Billo.Api\"]\nallow_self_approval = true\n\
         [repos.\"Billo.Api\".approvers]\nmerge = [\"S0DEVS0001\"]\n\
         [repos.\"Billo.Api\".approvers.stages.Production]\nusers = [\"S0PRODOPS1\"]\nrequired = 2\n",
    )
    .unwrap();
    let output = run(binary(dir.path())
        .envs(
            required(&slack)
                .into_iter()
                .filter(|(k, _)| *k != "SLACK_APPROVERS"),
        )
        .env("REPOS_CONFIG", &repos)
        .env("WATCHED_REPOS", "Billo.Api,Billo.Web")
        .arg("check"))
    .await;
    let stdout = collapsed(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for row in [
        "FAIL approvers (SLACK_APPROVERS) empty: nobody may approve anything, and `serve` refuses to start",
        "ok approvers of Billo.Api merge: S0DEVS0001; ci: nobody (not configured); release: nobody \
         (not configured); Production: S0PRODOPS1 (2 people); self-approval allowed",
        "ok approvers of Billo.Web merge: nobody (not configured); ci: nobody (not configured); \
         release: nobody (not configured); four eyes",
        "ok Slack user group S0PRODOPS1 3 members",
        "FAIL Slack user group S0DEVS0001 Slack refused the call: no_such_subteam",
        "warn Slack users.lookupByEmail Slack refused the call: missing_scope; PR authors cannot be recognised",
        "warn Slack history of SLACK_CHANNEL_ID Slack refused the call: missing_scope; a message in \
         flight during a crash may show twice (add the scopes channels:history and groups:history",
    ] {
        assert!(stdout.contains(row), "missing {row:?} in:\n{stdout}");
    }
}

#[tokio::test]
async fn serve_refuses_to_start_when_nobody_is_named_to_approve() {
    init();
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    for approvers in [None, Some(" ")] {
        let mut command = binary(dir.path());
        command.envs(
            required(&slack)
                .into_iter()
                .filter(|(k, _)| *k != "SLACK_APPROVERS"),
        );
        if let Some(value) = approvers {
            command.env("SLACK_APPROVERS", value);
        }
        let output = run(command.arg("serve")).await;
        assert_eq!(output.status.code(), Some(1), "{approvers:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("nobody may approve anything: SLACK_APPROVERS is empty")
                && stderr.contains("or to `anyone`"),
            "{stderr}"
        );
    }
    assert!(
        slack.calls("auth.test").is_empty(),
        "it stops before calling Slack"
    );
}

#[tokio::test]
async fn serve_stops_at_once_when_slack_refuses_a_token() {
    init();
    let slack = FakeSlack::start().await;
    slack.refuse_tokens("invalid_auth");
    let dir = tempfile::tempdir().unwrap();
    let output = run(binary(dir.path()).envs(required(&slack))).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("release-agent: SLACK_BOT_TOKEN was refused by Slack (Slack refused the call: invalid_auth); check the token"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_connects_and_exits_cleanly_on_sigterm() {
    init();
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let child = binary(dir.path())
        .envs(required(&slack))
        .env("LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    slack.connected().await;
    let ack = slack.slash("/release", "help", "U0ASKER").await;
    assert!(
        ack.to_string().contains("staging release to production"),
        "{ack}"
    );
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits within 10 s")
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let logs = lines(&output.stderr);
    assert!(
        logs.iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "LOG_FORMAT=json gives JSON lines: {logs:#?}"
    );
    assert!(
        logs.iter().any(|l| l.contains("shutting down")),
        "{logs:#?}"
    );
}

fn stand_in_claude() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bin/fake-claude").to_owned()
}

#[tokio::test]
async fn check_reports_azure_devops_jira_the_reviewer_git_and_each_repository() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    init();
    let slack = FakeSlack::start().await;
    let azdo = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/org/_apis/connectionData"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"authenticatedUser": {"id": "b", "displayName": "Release Bot"}}),
        ))
        .mount(&azdo)
        .await;
    let jira = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&jira)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    std::fs::create_dir_all(repos.join("Billo.Api")).unwrap();
    crate::support::repo::git(
        &repos.join("Billo.Api"),
        &["init", "--quiet", "--initial-branch=develop"],
    );
    std::fs::create_dir_all(repos.join("Billo.Broken")).unwrap();
    let output = run(binary(dir.path())
        .envs(required(&slack))
        .env("AZDO_BASE_URL", format!("{}/org", azdo.uri()))
        .env("AZDO_PROJECT", "Proj")
        .env("AZDO_PAT", "azdo-pat-secret")
        .env("JIRA_BASE_URL", jira.uri())
        .env("JIRA_EMAIL", "bot@example.com")
        .env("JIRA_API_TOKEN", "jira-token-secret")
        .env("REPOS_BASE_DIR", &repos)
        .env("WATCHED_REPOS", "Billo.Api,Billo.Broken,Billo.Web")
        .arg("check"))
    .await;
    let stdout = collapsed(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "Jira refused the token and one repository is broken:\n{stdout}"
    );
    let base = format!("{}/org", azdo.uri());
    for row in [
        format!(
            "ok Azure DevOps (AZDO_PAT) authenticated as Release Bot at {base}, REST api-version 7.1 (AZDO_API_VERSION auto)"
        ),
        "FAIL Jira (JIRA_API_TOKEN) Jira refused the credentials in JIRA_API_TOKEN (HTTP 401)"
            .to_owned(),
        "ok Claude Code CLI (CLAUDE_CMD) 2.1.330 (Claude Code)".to_owned(),
        "ok git CLI git version".to_owned(),
        format!(
            "ok repository Billo.Api {}",
            repos.join("Billo.Api").display()
        ),
        format!(
            "FAIL repository Billo.Broken {} is not a git repository",
            repos.join("Billo.Broken").display()
        ),
        format!(
            "ok repository Billo.Web not cloned yet; the first review clones {base}/Proj/_git/Billo.Web"
        ),
    ] {
        assert!(stdout.contains(&row), "missing {row:?} in:\n{stdout}");
    }
    for secret in ["azdo-pat-secret", "jira-token-secret"] {
        assert!(!stdout.contains(secret));
    }
}

#[tokio::test]
async fn check_says_what_to_upgrade_when_the_cli_is_too_old_and_names_the_python_agents_variables()
{
    init();
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(binary(dir.path())
        .envs(required(&slack))
        .env("REVIEWER_ENV", "FAKE_CLAUDE_VERSION")
        .env("FAKE_CLAUDE_VERSION", "2.0.14")
        .env(
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T0/B0/s3cret",
        )
        .arg("check"))
    .await;
    let stdout = collapsed(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for row in [
        "FAIL Claude Code CLI (CLAUDE_CMD) 2.0.14 (Claude Code) is older than 2.1.162, the oldest whose flags the bot uses",
        "warn SLACK_WEBHOOK_URL is not needed: the bot posts with SLACK_BOT_TOKEN",
        "REVIEWER_ENV passes FAKE_CLAUDE_VERSION",
    ] {
        assert!(stdout.contains(row), "missing {row:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("s3cret"), "{stdout}");

    let output = run(binary(dir.path())
        .envs(required(&slack))
        .env("POSTGRES_DSN", "postgresql://agent:pw@db:5432/agent")
        .arg("check"))
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = collapsed(&output.stderr);
    assert!(
        stderr.contains("POSTGRES_DSN: is the Python agent's name for the database (postgres://…); this bot reads DATABASE_URL"),
        "{stderr}"
    );
}

/// A repository whose `feature` branch carries the stand-in reviewer's answer, so the review that
/// runs in its worktree answers with it.
fn review_fixture(answer: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    crate::support::repo::git(repo, &["init", "--quiet", "--initial-branch=main"]);
    crate::support::repo::write(repo, "src/lib.rs", "pub fn a() {}\n");
    crate::support::repo::git(repo, &["add", "-A"]);
    crate::support::repo::git(repo, &["commit", "--quiet", "-m", "start"]);
    crate::support::repo::git(repo, &["checkout", "--quiet", "-b", "feature"]);
    crate::support::repo::write(
        repo,
        "src/lib.rs",
        "pub fn a() {}\npub fn login() { unimplemented }\n",
    );
    crate::support::repo::write(repo, ".fake-claude-answer.json", answer);
    crate::support::repo::git(repo, &["add", "-A"]);
    crate::support::repo::git(repo, &["commit", "--quiet", "-m", "login"]);
    crate::support::repo::git(repo, &["checkout", "--quiet", "main"]);
    dir
}

#[tokio::test]
async fn a_local_review_prints_markdown_and_exits_1_when_changes_are_requested() {
    let answer = r#"{"verdict":"request_changes","summary":"The login does not compile.","findings":[{"file":"src/lib.rs","line":2,"severity":"critical","title":"Does not compile","body":"`unimplemented` needs `!()`."}]}"#;
    let repo = review_fixture(answer);
    let output = run(binary(repo.path())
        .env("CLAUDE_CMD", stand_in_claude())
        .args([
            "review", "--repo", ".", "--source", "feature", "--target", "main",
        ]))
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("# Review of feature into main\n\n2 files changed, +2 −0\n\n## AI review: Changes requested"), "{stdout}");
    assert!(
        stdout.contains(
            "- **Critical** `src/lib.rs:2` **Does not compile**: `unimplemented` needs `!()`."
        ),
        "{stdout}"
    );
    assert_eq!(
        crate::support::repo::git(repo.path(), &["status", "--porcelain"]),
        "",
        "the working tree is untouched"
    );
    assert_eq!(
        crate::support::repo::git(repo.path(), &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_local_review_that_approves_exits_0_and_nothing_to_review_says_so() {
    let repo = review_fixture(r#"{"verdict":"approve","summary":"Fine.","findings":[]}"#);
    let approve = run(binary(repo.path())
        .env("CLAUDE_CMD", stand_in_claude())
        .args([
            "review", "--repo", ".", "--source", "feature", "--target", "main",
        ]))
    .await;
    assert_eq!(approve.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&approve.stdout).contains("## AI review: Approve\n\nFine."));
    let nothing = run(binary(repo.path())
        .env("CLAUDE_CMD", stand_in_claude())
        .args([
            "review", "--repo", ".", "--source", "main", "--target", "feature",
        ]))
    .await;
    assert_eq!(nothing.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&nothing.stdout)
            .contains("Nothing to review: main changes nothing that feature lacks.")
    );
    let broken = run(binary(repo.path())
        .env("CLAUDE_CMD", "/nonexistent/claude")
        .args([
            "review", "--repo", ".", "--source", "feature", "--target", "main",
        ]))
    .await;
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&broken.stderr)
            .contains("cannot start the reviewer `/nonexistent/claude`")
    );
}

/// The old agent's files: two good repositories and one file with a bad date, imported twice.
async fn the_history_import_is_idempotent_and_refuses_a_malformed_file_whole(backend: Backend) {
    init();
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/old-releases");
    let import = |dry: bool| {
        let mut command = binary(dir.path());
        command
            .env("DATABASE_URL", &db.url)
            .args(["import-json", "--source", source]);
        if dry {
            command.arg("--dry-run");
        }
        command
    };
    let dry = run(&mut import(true)).await;
    let out = lines(&dry.stdout);
    assert!(
        out.contains(&format!(
            "would import released Billo.Api 1.4.2 (2026-02-24) (from {source}/Billo.Api.json)"
        )),
        "{out:#?}"
    );
    assert_eq!(
        out.last().unwrap(),
        "would import 5 release(s); 1 file(s) refused"
    );
    let store = db.store().await;
    assert!(
        store.archived("Billo.Api").await.unwrap().is_empty(),
        "a dry run changes nothing"
    );

    let first = run(&mut import(false)).await;
    assert_eq!(first.status.code(), Some(1), "a file was refused");
    let out = lines(&first.stdout);
    assert_eq!(
        out.iter()
            .filter(|l| l.starts_with("refused "))
            .collect::<Vec<_>>(),
        [&format!(
            "refused {source}/Billo.Jobs.json: release #2: `released_at` \"someday\" is not a date (RFC 3339 or YYYY-MM-DD) (nothing from it was imported)"
        )]
    );
    assert_eq!(
        out.last().unwrap(),
        "imported 5 release(s); 1 file(s) refused"
    );
    let api = store.archived("Billo.Api").await.unwrap();
    assert_eq!(
        api.iter()
            .map(|r| r.version.to_string())
            .collect::<Vec<_>>(),
        ["1.4.2", "1.4.1"]
    );
    assert_eq!(api[0].tickets, ["ALLPOST-21"]);
    assert_eq!(api[1].prs[0].id, 201);
    assert_eq!(
        store
            .staging("Billo.Api")
            .await
            .unwrap()
            .unwrap()
            .version
            .to_string(),
        "1.4.3"
    );
    let web = store.staging("Billo.Web").await.unwrap().unwrap();
    assert_eq!(
        (web.version.to_string(), web.prs.len()),
        ("2.0.1".to_owned(), 2)
    );
    assert_eq!(store.archived("Billo.Web").await.unwrap().len(), 1);
    assert!(
        store.archived("Billo.Jobs").await.unwrap().is_empty(),
        "nothing from the malformed file"
    );

    let second = run(&mut import(false)).await;
    let out = lines(&second.stdout);
    assert_eq!(
        out.last().unwrap(),
        "imported 0 release(s); 1 file(s) refused"
    );
    assert!(
        out.contains(&format!(
            "already there: staging Billo.Api 1.4.3 (from {source}/Billo.Api.json)"
        )),
        "{out:#?}"
    );
    assert_eq!(
        store.archived("Billo.Api").await.unwrap().len(),
        2,
        "nothing twice"
    );
}

crate::on_both_backends!(the_history_import_is_idempotent_and_refuses_a_malformed_file_whole);

/// Every client (Slack's Web API on hyper, Jira on reqwest) trusts the CA certificates it is
/// given, here by `SSL_CERT_FILE`, and refuses a server whose certificate another CA signed.
#[tokio::test]
async fn check_trusts_the_ca_certificates_it_is_given_and_no_other() {
    use crate::support::https::{self, TestCa};
    init();
    // One answer for Slack's auth.test and apps.connections.open, and Jira's myself.
    const ANSWER: &str = r#"{"ok": true, "user_id": "U0BOT", "team_id": "T0BILLO", "team": "Billo",
        "url": "https://billo.slack.com/", "displayName": "Release Bot"}"#;
    let (ours, theirs) = (
        TestCa::new("release-agent test CA"),
        TestCa::new("another CA"),
    );
    let server = https::serve(&ours, ANSWER).await;
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let check = |ca: &TestCa| {
        let bundle = dir.path().join(format!("ca-{}.pem", ca.pem.len()));
        std::fs::write(&bundle, &ca.pem).unwrap();
        let mut command = binary(dir.path());
        command
            .envs(required(&slack))
            .env("SLACK_API_URL", format!("{server}/api"))
            .env("JIRA_BASE_URL", &server)
            .env("JIRA_EMAIL", "bot@example.com")
            .env("JIRA_API_TOKEN", "jira-token-secret")
            .env("SSL_CERT_FILE", bundle)
            .arg("check");
        command
    };

    let trusted = run(&mut check(&ours)).await;
    let stdout = collapsed(&trusted.stdout);
    for row in [
        "ok Slack auth.test (SLACK_BOT_TOKEN) bot user U0BOT in team Billo",
        "ok Slack apps.connections.open (SLACK_APP_TOKEN) Socket Mode URL issued",
        "ok Jira (JIRA_API_TOKEN) authenticated as Release Bot",
    ] {
        assert!(stdout.contains(row), "{row}\n{stdout}");
    }

    let refused = run(&mut check(&theirs)).await;
    assert_eq!(refused.status.code(), Some(1));
    let stdout = collapsed(&refused.stdout);
    for row in [
        "FAIL Slack auth.test (SLACK_BOT_TOKEN)",
        "FAIL Slack apps.connections.open (SLACK_APP_TOKEN)",
        "FAIL Jira (JIRA_API_TOKEN)",
    ] {
        let line = stdout.lines().find(|l| l.starts_with(row));
        assert!(
            line.is_some_and(|l| l.to_lowercase().contains("certificate")),
            "{row}, saying why:\n{stdout}"
        );
    }
}

/// `check` names the sandbox in force: `off` as chosen, and `bwrap` refused where bubblewrap is
/// missing (a PATH with git and bash only), which also fails the reviewer's own row.
#[tokio::test]
async fn check_names_the_reviewers_sandbox() {
    init();
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for program in ["git", "bash"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(program))
            .find(|p| p.is_file())
            .unwrap();
        std::os::unix::fs::symlink(found, bin.join(program)).unwrap();
    }
    let check = |sandbox: &'static str| {
        let mut command = binary(dir.path());
        command
            .envs(required(&slack))
            .env("PATH", &bin)
            .env("REVIEWER_SANDBOX", sandbox)
            .arg("check");
        command
    };
    let off = collapsed(&run(&mut check("off")).await.stdout);
    assert!(
        off.contains("ok reviewer sandbox (REVIEWER_SANDBOX) off (REVIEWER_SANDBOX=off)"),
        "{off}"
    );
    assert!(
        off.contains("ok Claude Code CLI (CLAUDE_CMD) 2.1.330"),
        "{off}"
    );
    let output = run(&mut check("bwrap")).await;
    let refused = collapsed(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{refused}");
    assert!(
        refused.contains(
            "FAIL reviewer sandbox (REVIEWER_SANDBOX) REVIEWER_SANDBOX=bwrap, but bwrap is not \
             installed (install the bubblewrap package)"
        ),
        "{refused}"
    );
    assert!(
        refused.contains("FAIL Claude Code CLI (CLAUDE_CMD) the reviewer's sandbox cannot start"),
        "{refused}"
    );
}

/// `release-agent health` against a running bot: ok; then with its database gone: down; then
/// with the bot stopped: no answer. Each but the first exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_ok_for_a_running_bot_and_fails_when_its_database_is_down() {
    let Some(mut app) = crate::support::TestApp::spawn_with(
        Backend::Postgres,
        &[("HTTP_PORT", "0"), ("HTTP_BIND", "127.0.0.1")],
    )
    .await
    else {
        return;
    };
    let port = app.http_url().rsplit(':').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let health = || {
        let mut command = binary(dir.path());
        command.env("HTTP_PORT", &port).arg("health");
        command
    };
    let ok = run(&mut health()).await;
    assert_eq!(ok.status.code(), Some(0), "{}", collapsed(&ok.stdout));
    assert_eq!(
        collapsed(&ok.stdout),
        "ok: the database answers and Slack is connected"
    );

    app.db.take_down().await;
    let down = run(&mut health()).await;
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(
        collapsed(&down.stdout),
        "down: the bot's database does not answer"
    );

    app.stop().await;
    let gone = run(&mut health()).await;
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        collapsed(&gone.stdout).starts_with("down: the bot does not answer: http://127.0.0.1:"),
        "{}",
        collapsed(&gone.stdout)
    );
    let unset = run(binary(dir.path()).arg("health")).await;
    assert_eq!(unset.status.code(), Some(2));
    assert!(collapsed(&unset.stderr).contains("HTTP_PORT is not set"));
    app.finish().await;
}
