//! `release-agent check`: validates the config, shows it redacted, and reports whether each
//! configured service answers and each repository directory is usable.

use std::fmt::Write;

use crate::azdo::{AzdoClient, AzureDevOps};
use crate::config::Config;
use crate::jira::{Jira, JiraClient};
use crate::reviewer::{ClaudeReviewer, Sandbox};
use crate::slack::web::SlackApi;
use crate::startup::repos_on_disk;
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    pub service: String,
    pub ok: bool,
    /// A failure of a required row makes `check` exit non-zero.
    pub required: bool,
    pub detail: String,
}

impl CheckRow {
    fn new(service: impl Into<String>, required: bool, result: Result<String, String>) -> Self {
        let (ok, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        Self {
            service: service.into(),
            ok,
            required,
            detail,
        }
    }
}

/// Runs every check; none stops the others.
pub async fn run(config: &Config) -> Vec<CheckRow> {
    let mut rows: Vec<CheckRow> = config
        .notices
        .iter()
        .map(|n| CheckRow::new(n.var, false, Err(n.problem.clone())))
        .collect();
    rows.push(CheckRow::new("database", true, database(config).await));
    rows.extend(slack(config).await);
    if let Some(settings) = &config.azdo {
        let answer = match AzdoClient::new(settings.clone()) {
            Ok(client) => client.whoami().await.map(|me| {
                let how = if settings.negotiate_version {
                    "AZDO_API_VERSION auto"
                } else {
                    "AZDO_API_VERSION"
                };
                format!(
                    "authenticated as {} at {}, REST api-version {} ({how})",
                    me.name,
                    settings.base_url,
                    client.api_version()
                )
            }),
            Err(e) => Err(e.into()),
        };
        rows.push(CheckRow::new(
            "Azure DevOps (AZDO_PAT)",
            true,
            routed(
                config,
                &settings.base_url,
                answer.map_err(|e| e.to_string()),
            ),
        ));
    }
    if let Some(jira) = &config.jira {
        let answer = match JiraClient::new(jira.settings.clone()) {
            Ok(client) => client
                .myself()
                .await
                .map(|me| format!("authenticated as {me}")),
            Err(e) => Err(e.into()),
        };
        rows.push(CheckRow::new(
            "Jira (JIRA_API_TOKEN)",
            true,
            routed(
                config,
                &jira.settings.base_url,
                answer.map_err(|e| e.to_string()),
            ),
        ));
    }
    let reviewer = ClaudeReviewer::new(config.reviewer.clone());
    rows.push(sandbox_row(reviewer.sandbox().await));
    rows.push(CheckRow::new(
        "Claude Code CLI (CLAUDE_CMD)",
        true,
        reviewer.version_check().await,
    ));
    rows.push(CheckRow::new("git CLI", true, git_version().await));
    let repos = repos_on_disk(config);
    for repo in config.known_repos() {
        rows.push(CheckRow::new(
            format!("repository {repo}"),
            true,
            repos.describe(&repo),
        ));
    }
    rows
}

/// `result` with the way to `url` added, when a proxy is set: whether this service went
/// through it (NO_PROXY may exempt it).
fn routed(
    config: &Config,
    url: &url::Url,
    result: Result<String, String>,
) -> Result<String, String> {
    if !config.proxy.any() {
        return result;
    }
    let route = config.proxy.route(url);
    match result {
        Ok(detail) => Ok(format!("{detail}; {route}")),
        // A proxy's refusal names the proxy already.
        Err(detail) if detail.contains("the proxy ") => Err(detail),
        Err(detail) => Err(format!("{detail}; {route}")),
    }
}

/// Which sandbox the reviewer runs in: a fallback is a warning, a refused `bwrap` a failure.
fn sandbox_row(sandbox: &Sandbox) -> CheckRow {
    let name = "reviewer sandbox (REVIEWER_SANDBOX)";
    match sandbox {
        Sandbox::Bwrap { .. } | Sandbox::Off { chosen: true, .. } => {
            CheckRow::new(name, false, Ok(sandbox.describe()))
        }
        Sandbox::Off { chosen: false, .. } => CheckRow::new(name, false, Err(sandbox.describe())),
        Sandbox::Broken { .. } => CheckRow::new(name, true, Err(sandbox.describe())),
    }
}

async fn database(config: &Config) -> Result<String, String> {
    let store = Store::connect(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    store.ping().await.map_err(|e| e.to_string())?;
    Ok(format!(
        "{} ({})",
        config.database.redacted(),
        store.backend()
    ))
}

async fn slack(config: &Config) -> Vec<CheckRow> {
    let api = match SlackApi::new(
        &config.slack.api_url,
        &config.slack.bot_token,
        config.slack.app_token.as_ref(),
        &config.proxy,
    ) {
        Ok(api) => api,
        Err(e) => return vec![CheckRow::new("Slack client", true, Err(e.to_string()))],
    };
    let auth = api
        .auth_test()
        .await
        .map(|me| format!("bot user {} in team {}", me.user_id, me.team));
    let socket = match &config.slack.app_token {
        Some(_) => Some(
            api.connections_open()
                .await
                .map(|_url| "Socket Mode URL issued".to_owned()),
        ),
        None => None,
    };
    let slack_url = url::Url::parse(&config.slack.api_url).ok();
    let via = |result: Result<String, String>| match &slack_url {
        Some(url) => routed(config, url, result),
        None => result,
    };
    let mut rows = vec![CheckRow::new(
        "Slack auth.test (SLACK_BOT_TOKEN)",
        true,
        via(auth.map_err(|e| e.to_string())),
    )];
    if let Some(socket) = socket {
        rows.push(CheckRow::new(
            "Slack apps.connections.open (SLACK_APP_TOKEN)",
            true,
            via(socket.map_err(|e| e.to_string())),
        ));
    }
    if config.slack.signing_secret.is_some() {
        rows.push(CheckRow::new(
            "Slack over HTTP (SLACK_SIGNING_SECRET)",
            false,
            Ok(
                "on: Slack's requests are taken at POST /slack/commands, /slack/interactions \
                and /slack/events on HTTP_PORT, each checked against the signing secret"
                    .to_owned(),
            ),
        ));
    }
    let history = match api
        .find_posts(&config.slack.channel, None, chrono::Utc::now())
        .await
    {
        Ok(_) => {
            Ok("readable: a message in flight during a crash is found, not posted twice".into())
        }
        Err(e) => Err(format!(
            "{e}; a message in flight during a crash may show twice (add the scopes \
             channels:history and groups:history, reinstall the app, and invite it to the channel)"
        )),
    };
    rows.push(CheckRow::new(
        "Slack history of SLACK_CHANNEL_ID",
        false,
        history,
    ));
    rows.extend(approvers(config, &api).await);
    rows
}

/// Who may decide what, per repository, and whether Slack can resolve it: the user groups'
/// members, and PR authors by email (for the four-eyes rule).
async fn approvers(config: &Config, api: &SlackApi) -> Vec<CheckRow> {
    let policy = config.approval_policy();
    let configured = match &config.slack.approvers {
        Some(deciders) => Ok(deciders.describe()),
        None => Err(
            "empty: nobody may approve anything, and `serve` refuses to start; set it \
                     to user ids, user-group ids or `anyone`"
                .to_owned(),
        ),
    };
    let mut rows = vec![CheckRow::new(
        "approvers (SLACK_APPROVERS)",
        true,
        configured,
    )];
    for repo in config.known_repos() {
        rows.push(CheckRow::new(
            format!("approvers of {repo}"),
            true,
            Ok(policy.describe(&repo)),
        ));
    }
    for group in policy.groups() {
        let members = api
            .group_members(&group)
            .await
            .map(|m| format!("{} members", m.len()));
        rows.push(CheckRow::new(
            format!("Slack user group {group}"),
            true,
            members.map_err(|e| e.to_string()),
        ));
    }
    let lookup = match api.user_by_email(LOOKUP_PROBE).await {
        Ok(_) => Ok("works: PR authors are recognised by their email".to_owned()),
        Err(e) => Err(format!(
            "{e}; PR authors cannot be recognised, so the four-eyes rule only stops who asked \
             for a run (add the scope users:read.email and reinstall the app)"
        )),
    };
    rows.push(CheckRow::new("Slack users.lookupByEmail", false, lookup));
    rows
}

/// An address no workspace has: the lookup answers `users_not_found` when the scope is there.
const LOOKUP_PROBE: &str = "release-agent-check@example.invalid";

async fn git_version() -> Result<String, String> {
    let output = tokio::process::Command::new("git")
        .arg("--version")
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}; install git"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The configuration as `VARIABLE  value` lines, secrets redacted.
pub fn render_config(config: &Config) -> String {
    let summary = config.summary();
    let width = summary.iter().map(|(var, _)| var.len()).max().unwrap_or(0);
    let mut out = String::from("configuration (secrets redacted):\n");
    for (var, value) in summary {
        let _ = writeln!(out, "  {var:<width$}  {value}");
    }
    out
}

/// The rows as an aligned text table.
pub fn render(rows: &[CheckRow]) -> String {
    let width = rows
        .iter()
        .map(|r| r.service.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for row in rows {
        let mark = match (row.ok, row.required) {
            (true, _) => "ok  ",
            (false, true) => "FAIL",
            (false, false) => "warn",
        };
        let _ = writeln!(out, "{mark}  {:<width$}  {}", row.service, row.detail);
    }
    out
}

pub fn passed(rows: &[CheckRow]) -> bool {
    rows.iter().all(|r| r.ok || !r.required)
}
