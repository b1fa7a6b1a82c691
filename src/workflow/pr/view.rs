//! What Slack shows of a PR run: the card's lines and the review summary for its thread. Pure.

use super::state::{
    BuildRef, Outcome, PrInfo, PrRun, PrStep, ReviewBrief, ReviewResult, ReviewScope, Tally, Ticket,
};
use crate::domain::{Line, Message};
use crate::reviewer::{Severity, Verdict};
use crate::store::RunRecord;
use crate::workflow::CardView;
use crate::workflow::card::where_card;

/// Long model text is cut on Slack; the full review is on the PR.
const BODY_MAX: usize = 400;

pub fn card(run: &PrRun) -> CardView {
    let mut lines = Vec::new();
    lines.extend(run.pr.as_ref().map(pr_line));
    lines.extend(run.tickets.iter().map(ticket_line));
    lines.extend(run.review.iter().flat_map(review_lines));
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
    lines.extend(run.build.as_ref().map(BuildRef::card_line));
    lines.extend(step_lines(&run.step));
    lines.extend(
        run.notes
            .iter()
            .map(|n| Line::new().plain(format!("Note: {n}"))),
    );
    lines.extend(run.ticket_failed.as_ref().map(|reason| {
        Line::new().plain(format!(
            ":warning: No ticket: Jira refused to create one ({reason}). The review went on; \
             Retry ticket tries again."
        ))
    }));
    CardView {
        title: title(run),
        lines,
    }
}

/// `Billo.Api#12: Login page`, or what the run knows before the PR is fetched.
fn title(run: &PrRun) -> String {
    match &run.pr {
        Some(pr) => format!("{}#{}: {}", pr.repo, pr.id, pr.title),
        None => match &run.repo {
            Some(repo) => format!("{repo}#{}", run.pr_id),
            None => format!("PR {}", run.pr_id),
        },
    }
}

fn pr_line(pr: &PrInfo) -> Line {
    Line::new()
        .code(pr.source_branch.clone())
        .plain(" → ")
        .code(pr.target_branch.clone())
        .plain(format!(" · by {} · ", pr.author))
        .link(pr.web_url.clone(), "open in Azure DevOps")
}

fn ticket_line(ticket: &Ticket) -> Line {
    let mut line = Line::new()
        .plain("Ticket: ")
        .link(ticket.url.clone(), ticket.key.to_string());
    if !ticket.summary.is_empty() {
        line = line.plain(format!(" {}", ticket.summary));
    }
    if ticket.created {
        line = line.plain(" (created by the bot: the branch named no ticket)");
    }
    line
}

fn review_lines(review: &ReviewBrief) -> Vec<Line> {
    let verdict = match review.verdict {
        Verdict::Approve => ":white_check_mark: approve",
        Verdict::RequestChanges => ":warning: changes requested",
    };
    let mut line = Line::new()
        .plain("AI review of ")
        .code(short(&review.commit));
    line = match &review.scope {
        ReviewScope::Full => line.plain(" (full)"),
        ReviewScope::Incremental { since } => line
            .plain(" (incremental: what was pushed since ")
            .code(short(since))
            .plain(")"),
        ReviewScope::Rewritten { was } => line
            .plain(" (full: ")
            .code(short(was))
            .plain(" is no longer in the PR's history)"),
    };
    let mut text = format!(": {verdict}, {} finding(s)", review.findings);
    if let Some(tally) = &review.tally {
        text.push_str(&format!(" ({})", tally_text(tally)));
    }
    text.push_str(&usage_text(review.cost_usd, review.tokens));
    let mut lines = vec![line.plain(text).plain("; details in the thread")];
    if !review.not_reviewed.is_empty() {
        lines.push(Line::new().plain(format!(
            "Not reviewed: {} file(s) over the prompt's budget, named in the thread",
            review.not_reviewed.len()
        )));
    }
    lines
}

/// `new 1 · still open 2 · fixed 1 · dismissed 0`
fn tally_text(tally: &Tally) -> String {
    format!(
        "new {} · still open {} · fixed {} · dismissed {}",
        tally.new, tally.open, tally.fixed, tally.dismissed
    )
}

/// ` · $0.04 · 12345 tokens`, for what is known.
fn usage_text(cost: Option<f64>, tokens: Option<u64>) -> String {
    let mut text = String::new();
    if let Some(cost) = cost {
        text.push_str(&format!(" · ${cost:.2}"));
    }
    if let Some(tokens) = tokens {
        text.push_str(&format!(" · {tokens} tokens"));
    }
    text
}

