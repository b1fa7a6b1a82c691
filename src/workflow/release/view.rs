//! What Slack shows of a release run: its card. Pure.

use super::state::{ReleaseRun, ReleaseStep};
use crate::domain::Line;
use crate::workflow::CardView;

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
    if run.version.is_some() {
        lines.extend(super::notes::contents(run, pr_link));
    }
    if let Some(pr) = &run.release_pr {
        let mut line = Line::new()
            .plain("Release PR: ")
            .link(pr.url.clone(), format!("PR {}", pr.id));
        if pr.reused {
            line = line.plain(" (it was already open, so the bot reused it)");
        }
        lines.push(line);
    }
    if let Some(commit) = &run.merge_commit {
        lines.push(
            Line::new()
                .plain(format!("Merged into {} as ", run.to_branch))
                .code(crate::workflow::pr::view::short(commit)),
        );
    }
    if let Some(build) = &run.build {
        lines.push(build.card_line());
    }
    if let Some(cd) = &run.cd {
        let mut line = Line::new()
            .plain("CD: ")
            .link(cd.url.clone(), cd.name.clone());
        if !run.stages.is_empty() {
            let stages: Vec<String> = run
                .stages
                .iter()
                .map(|s| format!("{} {}", s.name, s.state))
                .collect();
            line = line.plain(format!(" · {}", stages.join(" · ")));
        }
        lines.push(line);
    }
    for signoff in &run.signoffs {
        lines.push(
            Line::new()
                .plain(format!("{} by ", capitalized(&signoff.what)))
                .user(signoff.by.clone())
                .plain(" on ")
                .date(signoff.at),
        );
    }
    match (&run.step, run.released_at) {
        (ReleaseStep::Stale { reason }, _) => lines.push(Line::from(
            format!("The release PR moved after it was shown, so nothing was merged: {reason}")
                .as_str(),
        )),
        (_, Some(at)) => lines.push(
            Line::new()
                .plain(":rocket: Released on ")
                .date(at)
                .plain("; the notes are in the thread and the channel."),
        ),
        _ => {}
    }
    lines.extend(
        run.notes
            .iter()
            .map(|n| Line::new().plain(format!("Note: {n}"))),
    );
    CardView {
        title: format!("Release {}", run.name()),
        lines,
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
