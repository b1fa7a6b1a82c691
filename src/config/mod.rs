//! Configuration: read once from the environment and from a `.env` file in the working directory,
//! typed, and validated all at once so that a bad start-up names every problem in one go, one line
//! each. Secrets are [`SecretString`]s: `Debug` shows them as `[REDACTED]`, and no error message
//! repeats a value that might be one.
//!
//! Slack is required. Azure DevOps and Jira are optional sections: set none of their variables and
//! they are off; set some and the rest of the section becomes required.

mod reader;
mod repos;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::TimeDelta;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::azdo::{AzdoSettings, MergeStrategy};
use crate::domain::{Approver, ApproverPolicy, RepoName, Version};
use crate::http_client::RetryPolicy;
use crate::jira::JiraSettings;
use crate::reviewer::ReviewerSettings;
use reader::{Reader, parse_base_url, parse_channel, parse_count, parse_word};

pub use repos::{RepoSettings, ReposConfig};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://release-agent.db";
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    pub slack: SlackSettings,
    /// How long a waiting approval stays open before its run is cancelled.
    pub approval_timeout: TimeDelta,
    pub log_format: LogFormat,
    /// WATCHED_REPOS, spelled as in Azure DevOps.
    pub watched_repos: Vec<RepoName>,
    pub repos_config: ReposConfig,
    /// REPOS_BASE_DIR: one clone per repository, named like it.
    pub repos_dir: PathBuf,
    pub azdo: Option<AzdoSettings>,
    pub jira: Option<JiraConfig>,
    pub reviewer: ReviewerSettings,
    pub pr: PrSettings,
    pub release: ReleaseSettings,
    /// How long a replica holds a run it works on; a dead replica's runs move on after this.
    pub run_lease: Duration,
    /// The HTTP receiver, when HTTP_PORT is set.
    pub http: Option<HttpSettings>,
}

/// The optional HTTP receiver: health, metrics, Azure DevOps webhooks and the operator API.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// HTTP_BIND:HTTP_PORT; port 0 lets the system choose (tests).
    pub addr: std::net::SocketAddr,
    /// Shared with the Azure DevOps service hook; unset, every webhook is refused.
    pub webhook_secret: Option<SecretString>,
    /// For the operator and read-only REST endpoints; unset, they are refused.
    pub operator_token: Option<SecretString>,
}

/// How PRs are found, reviewed, merged and built.
#[derive(Debug, Clone)]
pub struct PrSettings {
    pub poll_enabled: bool,
    pub poll_interval: Duration,
    /// The branch polled PRs target, without `refs/heads/`.
    pub target_branch: String,
    pub auto_create_ticket: bool,
    /// Finds ticket keys in branch names.
    pub ticket_pattern: regex_lite::Regex,
    pub status_in_review: String,
    pub status_merged: String,
    pub status_released: String,
    /// Queue the CI build after a merge without asking.
    pub ci_auto: bool,
    pub ci_poll_interval: Duration,
    pub ci_max_wait: Duration,
    pub merge_strategy: MergeStrategy,
    pub delete_source_branch: bool,
    /// The version of a repository's first staging release, when nothing was released yet.
    pub first_version: Version,
}

/// How releases are shipped. The release PR goes from a repository's target branch
/// (PR_POLL_TARGET_BRANCH, or REPOS_CONFIG `target_branch`) to its release branch.
#[derive(Debug, Clone)]
pub struct ReleaseSettings {
    /// The default release branch, without `refs/heads/` (REPOS_CONFIG `release_branch` wins).
    pub branch: String,
    /// How often the CD release and its stages are looked at.
    pub poll_interval: Duration,
    /// The longest wait for the CD release to appear, and for each stage to deploy.
    pub wait_max: Duration,
}

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub bot_token: SecretString,
    pub app_token: SecretString,
    pub channel: String,
    /// Web API base without a trailing slash.
    pub api_url: String,
    pub approvers: ApproverPolicy,
}

