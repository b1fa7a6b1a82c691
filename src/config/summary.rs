//! What `check` shows of the configuration: every variable with its effective value, secrets
//! redacted. One table row a variable; a row whose section is off, or on, shows nothing, so each
//! optional section appears either as its variables or as one `…_*` row that says it is off.

use super::Config;
use crate::domain::Deciders;

/// How a row shows its value from the config; `None` leaves the row out.
type Show = fn(&Config) -> Option<String>;

const REDACTED: &str = "[redacted]";
const OFF: &str = "(not set: off)";

const ROWS: &[(&str, Show)] = &[
    ("DATABASE_URL", |c| Some(c.database.redacted())),
    ("SLACK_BOT_TOKEN", |_| Some(REDACTED.into())),
    ("SLACK_APP_TOKEN", |_| Some(REDACTED.into())),
    ("SLACK_CHANNEL_ID", |c| Some(c.slack.channel.clone())),
    ("SLACK_API_URL", |c| Some(c.slack.api_url.clone())),
    ("SLACK_POSTS_PER_SECOND", |c| {
        Some(c.slack.posts_per_second.to_string())
    }),
    ("SLACK_APPROVERS", |c| {
        let who = c.slack.approvers.as_ref().map(Deciders::describe);
        Some(who.unwrap_or_else(|| "(empty: nobody; serve refuses to start)".into()))
    }),
    ("ALLOW_SELF_APPROVAL", |c| {
        Some(c.slack.allow_self_approval.to_string())
    }),
    ("APPROVAL_TIMEOUT_HOURS", |c| {
        Some(c.approval_timeout.num_hours().to_string())
    }),
    ("LOG_FORMAT", |c| {
        Some(format!("{:?}", c.log_format).to_lowercase())
    }),
    ("WATCHED_REPOS", |c| {
        let names = c.watched_repos.iter().map(ToString::to_string);
        Some(listed(names, "(empty)"))
    }),
    ("REPOS_BASE_DIR", |c| {
        Some(c.repos_dir.display().to_string())
    }),
    ("AZDO_*", |c| c.azdo.is_none().then(|| OFF.into())),
    ("AZDO_BASE_URL", |c| {
        c.azdo.as_ref().map(|a| a.base_url.to_string())
    }),
    ("AZDO_RELEASE_BASE_URL", |c| {
        c.azdo.as_ref().map(|a| a.release_base_url.to_string())
    }),
    ("AZDO_IDENTITY_BASE_URL", |c| {
        c.azdo.as_ref().map(|a| a.identity_base_url.to_string())
    }),
    ("AZDO_PROJECT", |c| {
        c.azdo.as_ref().map(|a| a.project.clone())
    }),
    ("AZDO_PAT", |c| c.azdo.as_ref().map(|_| REDACTED.into())),
    ("JIRA_*", |c| c.jira.is_none().then(|| OFF.into())),
    ("JIRA_BASE_URL", |c| {
        c.jira.as_ref().map(|j| j.settings.base_url.to_string())
    }),
    ("JIRA_EMAIL", |c| {
        c.jira.as_ref().map(|j| j.settings.email.clone())
    }),
    ("JIRA_API_TOKEN", |c| {
        c.jira.as_ref().map(|_| REDACTED.into())
    }),
    ("DEFAULT_JIRA_PROJECT", |c| {
        c.jira.as_ref().map(|j| j.project.clone())
    }),
    ("JIRA_PROJECTS", |c| {
        c.jira
            .as_ref()
            .map(|_| format!("(branch keys count for {})", c.jira_projects().join(", ")))
    }),
    ("JIRA_ISSUE_TYPE", |c| {
        c.jira.as_ref().map(|j| j.issue_type.clone())
    }),
    ("HTTP_PORT", |c| {
        Some(
            c.http
                .as_ref()
                .map_or(OFF.into(), |h| h.addr.port().to_string()),
        )
    }),
    ("HTTP_BIND", |c| {
        c.http.as_ref().map(|h| h.addr.ip().to_string())
    }),
    ("WEBHOOK_SECRET", |c| {
        c.http
            .as_ref()
            .map(|h| refused_unless_set(h.webhook_secret.is_some()))
    }),
    ("OPERATOR_TOKEN", |c| {
        c.http
            .as_ref()
            .map(|h| refused_unless_set(h.operator_token.is_some()))
    }),
    ("OPERATOR_TOKENS", |c| {
        c.http.as_ref().map(|h| {
            let people: Vec<&str> = h.operator_tokens.iter().map(|t| t.user.as_str()).collect();
            if people.is_empty() {
                "(unset: no decisions through the API)".to_owned()
            } else {
                format!("(set for {})", people.join(", "))
            }
        })
    }),
    ("CLAUDE_CMD", |c| {
        Some(c.reviewer.command.display().to_string())
    }),
    ("REVIEW_TIMEOUT_SECONDS", |c| {
        Some(c.reviewer.timeout.as_secs().to_string())
    }),
    ("REVIEW_VOTE", |c| Some(c.pr.review_vote.name().to_owned())),
    ("DELIVERY_RETENTION_DAYS", |c| {
        Some(c.delivery_retention.num_days().to_string())
    }),
    ("ENGINE_CONCURRENCY", |c| {
        Some(c.engine_concurrency.to_string())
    }),
    ("REVIEW_RATE_PER_USER_PER_HOUR", |c| {
        Some(c.pr.reviews_per_user_per_hour.to_string())
    }),
    ("REVIEW_CONCURRENCY", |c| {
        Some(c.reviewer.concurrency.to_string())
    }),
    ("REVIEWER_SANDBOX", |c| {
        Some(c.reviewer.sandbox.name().to_owned())
    }),
    ("REVIEWER_ENV", |c| {
        // Names only: the values are secrets (a proxy password, a provider's key).
        let names = c.reviewer.passed_env.iter().map(|(name, _)| name.clone());
        Some(format!(
            "passes {}",
            listed(names, "nothing but PATH, HOME and TMPDIR")
        ))
    }),
    ("REVIEW_MAX_TURNS", |c| {
        Some(c.reviewer.max_turns.to_string())
    }),
    ("REVIEW_MONTHLY_BUDGET_USD", |c| {
        Some(
            c.pr.monthly_budget_usd
                .map_or_else(|| "(no limit)".to_owned(), |usd| usd.to_string()),
        )
    }),
    ("REVIEW_MAX_BUDGET_USD", |c| {
        Some(
            c.reviewer
                .max_budget_usd
                .map_or_else(|| "(no limit)".to_owned(), |usd| usd.to_string()),
        )
    }),
];

impl Config {
    /// Every variable with its effective value, secrets redacted, for `check`; then the proxy
    /// variables that are set, without their credentials.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        ROWS.iter()
            .filter_map(|(var, show)| Some((*var, show(self)?)))
            .chain(self.proxy.describe())
            .collect()
    }
}

fn listed(items: impl Iterator<Item = String>, empty: &str) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        empty.to_owned()
    } else {
        items.join(", ")
    }
}

fn refused_unless_set(set: bool) -> String {
    if set { REDACTED } else { "(not set: refused)" }.to_owned()
}
