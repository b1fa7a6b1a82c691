//! Configuration: read once from the environment and from a `.env` file in the working directory,
//! typed, and validated all at once so that a bad start-up names every problem in one go, one line
//! each. Secrets are `SecretString`s: `Debug` shows them as `[REDACTED]`, and no error message
//! repeats a value that might be one.
//!
//! Slack is required. Azure DevOps and Jira are optional sections: set none of their variables and
//! they are off; set some and the rest of the section becomes required.
//!
//! Each part of the bot owns its settings type (`AzdoSettings` in `azdo`, `PrSettings` in the PR
//! workflow, `HttpSettings` in the receiver …); this module only reads variables into them, a
//! file per section. `reader.rs` collects the problems; `summary.rs` is what `check` shows.

mod azdo;
mod flows;
mod http;
mod jira;
mod old_agent;
mod reader;
mod repos;
mod reviewer;
mod slack;
mod summary;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::TimeDelta;

use crate::azdo::AzdoSettings;
use crate::domain::{ApprovalPolicy, RepoName, ReposConfig};
use crate::http_client::RetryPolicy;
use crate::http_server::HttpSettings;
use crate::proxy::Proxies;
use crate::reviewer::ReviewerSettings;
use crate::store::DatabaseUrl;
use crate::telemetry::LogFormat;
use crate::workflow::pr::PrSettings;
use crate::workflow::release::ReleaseSettings;
use reader::{Reader, parse_count};

