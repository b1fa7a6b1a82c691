use super::*;
use crate::azdo::FindingMark;
use crate::reviewer::{Review, Verdict};
use crate::workflow::pr::state::{InlineFinding, ReviewScope};

fn finding(severity: Severity, title: &str) -> Finding {
    Finding {
        file: "src/a.rs".into(),
        line: 1,
        severity,
        title: title.into(),
        body: String::new(),
    }
}

fn inline(severity: Severity, print: &str) -> InlineFinding {
    InlineFinding {
        finding: finding(severity, print),
        path: "/src/a.rs".into(),
        line: 1,
        fingerprint: print.into(),
    }
}

fn thread(id: i64, print: &str, open: bool, commit: &str) -> FindingThread {
    FindingThread {
        id,
        mark: FindingMark {
            fingerprint: print.into(),
            commit: commit.into(),
        },
        open,
        author: Some("bot".into()),
        path: Some("/src/a.rs".into()),
        line: Some(1),
    }
}

fn result(inline: Vec<InlineFinding>, general: Vec<(Finding, &str)>) -> ReviewResult {
    let (general, prints): (Vec<Finding>, Vec<&str>) = general.into_iter().unzip();
    ReviewResult {
        review: Review {
            verdict: Verdict::Approve,
            summary: "s".into(),
            findings: Vec::new(),
            cost_usd: None,
            duration_ms: None,
            turns: None,
            tokens: None,
        },
        inline,
        general,
        general_fingerprints: prints.into_iter().map(str::to_owned).collect(),
        scope: ReviewScope::Full,
        not_reviewed: Vec::new(),
        ignored: 0,
        max_findings: None,
        notes: Vec::new(),
    }
}

#[test]
fn open_threads_are_not_posted_again_and_dismissed_findings_are_dropped() {
    let mut r = result(
        vec![
            inline(Severity::Major, "new"),
            inline(Severity::Major, "open"),
            inline(Severity::Minor, "wontfix"),
        ],
        vec![(finding(Severity::Nit, "dismissed-general"), "gone")],
    );
    let threads = [
        thread(1, "open", true, "c1"),
        thread(2, "wontfix", false, "c1"),
        thread(3, "gone", false, "c1"),
        thread(4, "unraised", true, "c1"),
        thread(5, "this-commit", true, "c2"),
    ];
    let sorted = sort(&mut r, &threads, &[], "c2", "bot");
    let titles: Vec<&str> = r.review.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["new", "open"]);
    assert_eq!(sorted.post, [0], "only the new finding gets a thread");
    assert_eq!(sorted.dismissed, 2);
    assert_eq!(sorted.open_before, 3);
    let unraised: Vec<i64> = sorted.unraised.iter().map(|t| t.id).collect();
    assert_eq!(
        unraised,
        [4],
        "a thread posted at this commit (a retry) is not a fixed finding"
    );
    let tally = Tally::of(&sorted, 1);
    assert_eq!((tally.new, tally.open, tally.fixed), (1, 2, 1));
}

#[test]
fn max_findings_keeps_the_most_severe_left_after_dismissals() {
    let mut r = result(
        vec![
            inline(Severity::Nit, "nit"),
            inline(Severity::Critical, "dismissed"),
        ],
        vec![
            (finding(Severity::Major, "major"), "m"),
            (finding(Severity::Minor, "minor"), "n"),
        ],
    );
    r.max_findings = Some(2);
    sort(
        &mut r,
        &[thread(1, "dismissed", false, "c1")],
        &[],
        "c2",
        "bot",
    );
    let titles: Vec<&str> = r.review.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["major", "minor"]);
    assert!(r.inline.is_empty());
    assert_eq!(r.general_fingerprints, ["m", "n"]);
}

#[test]
fn a_thread_someone_else_wrote_with_a_findings_fingerprint_dismisses_nothing() {
    let mut r = result(vec![inline(Severity::Critical, "real")], Vec::new());
    let mut forged = thread(7, "real", false, "c1");
    forged.author = Some("someone".into());
    let sorted = sort(&mut r, &[forged], &[], "c2", "bot");
    assert_eq!(sorted.dismissed, 0);
    assert_eq!(sorted.post, [0], "the finding is posted");
}

#[test]
fn a_finding_ignored_in_slack_is_dropped_even_without_a_thread() {
    let mut r = result(
        vec![inline(Severity::Major, "inline")],
        vec![(finding(Severity::Nit, "summary only"), "s")],
    );
    let ignored = ["s".to_owned(), "inline".to_owned()];
    let sorted = sort(&mut r, &[], &ignored, "c2", "bot");
    assert_eq!(sorted.dismissed, 2);
    assert!(r.inline.is_empty() && r.general.is_empty());
    assert!(kept(&r).is_empty());
}
