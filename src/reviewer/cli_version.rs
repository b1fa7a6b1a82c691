//! Whether the installed Claude Code CLI is new enough for the flags the bot passes.
//!
//! The oldest version is 2.1.162: before it, `--tools Read,Grep,Glob` silently left Grep and Glob
//! out on the CLI's native builds (its CHANGELOG, 2.1.162), so a review could only read files it
//! already knew. The other flags (`--json-schema`, `--permission-mode dontAsk`,
//! `--setting-sources`, `--strict-mcp-config`, `--max-budget-usd`) are older than that.

/// The oldest CLI whose flags the bot relies on.
pub const OLDEST: (u32, u32, u32) = (2, 1, 162);

/// `claude --version`'s first word, `2.1.330` of `2.1.330 (Claude Code)`, as numbers.
fn parse(text: &str) -> Option<(u32, u32, u32)> {
    let word = text.split_whitespace().next()?;
    let mut parts = word.split('.').map(|p| p.parse::<u32>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

/// What `check` and `serve` say about `text`, the CLI's answer to `--version`: fine, or what to
/// upgrade. An answer that is not a version is let through with a note, not refused.
pub fn judge(text: &str) -> Result<String, String> {
    let (a, b, c) = OLDEST;
    match parse(text) {
        Some(version) if version >= OLDEST => Ok(text.to_owned()),
        Some(_) => Err(format!(
            "{text} is older than {a}.{b}.{c}, the oldest whose flags the bot uses (before it, \
             --tools leaves Grep and Glob out). Upgrade the CLI: `claude update`, or \
             `npm install -g @anthropic-ai/claude-code@latest`, or rebuild the image with a newer \
             CLAUDE_CODE_VERSION"
        )),
        None => Ok(format!(
            "{text} (not a version the bot can read; it needs {a}.{b}.{c} or later)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_compared_as_numbers() {
        assert_eq!(parse("2.1.330 (Claude Code)"), Some((2, 1, 330)));
        assert!(judge("2.1.330 (Claude Code)").is_ok());
        assert!(judge("2.1.162 (Claude Code)").is_ok());
        assert!(judge("3.0.0").is_ok());
        let old = judge("2.1.99 (Claude Code)").unwrap_err();
        assert!(
            old.starts_with("2.1.99 (Claude Code) is older than 2.1.162"),
            "{old}"
        );
        assert!(old.contains("claude update"), "{old}");
    }

    #[test]
    fn an_answer_that_is_no_version_is_noted() {
        assert_eq!(parse("2.1"), None);
        assert_eq!(parse("2.1.x"), None);
        let noted = judge("dev build").unwrap();
        assert!(noted.contains("needs 2.1.162 or later"), "{noted}");
    }
}
