//! The reviewer section: which Claude Code CLI runs the reviews, for how long, with which model.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::reader::{Reader, parse_count};
use crate::reviewer::ReviewerSettings;

pub(super) fn read(vars: &mut Reader<'_>) -> Option<ReviewerSettings> {
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
