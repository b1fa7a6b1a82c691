//! Release notes. Pure: the Slack message posted when a release is deployed (version, its PRs by
//! kind, tickets with links, who approved what) and the Markdown text of the release PR's
//! description and the version tag's message.

use super::state::ReleaseRun;
use crate::domain::{Bump, Line, Message};
use crate::store::StagedPr;

/// Why a release has its version: `minor: #101 feat: login page`.
pub fn why(prs: &[StagedPr]) -> Option<String> {
    let pr = crate::store::why(prs)?;
    Some(format!("{}: #{} {}", pr.bump, pr.id, pr.title))
}

/// The notes for the channel, once everything is deployed.
pub fn slack(run: &ReleaseRun, pr_link: &dyn Fn(i64) -> String) -> Message {
    let mut lines = vec![
        Line::new()
            .plain(":rocket: ")
            .bold(format!("Released {}", run.name())),
    ];
    lines.extend(contents(run, pr_link));
    let mut links = Line::new();
    if let Some(pr) = &run.release_pr {
        links = links
            .plain("Release PR: ")
            .link(pr.url.clone(), format!("PR {}", pr.id));
    }
    if let Some(build) = &run.build {
        links = links
            .plain(" · CI: ")
            .link(build.url.clone(), format!("build {}", build.number));
    }
    if let Some(cd) = &run.cd {
        links = links.plain(" · CD: ").link(cd.url.clone(), cd.name.clone());
    }
    if !links.0.is_empty() {
        lines.push(links);
    }
    if !run.stuck.is_empty() {
        lines.push(Line::new().bold(":warning: Not moved in Jira"));
        lines.extend(
            run.stuck
                .iter()
                .map(|w| Line::new().plain(format!("• {w}"))),
        );
    }
    if !run.signoffs.is_empty() {
        lines.push(Line::new().bold("Decided in Slack"));
        for signoff in &run.signoffs {
            lines.push(
                Line::new()
                    .plain(format!("• {} by ", signoff.what))
                    .user(signoff.by.clone())
                    .plain(" on ")
                    .date(signoff.at),
            );
        }
    }
    Message::new(lines).broadcast()
}

/// What the release contains: its PRs grouped by kind (Breaking, Features, Fixes), then its
/// tickets (linked, with their summaries).
pub fn contents(run: &ReleaseRun, pr_link: &dyn Fn(i64) -> String) -> Vec<Line> {
    let mut lines = Vec::new();
    for (bump, prs) in by_kind(&run.prs) {
        lines.push(Line::new().bold(format!("{} ({})", bump.heading(), prs.len())));
        for pr in prs {
            lines.push(
                Line::new()
                    .plain("• ")
                    .link(pr_link(pr.id), format!("PR {}", pr.id))
                    .plain(format!(" {}", pr.title)),
            );
        }
    }
    lines.push(Line::new().bold(format!("Tickets ({})", run.tickets.len())));
    if run.tickets.is_empty() {
        lines.push(Line::from("• none"));
    }
    for ticket in &run.tickets {
        let mut line = Line::new().plain("• ");
        line = if ticket.url.is_empty() {
            line.code(ticket.key.to_string())
        } else {
            line.link(ticket.url.clone(), ticket.key.to_string())
        };
        if !ticket.summary.is_empty() {
            line = line.plain(format!(" {}", ticket.summary));
        }
        lines.push(line);
    }
    lines
}

/// The PRs of each kind that has any, breaking changes first.
fn by_kind(prs: &[StagedPr]) -> Vec<(Bump, Vec<&StagedPr>)> {
    [Bump::Major, Bump::Minor, Bump::Patch]
        .into_iter()
        .map(|bump| {
            (
                bump,
                prs.iter().filter(|p| p.bump == bump).collect::<Vec<_>>(),
            )
        })
        .filter(|(_, prs)| !prs.is_empty())
        .collect()
}