pub use jira::JiraConfig;
pub use slack::{DEFAULT_SLACK_API_URL, SlackSettings};

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
    /// How many runs one replica works on at once (their steps, not their waits).
    pub engine_concurrency: usize,
    /// The HTTP receiver, when HTTP_PORT is set.
    pub http: Option<HttpSettings>,
    /// DELIVERY_RETENTION_DAYS: how long handled deliveries (dedupe keys) are kept.
    pub delivery_retention: TimeDelta,
    /// HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY: every connection the bot opens.
    pub proxy: Proxies,
    /// Variables that are set but do nothing, and why: `check` and `serve` say so.
    pub notices: Vec<ConfigError>,
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
        let notices = old_agent::read(&mut vars);
        let proxy = Proxies::read(vars.lookup()).map_err(|errors| {
            for e in errors {
                vars.fail(e.var, e.problem);
            }
        });
        let database = vars.parsed("DATABASE_URL", DatabaseUrl::DEFAULT, DatabaseUrl::parse);
        let slack = slack::read(&mut vars);
        let approval_timeout = vars.parsed(
            "APPROVAL_TIMEOUT_HOURS",
            "168",
            parse_count(1, 8760, "hours"),
        );
        let log_format = vars.parsed("LOG_FORMAT", "pretty", parse_log_format);
        let watched_repos = vars.parsed("WATCHED_REPOS", "", parse_repos);
        let repos_config = vars.optional("REPOS_CONFIG", |path| repos::load(Path::new(path)));
        let repos_dir = vars.parsed("REPOS_BASE_DIR", "repos", |dir| Ok(PathBuf::from(dir)));
        let retry = retry_policy(&mut vars);
        let azdo = azdo::read(&mut vars, retry.clone());
        let jira = jira::read(&mut vars, retry);
        let reviewer = reviewer::read(&mut vars);
        let pr = flows::pr(&mut vars);
        let release = flows::release(&mut vars);
        let run_lease = vars.seconds("RUN_LEASE_SECONDS", "30", 2, 600);
        let engine_concurrency =
            vars.parsed("ENGINE_CONCURRENCY", "16", parse_count(1, 1024, "runs"));
        let http = http::read(&mut vars);
        let retention = vars.parsed(
            "DELIVERY_RETENTION_DAYS",
            "14",
            parse_count(1, 3650, "days"),
        );
        let config = (|| {
            let repos_config = repos_config?.unwrap_or_default();
            let proxy = proxy.ok()?;
            let mut azdo = azdo?;
            if let Some(azdo) = &mut azdo {
                azdo.repo_projects = repos_config.projects();
                azdo.proxy = proxy.clone();
            }
            let mut jira = jira?;
            if let Some(jira) = &mut jira {
                jira.settings.proxy = proxy.clone();
            }
            Some(Config {
                database: database?,
                slack: slack?,
                approval_timeout: TimeDelta::hours(i64::try_from(approval_timeout?).ok()?),
                log_format: log_format?,
                watched_repos: watched_repos?,
                repos_config,
                repos_dir: repos_dir?,
                azdo,
                jira,
                reviewer: reviewer?,
                pr: pr?,
                release: release?,
                run_lease: run_lease?,
                engine_concurrency: usize::try_from(engine_concurrency?).ok()?,
                http: http?,
                delivery_retention: TimeDelta::days(i64::try_from(retention?).ok()?),
                proxy,
                notices,
            })
        })();
        for (var, problem) in config.iter().flat_map(Config::clear_text_through_proxy) {
            vars.fail(var, problem);
        }
        if let Some(config) = &config
            && config.slack.signing_secret.is_some()
            && config.http.is_none()
        {
            vars.fail(
                "SLACK_SIGNING_SECRET",
                "turns Slack over HTTP on, which needs the HTTP receiver: set HTTP_PORT (Slack \
                 sends to /slack/commands, /slack/interactions and /slack/events on it)"
                    .into(),
            );
        }
        vars.finish(config)
    }

    /// Plain-http services (allowed on this machine only) that a proxy on another machine would
    /// carry: their tokens would cross the network in clear text.
    fn clear_text_through_proxy(&self) -> Vec<(&'static str, String)> {
        let slack = url::Url::parse(&self.slack.api_url).ok();
        let urls = [("SLACK_API_URL", slack.as_ref())]
            .into_iter()
            .chain(self.azdo.iter().flat_map(|a| {
                [
                    ("AZDO_BASE_URL", Some(&a.base_url)),
                    ("AZDO_RELEASE_BASE_URL", Some(&a.release_base_url)),
                    ("AZDO_IDENTITY_BASE_URL", Some(&a.identity_base_url)),
                ]
            }))
            .chain(
                self.jira
                    .iter()
                    .map(|j| ("JIRA_BASE_URL", Some(&j.settings.base_url))),
            );
        urls.filter_map(|(var, url)| {
            let url = url.filter(|u| u.scheme() == "http")?;
            let crate::proxy::Route::Proxy {
                shown,
                var: proxy_var,
            } = self.proxy.route(url)
            else {
                return None;
            };
            let proxy_url = url::Url::parse(&shown).ok()?;
            (!reader::is_loopback(&proxy_url)).then(|| {
                (
                    var,
                    format!(
                        "is plain http, and {proxy_var} sends it through the proxy {shown} on \
                         another machine, so its token would cross the network in clear text: \
                         use https, or add the host to NO_PROXY"
                    ),
                )
            })
        })
        .collect()
    }

    /// Only what the local `review` command needs.
    pub fn reviewer_from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ReviewerSettings, ConfigErrors> {
        let mut vars = Reader::new(&lookup);
        let settings = reviewer::read(&mut vars);
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

    /// The Jira projects whose keys in branch names count: DEFAULT_JIRA_PROJECT, each
    /// repository's `jira_project` and JIRA_PROJECTS, upper-cased, each once. Empty without Jira.
    pub fn jira_projects(&self) -> Vec<String> {
        let Some(jira) = &self.jira else {
            return Vec::new();
        };
        let repos = self
            .repos_config
            .repos()
            .filter_map(|repo| self.repos_config.for_repo(repo).jira_project);
        let mut projects: Vec<String> = Vec::new();
        for project in [jira.project.clone()]
            .into_iter()
            .chain(repos)
            .chain(jira.projects.iter().cloned())
        {
            let project = project.to_ascii_uppercase();
            if !projects.contains(&project) {
                projects.push(project);
            }
        }
        projects
    }

    /// Who may decide what: SLACK_APPROVERS, ALLOW_SELF_APPROVAL and REPOS_CONFIG's approvers.
    pub fn approval_policy(&self) -> ApprovalPolicy {
        ApprovalPolicy {
            default: self.slack.approvers.clone(),
            allow_self_approval: self.slack.allow_self_approval,
            repos: self.repos_config.clone(),
        }
    }

    /// The branch `repo`'s PRs merge into: REPOS_CONFIG `target_branch`, else
    /// PR_POLL_TARGET_BRANCH.
    pub fn target_branch(&self, repo: &RepoName) -> String {
        self.repos_config
            .for_repo(repo)
            .target_branch
            .unwrap_or_else(|| self.pr.target_branch.clone())
    }
}

/// How the Azure DevOps and Jira clients retry, with HTTP_TIMEOUT_SECONDS per request.
fn retry_policy(vars: &mut Reader<'_>) -> RetryPolicy {
    let timeout = vars.seconds("HTTP_TIMEOUT_SECONDS", "30", 1, 300);
    RetryPolicy {
        timeout: timeout.unwrap_or(Duration::from_secs(30)),
        ..RetryPolicy::default()
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
