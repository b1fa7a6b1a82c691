//! `release-agent check`: validates the config, shows it redacted, and reports whether each
//! configured service answers.

use std::fmt::Write;

use crate::config::Config;
use crate::slack::web::SlackApi;
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
    let mut rows = Vec::new();
    let database = async {
        let store = Store::connect(&config.database)
            .await
            .map_err(|e| e.to_string())?;
        store.ping().await.map_err(|e| e.to_string())?;
        Ok(format!(
            "{} ({})",
            config.database.redacted(),
            store.backend()
        ))
    };
    rows.push(CheckRow::new("database", true, database.await));

    let api = match SlackApi::new(
        &config.slack.api_url,
        &config.slack.bot_token,
        &config.slack.app_token,
    ) {
        Ok(api) => api,
        Err(e) => {
            rows.push(CheckRow::new("Slack client", true, Err(e.to_string())));
            return rows;
        }
    };
    let auth = api
        .auth_test()
        .await
        .map(|me| format!("bot user {} in team {}", me.user_id, me.team));
    rows.push(CheckRow::new(
        "Slack auth.test (SLACK_BOT_TOKEN)",
        true,
        auth.map_err(|e| e.to_string()),
    ));
    let socket = api
        .connections_open()
        .await
        .map(|()| "Socket Mode URL issued".to_owned());
    rows.push(CheckRow::new(
        "Slack apps.connections.open (SLACK_APP_TOKEN)",
        true,
        socket.map_err(|e| e.to_string()),
    ));
    for group in config.slack.approvers.groups() {
        let members = api
            .group_members(group)
            .await
            .map(|m| format!("{} members", m.len()));
        rows.push(CheckRow::new(
            format!("Slack user group {group} (SLACK_APPROVERS)"),
            true,
            members.map_err(|e| e.to_string()),
        ));
    }
    rows
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
