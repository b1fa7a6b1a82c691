//! The audit trail of a release, for `/release audit` and `GET /audit`: who asked, who approved,
//! refused or skipped what, when, and through what (button, operator API, slash command, Azure
//! DevOps …). A release's trail is that of its release runs and of the PR runs of the PRs it
//! ships. [`load`] reads the store; the rest is pure.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Line, Message, RepoName, RunKind, Version};
use crate::store::{AuditRecord, RunRecord, Store, StoreError};

/// Runs of a repository looked at for its trail, newest first.
const RUNS_LOOKED_AT: i64 = 2000;
/// Entries shown in Slack; `GET /audit` has them all.
const SHOWN_IN_SLACK: usize = 40;

/// What people did, and what happened to their requests; the bot's own steps are left out, but
/// for what someone settled in Azure DevOps itself.
const PEOPLES_ACTIONS: [&str; 8] = [
    "started",
    "decision",
    "vote",
    "decision_refused",
    "request_refused",
    "envelope_ignored",
    "superseded",
    "expired",
];

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailEntry {
    pub at: DateTime<Utc>,
    pub run: String,
    /// What the run is about: `Billo.Api#12`, `Release Billo.Api 1.4.3`.
    pub subject: String,
    /// A Slack user id, `operator`, `webhook`, `poller` or `release-agent`.
    pub who: String,
    pub action: String,
    pub detail: String,
    /// What it came through, when known.
    pub via: Option<String>,
}

/// The trail of one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trail {
    pub repo: String,
    pub version: String,
    pub entries: Vec<TrailEntry>,
}

/// Why there is no trail to show.
#[derive(Debug, thiserror::Error)]
pub enum NoTrail {
    #[error("{repo} has no release {version}: no run, staging or archive knows it ({known})")]
    UnknownVersion {
        repo: String,
        version: Version,
        known: String,
    },
    #[error("{0} has had no release yet, and nothing is staged")]
    NothingYet(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The trail of `repo`'s release `version`, or of its latest release (under way, released or
/// staged) when no version is given.
pub async fn load(
    store: &Store,
    repo: &RepoName,
    version: Option<Version>,
) -> Result<Trail, NoTrail> {
    let runs = store.runs_of_repo(repo, RUNS_LOOKED_AT).await?;
    let archived = store.archived(repo.as_str()).await?;
    let shipping = store.shipping(repo.as_str()).await?;
    let staging = store.staging(repo.as_str()).await?;
    let releases: Vec<(Version, Vec<i64>)> = shipping
        .map(|s| s.release)
        .into_iter()
        .chain(staging)
        .map(|r| (r.version, r.prs.iter().map(|p| p.id).collect()))
        .chain(
            archived
                .iter()
                .map(|r| (r.version, r.prs.iter().map(|p| p.id).collect())),
        )
        .collect();
    let latest = || {
        runs.iter()
            .find_map(|run| released_version(run, repo))
            .or_else(|| releases.first().map(|(v, _)| *v))
    };
    let Some(version) = version.or_else(latest) else {
        return Err(NoTrail::NothingYet(repo.to_string()));
    };
    let prs = releases
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, prs)| prs.as_slice())
        .unwrap_or_default();
    let mine: Vec<&RunRecord> = runs
        .iter()
        .filter(|run| belongs(run, repo, version, prs))
        .collect();
    if mine.is_empty() && !releases.iter().any(|(v, _)| *v == version) {
        let known: Vec<String> = releases.iter().map(|(v, _)| v.to_string()).collect();
        return Err(NoTrail::UnknownVersion {
            repo: repo.to_string(),
            version,
            known: if known.is_empty() {
                "none yet".into()
            } else {
                format!("known: {}", known.join(", "))
            },
        });
    }
    let ids: Vec<_> = mine.iter().map(|r| r.id).collect();
    let audit = store.audit_for_runs(&ids).await?;
    Ok(Trail {
        repo: repo.to_string(),
        version: version.to_string(),
        entries: entries(&mine, audit),
    })
}

/// The version a release run releases, read from its subject (`Release {repo} {version}`).
fn released_version(run: &RunRecord, repo: &RepoName) -> Option<Version> {
    if run.kind != RunKind::RELEASE {
        return None;
    }
    let rest = run.subject.strip_prefix("Release ")?;
    let (name, version) = rest.rsplit_once(' ')?;
    repo.same_as(name).then(|| version.parse().ok())?
}

/// Whether `run` is part of release `version`: a release run of it, or a PR run of one of its
/// PRs.
fn belongs(run: &RunRecord, repo: &RepoName, version: Version, prs: &[i64]) -> bool {
    match released_version(run, repo) {
        Some(released) => released == version,
        None => run.kind == RunKind::PR && run.pr_id.is_some_and(|pr| prs.contains(&pr)),
    }
}

/// The people's entries of `runs`, oldest first.
fn entries(runs: &[&RunRecord], audit: Vec<AuditRecord>) -> Vec<TrailEntry> {
    audit
        .into_iter()
        .filter(|a| PEOPLES_ACTIONS.contains(&a.action.as_str()) || a.via.is_some())
        .filter_map(|a| {
            let run = runs.iter().find(|r| Some(r.id.to_string()) == a.run_id)?;
            Some(TrailEntry {
                at: a.at,
                run: run.id.to_string(),
                subject: run.subject.clone(),
                who: a.actor,
                action: a.action,
                detail: readable(&a.detail),
                via: a.via,
            })
        })
        .collect()
}

