//! How a repository names its version tags (`tag_format`, default `v{version}`): the bot reads
//! its last version from them and tags each release with one.

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::Version;

const PLACEHOLDER: &str = "{version}";

/// A tag name with `{version}` in it once, such as `v{version}` or `api-{version}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFormat {
    prefix: String,
    suffix: String,
}

impl Default for TagFormat {
    fn default() -> Self {
        Self {
            prefix: "v".into(),
            suffix: String::new(),
        }
    }
}

impl TagFormat {
    /// Checks that the format holds `{version}` once and that every tag it makes is a valid git
    /// ref name (`git check-ref-format`'s rules for the characters a setting could bring).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (prefix, suffix) = text.split_once(PLACEHOLDER).ok_or_else(|| {
            format!("tag_format `{text}` has no `{PLACEHOLDER}`; write it like `v{PLACEHOLDER}`")
        })?;
        if suffix.contains(PLACEHOLDER) {
            return Err(format!("tag_format `{text}` has `{PLACEHOLDER}` twice"));
        }
        let fixed = format!("{prefix}{suffix}");
        let bad = fixed
            .chars()
            .find(|&c| c.is_ascii_control() || c.is_whitespace() || "~^:?*[\\{}".contains(c));
        let malformed = bad.is_some()
            || fixed.contains("..")
            || fixed.contains("@{")
            || fixed.contains("//")
            || prefix.starts_with(['/', '.', '-'])
            || suffix.ends_with(['/', '.'])
            || suffix.ends_with(".lock");
        if malformed {
            return Err(format!(
                "tag_format `{text}` would not make a valid git tag name (no spaces, `~^:?*[\\`, \
                 `..` or a leading `/`, `.` or `-`)"
            ));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The tag of `version`.
    pub fn name(&self, version: Version) -> String {
        format!("{}{version}{}", self.prefix, self.suffix)
    }

    /// The version a tag of this format names; `None` for any other tag.
    pub fn version_of(&self, tag: &str) -> Option<Version> {
        let inner = tag.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        // Exactly `x.y.z`: `v1.2.3-rc.1` is not a release.
        if inner.starts_with('v') {
            return None;
        }
        inner.parse().ok()
    }

    /// The highest version among `tags` of this format.
    pub fn highest<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> Option<Version> {
        tags.into_iter().filter_map(|t| self.version_of(t)).max()
    }
}

impl fmt::Display for TagFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{PLACEHOLDER}{}", self.prefix, self.suffix)
    }
}

impl<'de> Deserialize<'de> for TagFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_made_and_read_in_the_format() {
        let v = TagFormat::default();
        assert_eq!(v.name(Version::new(2, 3, 1)), "v2.3.1");
        assert_eq!(v.version_of("v2.3.1"), Some(Version::new(2, 3, 1)));
        assert_eq!(v.version_of("2.3.1"), None);
        assert_eq!(v.version_of("v2.3.1-rc.1"), None);
        assert_eq!(v.version_of("vv2.3.1"), None);
        assert_eq!(
            v.highest(["v2.3.1", "v2.10.0", "api-9.0.0", "v3.0"]),
            Some(Version::new(2, 10, 0))
        );
        let api = TagFormat::parse("api/{version}-release").unwrap();
        assert_eq!(api.name(Version::new(1, 0, 0)), "api/1.0.0-release");
        assert_eq!(
            api.version_of("api/1.0.0-release"),
            Some(Version::new(1, 0, 0))
        );
        assert_eq!(api.to_string(), "api/{version}-release");
        assert_eq!(
            TagFormat::parse("{version}")
                .unwrap()
                .name(Version::new(1, 2, 3)),
            "1.2.3"
        );
    }

    #[test]
    fn a_bad_format_says_what_is_wrong() {
        assert!(
            TagFormat::parse("v")
                .unwrap_err()
                .contains("has no `{version}`")
        );
        assert!(
            TagFormat::parse("{version}-{version}")
                .unwrap_err()
                .contains("twice")
        );
        for bad in [
            "release {version}",
            "v{version}..",
            "-{version}",
            "v~{version}",
            "{version}.lock",
        ] {
            assert!(
                TagFormat::parse(bad)
                    .unwrap_err()
                    .contains("valid git tag name"),
                "{bad}"
            );
        }
    }
}
