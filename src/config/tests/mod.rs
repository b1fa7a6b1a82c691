use super::*;
use crate::domain::DEFAULT_TICKET_PATTERN;

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
    assert!(matches!(config.database, DatabaseUrl::Sqlite(ref u) if u == DatabaseUrl::DEFAULT));
    assert_eq!(config.slack.api_url, DEFAULT_SLACK_API_URL);
    assert_eq!(config.slack.approvers, None);
    assert!(!config.slack.allow_self_approval);
    assert_eq!(config.approval_timeout, TimeDelta::hours(168));
    assert_eq!(config.log_format, LogFormat::Pretty);
    assert!(config.watched_repos.is_empty());
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
fn an_in_memory_database_is_refused() {
    for url in ["sqlite::memory:", "sqlite://file?mode=memory"] {
        let err = config(&[("DATABASE_URL", url)]).unwrap_err().to_string();
        assert!(
            err.contains("DATABASE_URL: an in-memory database forgets every run"),
            "{err}"
        );
    }
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
    assert_eq!(config.slack.posts_per_second, 1, "Slack's own limit");
    let repos: Vec<&str> = config.watched_repos.iter().map(RepoName::as_str).collect();
    assert_eq!(repos, ["Billo.Api", "Billo.Web"]);
    let err = config_err(&[("WATCHED_REPOS", "A,a")]);
    assert!(err.contains("WATCHED_REPOS: `a` is listed twice"), "{err}");
}

#[test]
fn posts_per_second_to_a_channel_stays_within_1_to_50() {
    let config = config(&[("SLACK_POSTS_PER_SECOND", "20")]).unwrap();
    assert_eq!(config.slack.posts_per_second, 20);
    for wrong in ["0", "51", "fast"] {
        let err = config_err(&[("SLACK_POSTS_PER_SECOND", wrong)]);
        assert!(
            err.contains(&format!(
                "SLACK_POSTS_PER_SECOND: `{wrong}` must be a whole number of posts a second from 1 to 50"
            )),
            "{err}"
        );
    }
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

#[test]
fn repos_config_is_loaded_and_its_repositories_become_known() {
    let dir = std::env::temp_dir().join(format!("ra-repos-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("repos.toml");
    std::fs::write(
        &file,
        "[repos.\"Billo.Web\"]\nci_definition = 9\n[repos.\"Billo.Docs\"]\n",
    )
    .unwrap();
    let config = config(&[
        ("WATCHED_REPOS", "Billo.Api,billo.web"),
        ("REPOS_CONFIG", file.to_str().unwrap()),
    ])
    .unwrap();
    let known: Vec<String> = config
        .known_repos()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(known, ["Billo.Api", "billo.web", "Billo.Docs"]);
    let web = RepoName::parse("Billo.Web").unwrap();
    assert_eq!(
        config.repos_config.for_repo(&web).ci_definition.as_deref(),
        Some("9")
    );

    let missing = config_err(&[("REPOS_CONFIG", "/nonexistent/repos.toml")]);
    assert!(
        missing.starts_with("REPOS_CONFIG: cannot read /nonexistent/repos.toml"),
        "{missing}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_example_env_file_is_a_valid_configuration_once_slack_is_filled_in() {
    let example = read_dotenv(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.env.example"
    )))
    .unwrap();
    let filled = [
        ("SLACK_BOT_TOKEN", BOT),
        ("SLACK_APP_TOKEN", APP),
        ("SLACK_CHANNEL_ID", "C0123ABC"),
    ];
    let config = Config::from_lookup(|name| {
        filled
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| example.get(name).cloned())
    })
    .unwrap();
    assert!(
        config.azdo.is_none() && config.jira.is_none(),
        "empty sections stay off"
    );
    assert_eq!(config.pr.status_in_review, "Code Review");
    assert_eq!(config.pr.ticket_pattern.as_str(), DEFAULT_TICKET_PATTERN);
    let documented: Vec<&str> = config
        .summary()
        .iter()
        .map(|(var, _)| *var)
        .filter(|v| !v.ends_with('*'))
        .collect();
    for var in documented {
        assert!(example.contains_key(var), ".env.example lacks {var}");
    }
}

mod proxy;
mod sections;

#[test]
fn the_python_agents_names_are_refused_with_the_new_name() {
    let err = config(&[
        ("POSTGRES_DSN", "postgresql://agent:pw@db/agent"),
        ("PORT", "8000"),
    ])
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("POSTGRES_DSN: is the Python agent's name for the database (postgres://…); this bot reads DATABASE_URL"),
        "{text}"
    );
    assert!(text.contains("PORT: is the Python agent's name for the HTTP receiver's port; this bot reads HTTP_PORT"), "{text}");
    assert!(!text.contains("pw@db"), "no value is repeated: {text}");
}

#[test]
fn the_python_agents_slack_webhook_is_explained_not_refused() {
    let config = config(&[(
        "SLACK_WEBHOOK_URL",
        "https://hooks.slack.com/services/T/B/x",
    )])
    .unwrap();
    let notices: Vec<String> = config.notices.iter().map(ToString::to_string).collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].starts_with("SLACK_WEBHOOK_URL: is not needed"));
}

#[test]
fn the_signing_secret_turns_slack_over_http_on_and_then_the_app_token_is_optional() {
    let secret = ("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5");
    let err = config(&[secret]).unwrap_err().to_string();
    assert!(
        err.starts_with("SLACK_SIGNING_SECRET: turns Slack over HTTP on, which needs the HTTP receiver: set HTTP_PORT"),
        "{err}"
    );
    let http_only = config(&[secret, ("HTTP_PORT", "8080"), ("SLACK_APP_TOKEN", "")]).unwrap();
    assert!(http_only.slack.app_token.is_none() && http_only.slack.signing_secret.is_some());
    let both = config(&[secret, ("HTTP_PORT", "8080")]).unwrap();
    assert!(both.slack.app_token.is_some());
    let neither = config(&[("SLACK_APP_TOKEN", "")]).unwrap_err().to_string();
    assert!(
        neither.contains("SLACK_SIGNING_SECRET with HTTP_PORT"),
        "{neither}"
    );
    assert!(
        !format!("{both:?}").contains("8f742231"),
        "the secret is redacted"
    );
}