/// A refusal's detail without the approval's id: `merge, refused: own_pr`.
fn readable(detail: &str) -> String {
    let refused = detail
        .split_once(" on approval ")
        .and_then(|(option, rest)| Some((option, rest.split_once(" refused: ")?.1)));
    match refused {
        Some((option, code)) => format!("{option}, refused: {code}"),
        None => detail.to_owned(),
    }
}

/// The trail for Slack, oldest first; the newest [`SHOWN_IN_SLACK`] entries at most.
pub fn message(trail: &Trail) -> Message {
    let mut lines = vec![Line::new().bold(format!(
        "{} {}: who did what, oldest first",
        trail.repo, trail.version
    ))];
    if trail.entries.is_empty() {
        lines.push(Line::from(
            "Nothing yet: no run of this release has started.",
        ));
        return Message::new(lines);
    }
    let skipped = trail.entries.len().saturating_sub(SHOWN_IN_SLACK);
    if skipped > 0 {
        lines.push(Line::from(
            format!("({skipped} older entries left out; GET /audit has them all)").as_str(),
        ));
    }
    for entry in &trail.entries[skipped..] {
        lines.push(entry_line(entry));
    }
    Message::new(lines)
}

fn entry_line(entry: &TrailEntry) -> Line {
    let line = Line::new()
        .plain("• ")
        .date(entry.at)
        .plain(format!(" · {} · ", entry.subject));
    let line = if is_person(&entry.who) {
        line.user(entry.who.clone())
    } else {
        line.plain(entry.who.clone())
    };
    let via = entry
        .via
        .as_ref()
        .map_or_else(String::new, |via| format!(" (via {via})"));
    line.plain(format!(" {}: {}{via}", verb(&entry.action), entry.detail))
}

/// A Slack user id, as opposed to the bot, the operator token, the webhook or the poller.
fn is_person(who: &str) -> bool {
    who.len() > 2
        && who.starts_with(['U', 'W'])
        && who
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn verb(action: &str) -> &str {
    match action {
        "started" => "asked for",
        "decision" => "decided",
        "vote" => "voted",
        "decision_refused" | "request_refused" => "was refused",
        "envelope_ignored" => "was ignored (another workspace or app)",
        "superseded" => "superseded the run",
        "expired" => "let it expire",
        "step" => "settled",
        other => other,
    }
}

/// The trail as CSV (RFC 4180, with a header). A cell that a spreadsheet would take for a
/// formula is prefixed with `'`.
pub fn csv(trail: &Trail) -> String {
    let mut out = String::from("at,repo,version,run,subject,who,action,detail,via\r\n");
    for e in &trail.entries {
        let at = e.at.to_rfc3339();
        let via = e.via.as_deref().unwrap_or_default();
        let cells = [
            at.as_str(),
            &trail.repo,
            &trail.version,
            &e.run,
            &e.subject,
            &e.who,
            &e.action,
            &e.detail,
            via,
        ];
        let row: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(who: &str, action: &str, detail: &str, via: Option<&str>) -> TrailEntry {
        TrailEntry {
            at: "2026-12-01T10:00:00Z".parse().unwrap(),
            run: "r1".into(),
            subject: "Release Billo.Api 1.4.3".into(),
            who: who.into(),
            action: action.into(),
            detail: detail.into(),
            via: via.map(str::to_owned),
        }
    }

    fn trail(entries: Vec<TrailEntry>) -> Trail {
        Trail {
            repo: "Billo.Api".into(),
            version: "1.4.3".into(),
            entries,
        }
    }

    #[test]
    fn refusals_read_without_the_approval_id() {
        assert_eq!(
            readable("merge on approval 0b5c-11 refused: own_pr"),
            "merge, refused: own_pr"
        );
        assert_eq!(readable("chose approve at stage"), "chose approve at stage");
    }

    #[test]
    fn slack_names_people_and_the_way_they_came() {
        let text = message(&trail(vec![
            entry(
                "U0ADA",
                "started",
                "Release Billo.Api 1.4.3",
                Some("slash command"),
            ),
            entry(
                "release-agent",
                "step",
                "ask_stage → stages: Sandbox was approved or rejected in Azure DevOps",
                Some("Azure DevOps"),
            ),
        ]))
        .plain_text();
        assert!(
            text.contains(
                "• 2026-12-01T10:00:00Z · Release Billo.Api 1.4.3 · @U0ADA asked for: Release \
                 Billo.Api 1.4.3 (via slash command)"
            ),
            "{text}"
        );
        assert!(
            text.contains("release-agent settled: ask_stage → stages: Sandbox was approved or rejected in Azure DevOps (via Azure DevOps)"),
            "{text}"
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let out = csv(&trail(vec![entry(
            "U0ADA",
            "decision",
            "=HYPERLINK(\"x\"), then",
            Some("button"),
        )]));
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "at,repo,version,run,subject,who,action,detail,via"
        );
        assert_eq!(
            lines[1],
            "2026-12-01T10:00:00+00:00,Billo.Api,1.4.3,r1,Release Billo.Api 1.4.3,U0ADA,decision,\"'=HYPERLINK(\"\"x\"\"), then\",button"
        );
    }
}