#[derive(Debug, Clone)]
pub struct JiraConfig {
    pub settings: JiraSettings,
    /// Where tickets are created for PRs that have none.
    pub project: String,
    pub issue_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Where the store lives. A PostgreSQL URL may carry a password, so it is kept secret and shown
/// with the password masked.
#[derive(Clone)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(SecretString),
}

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("sqlite:") {
            if text.contains(":memory:") || text.contains("mode=memory") {
                return Err("an in-memory database forgets every run when the bot stops; name a file, e.g. sqlite://release-agent.db".into());
            }
            Ok(Self::Sqlite(text.to_owned()))
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Url::parse(text).map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
            Ok(Self::Postgres(SecretString::from(text)))
        } else {
            Err("must start with sqlite: or postgres://".into())
        }
    }

    /// The URL with any password replaced by `***`, fit for logs and `check`.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(url) => url.clone(),
            Self::Postgres(secret) => match Url::parse(secret.expose_secret()) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    url.to_string()
                }
                Err(_) => "postgres://***".into(),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.var, self.problem)
    }
}

/// Every problem found, one line each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// The process environment, falling back to `./.env` for variables it does not set.
pub fn env_lookup() -> Result<impl Fn(&str) -> Option<String>, ConfigErrors> {
    let file = read_dotenv(Path::new(".env"))?;
    Ok(move |name: &str| std::env::var(name).ok().or_else(|| file.get(name).cloned()))
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(env_lookup()?)
    }

    /// Builds the config from any source of variables; tests pass a map, so nothing leaks in
    /// from the environment of the machine that runs them.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut vars = Reader::new(&lookup);
        let database = vars.parsed("DATABASE_URL", DEFAULT_DATABASE_URL, DatabaseUrl::parse);
        let slack = slack(&mut vars);
        let approval_timeout = vars.parsed(
            "APPROVAL_TIMEOUT_HOURS",
            "168",
            parse_count(1, 8760, "hours"),
        );
        let log_format = vars.parsed("LOG_FORMAT", "pretty", parse_log_format);
        let watched_repos = vars.parsed("WATCHED_REPOS", "", parse_repos);
        let repos_config = vars.optional("REPOS_CONFIG", |path| ReposConfig::load(Path::new(path)));
        let repos_dir = vars.parsed("REPOS_BASE_DIR", "repos", |dir| Ok(PathBuf::from(dir)));
        let http_timeout =
            vars.parsed("HTTP_TIMEOUT_SECONDS", "30", parse_count(1, 300, "seconds"));
        let retry = RetryPolicy {
            timeout: Duration::from_secs(http_timeout.unwrap_or(30)),
            ..RetryPolicy::default()
        };
        let azdo = azdo(&mut vars, retry.clone());
        let jira = jira(&mut vars, retry);
        let reviewer = reviewer(&mut vars);
        let pr = pr(&mut vars);
        let release = release(&mut vars);
        let run_lease = vars.parsed("RUN_LEASE_SECONDS", "30", parse_count(2, 600, "seconds"));
        let http = http(&mut vars);
        let config = (|| {
            Some(Config {
                database: database?,
                slack: slack?,
                approval_timeout: TimeDelta::hours(i64::try_from(approval_timeout?).ok()?),
                log_format: log_format?,
                watched_repos: watched_repos?,
                repos_config: repos_config?.unwrap_or_default(),
                repos_dir: repos_dir?,
                azdo: azdo?,
                jira: jira?,
                reviewer: reviewer?,
                pr: pr?,
                release: release?,
                run_lease: Duration::from_secs(run_lease?),
                http: http?,
            })
        })();
        vars.finish(config)
    }

    /// Only what the local `review` command needs.
    pub fn reviewer_from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ReviewerSettings, ConfigErrors> {
        let mut vars = Reader::new(&lookup);
        let settings = reviewer(&mut vars);
        vars.finish(settings)
    }

    /// Every repository the bot knows: WATCHED_REPOS, then those only REPOS_CONFIG names.
    pub fn known_repos(&self) -> Vec<RepoName> {
        let mut known = self.watched_repos.clone();
        for repo in self.repos_config.repos() {
            if !known.iter().any(|k| k.same_as(repo.as_str())) {
                known.push(repo.clone());
            }
        }
        known
    }

    /// The branch `repo`'s PRs merge into: REPOS_CONFIG `target_branch`, else
    /// PR_POLL_TARGET_BRANCH.
    pub fn target_branch(&self, repo: &RepoName) -> String {
        self.repos_config
            .for_repo(repo)
            .target_branch
            .unwrap_or_else(|| self.pr.target_branch.clone())
    }

    /// Every variable with its effective value, secrets redacted, for `check`.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let list = |items: Vec<String>, empty: &str| {
            if items.is_empty() {
                empty.to_owned()
            } else {
                items.join(", ")
            }
        };
        let approvers = self
            .slack
            .approvers
            .approvers()
            .iter()
            .map(|a| match a {
                Approver::User(id) | Approver::Group(id) => id.clone(),
            })
            .collect();
        let off = || "(not set: off)".to_owned();
        let mut rows = vec![
            ("DATABASE_URL", self.database.redacted()),
            ("SLACK_BOT_TOKEN", "[redacted]".into()),
            ("SLACK_APP_TOKEN", "[redacted]".into()),
            ("SLACK_CHANNEL_ID", self.slack.channel.clone()),
            ("SLACK_API_URL", self.slack.api_url.clone()),
            (
                "SLACK_APPROVERS",
                list(approvers, "(empty: anyone in the channel)"),
            ),
            (
                "APPROVAL_TIMEOUT_HOURS",
                self.approval_timeout.num_hours().to_string(),
            ),
            (
                "LOG_FORMAT",
                format!("{:?}", self.log_format).to_lowercase(),
            ),
            (
                "WATCHED_REPOS",
                list(
                    self.watched_repos.iter().map(ToString::to_string).collect(),
                    "(empty)",
                ),
            ),
            ("REPOS_BASE_DIR", self.repos_dir.display().to_string()),
        ];
        match &self.azdo {
            Some(azdo) => rows.extend([
                ("AZDO_BASE_URL", azdo.base_url.to_string()),
                ("AZDO_RELEASE_BASE_URL", azdo.release_base_url.to_string()),
                ("AZDO_PROJECT", azdo.project.clone()),
                ("AZDO_PAT", "[redacted]".into()),
            ]),
            None => rows.push(("AZDO_*", off())),
        }
        match &self.jira {
            Some(jira) => rows.extend([
                ("JIRA_BASE_URL", jira.settings.base_url.to_string()),
                ("JIRA_EMAIL", jira.settings.email.clone()),
                ("JIRA_API_TOKEN", "[redacted]".into()),
                ("DEFAULT_JIRA_PROJECT", jira.project.clone()),
                ("JIRA_ISSUE_TYPE", jira.issue_type.clone()),
            ]),
            None => rows.push(("JIRA_*", off())),
        }
        let set = |secret: &Option<SecretString>| {
            if secret.is_some() {
                "[redacted]"
            } else {
                "(not set: refused)"
            }
            .to_owned()
        };
        match &self.http {
            Some(http) => rows.extend([
                ("HTTP_PORT", http.addr.port().to_string()),
                ("HTTP_BIND", http.addr.ip().to_string()),
                ("WEBHOOK_SECRET", set(&http.webhook_secret)),
                ("OPERATOR_TOKEN", set(&http.operator_token)),
            ]),
            None => rows.push(("HTTP_PORT", off())),
        }
        rows.extend([
            ("CLAUDE_CMD", self.reviewer.command.display().to_string()),
            (
                "REVIEW_TIMEOUT_SECONDS",
                self.reviewer.timeout.as_secs().to_string(),
            ),
        ]);
        rows
    }
}

