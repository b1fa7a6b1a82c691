//! `/release status` and `/release history`: what is staged, shipping and waiting, and what was
//! released. Pure: the front door reads the store and these render it.

use crate::domain::{Line, Message, RepoName};
use crate::store::{ApprovalRecord, ArchivedRelease, RunRecord, ShippingRelease, StagingRelease};
use crate::workflow::card::where_card;

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
    if repos.is_empty() {
        return Message::new([Line::from(
            "Nothing is staged and no release is under way: no PR was merged since the last releases.",
        )]);
    }
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let mut lines = Vec::new();
    for repo in repos {
        lines.push(Line::new().bold(repo));
        if let Some(left) = shipping.iter().find(|s| same(&s.release.repo, repo)) {
            lines.push(
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
                    )),
            );
        }
        if let Some(staged) = staging.iter().find(|s| same(&s.repo, repo)) {
            lines.push(
                Line::new()
                    .plain(format!(
                        "• staging {}: {} PRs, {} tickets ({}), open since ",
                        staged.version,
                        staged.prs.len(),
                        staged.tickets.len(),
                        listed(&staged.tickets)
                    ))
                    .date(staged.started_at),
            );
        }
        for run in active
            .iter()
            .filter(|a| a.run.repo.as_ref().is_some_and(|r| same(r.as_str(), repo)))
        {
            let mut line = Line::new().plain("• release under way");
            if let Some(card) = &run.card {
                line = line.plain(" (").link(card.clone(), "card").plain(")");
            }
            line = match run.waiting {
                Some(approval) => line
                    .plain(": waiting for ")
                    .bold(approval.prompt.clone())
                    .plain(" open until ")
                    .date(approval.expires_at),
                None => line.plain(format!(": at {}", run.run.step)),
            };
            lines.push(line);
        }
    }
    Message::new(lines)
}

/// The answer to someone asking to release `repo` while `run` releases it, pointing at its `card`.
pub fn already_under_way(repo: &RepoName, run: &RunRecord, card: Option<String>) -> Line {
    let line = Line::new().plain(format!(
        "A release of {repo} is already under way; one release at a time per repository"
    ));
    where_card(line, run, card)
}

pub fn history(repo: &str, archived: &[ArchivedRelease]) -> Message {
    if archived.is_empty() {
        return Message::new([Line::from(
            format!("{repo} has no released versions yet.").as_str(),
        )]);
    }
    let mut lines = vec![Line::new().bold(format!("{repo}: released versions, newest first"))];
    for release in archived.iter().take(HISTORY_MAX) {
        lines.push(
            Line::new()
                .plain(format!("• {} on ", release.version))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Version;
    use crate::slack::mrkdwn;
    use chrono::Utc;

    fn staged(repo: &str) -> StagingRelease {
        StagingRelease {
            repo: repo.into(),
            version: Version::new(1, 4, 3),
            started_at: Utc::now(),
            tickets: (1..=7).map(|i| format!("A-{i}")).collect(),
            prs: Vec::new(),
        }
    }

    #[test]
    fn status_groups_by_repository_and_says_when_there_is_nothing() {
        let text =
            mrkdwn::lines(&status(&[staged("Billo.Web"), staged("Billo.Api")], &[], &[]).lines);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*Billo.Api*");
        assert!(
            lines[1].starts_with(
                "• staging 1.4.3: 0 PRs, 7 tickets (A-1, A-2, A-3, A-4, A-5 and 2 more), open since <!date^"
            ),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "*Billo.Web*");
        let empty = mrkdwn::lines(&status(&[], &[], &[]).lines);
        assert!(empty.starts_with("Nothing is staged"), "{empty}");
    }

    #[test]
    fn history_lists_the_newest_versions_first_and_cuts_long_lists() {
        let archived: Vec<ArchivedRelease> = (0..25)
            .rev()
            .map(|patch| ArchivedRelease {
                repo: "Billo.Api".into(),
                version: Version::new(1, 0, patch),
                started_at: Utc::now(),
                tickets: vec!["A-1".into()],
                prs: Vec::new(),
                released_at: Utc::now(),
            })
            .collect();
        let text = mrkdwn::lines(&history("Billo.Api", &archived).lines);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*Billo.Api: released versions, newest first*");
        assert!(lines[1].starts_with("• 1.0.24 on "), "{}", lines[1]);
        assert_eq!(lines.last().unwrap(), &"…and 5 older ones.");
        let none = mrkdwn::lines(&history("Billo.Api", &[]).lines);
        assert_eq!(none, "Billo.Api has no released versions yet.");
    }
}
