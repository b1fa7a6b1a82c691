//! Configuration: read once from the environment and from a `.env` file in the working directory,
//! typed, and validated all at once so that a bad start-up names every problem in one go, one line
//! each. Secrets are [`SecretString`]s: `Debug` shows them as `[REDACTED]`, and no error message
//! repeats a value that might be one.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use chrono::TimeDelta;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::domain::{ApproverPolicy, RepoName};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://release-agent.db";
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    pub slack: SlackSettings,
    /// How long a waiting approval stays open before its run is cancelled.
    pub approval_timeout: TimeDelta,
    pub log_format: LogFormat,
    /// The repositories the bot works with (`WATCHED_REPOS`), spelled as in Azure DevOps.
    pub repos: Vec<RepoName>,
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

impl Config {
    /// Reads the process environment, falling back to `./.env` for variables it does not set.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        let file = read_dotenv(Path::new(".env"))?;
        Self::from_lookup(|name| std::env::var(name).ok().or_else(|| file.get(name).cloned()))
    }

    /// Builds the config from any source of variables; tests pass a map, so nothing leaks in
    /// from the environment of the machine that runs them.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut vars = Reader {
            lookup: &lookup,
            errors: Vec::new(),
        };
        let database = vars.parsed("DATABASE_URL", DEFAULT_DATABASE_URL, DatabaseUrl::parse);
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
        let api_url = vars.parsed("SLACK_API_URL", DEFAULT_SLACK_API_URL, parse_api_url);
        let approvers = vars.parsed("SLACK_APPROVERS", "", ApproverPolicy::parse);
        let hours = vars.parsed("APPROVAL_TIMEOUT_HOURS", "168", parse_hours);
        let log_format = vars.parsed("LOG_FORMAT", "pretty", parse_log_format);
        let repos = vars.parsed("WATCHED_REPOS", "", parse_repos);

        match (
            database, bot_token, app_token, channel, api_url, approvers, hours, log_format, repos,
        ) {
            (
                Some(database),
                Some(bot_token),
                Some(app_token),
                Some(channel),
                Some(api_url),
                Some(approvers),
                Some(hours),
                Some(log_format),
                Some(repos),
            ) if vars.errors.is_empty() => Ok(Config {
                database,
                slack: SlackSettings {
                    bot_token,
                    app_token,
                    channel,
                    api_url,
                    approvers,
                },
                approval_timeout: TimeDelta::hours(hours),
                log_format,
                repos,
            }),
            _ => Err(ConfigErrors(vars.errors)),
        }
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
                crate::domain::Approver::User(id) | crate::domain::Approver::Group(id) => {
                    id.clone()
                }
            })
            .collect();
        vec![
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
                    self.repos.iter().map(ToString::to_string).collect(),
                    "(empty)",
                ),
            ),
        ]
    }
}

struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    /// A set, non-blank value, trimmed.
    fn value(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, var: &'static str, what: &str) -> Option<String> {
        let value = self.value(var);
        if value.is_none() {
            self.fail(var, format!("is required: {what}"));
        }
        value
    }

    fn parsed<T>(
        &mut self,
        var: &'static str,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.value(var).unwrap_or_else(|| default.to_owned());
        self.check(var, value, parse)
    }

    fn check<T>(
        &mut self,
        var: &'static str,
        value: String,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        parse(&value)
            .map_err(|problem| self.fail(var, problem))
            .ok()
    }

    /// A secret token with a known prefix. The message never repeats the value.
    fn token(&mut self, var: &'static str, prefix: &str, what: &str) -> Option<SecretString> {
        let value = self.required(var, &format!("{what} ({prefix}…)"))?;
        if value.starts_with(prefix) {
            return Some(SecretString::from(value));
        }
        let seen = ["xoxb-", "xapp-", "xoxp-"]
            .into_iter()
            .find(|p| value.starts_with(p))
            .map_or("something else".to_owned(), |p| format!("a {p} token"));
        self.fail(
            var,
            format!("must start with {prefix} ({what}); it holds {seen}"),
        );
        None
    }

    fn fail(&mut self, var: &'static str, problem: String) {
        self.errors.push(ConfigError { var, problem });
    }
}

fn parse_channel(text: &str) -> Result<String, String> {
    let ok = text.len() >= 3
        && matches!(text.as_bytes()[0], b'C' | b'G')
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a channel id; copy the id (C…) from the channel's details, not its name"
        ))
    }
}

