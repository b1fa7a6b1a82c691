//! The workflows' sections: how PRs are found, reviewed, merged and built, and how releases are
//! shipped. Every variable has a default.

use super::reader::{Reader, parse_bool, parse_branch, parse_count};
use super::reviewer::parse_budget;
use crate::azdo::{MergeStrategy, ThreadStatus};
use crate::domain::{DEFAULT_TICKET_PATTERN, Version};
use crate::workflow::pr::{PrSettings, ReviewVote};
use crate::workflow::release::ReleaseSettings;

pub(super) fn pr(vars: &mut Reader<'_>) -> Option<PrSettings> {
    let poll_enabled = vars.parsed("PR_POLL_ENABLED", "false", parse_bool);
    let poll_interval = vars.seconds("PR_POLL_INTERVAL_SECONDS", "300", 1, 86_400);
    let target_branch = vars.parsed("PR_POLL_TARGET_BRANCH", "develop", parse_branch);
    let auto_create_ticket = vars.parsed("AUTO_CREATE_TICKET_ENABLED", "true", parse_bool);
    let ticket_pattern = vars.parsed("TICKET_BRANCH_PATTERN", DEFAULT_TICKET_PATTERN, |p| {
        regex_lite::Regex::new(p).map_err(|e| format!("`{p}` is not a regular expression: {e}"))
    });
    let status_in_review =
        vars.parsed("JIRA_STATUS_IN_REVIEW", "Code Review", |s| Ok(s.to_owned()));
    let status_merged = vars.parsed("JIRA_STATUS_MERGED", "Ready for QA", |s| Ok(s.to_owned()));
    let status_released = vars.parsed("JIRA_STATUS_RELEASED", "Done", |s| Ok(s.to_owned()));
    let ci_auto = vars.parsed("CI_AUTO_TRIGGER", "false", parse_bool);
    let ci_poll_interval = vars.seconds("CI_POLL_INTERVAL_SECONDS", "30", 1, 3600);
    let ci_max_wait = vars.seconds("CI_POLL_MAX_WAIT_SECONDS", "1800", 1, 86_400);
    let merge_strategy = vars.parsed("MERGE_STRATEGY", "squash", parse_merge_strategy);
    let delete_source_branch = vars.parsed("DELETE_SOURCE_BRANCH", "false", parse_bool);
    let first_version = vars.parsed("FIRST_VERSION", "0.1.0", |v| v.parse::<Version>());
    let auto_complete_max_wait =
        vars.seconds("AUTO_COMPLETE_MAX_WAIT_SECONDS", "604800", 60, 2_592_000);
    let review_vote = vars.parsed("REVIEW_VOTE", "none", ReviewVote::parse);
    let finding_status = vars.parsed("REVIEW_THREAD_STATUS", "active", parse_thread_status);
    let review_rate = vars.parsed(
        "REVIEW_RATE_PER_USER_PER_HOUR",
        "20",
        parse_count(1, 10_000, "reviews"),
    );
    let monthly_budget = vars.optional("REVIEW_MONTHLY_BUDGET_USD", parse_budget);
    Some(PrSettings {
        poll_enabled: poll_enabled?,
        poll_interval: poll_interval?,
        target_branch: target_branch?,
        auto_create_ticket: auto_create_ticket?,
        ticket_pattern: ticket_pattern?,
        status_in_review: status_in_review?,
        status_merged: status_merged?,
        status_released: status_released?,
        ci_auto: ci_auto?,
        ci_poll_interval: ci_poll_interval?,
        ci_max_wait: ci_max_wait?,
        merge_strategy: merge_strategy?,
        delete_source_branch: delete_source_branch?,
        auto_complete_max_wait: auto_complete_max_wait?,
        finding_status: finding_status?,
        first_version: first_version?,
        review_vote: review_vote?,
        reviews_per_user_per_hour: u32::try_from(review_rate?).unwrap_or(20),
        monthly_budget_usd: monthly_budget?,
    })
}

pub(super) fn release(vars: &mut Reader<'_>) -> Option<ReleaseSettings> {
    let branch = vars.parsed("RELEASE_BRANCH", "main", parse_branch);
    let poll_interval = vars.seconds("RELEASE_POLL_INTERVAL_SECONDS", "30", 1, 3600);
    let wait_max = vars.seconds("RELEASE_WAIT_MAX_SECONDS", "3600", 1, 604_800);
    Some(ReleaseSettings {
        branch: branch?,
        poll_interval: poll_interval?,
        wait_max: wait_max?,
    })
}

fn parse_merge_strategy(text: &str) -> Result<MergeStrategy, String> {
    match text.to_ascii_lowercase().as_str() {
        "squash" => Ok(MergeStrategy::Squash),
        "nofastforward" | "merge" => Ok(MergeStrategy::NoFastForward),
        "rebase" => Ok(MergeStrategy::Rebase),
        "rebasemerge" => Ok(MergeStrategy::RebaseMerge),
        _ => Err(format!(
            "`{text}` must be squash, merge, rebase or rebaseMerge"
        )),
    }
}

fn parse_thread_status(text: &str) -> Result<ThreadStatus, String> {
    match text.to_ascii_lowercase().as_str() {
        "active" => Ok(ThreadStatus::Active),
        "closed" => Ok(ThreadStatus::Closed),
        _ => Err(format!("`{text}` must be active or closed")),
    }
}
