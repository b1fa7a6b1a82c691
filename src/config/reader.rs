//! Reading variables: every problem is collected, so one start-up reports them all.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::{ConfigError, ConfigErrors};

pub(super) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            errors: Vec::new(),
        }
    }

    /// Where the values come from, for settings that take several at once.
    pub(super) fn lookup(&self) -> &'a dyn Fn(&str) -> Option<String> {
        self.lookup
    }

    /// A set, non-blank value, trimmed.
    pub(super) fn value(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn any_set(&self, vars: &[&str]) -> bool {
        vars.iter().any(|v| self.value(v).is_some())
    }

    pub(super) fn required(&mut self, var: &'static str, what: &str) -> Option<String> {
        let value = self.value(var);
        if value.is_none() {
            self.fail(var, format!("is required: {what}"));
        }
        value
    }

    pub(super) fn parsed<T>(
        &mut self,
        var: &'static str,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.value(var).unwrap_or_else(|| default.to_owned());
        self.check(var, value, parse)
    }

    /// A whole number of seconds from `min` to `max`.
    pub(super) fn seconds(
        &mut self,
        var: &'static str,
        default: &str,
        min: u64,
        max: u64,
    ) -> Option<Duration> {
        self.parsed(var, default, parse_count(min, max, "seconds"))
            .map(Duration::from_secs)
    }

    /// Like [`parsed`](Self::parsed), for a variable without a default.
    pub(super) fn optional<T>(
        &mut self,
        var: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match self.value(var) {
            Some(value) => self.check(var, value, parse).map(Some),
            None => Some(None),
        }
    }

    pub(super) fn check<T>(
        &mut self,
        var: &'static str,
        value: String,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        parse(&value)
            .map_err(|problem| self.fail(var, problem))
            .ok()
    }

    /// A secret. The message never repeats the value.
    pub(super) fn secret(&mut self, var: &'static str, what: &str) -> Option<SecretString> {
        self.required(var, what).map(SecretString::from)
    }

    /// A secret token with a known prefix. The message never repeats the value.
    pub(super) fn token(
        &mut self,
        var: &'static str,
        prefix: &str,
        what: &str,
    ) -> Option<SecretString> {
        let value = self.required(var, &format!("{what} ({prefix}…)"))?;
        if value.starts_with(prefix) {
            return Some(SecretString::from(value));
        }
        let seen = ["xoxb-", "xapp-", "xoxp-"]
            .into_iter()
            .find(|p| value.starts_with(p))
            .map_or("something else".to_owned(), |p| format!("a {p} token"));
        self.fail(
            var,
            format!("must start with {prefix} ({what}); it holds {seen}"),
        );
        None
    }

    pub(super) fn fail(&mut self, var: &'static str, problem: String) {
        self.errors.push(ConfigError { var, problem });
    }

    pub(super) fn finish<T>(self, value: Option<T>) -> Result<T, ConfigErrors> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => Err(ConfigErrors(self.errors)),
        }
    }
}

pub(super) fn parse_channel(text: &str) -> Result<String, String> {
    let ok = text.len() >= 3
        && matches!(text.as_bytes()[0], b'C' | b'G')
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a channel id; copy the id (C…) from the channel's details, not its name"
        ))
    }
}

/// An http(s) URL without query, trailing slash removed. Credentials in it are refused (they
/// would reach logs, `ps` and `.git/config`), and so is plain http to another machine (tokens
/// would cross the network in clear text). A URL with credentials is never repeated.
pub(super) fn parse_base_url(text: &str) -> Result<Url, String> {
    let trimmed = text.trim_end_matches('/');
    let shown = if text.contains('@') {
        "the URL".to_owned()
    } else {
        format!("`{text}`")
    };
    let url = Url::parse(trimmed).map_err(|e| format!("{shown} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(format!("{shown} must be an http(s) URL without a query"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the URL holds a user name or password (user:password@): remove it; the tokens have \
             variables of their own"
                .into(),
        );
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(format!(
            "{shown} is plain http to another machine: use https, or tokens cross the network in \
             clear text"
        ));
    }
    Ok(url)
}

/// Whether `url` points at this machine.
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // `*.localhost` is loopback too (RFC 6761 §6.3).
        Some(url::Host::Domain(name)) => {
            let name = name.to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

pub(super) fn parse_count(
    min: u64,
    max: u64,
    unit: &'static str,
) -> impl Fn(&str) -> Result<u64, String> {
    move |text| match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` must be a whole number of {unit} from {min} to {max}"
        )),
    }
}

/// A name without spaces or separators (a project or issue type may have spaces; keys may not).
pub(super) fn parse_word(what: &'static str) -> impl Fn(&str) -> Result<String, String> {
    move |text| {
        if text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Ok(text.to_owned())
        } else {
            Err(format!("`{text}` is not a {what}"))
        }
    }
}

pub(super) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("`{text}` must be true or false")),
    }
}

pub(super) fn parse_branch(text: &str) -> Result<String, String> {
    let branch = text.strip_prefix("refs/heads/").unwrap_or(text);
    if branch.is_empty() || branch.contains(char::is_whitespace) {
        Err(format!("`{text}` is not a branch name"))
    } else {
        Ok(branch.to_owned())
    }
}
