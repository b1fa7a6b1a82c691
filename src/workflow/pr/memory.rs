//! Findings with memory. Each inline thread carries its finding's fingerprint and commit; on the
//! next review of the PR a finding whose thread is open is not posted again, one whose thread a
//! person resolved (fixed, won't fix, closed, by design) is dropped for good, and an open
//! thread whose finding is not raised again and whose code has changed is resolved as fixed,
//! with a note.

use std::collections::{BTreeMap, BTreeSet};

use super::PrFlow;
use super::state::{KeptFinding, PrInfo, ReviewResult, Tally};
use crate::azdo::{FindingThread, Resolved};
use crate::git;
use crate::reviewer::{Finding, Severity, fingerprint};
use crate::workflow::{StepContext, StepError};

/// The findings that count in `result`, once sorted, for the card's thread to refer to.
pub(super) fn kept(result: &ReviewResult) -> Vec<KeptFinding> {
    let keep = |finding: &Finding, fingerprint: &str| KeptFinding {
        fingerprint: fingerprint.to_owned(),
        severity: finding.severity,
        title: finding.title.clone(),
        file: finding.file.clone(),
        line: finding.line,
    };
    let inline = result
        .inline
        .iter()
        .map(|f| keep(&f.finding, &f.fingerprint));
    let general = result
        .general
        .iter()
        .zip(&result.general_fingerprints)
        .map(|(f, print)| keep(f, print));
    let mut found: Vec<KeptFinding> = inline.chain(general).collect();
    found.sort_by_key(|f| f.severity);
    found
}

/// This review's findings sorted against the threads already on the PR.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Sorted {
    /// Indexes into the result's `inline` that get a thread.
    pub post: Vec<usize>,
    /// Open threads whose finding this review did not raise, from an earlier commit.
    pub unraised: Vec<FindingThread>,
    pub open_before: usize,
    pub dismissed: usize,
}

/// Takes the dismissed findings out of `result` (those whose thread a person resolved, and
/// those `ignored` in Slack), caps what is left at its `max_findings`, and says which inline
/// findings are new. Only threads the bot (`me`) wrote count: anyone who may comment could add
/// a thread carrying a finding's fingerprint.
pub(super) fn sort(
    result: &mut ReviewResult,
    threads: &[FindingThread],
    ignored: &[String],
    commit: &str,
    me: &str,
) -> Sorted {
    let threads: Vec<&FindingThread> = threads
        .iter()
        .filter(|t| t.author.as_deref() == Some(me))
        .collect();
    let dismissed: BTreeSet<&str> = threads
        .iter()
        .filter(|t| !t.open)
        .map(|t| t.mark.fingerprint.as_str())
        .chain(ignored.iter().map(String::as_str))
        .collect();
    let open: BTreeMap<&str, &FindingThread> = threads
        .iter()
        .filter(|t| t.open)
        .map(|t| (t.mark.fingerprint.as_str(), *t))
        .collect();
    let before = result.inline.len() + result.general.len();
    result
        .inline
        .retain(|f| !dismissed.contains(f.fingerprint.as_str()));
    let general: Vec<(Finding, String)> = std::mem::take(&mut result.general)
        .into_iter()
        .zip(std::mem::take(&mut result.general_fingerprints))
        .filter(|(_, print)| !dismissed.contains(print.as_str()))
        .collect();
    (result.general, result.general_fingerprints) = general.into_iter().unzip();
    let dismissed = before - result.inline.len() - result.general.len();
    cap(result);
    let raised: BTreeSet<&str> = result
        .inline
        .iter()
        .map(|f| f.fingerprint.as_str())
        .chain(result.general_fingerprints.iter().map(String::as_str))
        .collect();
    Sorted {
        post: (0..result.inline.len())
            .filter(|&i| !open.contains_key(result.inline[i].fingerprint.as_str()))
            .collect(),
        unraised: open
            .values()
            .filter(|t| !raised.contains(t.mark.fingerprint.as_str()) && t.mark.commit != commit)
            .map(|&t| t.clone())
            .collect(),
        open_before: open.len(),
        dismissed,
    }
}