fn slack(vars: &mut Reader<'_>) -> Option<SlackSettings> {
    let bot_token = vars.token(
        "SLACK_BOT_TOKEN",
        "xoxb-",
        "the bot token from OAuth & Permissions",
    );
    let app_token = vars.token(
        "SLACK_APP_TOKEN",
        "xapp-",
        "an app-level token with connections:write, from Basic Information",
    );
    let channel = vars
        .required(
            "SLACK_CHANNEL_ID",
            "the id (C…) of the channel for run cards",
        )
        .and_then(|c| vars.check("SLACK_CHANNEL_ID", c, parse_channel));
    let api_url = vars.parsed("SLACK_API_URL", DEFAULT_SLACK_API_URL, |u| {
        parse_base_url(u).map(|url| url.as_str().trim_end_matches('/').to_owned())
    });
    let approvers = vars.parsed("SLACK_APPROVERS", "", ApproverPolicy::parse);
    Some(SlackSettings {
        bot_token: bot_token?,
        app_token: app_token?,
        channel: channel?,
        api_url: api_url?,
        approvers: approvers?,
    })
}

const AZDO_VARS: [&str; 5] = [
    "AZDO_ORGANIZATION",
    "AZDO_BASE_URL",
    "AZDO_PROJECT",
    "AZDO_PAT",
    "AZDO_RELEASE_BASE_URL",
];

