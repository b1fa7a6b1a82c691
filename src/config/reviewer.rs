//! The reviewer section: which Claude Code CLI runs the reviews, for how long, with which model,
//! how many at once, how many turns and dollars one may take, and in which sandbox.

use std::path::PathBuf;

use super::reader::{Reader, parse_count};
use crate::reviewer::{ReviewerSettings, SandboxMode, passed_env};

pub(super) fn read(vars: &mut Reader<'_>) -> Option<ReviewerSettings> {
    let command = vars.parsed("CLAUDE_CMD", "claude", |c| Ok(PathBuf::from(c)));
    let timeout = vars.seconds("REVIEW_TIMEOUT_SECONDS", "900", 10, 86_400);
    let model = vars.value("CLAUDE_MODEL");
    let extra = vars.parsed("REVIEWER_ENV", "", passed_env::parse_extra);
    let max_turns = vars.parsed("REVIEW_MAX_TURNS", "30", parse_count(2, 500, "turns"));
    let budget = vars.optional("REVIEW_MAX_BUDGET_USD", parse_budget);
    let concurrency = vars.parsed("REVIEW_CONCURRENCY", "2", parse_count(1, 64, "processes"));
    let sandbox = vars.parsed("REVIEWER_SANDBOX", "auto", SandboxMode::parse);
    let mut settings = ReviewerSettings::new(command?, timeout?);
    settings.model = model;
    settings.passed_env = passed_env::collect(vars.lookup(), &extra?);
    settings.max_turns = u32::try_from(max_turns?).unwrap_or(30);
    settings.max_budget_usd = budget?;
    settings.concurrency = usize::try_from(concurrency?).unwrap_or(2);
    settings.sandbox = sandbox?;
    Some(settings)
}

/// Dollars, more than nothing.
pub(super) fn parse_budget(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd > 0.0 => Ok(usd),
        _ => Err(format!(
            "`{text}` must be a number of dollars above 0, like 2.50"
        )),
    }
}
