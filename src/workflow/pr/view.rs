//! What Slack shows of a PR run: the card's lines and the review summary for its thread. Pure.

use super::state::{Outcome, PrRun, PrStep, ReviewResult};
use crate::domain::{Line, Message};
use crate::reviewer::{Severity, Verdict};
use crate::store::RunRecord;
use crate::workflow::CardView;
use crate::workflow::card::where_card;

/// Long model text is cut on Slack; the full review is on the PR.
const BODY_MAX: usize = 400;

pub fn card(run: &PrRun) -> CardView {
    let title = match &run.pr {
        Some(pr) => format!("{}#{}: {}", pr.repo, pr.id, pr.title),
        None => match &run.repo {
            Some(repo) => format!("{repo}#{}", run.pr_id),
            None => format!("PR {}", run.pr_id),
        },
    };
    let mut lines = Vec::new();
    if let Some(pr) = &run.pr {
        lines.push(
            Line::new()
                .code(pr.source_branch.clone())
                .plain(" → ")
                .code(pr.target_branch.clone())
                .plain(format!(" · by {} · ", pr.author))
                .link(pr.web_url.clone(), "open in Azure DevOps"),
        );
    }
    for ticket in &run.tickets {
        let mut line = Line::new()
            .plain("Ticket: ")
            .link(ticket.url.clone(), ticket.key.to_string());
        if !ticket.summary.is_empty() {
            line = line.plain(format!(" {}", ticket.summary));
        }
        if ticket.created {
            line = line.plain(" (created by the bot: the branch named no ticket)");
        }
        lines.push(line);
    }
    if let Some(review) = &run.review {
        let verdict = match review.verdict {
            Verdict::Approve => ":white_check_mark: approve",
            Verdict::RequestChanges => ":warning: changes requested",
        };
        lines.push(
            Line::new()
                .plain("AI review of ")
                .code(short(&review.commit))
                .plain(format!(
                    ": {verdict}, {} finding(s); details in the thread",
                    review.findings
                )),
        );
    }
    if let Some(commit) = &run.merge_commit {
        lines.push(Line::new().plain("Merged as ").code(short(commit)));
    }
    if let Some(version) = &run.version {
        let repo = run.pr.as_ref().map_or("", |p| p.repo.as_str());
        lines.push(
            Line::new()
                .plain("Counted in the staging release ")
                .bold(format!("{repo} {version}")),
        );
    }
    if let Some(build) = &run.build {
        lines.push(build.card_line());
    }
    if let Some(line) = step_line(&run.step) {
        lines.push(line);
    }
    lines.extend(
        run.notes
            .iter()
            .map(|n| Line::new().plain(format!("Note: {n}"))),
    );
    CardView { title, lines }
}

fn step_line(step: &PrStep) -> Option<Line> {
    let text = match step {
        PrStep::Stale { reason } => {
            format!("The PR moved after the review, so nothing was merged: {reason}")
        }
        PrStep::Finished { outcome } => match outcome {
            Outcome::NothingToReview => {
                "Nothing to review: the PR changes nothing on its target branch.".into()
            }
            Outcome::ChangesRequested => {
                "The AI review asks for changes; a new push starts a new review.".into()
            }
            Outcome::CiPassed => "CI passed.".into(),
            Outcome::CiSkipped => "CI was skipped.".into(),
        },
        _ => return None,
    };
    Some(Line::new().plain(text))
}

