//! The reviewer section: which Claude Code CLI runs the reviews, for how long, with which model.

use std::path::PathBuf;

use secrecy::SecretString;

use super::reader::Reader;
use crate::reviewer::ReviewerSettings;

pub(super) fn read(vars: &mut Reader<'_>) -> Option<ReviewerSettings> {
    let command = vars.parsed("CLAUDE_CMD", "claude", |c| Ok(PathBuf::from(c)));
    let timeout = vars.seconds("REVIEW_TIMEOUT_SECONDS", "900", 10, 86_400);
    let model = vars.value("CLAUDE_MODEL");
    let api_key = vars.value("ANTHROPIC_API_KEY").map(SecretString::from);
    let mut settings = ReviewerSettings::new(command?, timeout?);
    settings.model = model;
    settings.api_key = api_key;
    Some(settings)
}