/// How the review was done, for its summary on the PR and in Slack: its scope, what became of
/// the findings, and the files left out. File names are the PR's: kept out of Markdown syntax.
pub fn review_notes(result: &ReviewResult, tally: &Tally) -> Vec<String> {
    let mut notes = vec![match &result.scope {
        ReviewScope::Full => "Full review of the PR.".to_owned(),
        ReviewScope::Incremental { since } => format!(
            "Incremental review: what was pushed since {}; the earlier review covers the rest.",
            short(since)
        ),
        ReviewScope::Rewritten { was } => format!(
            "Full review: {} (reviewed last) is no longer in the PR's history.",
            short(was)
        ),
    }];
    notes.push(format!("Findings: {}.", tally_text(tally)));
    if !result.not_reviewed.is_empty() {
        const SHOWN: usize = 20;
        let names: Vec<String> = result
            .not_reviewed
            .iter()
            .take(SHOWN)
            .map(|n| n.replace(['`', '*', '_', '[', ']', '<', '>'], "?"))
            .collect();
        let more = result.not_reviewed.len().saturating_sub(SHOWN);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        notes.push(format!(
            "Not reviewed (over the prompt's budget): {}{tail}.",
            names.join(", ")
        ));
    }
    if result.ignored > 0 {
        notes.push(format!(
            "{} generated or ignored file(s) left out.",
            result.ignored
        ));
    }
    notes
}

fn step_lines(step: &PrStep) -> Vec<Line> {
    let text = match step {
        PrStep::Stale { reason } => {
            format!("The PR moved after the review, so nothing was merged: {reason}")
        }
        PrStep::MergeHeld { hold } => return hold.lines(),
        PrStep::WatchAutoComplete => "Auto-complete is set in Azure DevOps: it completes the PR \
            when the branch policies pass. Watching; a push clears it."
            .into(),
        PrStep::CiHeld { what, .. } => format!(
            "The CI run waits in Azure DevOps: {what}. This wait does not count as CI time."
        ),
        PrStep::OverBudget {
            spent_usd,
            budget_usd,
        } => format!(
            "This month's reviews have spent ${spent_usd:.2} of the ${budget_usd:.2} budget \
             (REVIEW_MONTHLY_BUDGET_USD, counted from the 1st, UTC), so this review waits. \
             Review anyway spends more."
        ),
        PrStep::Reviewed { earlier } => format!(
            "This commit was reviewed already (run {}); its review is in that run's thread and \
             on the PR. Review again asks the AI anew, at a cost.",
            short(&earlier.to_string())
        ),
        PrStep::Finished { outcome } => match outcome {
            Outcome::NothingToReview => "Nothing to review: the PR changes nothing on its \
                target branch, or only generated files and files its review rules ignore."
                .into(),
            Outcome::ChangesRequested => {
                "The AI review asks for changes; a new push starts a new review.".into()
            }
            Outcome::CiPassed => "CI passed.".into(),
            Outcome::CiSkipped => "CI was skipped.".into(),
            Outcome::AlreadyReviewed => {
                "This commit was reviewed already by another run; nothing new to do.".into()
            }
            Outcome::UnderWay => {
                "Another run is reviewing this commit; nothing new to do here.".into()
            }
        },
        _ => return Vec::new(),
    };
    vec![Line::new().plain(text)]
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approve => "approve",
        Verdict::RequestChanges => "changes requested",
    }
}

/// The earlier review of this commit, for the card's thread of a run that reuses it.
pub fn earlier_review_message(brief: &ReviewBrief) -> Message {
    let verdict = verdict_word(brief.verdict);
    Message::new([
        Line::new().bold(format!(
            "AI review of {} (done before, not repeated): {verdict}, {} finding(s)",
            short(&brief.commit),
            brief.findings
        )),
        Line::new().plain(cut(brief.summary.trim(), BODY_MAX)),
    ])
}

/// The review for the card's thread: verdict and summary, then findings by severity, each with a
/// link to its file in the PR.
pub fn review_message(run: &PrRun, result: &ReviewResult) -> Message {
    let review = &result.review;
    let verdict = verdict_word(review.verdict);
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
    if let Some(tally) = run.review.as_ref().and_then(|r| r.tally.as_ref()) {
        lines.extend(
            review_notes(result, tally)
                .into_iter()
                .map(|n| Line::new().plain(n)),
        );
    }
    Message::new(lines)
}

pub fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

/// `text`, cut after `max` characters with an ellipsis.
pub fn cut(text: &str, max: usize) -> String {
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
