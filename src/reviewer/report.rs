//! A review as Markdown: for the PR's summary thread, its inline threads, and the local `review`
//! command.

use std::fmt::Write;

use super::{Finding, Review, Severity, Verdict};

/// The whole review; `general` are the findings that did not get an inline thread (all of them
/// when nothing was placed inline); `notes` say how it was done (its scope, the files left out).
pub fn summary(review: &Review, general: &[Finding], notes: &[String]) -> String {
    let verdict = match review.verdict {
        Verdict::Approve => "Approve",
        Verdict::RequestChanges => "Changes requested",
    };
    let mut out = format!("## AI review: {verdict}\n\n{}\n", review.summary.trim());
    let inline = review.findings.len() - general.len();
    if inline > 0 {
        let _ = writeln!(
            out,
            "\n{inline} finding(s) are commented on the lines they concern."
        );
    }
    if !general.is_empty() {
        let _ = writeln!(out, "\n### Findings");
        for severity in [
            Severity::Critical,
            Severity::Major,
            Severity::Minor,
            Severity::Nit,
        ] {
            for finding in general.iter().filter(|f| f.severity == severity) {
                let _ = writeln!(
                    out,
                    "- **{}** `{}:{}` **{}**: {}",
                    severity.label(),
                    finding.file,
                    finding.line,
                    finding.title.trim(),
                    finding.body.trim()
                );
            }
        }
    }
    for note in notes {
        let _ = writeln!(out, "\n{note}");
    }
    let _ = writeln!(out, "\n{}", footer(review));
    out
}

/// The text of one inline thread.
pub fn inline(finding: &Finding) -> String {
    format!(
        "**{}: {}**\n\n{}",
        finding.severity.label(),
        finding.title.trim(),
        finding.body.trim()
    )
}

fn footer(review: &Review) -> String {
    let mut parts = vec!["_Reviewed by release-agent with Claude Code".to_owned()];
    if let Some(turns) = review.turns {
        parts.push(format!("{turns} turns"));
    }
    if let Some(tokens) = review.tokens {
        parts.push(format!("{tokens} tokens"));
    }
    if let Some(cost) = review.cost_usd {
        parts.push(format!("${cost:.2}"));
    }
    if let Some(ms) = review.duration_ms {
        parts.push(format!("{}s", ms / 1000));
    }
    format!("{}_", parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_grouped_by_severity_with_their_place() {
        let finding = |severity, line| Finding {
            file: "src/lib.rs".into(),
            line,
            severity,
            title: "Title".into(),
            body: "Body.".into(),
        };
        let review = Review {
            verdict: Verdict::RequestChanges,
            summary: "One bug.".into(),
            findings: vec![
                finding(Severity::Minor, 3),
                finding(Severity::Critical, 9),
                finding(Severity::Major, 12),
            ],
            cost_usd: Some(0.1234),
            duration_ms: Some(45_900),
            turns: Some(6),
            tokens: Some(12_345),
        };
        let text = summary(
            &review,
            &review.findings[..2],
            &["Reviewed in full.".into()],
        );
        assert_eq!(
            text,
            "## AI review: Changes requested\n\nOne bug.\n\n1 finding(s) are commented on the lines they concern.\n\n\
             ### Findings\n- **Critical** `src/lib.rs:9` **Title**: Body.\n- **Minor** `src/lib.rs:3` **Title**: Body.\n\n\
             Reviewed in full.\n\n\
             _Reviewed by release-agent with Claude Code · 6 turns · 12345 tokens · $0.12 · 45s_\n"
        );
    }
}