/// `Some(None)`: Azure DevOps is off; `None`: something is wrong (already reported).
fn azdo(vars: &mut Reader<'_>, retry: RetryPolicy) -> Option<Option<AzdoSettings>> {
    if !vars.any_set(&AZDO_VARS) {
        return Some(None);
    }
    let organization = vars.value("AZDO_ORGANIZATION");
    let base = match (vars.value("AZDO_BASE_URL"), &organization) {
        (Some(url), _) => vars.check("AZDO_BASE_URL", url, parse_base_url),
        (None, Some(org)) => vars.check("AZDO_ORGANIZATION", org.clone(), |org| {
            parse_word("organization name")(org)
                .and_then(|org| parse_base_url(&format!("https://dev.azure.com/{org}")))
        }),
        (None, None) => {
            vars.fail(
                "AZDO_ORGANIZATION",
                "is required: the organization name (or set AZDO_BASE_URL to a collection URL)"
                    .into(),
            );
            None
        }
    };
    let release = vars.optional("AZDO_RELEASE_BASE_URL", parse_base_url);
    let project = vars.required(
        "AZDO_PROJECT",
        "the Azure DevOps project of the repositories",
    );
    let pat = vars.secret(
        "AZDO_PAT",
        "a personal access token with Code, Build and Release scopes",
    );
    let api_version = vars.parsed("AZDO_API_VERSION", "7.1", |v| {
        if v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            Ok(v.to_owned())
        } else {
            Err(format!("`{v}` is not an api-version like 7.1"))
        }
    });
    let base = base?;
    let release = release?.unwrap_or_else(|| default_release_base(&base));
    let mut settings = AzdoSettings::new(base, release, &project?, pat?);
    settings.api_version = api_version?;
    settings.retry = retry;
    Some(Some(settings))
}

/// Classic release management has its own host in the cloud; a Server collection serves it at
/// the collection URL.
fn default_release_base(base: &Url) -> Url {
    let host = base.host_str().unwrap_or_default();
    let rewritten = if host.eq_ignore_ascii_case("dev.azure.com") {
        Some(format!("https://vsrm.dev.azure.com{}", base.path()))
    } else {
        host.strip_suffix(".visualstudio.com")
            .filter(|org| !org.contains('.'))
            .map(|org| format!("https://{org}.vsrm.visualstudio.com{}", base.path()))
    };
    rewritten
        .and_then(|u| Url::parse(&u).ok())
        .unwrap_or_else(|| base.clone())
}

const JIRA_VARS: [&str; 3] = ["JIRA_BASE_URL", "JIRA_EMAIL", "JIRA_API_TOKEN"];

fn jira(vars: &mut Reader<'_>, retry: RetryPolicy) -> Option<Option<JiraConfig>> {
    if !vars.any_set(&JIRA_VARS) {
        return Some(None);
    }
    let base_url = vars
        .required(
            "JIRA_BASE_URL",
            "your Jira site, like https://example.atlassian.net",
        )
        .and_then(|u| vars.check("JIRA_BASE_URL", u, parse_base_url));
    let email = vars.required("JIRA_EMAIL", "the email of the bot's Jira account");
    let token = vars.secret("JIRA_API_TOKEN", "an API token of that account");
    let project = vars.parsed(
        "DEFAULT_JIRA_PROJECT",
        "ALLPOST",
        parse_word("Jira project key"),
    );
    let issue_type = vars.parsed("JIRA_ISSUE_TYPE", "Story", |t| Ok(t.to_owned()));
    Some(Some(JiraConfig {
        settings: JiraSettings {
            base_url: base_url?,
            email: email?,
            token: token?,
            retry,
        },
        project: project?,
        issue_type: issue_type?,
    }))
}

