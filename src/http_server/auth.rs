//! Shared-secret checks. Both sides are hashed first and the digests compared in constant time,
//! so neither the content nor the length of the secret shows in the timing.

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, HttpSettings};
use crate::workflow::intake::OPERATOR;

pub const WEBHOOK_HEADER: &str = "x-webhook-secret";
pub const OPERATOR_HEADER: &str = "x-operator-token";

/// Whether `given` is `secret`, in constant time.
pub fn same(given: &[u8], secret: &SecretString) -> bool {
    let given = Sha256::digest(given);
    let wanted = Sha256::digest(secret.expose_secret().as_bytes());
    given.ct_eq(&wanted).into()
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

/// A webhook carries WEBHOOK_SECRET in `X-Webhook-Secret` or as the Basic auth password (what
/// Azure DevOps' "basic authentication" option sends).
pub fn webhook(headers: &HeaderMap, secret: Option<&SecretString>) -> Result<(), ApiError> {
    let Some(secret) = secret else {
        return Err(unauthorized(
            "webhooks are refused: WEBHOOK_SECRET is not set on the bot",
        ));
    };
    let header_secret = headers.get(WEBHOOK_HEADER).map(|v| v.as_bytes().to_vec());
    let basic_password = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|pair| {
            let colon = pair.iter().position(|&b| b == b':')?;
            Some(pair[colon + 1..].to_vec())
        });
    match header_secret.or(basic_password) {
        None => Err(unauthorized(
            "missing secret: send WEBHOOK_SECRET in X-Webhook-Secret or as the Basic auth password",
        )),
        Some(given) if same(&given, secret) => Ok(()),
        Some(_) => Err(unauthorized("wrong webhook secret")),
    }
}

/// Who an operator request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A token of OPERATOR_TOKENS: that Slack user.
    Person(String),
    /// OPERATOR_TOKEN, which names nobody.
    Nameless,
}

impl Caller {
    /// Whom runs started with this token are recorded as started by.
    pub fn name(&self) -> &str {
        match self {
            Self::Person(user) => user,
            Self::Nameless => OPERATOR,
        }
    }
}

/// The operator API wants a token of OPERATOR_TOKENS, or OPERATOR_TOKEN, in `X-Operator-Token`.
pub fn operator(headers: &HeaderMap, settings: &HttpSettings) -> Result<Caller, ApiError> {
    if settings.operator_token.is_none() && settings.operator_tokens.is_empty() {
        return Err(unauthorized(
            "the operator API is off: neither OPERATOR_TOKEN nor OPERATOR_TOKENS is set on the bot",
        ));
    }
    let Some(given) = headers.get(OPERATOR_HEADER).map(|v| v.as_bytes()) else {
        return Err(unauthorized("missing X-Operator-Token header"));
    };
    // Every token is compared, so the time taken does not tell which one matched.
    let mut caller = None;
    for person in &settings.operator_tokens {
        if same(given, &person.token) && caller.is_none() {
            caller = Some(Caller::Person(person.user.clone()));
        }
    }
    if let Some(token) = &settings.operator_token
        && same(given, token)
        && caller.is_none()
    {
        caller = Some(Caller::Nameless);
    }
    caller.ok_or_else(|| unauthorized("wrong operator token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_webhook_secret_is_taken_from_the_header_or_the_basic_password() {
        let secret = SecretString::from("s3cret-s3cret-s3cret");
        assert!(
            webhook(
                &headers(&[(WEBHOOK_HEADER, "s3cret-s3cret-s3cret")]),
                Some(&secret)
            )
            .is_ok()
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("azdo:s3cret-s3cret-s3cret");
        let auth = format!("Basic {basic}");
        assert!(webhook(&headers(&[("authorization", &auth)]), Some(&secret)).is_ok());
        let wrong = webhook(&headers(&[(WEBHOOK_HEADER, "s3cret")]), Some(&secret)).unwrap_err();
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.message, "wrong webhook secret");
        assert!(webhook(&headers(&[]), Some(&secret)).is_err());
        assert!(
            webhook(&headers(&[(WEBHOOK_HEADER, "")]), None).is_err(),
            "no secret configured refuses everything"
        );
    }
}
