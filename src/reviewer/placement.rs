//! Where each finding goes: on a line the PR added, an inline thread; anywhere else (an unchanged
//! line, a file outside the diff, a path that leaves the repository), the summary thread.

use super::Finding;
use crate::azdo::Anchor;
use crate::git::PrDiff;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub inline: Vec<(Finding, Anchor)>,
    pub general: Vec<Finding>,
}

pub fn place(findings: &[Finding], diff: &PrDiff) -> Placement {
    let mut placement = Placement::default();
    for finding in findings {
        let path = finding
            .file
            .trim()
            .trim_start_matches("./")
            .trim_start_matches('/');
        let inside = !path.is_empty() && !path.split('/').any(|part| part == "..");
        if inside && diff.adds(path, finding.line) {
            let anchor = Anchor {
                path: format!("/{path}"),
                start_line: finding.line,
                end_line: finding.line,
            };
            placement.inline.push((finding.clone(), anchor));
        } else {
            placement.general.push(finding.clone());
        }
    }
    placement
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::reviewer::Severity;

    fn finding(file: &str, line: u32) -> Finding {
        Finding {
            file: file.into(),
            line,
            severity: Severity::Major,
            title: "t".into(),
            body: "b".into(),
        }
    }

    #[test]
    fn findings_on_added_lines_go_inline_and_the_rest_to_the_summary() {
        let diff = PrDiff {
            patch: String::new(),
            files: Vec::new(),
            insertions: 2,
            deletions: 0,
            added_lines: BTreeMap::from([("src/lib.rs".to_owned(), BTreeSet::from([4, 5]))]),
        };
        let placed = place(
            &[
                finding("./src/lib.rs", 5),
                finding("src/lib.rs", 9),
                finding("README.md", 1),
                finding("../src/lib.rs", 5),
            ],
            &diff,
        );
        assert_eq!(placed.inline.len(), 1);
        assert_eq!(
            placed.inline[0].1,
            Anchor {
                path: "/src/lib.rs".into(),
                start_line: 5,
                end_line: 5
            }
        );
        let general: Vec<(&str, u32)> = placed
            .general
            .iter()
            .map(|f| (f.file.as_str(), f.line))
            .collect();
        assert_eq!(
            general,
            [("src/lib.rs", 9), ("README.md", 1), ("../src/lib.rs", 5)]
        );
    }
}