fn reviewer(vars: &mut Reader<'_>) -> Option<ReviewerSettings> {
    let command = vars.parsed("CLAUDE_CMD", "claude", |c| Ok(PathBuf::from(c)));
    let timeout = vars.parsed(
        "REVIEW_TIMEOUT_SECONDS",
        "900",
        parse_count(10, 86_400, "seconds"),
    );
    let model = vars.value("CLAUDE_MODEL");
    let api_key = vars.value("ANTHROPIC_API_KEY").map(SecretString::from);
    let mut settings = ReviewerSettings::new(command?, Duration::from_secs(timeout?));
    settings.model = model;
    settings.api_key = api_key;
    Some(settings)
}

fn pr(vars: &mut Reader<'_>) -> Option<PrSettings> {
    let poll_enabled = vars.parsed("PR_POLL_ENABLED", "false", parse_bool);
    let poll_interval = vars.parsed(
        "PR_POLL_INTERVAL_SECONDS",
        "300",
        parse_count(1, 86_400, "seconds"),
    );
    let target_branch = vars.parsed("PR_POLL_TARGET_BRANCH", "develop", parse_branch);
    let auto_create_ticket = vars.parsed("AUTO_CREATE_TICKET_ENABLED", "true", parse_bool);
    let ticket_pattern = vars.parsed("TICKET_BRANCH_PATTERN", DEFAULT_TICKET_PATTERN, |p| {
        regex_lite::Regex::new(p).map_err(|e| format!("`{p}` is not a regular expression: {e}"))
    });
    let status_in_review =
        vars.parsed("JIRA_STATUS_IN_REVIEW", "Code Review", |s| Ok(s.to_owned()));
    let status_merged = vars.parsed("JIRA_STATUS_MERGED", "Ready for QA", |s| Ok(s.to_owned()));
    let status_released = vars.parsed("JIRA_STATUS_RELEASED", "Done", |s| Ok(s.to_owned()));
    let ci_auto = vars.parsed("CI_AUTO_TRIGGER", "false", parse_bool);
    let ci_poll_interval = vars.parsed(
        "CI_POLL_INTERVAL_SECONDS",
        "30",
        parse_count(1, 3600, "seconds"),
    );
    let ci_max_wait = vars.parsed(
        "CI_POLL_MAX_WAIT_SECONDS",
        "1800",
        parse_count(1, 86_400, "seconds"),
    );
    let merge_strategy = vars.parsed("MERGE_STRATEGY", "squash", parse_merge_strategy);
    let delete_source_branch = vars.parsed("DELETE_SOURCE_BRANCH", "false", parse_bool);
    let first_version = vars.parsed("FIRST_VERSION", "0.1.0", |v| v.parse::<Version>());
    Some(PrSettings {
        poll_enabled: poll_enabled?,
        poll_interval: Duration::from_secs(poll_interval?),
        target_branch: target_branch?,
        auto_create_ticket: auto_create_ticket?,
        ticket_pattern: ticket_pattern?,
        status_in_review: status_in_review?,
        status_merged: status_merged?,
        status_released: status_released?,
        ci_auto: ci_auto?,
        ci_poll_interval: Duration::from_secs(ci_poll_interval?),
        ci_max_wait: Duration::from_secs(ci_max_wait?),
        merge_strategy: merge_strategy?,
        delete_source_branch: delete_source_branch?,
        first_version: first_version?,
    })
}

