//! What can go wrong with a request, sorted so a caller can act on it: credentials refused,
//! denied, not found, a conflict, throttled, a server error, no answer, or an answer we do not
//! understand. Each carries the service's own message, never a credential.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error(
        "{service} refused the credentials in {var} (HTTP {status}); check that it is valid, not expired, and has the scopes the bot needs"
    )]
    Auth {
        service: &'static str,
        var: &'static str,
        status: u16,
    },
    #[error(
        "{service} denied access: {message} (HTTP 403; the account behind {var} lacks a permission)"
    )]
    Forbidden {
        service: &'static str,
        var: &'static str,
        message: String,
    },
    #[error("{service}: not found or not visible to the bot: {message}")]
    NotFound {
        service: &'static str,
        message: String,
    },
    #[error("{service}: conflict: {message}")]
    Conflict {
        service: &'static str,
        type_key: Option<String>,
        message: String,
    },
    #[error("{service} is throttling the bot; try again in {}s", retry_after.as_secs())]
    RateLimited {
        service: &'static str,
        retry_after: Duration,
    },
    #[error("{service} answered HTTP {status}: {message}")]
    Status {
        service: &'static str,
        status: u16,
        /// Azure DevOps' `typeKey` (which refusal this is), when it sends one.
        type_key: Option<String>,
        message: String,
    },
    #[error("{service} did not answer within {}s", timeout.as_secs())]
    Timeout {
        service: &'static str,
        timeout: Duration,
    },
    /// The proxy between the bot and the service refused (407, a refused `CONNECT`): a
    /// setting to fix, not a failure to wait out.
    #[error("cannot reach {service}: {detail}")]
    Proxy {
        service: &'static str,
        detail: String,
    },
    #[error("cannot reach {service}: {detail}")]
    Transport {
        service: &'static str,
        detail: String,
    },
    #[error("{service} answered something unexpected: {detail}")]
    Decode {
        service: &'static str,
        detail: String,
    },
}

impl HttpError {
    /// Whether the same request may work later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The outcome label of this error in the external-call metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Auth { .. } | Self::Forbidden { .. } => "denied",
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::Status { status, .. } if *status >= 500 => "server_error",
            Self::Status { .. } => "client_error",
            Self::Timeout { .. } => "timeout",
            Self::Transport { .. } => "transport",
            Self::Proxy { .. } => "proxy",
            Self::Decode { .. } => "unexpected",
        }
    }

    /// How long the service asked us to wait (429/503 `Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// The human message and the machine key of an error body: Azure DevOps sends
/// `{"message","typeKey"}`, Jira `{"errorMessages":[…],"errors":{field: msg}}`. Anything else
/// is shown shortened.
pub(super) fn describe(body: &str) -> (String, Option<String>) {
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        let text = body.split_whitespace().collect::<Vec<_>>().join(" ");
        let shown = if text.is_empty() {
            "(no details)".to_owned()
        } else {
            text.chars().take(300).collect()
        };
        return (shown, None);
    };
    let type_key = json["typeKey"].as_str().map(str::to_owned);
    if let Some(message) = json["message"].as_str() {
        return (message.to_owned(), type_key);
    }
    let mut parts: Vec<String> = json["errorMessages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    if let Some(errors) = json["errors"].as_object() {
        parts.extend(
            errors
                .iter()
                .map(|(field, m)| format!("{field}: {}", m.as_str().unwrap_or_default())),
        );
    }
    if parts.is_empty() {
        (json.to_string().chars().take(300).collect(), type_key)
    } else {
        (parts.join("; "), type_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_services_are_described() {
        let azdo = r#"{"$id":"1","message":"TF401192: The source branch has been modified.","typeKey":"GitPullRequestStaleException"}"#;
        assert_eq!(
            describe(azdo),
            (
                "TF401192: The source branch has been modified.".into(),
                Some("GitPullRequestStaleException".into())
            )
        );
        let jira = r#"{"errorMessages":["Issue does not exist"],"errors":{"summary":"Field is required"}}"#;
        assert_eq!(
            describe(jira).0,
            "Issue does not exist; summary: Field is required"
        );
        assert_eq!(
            describe("<html>\n  <b>oops</b></html>").0,
            "<html> <b>oops</b></html>"
        );
        assert_eq!(describe("").0, "(no details)");
    }

    #[test]
    fn only_throttling_timeouts_transport_and_5xx_are_transient() {
        let s = "Azure DevOps";
        assert!(
            HttpError::Status {
                service: s,
                status: 502,
                type_key: None,
                message: String::new()
            }
            .is_transient()
        );
        assert!(
            !HttpError::Status {
                service: s,
                status: 400,
                type_key: None,
                message: String::new()
            }
            .is_transient()
        );
        assert!(
            !HttpError::Auth {
                service: s,
                var: "AZDO_PAT",
                status: 401
            }
            .is_transient()
        );
        let throttled = HttpError::RateLimited {
            service: s,
            retry_after: Duration::from_secs(9),
        };
        assert!(throttled.is_transient());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(9)));
    }
}
