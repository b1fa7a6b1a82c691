//! Semantic bumps: what a merged PR does to its repository's next version, read the way
//! release-please and release-plz read conventional commits, from the PR's title, description
//! and labels (Azure DevOps squashes or merges a PR under its title).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Version;

/// Ordered: the highest bump among a release's PRs decides its version.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    /// Anything that is not a feature or a breaking change (a PR staged before bumps existed).
    #[default]
    Patch,
    Minor,
    Major,
}

impl Bump {
    /// The bump of a PR:
    /// - a label `release:major|minor|patch` wins (the highest, if there are several);
    /// - `major` for a `!` after the title's type (`feat!:`, `fix(api)!:`) or `BREAKING CHANGE`
    ///   (or `BREAKING-CHANGE`) in the description;
    /// - `minor` for a `feat:` title;
    /// - `patch` otherwise.
    pub fn of(title: &str, description: &str, labels: &[String]) -> Self {
        if let Some(labelled) = labels.iter().filter_map(|l| Self::from_label(l)).max() {
            return labelled;
        }
        let breaking_text =
            description.contains("BREAKING CHANGE") || description.contains("BREAKING-CHANGE");
        match conventional_type(title) {
            Some((_, true)) => Self::Major,
            _ if breaking_text => Self::Major,
            Some((kind, false)) if kind.eq_ignore_ascii_case("feat") => Self::Minor,
            _ => Self::Patch,
        }
    }

    fn from_label(label: &str) -> Option<Self> {
        let (prefix, level) = label.trim().split_once(':')?;
        if !prefix.trim().eq_ignore_ascii_case("release") {
            return None;
        }
        match level.trim().to_ascii_lowercase().as_str() {
            "major" => Some(Self::Major),
            "minor" => Some(Self::Minor),
            "patch" => Some(Self::Patch),
            _ => None,
        }
    }

    /// How release notes title the PRs of this bump.
    pub fn heading(self) -> &'static str {
        match self {
            Self::Major => "Breaking",
            Self::Minor => "Features",
            Self::Patch => "Fixes",
        }
    }
}

impl fmt::Display for Bump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Major => "major",
            Self::Minor => "minor",
            Self::Patch => "patch",
        })
    }
}

/// `feat(api)!: x` → `("feat", true)`; `None` when the title does not start with a type.
fn conventional_type(title: &str) -> Option<(&str, bool)> {
    let (head, _) = title.trim_start().split_once(':')?;
    let (head, bang) = match head.strip_suffix('!') {
        Some(head) => (head, true),
        None => (head, false),
    };
    let kind = match head.split_once('(') {
        Some((kind, scope)) if scope.ends_with(')') && !scope[..scope.len() - 1].contains(')') => {
            kind
        }
        Some(_) => return None,
        None => head,
    };
    let word = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    word.then_some((kind, bang))
}

impl Version {
    /// The version after this one for `bump`. While the major version is 0, a major bump is a
    /// minor one when `minor_pre_major` (release-please's `bump-minor-pre-major`).
    pub fn bumped(self, bump: Bump, minor_pre_major: bool) -> Self {
        match bump {
            Bump::Major if self.major == 0 && minor_pre_major => self.bumped(Bump::Minor, false),
            Bump::Major => Self::new(self.major + 1, 0, 0),
            Bump::Minor => Self::new(self.major, self.minor + 1, 0),
            Bump::Patch => self.next_patch(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn titles_descriptions_and_labels_decide_the_bump() {
        let of = |title: &str, description: &str| Bump::of(title, description, &[]);
        assert_eq!(of("feat: login page", ""), Bump::Minor);
        assert_eq!(of("Feat(auth): login page", ""), Bump::Minor);
        assert_eq!(of("fix: login page", ""), Bump::Patch);
        assert_eq!(of("Login page", ""), Bump::Patch);
        assert_eq!(of("feat!: drop v1", ""), Bump::Major);
        assert_eq!(of("refactor(api)!: rename", ""), Bump::Major);
        assert_eq!(
            of("fix: x", "Why.\n\nBREAKING CHANGE: the v1 API is gone"),
            Bump::Major
        );
        assert_eq!(of("chore: x", "BREAKING-CHANGE: y"), Bump::Major);
        assert_eq!(of("fix: x", "not a breaking change"), Bump::Patch);
        assert_eq!(of("feature request: x", ""), Bump::Patch, "not a type");
        assert_eq!(
            of("feat (api): x", ""),
            Bump::Patch,
            "no space before a scope"
        );
        assert_eq!(of("feat(a)b: x", ""), Bump::Patch);
        assert_eq!(of("Re: feat: x", ""), Bump::Patch);

        let labelled = |names: &[&str]| Bump::of("feat!: x", "BREAKING CHANGE", &labels(names));
        assert_eq!(labelled(&["release:patch"]), Bump::Patch, "a label wins");
        assert_eq!(labelled(&["Release: Minor", "release:patch"]), Bump::Minor);
        assert_eq!(
            labelled(&["bug", "release:huge"]),
            Bump::Major,
            "not a release label"
        );
    }

    #[test]
    fn versions_bump_semantically() {
        let v = Version::new(1, 4, 2);
        assert_eq!(v.bumped(Bump::Patch, false), Version::new(1, 4, 3));
        assert_eq!(v.bumped(Bump::Minor, false), Version::new(1, 5, 0));
        assert_eq!(v.bumped(Bump::Major, true), Version::new(2, 0, 0));
        let zero = Version::new(0, 3, 1);
        assert_eq!(zero.bumped(Bump::Major, false), Version::new(1, 0, 0));
        assert_eq!(zero.bumped(Bump::Major, true), Version::new(0, 4, 0));
        assert!(Bump::Major > Bump::Minor && Bump::Minor > Bump::Patch);
        assert_eq!(Bump::default(), Bump::Patch);
    }
}
