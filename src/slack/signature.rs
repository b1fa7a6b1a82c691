//! Slack's request signatures, for Slack over HTTP: `X-Slack-Signature` is `v0=` and the hex
//! HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}`, keyed with the app's signing
//! secret. The body is checked before it is parsed; the comparison takes constant time; a
//! timestamp more than 5 minutes from now is refused, so a captured request cannot be replayed
//! later.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How far a request's timestamp may be from now.
pub const MAX_AGE_SECONDS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no {0} header")]
    Missing(&'static str),
    #[error("the request's timestamp is more than 5 minutes from now")]
    Stale,
    #[error("the signature is not Slack's v0 form")]
    Malformed,
    #[error("the signature does not match (check SLACK_SIGNING_SECRET)")]
    Mismatch,
}

/// Checks `signature` (the header, `v0=…`) over `timestamp` and `body`, `now` in Unix seconds.
pub fn verify(
    secret: &SecretString,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(SignatureError::Missing("X-Slack-Signature"))?;
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Stale)?;
    if (now - sent).abs() > MAX_AGE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(from_hex)
        .ok_or(SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The signature Slack would send for `body` at `timestamp`: for tests and fakes.
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's published example (api.slack.com/authentication/verifying-requests-from-slack).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn check(
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        verify(
            &SecretString::from(SECRET),
            timestamp,
            signature,
            body.as_bytes(),
            now,
        )
    }

    #[test]
    fn slacks_published_example_verifies() {
        let now = 1_531_420_618 + 10;
        assert_eq!(check(Some(TIMESTAMP), Some(SIGNATURE), BODY, now), Ok(()));
        assert_eq!(
            sign(&SecretString::from(SECRET), 1_531_420_618, BODY.as_bytes()),
            SIGNATURE
        );
    }

    #[test]
    fn a_changed_body_an_old_timestamp_or_a_missing_header_is_refused() {
        let now = 1_531_420_618;
        let tampered = BODY.replace("text=", "text=rm");
        assert_eq!(
            check(Some(TIMESTAMP), Some(SIGNATURE), &tampered, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY,
                now + MAX_AGE_SECONDS + 1
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(None, Some(SIGNATURE), BODY, now),
            Err(SignatureError::Missing("X-Slack-Request-Timestamp"))
        );
        assert_eq!(
            check(Some(TIMESTAMP), None, BODY, now),
            Err(SignatureError::Missing("X-Slack-Signature"))
        );
        assert_eq!(
            check(Some(TIMESTAMP), Some("v1=abc"), BODY, now),
            Err(SignatureError::Malformed)
        );
        let other = verify(
            &SecretString::from("another-secret"),
            Some(TIMESTAMP),
            Some(SIGNATURE),
            BODY.as_bytes(),
            now,
        );
        assert_eq!(other, Err(SignatureError::Mismatch));
    }
}
