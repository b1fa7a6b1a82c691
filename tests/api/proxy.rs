//! The bot behind a corporate proxy. The fake Slack, Azure DevOps and Jira answer only through a
//! loopback proxy that wants a password, by `*.localhost` names that only the proxy resolves
//! (nothing listens on those names' port 80 here): a PR goes from `/review` to merge and CI, and
//! Socket Mode reconnects, all through it. `check` names the proxy's refusal.

use release_agent::azdo::{AzdoClient, AzdoSettings, AzureDevOps};
use release_agent::domain::RunStatus;
use release_agent::proxy::Proxies;
use secrecy::SecretString;
use url::Url;

use crate::cli::{binary, collapsed, run};
use crate::pr_flow::{World, world_of};
use crate::support::fake_azdo::FakeAzdo;
use crate::support::fake_jira::FakeJira;
use crate::support::fake_proxy::{FakeProxy, addr_of};
use crate::support::http_fakes::fast_retry;
use crate::support::{APP_TOKEN, BOT_TOKEN, Backend, FakeSlack, init, wait_until};

const USER: &str = "alice";
const PASSWORD: &str = "proxy-s3cret";

/// The fakes, each reachable only through `proxy` by its `*.localhost` name; the variables
/// that point the bot at them.
async fn behind(
    proxy: &FakeProxy,
) -> (
    (FakeAzdo, FakeJira, std::sync::Arc<FakeSlack>),
    Vec<(&'static str, String)>,
) {
    let (azdo, jira, slack) = (
        FakeAzdo::start().await,
        FakeJira::start().await,
        FakeSlack::start().await,
    );
    proxy.resolve("azdo.localhost:80", addr_of(&azdo.uri()));
    proxy.resolve("jira.localhost:80", addr_of(&jira.base_url()));
    let (web, socket) = slack.addrs();
    proxy.resolve("slack.localhost:80", web);
    proxy.resolve("wss-slack.localhost:80", socket);
    slack.announce_as("wss-slack.localhost", "http://slack.localhost");
    let vars = vec![
        ("SLACK_API_URL", "http://slack.localhost/api".to_owned()),
        ("AZDO_BASE_URL", "http://azdo.localhost/org".to_owned()),
        ("JIRA_BASE_URL", "http://jira.localhost".to_owned()),
    ];
    ((azdo, jira, slack), vars)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_a_pr_is_reviewed_merged_and_built_and_socket_mode_reconnects() {
    init();
    let proxy = FakeProxy::start(USER, PASSWORD).await;
    let (fakes, mut vars) = behind(&proxy).await;
    // Lower case for plain http, as curl reads it; upper case for https.
    vars.push(("http_proxy", proxy.url(USER, PASSWORD)));
    vars.push(("HTTPS_PROXY", proxy.url(USER, PASSWORD)));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let w: World = world_of(Backend::Sqlite, &vars, fakes).await.unwrap();
    w.ticketed_pr();

    let (_, run) = w.review("Billo.Api#12").await;
    w.waits_at(run, "ask_merge").await;
    w.press(run, "merge").await;
    w.waits_at(run, "ask_ci").await;
    w.press(run, "trigger").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    assert_eq!(w.azdo.with(|s| s.completions.len()), 1, "merged once");
    assert_eq!(w.azdo.with(|s| s.builds.len()), 1, "one CI build");
    assert_eq!(w.jira.status("ALLPOST-4028"), "Ready for QA");

    let log = proxy.log();
    let through = |prefix: &str| tunnels(&log, prefix);
    assert!(
        through("CONNECT slack.localhost:80") >= 1,
        "the Web API is tunnelled: {log:#?}"
    );
    assert!(
        through("CONNECT wss-slack.localhost:80") >= 2,
        "both Socket Mode connections: {log:#?}"
    );
    assert!(through("GET http://azdo.localhost/org/") >= 1, "{log:#?}");
    assert!(
        through("PATCH http://azdo.localhost/org/") >= 1,
        "the merge: {log:#?}"
    );
    assert!(
        through("POST http://jira.localhost/rest/api/3/issue/ALLPOST-4028/transitions") >= 1,
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|l| !l.ends_with(" 200")),
        "nothing refused: {log:#?}"
    );

    let opened = w.app.slack.connections_opened();
    let before = through("CONNECT wss-slack.localhost:80");
    w.app.slack.drop_connection(0);
    w.app.slack.connected_since(opened).await;
    wait_until("the reconnect's tunnel", || async {
        let now = tunnels(&proxy.log(), "CONNECT wss-slack.localhost:80");
        (now > before).then_some(())
    })
    .await;
    w.app.finish().await;
}

/// The requests the proxy let through whose log line starts with `prefix`.
fn tunnels(log: &[String], prefix: &str) -> usize {
    log.iter()
        .filter(|l| l.starts_with(prefix) && l.ends_with(" 200"))
        .count()
}

async fn check(proxy_url: &str, vars: &[(&'static str, String)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = run(binary(dir.path())
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_APP_TOKEN", APP_TOKEN)
        .env("SLACK_CHANNEL_ID", "C0RELEASES")
        .env("SLACK_APPROVERS", "anyone")
        .env("AZDO_PROJECT", "Proj")
        .env("AZDO_PAT", "azdo-pat-secret")
        .env("JIRA_EMAIL", "bot@example.com")
        .env("JIRA_API_TOKEN", "jira-token-secret")
        .env(
            "CLAUDE_CMD",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bin/fake-claude"),
        )
        .env("HTTP_PROXY", proxy_url)
        .env("HTTPS_PROXY", proxy_url)
        .arg("check"))
    .await;
    let text = collapsed(&output.stdout);
    (output.status.code(), text)
}

#[tokio::test]
async fn check_says_each_service_went_through_the_proxy_and_names_its_407() {
    init();
    let proxy = FakeProxy::start(USER, PASSWORD).await;
    let ((azdo, jira, _slack), vars) = behind(&proxy).await;
    azdo.add_identity("b0b", "Release Bot", Some("bot@example.com"), &[]);
    jira.add_issue("ALLPOST-1", "x", "To Do");
    let shown = proxy.shown();

    let (code, out) = check(&proxy.url(USER, PASSWORD), &vars).await;
    for row in [
        format!("HTTPS_PROXY {shown} (user and password redacted)"),
        format!(
            "ok Slack auth.test (SLACK_BOT_TOKEN) bot user U0BOT in team Test team; through the proxy {shown} (HTTP_PROXY)"
        ),
        format!(
            "ok Slack apps.connections.open (SLACK_APP_TOKEN) Socket Mode URL issued; through the proxy {shown} (HTTP_PROXY)"
        ),
        format!("through the proxy {shown} (HTTP_PROXY)"),
    ] {
        assert!(out.contains(&row), "missing {row:?} in:\n{out}");
    }
    assert!(out.contains("ok Azure DevOps (AZDO_PAT)"), "{out}");
    assert!(!out.contains(PASSWORD), "{out}");
    assert_eq!(code, Some(0), "{out}");

    let (code, out) = check(&proxy.url(USER, "wrong-password"), &vars).await;
    assert_eq!(code, Some(1), "{out}");
    let refused = format!(
        "the proxy {shown} refused the credentials (407 Proxy Authentication Required): check the user and password in HTTP_PROXY"
    );
    for service in [
        "FAIL Slack auth.test (SLACK_BOT_TOKEN) cannot reach Slack:",
        "FAIL Azure DevOps (AZDO_PAT) cannot reach Azure DevOps:",
        "FAIL Jira (JIRA_API_TOKEN) cannot reach Jira:",
    ] {
        let row = format!("{service} {refused}");
        assert!(out.contains(&row), "missing {row:?} in:\n{out}");
    }
    assert!(!out.contains("wrong-password"), "{out}");
    assert!(proxy.log().iter().any(|l| l.ends_with(" 407")));
}

/// https goes through a `CONNECT` tunnel in reqwest too; the proxy's refusals come before any
/// TLS, so no certificate is needed to see them.
#[tokio::test]
async fn the_http_clients_name_a_refused_tunnel_and_a_407() {
    init();
    let proxy = FakeProxy::start(USER, PASSWORD).await;
    let client = |password: &str| {
        let lookup = |name: &str| (name == "HTTPS_PROXY").then(|| proxy.url(USER, password));
        let base = Url::parse("https://azdo.localhost/org").unwrap();
        let mut settings = AzdoSettings::new(base.clone(), base, "Proj", SecretString::from("pat"));
        settings.retry = fast_retry();
        settings.proxy = Proxies::read(&lookup).unwrap();
        AzdoClient::new(settings).unwrap()
    };
    let shown = proxy.shown();
    let wrong = client("wrong").whoami().await.unwrap_err().to_string();
    assert_eq!(
        wrong,
        format!(
            "cannot reach Azure DevOps: the proxy {shown} refused the credentials (407 Proxy Authentication Required): check the user and password in HTTPS_PROXY"
        )
    );
    let unknown = client(PASSWORD).whoami().await.unwrap_err().to_string();
    assert!(
        unknown.starts_with(&format!(
            "cannot reach Azure DevOps: the proxy {shown} refused to open a tunnel (CONNECT) to azdo.localhost:443"
        )),
        "{unknown}"
    );
    assert_eq!(
        proxy.log(),
        [
            "CONNECT azdo.localhost:443 407".to_owned(),
            "CONNECT azdo.localhost:443 403".to_owned()
        ]
    );
}