/// The release PR's description and the tag's message: what the release contains.
pub fn markdown(run: &ReleaseRun) -> String {
    let mut text = format!(
        "Release {} ({} → {}), prepared by release-agent.\n",
        escape(&run.name()),
        escape(&run.from_branch),
        escape(&run.to_branch)
    );
    for (bump, prs) in by_kind(&run.prs) {
        text.push_str(&format!("\n{} ({}):\n", bump.heading(), prs.len()));
        for pr in prs {
            text.push_str(&format!("- !{} {}\n", pr.id, escape(&pr.title)));
        }
    }
    text.push_str(&format!("\nTickets ({}):\n", run.tickets.len()));
    for ticket in &run.tickets {
        let key = escape(ticket.key.as_str());
        let key = if ticket.url.is_empty() {
            key
        } else {
            format!("[{key}]({})", ticket.url)
        };
        text.push_str(&format!("- {key} {}\n", escape(&ticket.summary)));
    }
    text
}

/// Untrusted text (PR titles, ticket summaries) as literal Markdown.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '<' | '>' | '#' | '!' | '|'
        ) {
            out.push('\\');
        }
        out.push(if c == '\n' { ' ' } else { c });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::JiraKey;
    use crate::domain::RepoName;
    use crate::store::StagedPr;
    use crate::workflow::release::state::{ReleasePr, Signoff, Ticket};
    use chrono::{TimeZone, Utc};

    /// A released run with tickets, PRs and a sign-off; Slack's rendering tests use it too.
    pub(crate) fn run() -> ReleaseRun {
        let mut run = ReleaseRun::new(
            RepoName::parse("Billo.Api").unwrap(),
            "develop".into(),
            "main".into(),
        );
        run.version = Some("1.4.3".into());
        run.tickets = vec![
            Ticket {
                summary: "Login page".into(),
                url: "https://jira.example/browse/ALLPOST-1".into(),
                ..Ticket::bare(JiraKey::parse("ALLPOST-1").unwrap())
            },
            Ticket::bare(JiraKey::parse("ALLPOST-2").unwrap()),
        ];
        run.prs = vec![
            StagedPr {
                id: 12,
                title: "feat: Login *page* [draft]".into(),
                bump: Bump::Minor,
            },
            StagedPr {
                id: 13,
                title: "fix: typo".into(),
                bump: Bump::Patch,
            },
        ];
        run.release_pr = Some(ReleasePr {
            id: 40,
            url: "https://dev.azure.com/o/p/_git/Billo.Api/pullrequest/40".into(),
            commit: "abc".into(),
            reused: false,
        });
        run.signoffs = vec![Signoff {
            what: "approved Production".into(),
            by: "U0ANN".into(),
            at: Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap(),
        }];
        run
    }

    #[test]
    fn the_release_pr_description_is_literal_markdown() {
        let text = markdown(&run());
        assert!(text.starts_with("Release Billo.Api 1.4.3 (develop → main)"));
        assert!(text.contains("- [ALLPOST-1](https://jira.example/browse/ALLPOST-1) Login page\n"));
        assert!(
            text.contains("\nFeatures (1):\n- !12 feat: Login \\*page\\* \\[draft\\]\n\nFixes (1):\n- !13 fix: typo\n\nTickets (2):"),
            "{text}"
        );
        assert!(!text.contains("Breaking"), "only the kinds it has: {text}");
    }

    #[test]
    fn the_version_says_which_pr_decided_it() {
        let mut prs = run().prs;
        assert_eq!(why(&prs).unwrap(), "minor: #12 feat: Login *page* [draft]");
        prs.push(StagedPr::merged(14, "feat!: drop v1", "", &[]));
        prs.push(StagedPr::merged(15, "refactor!: x", "", &[]));
        assert_eq!(
            why(&prs).unwrap(),
            "major: #14 feat!: drop v1",
            "the first with the highest bump"
        );
        assert_eq!(why(&[]), None);
    }
}
