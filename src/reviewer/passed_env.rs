//! Which of the bot's variables reach the reviewer: how to get out through a proxy, which CAs to
//! trust, and the credentials of each way to reach Claude (Anthropic's API, an OAuth token,
//! Amazon Bedrock, Google Vertex AI). Nothing else of the bot's environment does; REVIEWER_ENV
//! names more, but never one of the bot's own secrets.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

/// Passed when set, whatever REVIEWER_ENV says.
pub const ALLOWED: [&str; 24] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLOUD_ML_REGION",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// Variables that name a file the CLI reads: the sandbox shows that file, read-only.
pub const FILES: [&str; 5] = [
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
];

/// The bot's own secrets and what it sets for each review: REVIEWER_ENV may not name them.
const REFUSED: [&str; 13] = [
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "AZDO_PAT",
    "JIRA_API_TOKEN",
    "JIRA_EMAIL",
    "DATABASE_URL",
    "WEBHOOK_SECRET",
    "OPERATOR_TOKENS",
    "HOME",
    "TMPDIR",
    "PATH",
    "REVIEWER_ENV",
];

/// The names REVIEWER_ENV lists, comma- or space-separated.
pub fn parse_extra(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for name in text.split([',', ' ']).filter(|n| !n.is_empty()) {
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`{name}` is not a variable name; list names like CORP_CA_BUNDLE, separated by commas"
            ));
        }
        if REFUSED.contains(&name) {
            return Err(format!(
                "`{name}` is the bot's own and never reaches the reviewer; remove it"
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// The values of the allowed names and of `extra` that `lookup` finds, each a secret: a proxy
/// URL holds a password as surely as an API key is one.
pub fn collect(
    lookup: &dyn Fn(&str) -> Option<String>,
    extra: &[String],
) -> Vec<(String, SecretString)> {
    ALLOWED
        .iter()
        .map(|n| (*n).to_owned())
        .chain(
            extra
                .iter()
                .filter(|n| !ALLOWED.contains(&n.as_str()))
                .cloned(),
        )
        .filter_map(|name| {
            let value = lookup(&name).filter(|v| !v.trim().is_empty())?;
            Some((name, SecretString::from(value)))
        })
        .collect()
}

/// The absolute paths that the passed variables in [`FILES`] name.
pub fn files(passed: &[(String, SecretString)]) -> Vec<PathBuf> {
    passed
        .iter()
        .filter(|(name, _)| FILES.contains(&name.as_str()))
        .map(|(_, value)| PathBuf::from(value.expose_secret()))
        .filter(|path| path.is_absolute())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_names_are_checked_and_the_bots_secrets_refused() {
        assert_eq!(
            parse_extra("CORP_TRACE, AWS_CONFIG_FILE CORP_TRACE"),
            Ok(vec!["CORP_TRACE".to_owned(), "AWS_CONFIG_FILE".to_owned()])
        );
        assert!(
            parse_extra("AZDO_PAT")
                .unwrap_err()
                .contains("the bot's own")
        );
        assert!(
            parse_extra("A-B")
                .unwrap_err()
                .contains("not a variable name")
        );
    }

    #[test]
    fn only_set_names_are_passed() {
        let lookup = |name: &str| match name {
            "https_proxy" => Some("http://u:p@proxy:3128".to_owned()),
            "CORP_TRACE" => Some("on".to_owned()),
            "AZDO_PAT" => Some("pat".to_owned()),
            "AWS_REGION" => Some("  ".to_owned()),
            _ => None,
        };
        let names: Vec<String> = collect(&lookup, &["CORP_TRACE".to_owned()])
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["https_proxy", "CORP_TRACE"]);
    }
}
