//! What Slack shows of a release run: its card. Pure.

use super::state::{CdRelease, ReleasePr, ReleaseRun, ReleaseStep, Signoff, StageSeen};
use crate::domain::Line;
use crate::workflow::CardView;
use crate::workflow::ci::BuildRef;

pub fn card(run: &ReleaseRun, pr_link: &dyn Fn(i64) -> String) -> CardView {
    let mut lines = Vec::new();
    if !run.from_branch.is_empty() {
        lines.push(
            Line::new()
                .code(run.from_branch.clone())
                .plain(" → ")
                .code(run.to_branch.clone()),
        );
    }
    if let Some(plan) = &run.rollback {
        lines.push(Line::new().plain(format!(
            "Rollback from {} to {}: its deployment runs again, stage by stage.",
            plan.left, plan.to
        )));
    } else if let Some(version) = &run.version {
        lines.extend(version_line(version, run));
        lines.extend(super::notes::contents(run, pr_link));
    }
    lines.extend(run.release_pr.as_ref().map(release_pr_line));
    if let Some(commit) = &run.merge_commit {
        lines.push(
            Line::new()
                .plain(format!("Merged into {} as ", run.to_branch))
                .code(crate::workflow::pr::view::short(commit)),
        );
    }
    lines.extend(run.build.as_ref().map(BuildRef::card_line));
    lines.extend(run.cd.as_ref().map(|cd| cd_line(cd, &run.stages)));
    lines.extend(run.signoffs.iter().map(signoff_line));
    lines.extend(outcome_lines(run));
    lines.extend(
        run.notes
            .iter()
            .map(|n| Line::new().plain(format!("Note: {n}"))),
    );
    let title = match &run.rollback {
        Some(plan) => format!("Rollback {} to {}", run.repo, plan.to),
        None => run.title(),
    };
    CardView { title, lines }
}

/// Why the release has its version: who chose it, or the PR whose bump decided it.
fn version_line(version: &str, run: &ReleaseRun) -> Option<Line> {
    let line = Line::new().plain(format!("Version {version}: "));
    match &run.chosen {
        Some(chosen) => Some(line.plain("chosen by ").user(chosen.by.clone())),
        None => Some(line.plain(super::notes::why(&run.prs)?)),
    }
}

fn release_pr_line(pr: &ReleasePr) -> Line {
    let line = Line::new()
        .plain("Release PR: ")
        .link(pr.url.clone(), format!("PR {}", pr.id));
    if pr.reused {
        line.plain(" (it was already open, so the bot reused it)")
    } else {
        line
    }
}

/// The CD release, with the state of each of its stages once they are known.
fn cd_line(cd: &CdRelease, stages: &[StageSeen]) -> Line {
    let line = Line::new()
        .plain("CD: ")
        .link(cd.url.clone(), cd.name.clone());
    if stages.is_empty() {
        return line;
    }
    let stages: Vec<String> = stages
        .iter()
        .map(|s| format!("{} {}", s.name, s.state))
        .collect();
    line.plain(format!(" · {}", stages.join(" · ")))
}

fn signoff_line(signoff: &Signoff) -> Line {
    Line::new()
        .plain(format!("{} by ", capitalized(&signoff.what)))
        .user(signoff.by.clone())
        .plain(" on ")
        .date(signoff.at)
}

/// Why nothing was merged, or when the release was released.
fn outcome_lines(run: &ReleaseRun) -> Vec<Line> {
    if let ReleaseStep::MergeHeld { hold } = &run.step {
        return hold.lines();
    }
    outcome_line(run).into_iter().collect()
}

fn outcome_line(run: &ReleaseRun) -> Option<Line> {
    match (&run.step, run.released_at) {
        (ReleaseStep::Stale { reason }, _) => Some(Line::from(
            format!("The release PR moved after it was shown, so nothing was merged: {reason}")
                .as_str(),
        )),
        (_, Some(at)) => Some(
            Line::new()
                .plain(":rocket: Released on ")
                .date(at)
                .plain("; the notes are in the thread and the channel."),
        ),
        _ => None,
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