/// The review for the card's thread: verdict and summary, then findings by severity, each with a
/// link to its file in the PR.
pub fn review_message(run: &PrRun, result: &ReviewResult) -> Message {
    let review = &result.review;
    let verdict = match review.verdict {
        Verdict::Approve => "approve",
        Verdict::RequestChanges => "changes requested",
    };
    let commit = run
        .pr
        .as_ref()
        .map_or(String::new(), |pr| short(&pr.commit).to_owned());
    let mut lines = vec![
        Line::new().bold(format!("AI review of {commit}: {verdict}")),
        Line::new().plain(review.summary.trim()),
    ];
    let pr_url = run.pr.as_ref().map_or("", |pr| pr.web_url.as_str());
    for severity in [
        Severity::Critical,
        Severity::Major,
        Severity::Minor,
        Severity::Nit,
    ] {
        let findings: Vec<_> = review
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if findings.is_empty() {
            continue;
        }
        lines.push(Line::new().bold(format!("{} ({})", severity.label(), findings.len())));
        for finding in findings {
            let place = format!("{}:{}", finding.file, finding.line);
            let link = format!(
                "{pr_url}?_a=files&path=/{}",
                finding.file.trim_start_matches('/')
            );
            lines.push(
                Line::new()
                    .plain("• ")
                    .link(link, place)
                    .plain(" ")
                    .bold(finding.title.trim())
                    .plain(format!(": {}", cut(finding.body.trim(), BODY_MAX))),
            );
        }
    }
    let inline = result.inline.len();
    if inline > 0 {
        lines.push(Line::new().plain(format!(
            "{inline} of these are commented on their lines in the PR."
        )));
    }
    Message::new(lines)
}

pub fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

/// The answer to someone asking for a review of `name` while `run` is under way, pointing at its
/// `card`.
pub fn under_way_line(name: &str, run: &RunRecord, card: Option<String>) -> Line {
    let line = Line::new().plain(format!("A run for {name} is already under way"));
    where_card(line, run, card)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RepoName;
    use crate::reviewer::{Finding, Review};
    use crate::workflow::pr::state::{InlineFinding, PrInfo};

    fn run() -> PrRun {
        let mut run = PrRun::new(12, None);
        run.pr = Some(PrInfo {
            id: 12,
            repo: RepoName::parse("Billo.Api").unwrap(),
            title: "Login page".into(),
            description: String::new(),
            author: "Ada".into(),
            source_branch: "feature/ALLPOST-4028".into(),
            target_branch: "develop".into(),
            commit: "0123456789abcdef".into(),
            web_url: "https://dev.azure.com/o/p/_git/Billo.Api/pullrequest/12".into(),
        });
        run
    }

    fn finding(severity: Severity, file: &str) -> Finding {
        Finding {
            file: file.into(),
            line: 7,
            severity,
            title: "Title <x>".into(),
            body: "b".repeat(500),
        }
    }

    #[test]
    fn the_review_message_groups_findings_and_links_their_files() {
        let result = ReviewResult {
            review: Review {
                verdict: Verdict::RequestChanges,
                summary: "Two problems.".into(),
                findings: vec![
                    finding(Severity::Minor, "src/a.rs"),
                    finding(Severity::Critical, "src/b.rs"),
                ],
                cost_usd: None,
                duration_ms: None,
                turns: None,
            },
            inline: vec![InlineFinding {
                finding: finding(Severity::Critical, "src/b.rs"),
                path: "/src/b.rs".into(),
                line: 7,
            }],
            general: vec![finding(Severity::Minor, "src/a.rs")],
        };
        let text = crate::slack::mrkdwn::lines(&review_message(&run(), &result).lines);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*AI review of 01234567: changes requested*");
        assert_eq!(lines[2], "*Critical (1)*");
        assert!(lines[3].starts_with(
            "• <https://dev.azure.com/o/p/_git/Billo.Api/pullrequest/12?_a=files&amp;path=/src/b.rs|src/b.rs:7> *Title &lt;x&gt;*: bbb"
        ), "{}", lines[3]);
        assert!(lines[3].ends_with("b…"), "long bodies are cut");
        assert_eq!(lines[4], "*Minor (1)*");
        assert_eq!(
            lines[6],
            "1 of these are commented on their lines in the PR."
        );
    }

    #[test]
    fn the_card_names_the_pr_before_and_after_it_is_fetched() {
        assert_eq!(card(&PrRun::new(5, None)).title, "PR 5");
        assert_eq!(
            card(&PrRun::new(5, RepoName::parse("Billo.Web").ok())).title,
            "Billo.Web#5"
        );
        let fetched = card(&run());
        assert_eq!(fetched.title, "Billo.Api#12: Login page");
        let first = crate::slack::mrkdwn::line(&fetched.lines[0]);
        assert_eq!(
            first,
            "`feature/ALLPOST-4028` → `develop` · by Ada · <https://dev.azure.com/o/p/_git/Billo.Api/pullrequest/12|open in Azure DevOps>"
        );
    }
}
