//! `/release status` and `/release history`: what is staged, shipping and waiting, and what was
//! released. Pure: the front door reads the store and these render it.

use crate::domain::{Line, Message, RepoName};
use crate::store::{
    ApprovalRecord, ArchivedRelease, Freeze, Rollback, RunRecord, ShippingRelease, StagingRelease,
};
use crate::workflow::card::where_card;
use crate::workflow::freeze;

/// How many released versions `/release history` lists.
const HISTORY_MAX: usize = 20;

/// A release run under way, with what it waits for (if anything).
pub struct Active<'a> {
    pub run: &'a RunRecord,
    pub waiting: Option<&'a ApprovalRecord>,
    /// A link to its card, when Slack's workspace domain is known.
    pub card: Option<String>,
}

pub fn status(
    staging: &[StagingRelease],
    shipping: &[ShippingRelease],
    active: &[Active<'_>],
    freezes: &[Freeze],
) -> Message {
    let mut repos: Vec<&str> = staging
        .iter()
        .map(|s| s.repo.as_str())
        .chain(shipping.iter().map(|s| s.release.repo.as_str()))
        .chain(
            active
                .iter()
                .filter_map(|a| a.run.repo.as_ref().map(RepoName::as_str)),
        )
        .collect();
    repos.sort_unstable_by_key(|r| r.to_ascii_lowercase());
    repos.dedup_by_key(|r| r.to_ascii_lowercase());
    let mut lines: Vec<Line> = freezes.iter().map(freeze::said).collect();
    if repos.is_empty() {
        lines.push(Line::from(
            "Nothing is staged and no release is under way: no PR was merged since the last releases.",
        ));
        return Message::new(lines);
    }
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    for repo in repos {
        lines.push(Line::new().bold(repo));
        let left = shipping.iter().find(|s| same(&s.release.repo, repo));
        lines.extend(left.map(shipping_line));
        let staged = staging.iter().find(|s| same(&s.repo, repo));
        lines.extend(staged.map(staging_line));
        lines.extend(
            active
                .iter()
                .filter(|a| a.run.repo.as_ref().is_some_and(|r| same(r.as_str(), repo)))
                .map(active_line),
        );
    }
    Message::new(lines)
}

fn shipping_line(left: &ShippingRelease) -> Line {
    Line::new()
        .plain(format!(
            "• shipping {}: merged for release since ",
            left.release.version
        ))
        .date(left.frozen_at)
        .plain(format!(
            ", not yet deployed everywhere ({} PRs, {} tickets)",
            left.release.prs.len(),
            left.release.tickets.len()
        ))
}

fn staging_line(staged: &StagingRelease) -> Line {
    Line::new()
        .plain(format!(
            "• staging {}: {} PRs, {} tickets ({}), open since ",
            staged.version,
            staged.prs.len(),
            staged.tickets.len(),
            listed(&staged.tickets)
        ))
        .date(staged.started_at)
}

/// A release under way, linked to its card, with what it waits for.
fn active_line(run: &Active<'_>) -> Line {
    let mut line = Line::new().plain("• release under way");
    if let Some(card) = &run.card {
        line = line.plain(" (").link(card.clone(), "card").plain(")");
    }
    match run.waiting {
        Some(approval) => line
            .plain(": waiting for ")
            .bold(approval.prompt.clone())
            .plain(" open until ")
            .date(approval.expires_at),
        None => line.plain(format!(": at {}", run.run.step)),
    }
}

/// The answer to someone asking to release `repo` while `run` releases it, pointing at its `card`.
pub fn already_under_way(repo: &RepoName, run: &RunRecord, card: Option<String>) -> Line {
    let line = Line::new().plain(format!(
        "A release of {repo} is already under way; one release at a time per repository"
    ));
    where_card(line, run, card)
}

/// The released versions of `repo` (hotfixes marked), then its rollbacks, newest first.
pub fn history(repo: &str, archived: &[ArchivedRelease], rollbacks: &[Rollback]) -> Message {
    if archived.is_empty() {
        return Message::new([Line::from(
            format!("{repo} has no released versions yet.").as_str(),
        )]);
    }
    let mut lines = vec![Line::new().bold(format!("{repo}: released versions, newest first"))];
    for release in archived.iter().take(HISTORY_MAX) {
        lines.push(
            Line::new()
                .plain(format!(
                    "• {}{} on ",
                    release.version,
                    release
                        .hotfix
                        .as_ref()
                        .map_or_else(String::new, |branch| format!(" (hotfix, from {branch})"))
                ))
                .date(release.released_at)
                .plain(format!(
                    ": {} PRs, {} tickets ({})",
                    release.prs.len(),
                    release.tickets.len(),
                    listed(&release.tickets)
                )),
        );
    }
    if archived.len() > HISTORY_MAX {
        lines.push(Line::from(
            format!("…and {} older ones.", archived.len() - HISTORY_MAX).as_str(),
        ));
    }
    if !rollbacks.is_empty() {
        lines.push(Line::new().bold("Rollbacks, newest first"));
    }
    for rollback in rollbacks.iter().take(HISTORY_MAX) {
        lines.push(
            Line::new()
                .plain(format!(
                    "• back to {} from {} on ",
                    rollback.version, rollback.left
                ))
                .date(rollback.at)
                .plain(" by ")
                .user(rollback.by.clone())
                .plain(format!(": {}", rollback.stages.join(", "))),
        );
    }
    Message::new(lines)
}

/// `A-1, A-2, A-3 and 4 more`.
fn listed(keys: &[String]) -> String {
    const SHOWN: usize = 5;
    match keys.len() {
        0 => "none".into(),
        n if n <= SHOWN => keys.join(", "),
        n => format!("{} and {} more", keys[..SHOWN].join(", "), n - SHOWN),
    }
}
