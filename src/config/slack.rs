//! The Slack section: the tokens, the channel for run cards, the Web API's address and who may
//! approve (`SLACK_APPROVERS`, `ALLOW_SELF_APPROVAL`). Required. Slack reaches the bot over
//! Socket Mode (SLACK_APP_TOKEN), over HTTP (SLACK_SIGNING_SECRET, with HTTP_PORT), or both.

use secrecy::SecretString;

use super::reader::{Reader, parse_base_url, parse_bool, parse_channel, parse_count};
use crate::domain::Deciders;

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub bot_token: SecretString,
    /// Socket Mode's token; `None` when only Slack over HTTP is on.
    pub app_token: Option<SecretString>,
    /// Slack over HTTP: the app's signing secret, which every request's signature is checked with.
    pub signing_secret: Option<SecretString>,
    pub channel: String,
    /// Web API base without a trailing slash.
    pub api_url: String,
    /// Who may decide what REPOS_CONFIG leaves open; `None`: nobody is configured.
    pub approvers: Option<Deciders>,
    /// Whether whoever asked for a run, or wrote its PR, may decide it.
    pub allow_self_approval: bool,
    /// Posts a second to one channel: Slack allows about one (`chat.postMessage`'s special
    /// limit), so more only where Slack allows more, such as the soak benchmark's fake.
    pub posts_per_second: u32,
}

pub(super) fn read(vars: &mut Reader<'_>) -> Option<SlackSettings> {
    let bot_token = vars.token(
        "SLACK_BOT_TOKEN",
        "xoxb-",
        "the bot token from OAuth & Permissions",
    );
    let signing_secret = vars.value("SLACK_SIGNING_SECRET").map(SecretString::from);
    // Optional only when Slack comes over HTTP instead.
    let app_token = if signing_secret.is_some() && vars.value("SLACK_APP_TOKEN").is_none() {
        Some(None)
    } else {
        vars.token(
            "SLACK_APP_TOKEN",
            "xapp-",
            "an app-level token with connections:write, from Basic Information (or, for Slack \
             over HTTP instead of Socket Mode, SLACK_SIGNING_SECRET with HTTP_PORT)",
        )
        .map(Some)
    };
    let channel = vars
        .required(
            "SLACK_CHANNEL_ID",
            "the id (C…) of the channel for run cards",
        )
        .and_then(|c| vars.check("SLACK_CHANNEL_ID", c, parse_channel));
    let api_url = vars.parsed("SLACK_API_URL", DEFAULT_SLACK_API_URL, |u| {
        parse_base_url(u).map(|url| url.as_str().trim_end_matches('/').to_owned())
    });
    let approvers = vars.parsed("SLACK_APPROVERS", "", Deciders::parse);
    let allow_self_approval = vars.parsed("ALLOW_SELF_APPROVAL", "false", parse_bool);
    let posts_per_second = vars.parsed(
        "SLACK_POSTS_PER_SECOND",
        "1",
        parse_count(1, 50, "posts a second"),
    );
    Some(SlackSettings {
        bot_token: bot_token?,
        app_token: app_token?,
        signing_secret,
        channel: channel?,
        api_url: api_url?,
        approvers: approvers?,
        allow_self_approval: allow_self_approval?,
        posts_per_second: u32::try_from(posts_per_second?).ok()?,
    })
}