/// Keeps the `max_findings` most severe of the findings left, inline or not (the model's order
/// among equals); the review's own list becomes what is reported.
fn cap(result: &mut ReviewResult) {
    if let Some(max) = result.max_findings {
        let mut ranked: Vec<(Severity, bool, usize)> = result
            .inline
            .iter()
            .enumerate()
            .map(|(i, f)| (f.finding.severity, true, i))
            .chain(
                result
                    .general
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.severity, false, i)),
            )
            .collect();
        ranked.sort_by_key(|r| r.0);
        let kept: BTreeSet<(bool, usize)> = ranked
            .into_iter()
            .take(max)
            .map(|(_, inline, i)| (inline, i))
            .collect();
        let inline = std::mem::take(&mut result.inline);
        result.inline = inline
            .into_iter()
            .enumerate()
            .filter(|(i, _)| kept.contains(&(true, *i)))
            .map(|(_, f)| f)
            .collect();
        let general: Vec<_> = std::mem::take(&mut result.general)
            .into_iter()
            .zip(std::mem::take(&mut result.general_fingerprints))
            .enumerate()
            .filter(|(i, _)| kept.contains(&(false, *i)))
            .map(|(_, pair)| pair)
            .collect();
        (result.general, result.general_fingerprints) = general.into_iter().unzip();
    }
    result.review.findings = result
        .inline
        .iter()
        .map(|f| f.finding.clone())
        .chain(result.general.iter().cloned())
        .collect();
}

impl PrFlow {
    /// The finding threads on the PR, read once per reviewed commit (a retry sorts against the
    /// same list, whatever it posted meanwhile).
    pub(super) async fn finding_threads(
        &self,
        ctx: &StepContext<'_>,
        pr: &PrInfo,
    ) -> Result<Vec<FindingThread>, StepError> {
        ctx.once(&format!("finding-threads:{}", pr.commit), |_| async {
            Ok::<_, StepError>(self.azdo.finding_threads(&pr.repo, pr.id).await?)
        })
        .await
    }

    /// Resolves, once each, the threads of findings whose code has changed since they were
    /// raised; returns how many.
    pub(super) async fn resolve_fixed(
        &self,
        ctx: &StepContext<'_>,
        pr: &PrInfo,
        unraised: &[FindingThread],
    ) -> Result<usize, StepError> {
        let dir = self.repos.dir(&pr.repo);
        let mut fixed = 0;
        for thread in unraised {
            if !changed(&dir, &pr.commit, thread).await? {
                continue;
            }
            let note = format!(
                "Fixed in {}: the code this finding was about has changed, and the review of \
                 that commit no longer raises it. (release-agent)",
                super::view::short(&pr.commit)
            );
            ctx.once(&format!("resolve-thread:{}", thread.id), |_| async {
                Ok::<_, StepError>(
                    self.azdo
                        .resolve_thread(&pr.repo, pr.id, thread.id, Some(&note), Resolved::Fixed)
                        .await?,
                )
            })
            .await?;
            fixed += 1;
        }
        Ok(fixed)
    }
}

/// Whether the code around `thread`'s line at its commit is gone from the file at `commit`
/// (or the file is). Unknown (its commit or file is not here any more) counts as unchanged.
async fn changed(
    dir: &std::path::Path,
    commit: &str,
    thread: &FindingThread,
) -> Result<bool, StepError> {
    let (Some(path), Some(line)) = (&thread.path, thread.line) else {
        return Ok(false);
    };
    let path = path.trim_start_matches('/');
    let Ok(Some(then)) = git::file_at(dir, &thread.mark.commit, path).await else {
        return Ok(false);
    };
    let around = fingerprint::context(&then, line);
    Ok(match git::file_at(dir, commit, path).await? {
        Some(now) => !fingerprint::still_in(&now, &around),
        None => true,
    })
}

impl Tally {
    pub(super) fn of(sorted: &Sorted, fixed: usize) -> Self {
        Self {
            new: sorted.post.len(),
            open: sorted.open_before.saturating_sub(fixed),
            fixed,
            dismissed: sorted.dismissed,
        }
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
