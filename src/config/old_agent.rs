//! The Python agent's variable names. Those this bot reads under another name are refused with
//! the new one, so an old `.env` cannot start the bot on defaults (a fresh SQLite file in place
//! of the PostgreSQL it named). Those it has no use for are explained, and do not stop it.

use super::ConfigError;
use super::reader::Reader;

/// Old name, new name, what it holds.
const RENAMED: [(&str, &str, &str); 2] = [
    (
        "POSTGRES_DSN",
        "DATABASE_URL",
        "the database (postgres://…)",
    ),
    ("PORT", "HTTP_PORT", "the HTTP receiver's port"),
];

/// Names the Python agent needed and this bot does not, and why. (SLACK_SIGNING_SECRET is used:
/// it turns Slack over HTTP on.)
const NOT_NEEDED: [(&str, &str); 1] = [(
    "SLACK_WEBHOOK_URL",
    "is not needed: the bot posts with SLACK_BOT_TOKEN into SLACK_CHANNEL_ID; remove it",
)];

/// Refuses the renamed variables (into `vars`' errors); returns the notices for the unneeded.
pub(super) fn read(vars: &mut Reader<'_>) -> Vec<ConfigError> {
    for (old, new, what) in RENAMED {
        if vars.value(old).is_some() {
            vars.fail(
                old,
                format!(
                    "is the Python agent's name for {what}; this bot reads {new}. Rename it \
                     (remove it if {new} is set already)"
                ),
            );
        }
    }
    NOT_NEEDED
        .into_iter()
        .filter(|(var, _)| vars.value(var).is_some())
        .map(|(var, why)| ConfigError {
            var,
            problem: why.to_owned(),
        })
        .collect()
}
