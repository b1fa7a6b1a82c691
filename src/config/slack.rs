//! The Slack section: both tokens, the channel for run cards, the Web API's address and who may
//! approve. Required.

use secrecy::SecretString;

use super::reader::{Reader, parse_base_url, parse_channel};
use crate::domain::ApproverPolicy;

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub bot_token: SecretString,
    pub app_token: SecretString,
    pub channel: String,
    /// Web API base without a trailing slash.
    pub api_url: String,
    pub approvers: ApproverPolicy,
}

pub(super) fn read(vars: &mut Reader<'_>) -> Option<SlackSettings> {
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