fn release(vars: &mut Reader<'_>) -> Option<ReleaseSettings> {
    let branch = vars.parsed("RELEASE_BRANCH", "main", parse_branch);
    let poll_interval = vars.parsed(
        "RELEASE_POLL_INTERVAL_SECONDS",
        "30",
        parse_count(1, 3600, "seconds"),
    );
    let wait_max = vars.parsed(
        "RELEASE_WAIT_MAX_SECONDS",
        "3600",
        parse_count(1, 604_800, "seconds"),
    );
    Some(ReleaseSettings {
        branch: branch?,
        poll_interval: Duration::from_secs(poll_interval?),
        wait_max: Duration::from_secs(wait_max?),
    })
}

/// Secrets shorter than this are refused: they would be guessable.
const MIN_SECRET_LEN: usize = 16;

fn http(vars: &mut Reader<'_>) -> Option<Option<HttpSettings>> {
    let port = vars.optional("HTTP_PORT", |p| {
        p.parse::<u16>()
            .map_err(|_| format!("`{p}` must be a port number from 0 to 65535"))
    });
    let bind = vars.parsed("HTTP_BIND", "0.0.0.0", |b| {
        b.parse::<std::net::IpAddr>()
            .map_err(|_| format!("`{b}` is not an IP address (0.0.0.0 listens on every interface)"))
    });
    let long_enough = |what: &'static str| {
        move |value: &str| {
            if value.chars().count() >= MIN_SECRET_LEN {
                Ok(SecretString::from(value))
            } else {
                Err(format!(
                    "is too short to be a {what}: use at least {MIN_SECRET_LEN} random characters"
                ))
            }
        }
    };
    let webhook_secret = vars.optional("WEBHOOK_SECRET", long_enough("webhook secret"));
    let operator_token = vars.optional("OPERATOR_TOKEN", long_enough("token"));
    let (port, bind, webhook_secret, operator_token) =
        (port?, bind?, webhook_secret?, operator_token?);
    Some(port.map(|port| HttpSettings {
        addr: std::net::SocketAddr::new(bind, port),
        webhook_secret,
        operator_token,
    }))
}

/// A Jira key anywhere in a branch name, in any case: `feature/ALLPOST-4028_login`.
pub const DEFAULT_TICKET_PATTERN: &str = "[A-Za-z]{2}[A-Za-z0-9_]*-[0-9]+";

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("`{text}` must be true or false")),
    }
}

fn parse_branch(text: &str) -> Result<String, String> {
    let branch = text.strip_prefix("refs/heads/").unwrap_or(text);
    if branch.is_empty() || branch.contains(char::is_whitespace) {
        Err(format!("`{text}` is not a branch name"))
    } else {
        Ok(branch.to_owned())
    }
}

fn parse_merge_strategy(text: &str) -> Result<MergeStrategy, String> {
    match text.to_ascii_lowercase().as_str() {
        "squash" => Ok(MergeStrategy::Squash),
        "nofastforward" | "merge" => Ok(MergeStrategy::NoFastForward),
        "rebase" => Ok(MergeStrategy::Rebase),
        "rebasemerge" => Ok(MergeStrategy::RebaseMerge),
        _ => Err(format!(
            "`{text}` must be squash, merge, rebase or rebaseMerge"
        )),
    }
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text.to_ascii_lowercase().as_str() {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("`{text}` must be `pretty` or `json`")),
    }
}

fn parse_repos(text: &str) -> Result<Vec<RepoName>, String> {
    let mut repos: Vec<RepoName> = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let repo = RepoName::parse(name)?;
        if repos.iter().any(|r| r.same_as(name)) {
            return Err(format!("`{name}` is listed twice"));
        }
        repos.push(repo);
    }
    Ok(repos)
}

/// Reads `KEY=value` lines without touching the process environment. A missing file is fine.
fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, ConfigErrors> {
    let error = |problem: String| {
        ConfigErrors(vec![ConfigError {
            var: ".env",
            problem,
        }])
    };
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(e) if e.not_found() => return Ok(HashMap::new()),
        Err(e) => return Err(error(format!("cannot read {}: {e}", path.display()))),
    };
    iter.collect::<Result<_, _>>()
        .map_err(|e| error(format!("{} is malformed: {e}", path.display())))
}

#[cfg(test)]
mod tests;
