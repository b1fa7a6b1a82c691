//! A finding's identity across pushes: its file, its title, and the code around its line, each
//! normalised so that moving the code up or down, re-indenting it or re-wording the title's
//! case does not make it a new finding.

use sha2::{Digest, Sha256};

/// Lines read above and below a finding's line.
const AROUND: usize = 2;

/// The code around line `line` (1-based) of `text`: each line trimmed with its inner
/// whitespace collapsed, blank lines left out.
pub fn context(text: &str, line: u32) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = (line as usize).checked_sub(1).filter(|&i| i < lines.len()) else {
        return Vec::new();
    };
    lines[at.saturating_sub(AROUND)..(at + AROUND + 1).min(lines.len())]
        .iter()
        .map(|l| normalise(l))
        .filter(|l| !l.is_empty())
        .collect()
}

/// A short hex digest of the file, the title and the code around the line.
pub fn fingerprint(file: &str, title: &str, context: &[String]) -> String {
    let file = file.trim().trim_start_matches("./").trim_start_matches('/');
    let title = normalise(&title.to_lowercase());
    let mut hash = Sha256::new();
    for part in [file, title.as_str()]
        .into_iter()
        .chain(context.iter().map(String::as_str))
    {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `context` still appears in `text`, as consecutive lines once normalised: when it
/// does not, the code a finding was about has changed.
pub fn still_in(text: &str, context: &[String]) -> bool {
    if context.is_empty() {
        return false;
    }
    let lines: Vec<String> = text
        .lines()
        .map(normalise)
        .filter(|l| !l.is_empty())
        .collect();
    lines.windows(context.len()).any(|w| w == context)
}

fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "fn a() {\n    let x = 1;\n\n    let y   = x + 1;\n    y\n}\n";

    #[test]
    fn moved_or_reindented_code_keeps_its_fingerprint() {
        let here = context(CODE, 4);
        assert_eq!(here, ["let x = 1;", "let y = x + 1;", "y", "}"]);
        let moved = format!("// a comment\n\n{}", CODE.replace("    ", "\t"));
        let there = context(&moved, 6);
        assert_eq!(
            fingerprint("src/a.rs", "Overflow", &here),
            fingerprint("./src/a.rs", " overflow ", &there)
        );
        assert_ne!(
            fingerprint("src/a.rs", "Overflow", &here),
            fingerprint("src/b.rs", "Overflow", &here)
        );
        assert!(context(CODE, 0).is_empty() && context(CODE, 99).is_empty());
    }

    #[test]
    fn changed_code_is_no_longer_found() {
        let around = context(CODE, 4);
        assert!(still_in(&format!("// top\n{CODE}"), &around));
        assert!(!still_in(&CODE.replace("x + 1", "x + 2"), &around));
        assert!(!still_in(CODE, &[]));
    }
}