fn parse_api_url(text: &str) -> Result<String, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(format!(
            "`{text}` must be an http(s) URL without a query, like {DEFAULT_SLACK_API_URL}"
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn parse_hours(text: &str) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(hours) if (1..=8760).contains(&hours) => Ok(hours),
        _ => Err(format!(
            "`{text}` must be a whole number of hours from 1 to 8760"
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
mod tests {
    use super::*;

    const BOT: &str = "xoxb-1-secret-bot";
    const APP: &str = "xapp-1-secret-app";

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let mut vars: HashMap<String, String> = [
            ("SLACK_BOT_TOKEN", BOT),
            ("SLACK_APP_TOKEN", APP),
            ("SLACK_CHANNEL_ID", "C0123ABC"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in pairs {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn lines(err: ConfigErrors) -> Vec<String> {
        err.to_string().lines().map(str::to_owned).collect()
    }

    #[test]
    fn defaults_apply_when_only_required_variables_are_set() {
        let config = config(&[]).unwrap();
        assert!(matches!(config.database, DatabaseUrl::Sqlite(ref u) if u == DEFAULT_DATABASE_URL));
        assert_eq!(config.slack.api_url, DEFAULT_SLACK_API_URL);
        assert!(config.slack.approvers.is_open());
        assert_eq!(config.approval_timeout, TimeDelta::hours(168));
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert!(config.repos.is_empty());
    }

    #[test]
    fn a_missing_required_variable_is_one_line_that_names_it() {
        let err = config(&[("SLACK_APP_TOKEN", "  ")]).unwrap_err();
        let lines = lines(err);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("SLACK_APP_TOKEN: is required"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn every_invalid_value_is_reported_on_its_own_line() {
        let err = config(&[
            ("APPROVAL_TIMEOUT_HOURS", "soon"),
            ("LOG_FORMAT", "xml"),
            ("SLACK_CHANNEL_ID", "#releases"),
            ("DATABASE_URL", "mysql://x"),
        ])
        .unwrap_err();
        let lines = lines(err);
        let vars: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(
            vars,
            [
                "DATABASE_URL",
                "SLACK_CHANNEL_ID",
                "APPROVAL_TIMEOUT_HOURS",
                "LOG_FORMAT"
            ]
        );
        assert!(lines[2].contains("`soon`"), "{}", lines[2]);
    }

    #[test]
    fn swapped_tokens_are_explained_without_echoing_them() {
        let err = config(&[("SLACK_BOT_TOKEN", APP), ("SLACK_APP_TOKEN", BOT)]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("SLACK_BOT_TOKEN: must start with xoxb-"),
            "{text}"
        );
        assert!(text.contains("it holds a xapp- token"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = config(&[("DATABASE_URL", "postgres://bot:hunter2@db:5432/agent")]).unwrap();
        let debug = format!("{config:?}");
        for secret in [BOT, APP, "hunter2"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
        assert!(
            debug.contains("postgres://bot:***@db:5432/agent"),
            "{debug}"
        );
    }

    #[test]
    fn api_url_loses_its_trailing_slash_and_repos_are_validated() {
        let config = config(&[
            ("SLACK_API_URL", "http://127.0.0.1:9/api/"),
            ("WATCHED_REPOS", "Billo.Api, Billo.Web"),
        ])
        .unwrap();
        assert_eq!(config.slack.api_url, "http://127.0.0.1:9/api");
        let repos: Vec<&str> = config.repos.iter().map(RepoName::as_str).collect();
        assert_eq!(repos, ["Billo.Api", "Billo.Web"]);
        let err = config_err(&[("WATCHED_REPOS", "A,a")]);
        assert!(err.contains("WATCHED_REPOS: `a` is listed twice"), "{err}");
    }

    fn config_err(pairs: &[(&str, &str)]) -> String {
        config(pairs).unwrap_err().to_string()
    }

    #[test]
    fn dotenv_files_are_read_without_touching_the_environment() {
        let dir = std::env::temp_dir().join(format!("ra-dotenv-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(
            &path,
            "SLACK_CHANNEL_ID=C999\n# comment\nLOG_FORMAT=\"json\"\n",
        )
        .unwrap();
        let vars = read_dotenv(&path).unwrap();
        assert_eq!(vars["SLACK_CHANNEL_ID"], "C999");
        assert_eq!(vars["LOG_FORMAT"], "json");
        assert!(read_dotenv(&dir.join("missing")).unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
