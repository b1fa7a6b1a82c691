//! The Jira section: the site, the bot's account and token, and where new tickets go. Optional:
//! set none of its variables and the bot leaves tickets alone.

use super::reader::{Reader, parse_base_url, parse_word};
use crate::http_client::RetryPolicy;
use crate::jira::JiraSettings;

pub(super) const VARS: [&str; 3] = ["JIRA_BASE_URL", "JIRA_EMAIL", "JIRA_API_TOKEN"];

#[derive(Debug, Clone)]
pub struct JiraConfig {
    pub settings: JiraSettings,
    /// Where tickets are created for PRs that have none.
    pub project: String,
    pub issue_type: String,
    /// JIRA_PROJECTS: more projects whose keys in branch names count.
    pub projects: Vec<String>,
}

/// `Some(None)`: Jira is off; `None`: something is wrong (already reported).
pub(super) fn read(vars: &mut Reader<'_>, retry: RetryPolicy) -> Option<Option<JiraConfig>> {
    if !vars.any_set(&VARS) {
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
    let resolution = vars.parsed("JIRA_RESOLUTION", "Done", |r| Ok(r.trim().to_owned()));
    let projects = vars.parsed("JIRA_PROJECTS", "", |list| {
        list.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| parse_word("Jira project key")(p).map(|p| p.to_ascii_uppercase()))
            .collect::<Result<Vec<_>, _>>()
    });
    Some(Some(JiraConfig {
        settings: JiraSettings {
            base_url: base_url?,
            email: email?,
            token: token?,
            retry,
            proxy: crate::proxy::Proxies::default(),
            resolution: resolution?,
        },
        project: project?,
        issue_type: issue_type?,
        projects: projects?,
    }))
}
