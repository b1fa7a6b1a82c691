//! A repository's review rules: `.release-agent/review.toml`, read from the PR's target branch
//! (never from the PR, which could otherwise change the rules it is reviewed by).

use serde::Deserialize;

use super::Severity;
use crate::git::PathFilter;

/// Where the rules are, in the repository.
pub const RULES_FILE: &str = ".release-agent/review.toml";

/// The most of `instructions` that goes into a prompt.
const INSTRUCTIONS_MAX: usize = 4_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRules {
    /// Added to the prompt.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Globs of files left out of reviews, besides lock files and generated code.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// The most findings a review reports; the most severe are kept (`workflow::pr::memory`).
    #[serde(default)]
    pub max_findings: Option<usize>,
    /// Findings less severe than this go to the summary only, not to inline threads.
    #[serde(default)]
    pub min_inline_severity: Option<Severity>,
}

impl ReviewRules {
    /// The rules in `text`, or what is wrong with them.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rules: Self = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        if rules
            .instructions
            .as_ref()
            .is_some_and(|i| i.chars().count() > INSTRUCTIONS_MAX)
        {
            return Err(format!(
                "instructions are longer than {INSTRUCTIONS_MAX} characters"
            ));
        }
        if rules.max_findings == Some(0) {
            return Err("max_findings must be at least 1".into());
        }
        PathFilter::generated_and(&rules.ignore).map_err(|e| format!("ignore: {e}"))?;
        Ok(rules)
    }

    /// The files these rules leave out, generated ones included.
    pub fn filter(&self) -> PathFilter {
        // `parse` checked the globs.
        PathFilter::generated_and(&self.ignore).unwrap_or_default()
    }

    /// Whether a finding of `severity` may get an inline thread.
    pub fn inline(&self, severity: Severity) -> bool {
        self.min_inline_severity.is_none_or(|min| severity <= min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_read_and_unknown_ones_are_refused() {
        let rules = ReviewRules::parse(
            "instructions = \"Prefer thiserror.\"\nignore = [\"docs/**\"]\nmax_findings = 3\nmin_inline_severity = \"major\"\n",
        )
        .unwrap();
        assert_eq!(rules.instructions.as_deref(), Some("Prefer thiserror."));
        assert!(rules.filter().skips("docs/a.md") && rules.filter().skips("Cargo.lock"));
        assert!(rules.inline(Severity::Critical) && !rules.inline(Severity::Minor));
        let error = ReviewRules::parse("max_finding = 3").unwrap_err();
        assert!(error.contains("unknown field `max_finding`"), "{error}");
        let error = ReviewRules::parse("min_inline_severity = \"huge\"").unwrap_err();
        assert!(error.contains("huge"), "{error}");
        assert!(
            ReviewRules::parse("ignore = [\"[\"]")
                .unwrap_err()
                .starts_with("ignore: ")
        );
    }
}
