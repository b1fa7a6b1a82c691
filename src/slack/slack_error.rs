//! What can go wrong with a Slack Web API call, sorted into what the caller can act on: wait
//! (rate limit), give up (Slack refused), or try again (transport). No message quotes a token or
//! a Socket Mode ticket.

use std::time::Duration;

use slack_morphism::errors::SlackClientError;

use crate::proxy::ProxyError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    #[error("rate limited by Slack; retry in {}s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// Slack answered `ok: false`.
    #[error("Slack refused the call: {code}{}", detail_suffix(detail))]
    Api { code: String, detail: Vec<String> },
    #[error("cannot reach Slack: {0}")]
    Transport(String),
}

fn detail_suffix(detail: &[String]) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({})", detail.join("; "))
    }
}

impl SlackError {
    /// Whether trying again later can help.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Transport(_) => true,
            Self::Api { code, .. } => matches!(
                code.as_str(),
                "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
                    | "ratelimited"
            ),
        }
    }

    /// The outcome label of this error in the external-call metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Api { .. } => "refused",
            Self::Transport(_) => "transport",
        }
    }

    /// Whether the token itself is bad, so nothing will work until the config is fixed.
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Api { code, .. } if matches!(code.as_str(),
            "not_authed" | "invalid_auth" | "account_inactive" | "token_revoked" | "token_expired"
            | "user_removed_from_team" | "team_disabled" | "not_allowed_token_type"))
    }
}

impl From<SlackClientError> for SlackError {
    fn from(error: SlackClientError) -> Self {
        match error {
            SlackClientError::RateLimitError(e) => Self::RateLimited {
                retry_after: e.retry_after.unwrap_or(Duration::from_secs(1)),
            },
            SlackClientError::ApiError(e) => Self::Api {
                code: e.code,
                detail: e.errors.unwrap_or_default(),
            },
            SlackClientError::HttpError(e) => Self::Transport(format!("HTTP {}", e.status_code)),
            // hyper's own text is "client error (Connect)"; the cause says what failed (a
            // refused connection, the proxy's 407).
            SlackClientError::HttpProtocolError(e) => Self::Transport(
                e.cause
                    .as_deref()
                    .map_or_else(|| "HTTP protocol error".to_owned(), |c| cause_chain(c)),
            ),
            // Its text quotes the whole answer, which for apps.connections.open holds the socket
            // ticket: only say what could not be read.
            SlackClientError::ProtocolError(e) => Self::Transport(format!(
                "Slack sent an answer the bot cannot read ({})",
                e.json_error
            )),
            other => Self::Transport(other.to_string()),
        }
    }
}

/// A proxy's refusal if one is in `error`'s chain, else its innermost cause.
pub(super) fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    loop {
        if let Some(proxy) = cause.downcast_ref::<ProxyError>() {
            return proxy.to_string();
        }
        match cause.source() {
            Some(inner) => cause = inner,
            None => return cause.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use slack_morphism::errors::SlackClientProtocolError;

    use super::*;

    #[test]
    fn an_answer_that_cannot_be_read_is_never_quoted() {
        let body = r#"{"ok":true,"url":"wss://wss-primary.slack.com/link/?ticket=s3cret-ticket"#;
        let json_error = serde_json::from_str::<serde_json::Value>(body).unwrap_err();
        let error = SlackError::from(SlackClientError::ProtocolError(SlackClientProtocolError {
            json_error,
            json_body: Some(body.to_owned()),
        }));
        let text = error.to_string();
        assert!(!text.contains("ticket"), "{text}");
        assert!(
            text.starts_with("cannot reach Slack: Slack sent an answer the bot cannot read"),
            "{text}"
        );
    }
}
