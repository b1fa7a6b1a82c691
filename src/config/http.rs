//! The HTTP receiver section: off unless HTTP_PORT is set; its webhook secret and operator token
//! are optional, and what they guard is refused without them.

use std::net::{IpAddr, SocketAddr};

use secrecy::{ExposeSecret, SecretString};

use super::reader::Reader;
use crate::domain::parse_user;
use crate::http_server::{HttpSettings, OperatorToken};

/// Secrets shorter than this are refused: they would be guessable.
const MIN_SECRET_LEN: usize = 16;

/// `Some(None)`: the receiver is off; `None`: something is wrong (already reported).
pub(super) fn read(vars: &mut Reader<'_>) -> Option<Option<HttpSettings>> {
    let port = vars.optional("HTTP_PORT", |p| {
        p.parse::<u16>()
            .map_err(|_| format!("`{p}` must be a port number from 0 to 65535"))
    });
    // Loopback unless said otherwise: the receiver takes webhooks and operator tokens, and a
    // reverse proxy or the container's port mapping is what should expose it.
    let bind = vars.parsed("HTTP_BIND", "127.0.0.1", |b| {
        b.parse::<IpAddr>()
            .map_err(|_| format!("`{b}` is not an IP address (0.0.0.0 listens on every interface)"))
    });
    let webhook_secret = vars.optional("WEBHOOK_SECRET", long_enough("webhook secret"));
    let operator_token = vars.optional("OPERATOR_TOKEN", long_enough("token"));
    let operator_tokens = vars.optional("OPERATOR_TOKENS", operator_tokens);
    let (port, bind, webhook_secret, operator_token, operator_tokens) = (
        port?,
        bind?,
        webhook_secret?,
        operator_token?,
        operator_tokens?.unwrap_or_default(),
    );
    if let Some(nameless) = &operator_token
        && operator_tokens
            .iter()
            .any(|t| t.token.expose_secret() == nameless.expose_secret())
    {
        vars.fail(
            "OPERATOR_TOKENS",
            "one of its tokens is also OPERATOR_TOKEN: a token names one person, or nobody".into(),
        );
        return None;
    }
    Some(port.map(|port| HttpSettings {
        addr: SocketAddr::new(bind, port),
        webhook_secret,
        operator_token,
        operator_tokens,
    }))
}

/// `U0123ABCD:<token>,…`: one token per person. Messages name entries by position, never by
/// their text, which holds the token.
fn operator_tokens(text: &str) -> Result<Vec<OperatorToken>, String> {
    let mut tokens: Vec<OperatorToken> = Vec::new();
    let entries = text.split(',').map(str::trim).filter(|e| !e.is_empty());
    for (n, entry) in entries.enumerate().map(|(i, e)| (i + 1, e)) {
        let Some((user, token)) = entry.split_once(':') else {
            return Err(format!(
                "entry {n} is not USER_ID:TOKEN (for example U0123ABCD:<token>)"
            ));
        };
        let user = parse_user(user.trim()).map_err(|e| format!("entry {n}: {e}"))?;
        let token = long_enough("token")(token.trim())
            .map_err(|e| format!("the token of entry {n} {e}"))?;
        if let Some(i) = tokens.iter().position(|t| t.user == user) {
            return Err(format!(
                "entries {} and {n} both name {user}: one token per person",
                i + 1
            ));
        }
        if let Some(i) = tokens
            .iter()
            .position(|t| t.token.expose_secret() == token.expose_secret())
        {
            return Err(format!(
                "entries {} and {n} have the same token: each person needs their own",
                i + 1
            ));
        }
        tokens.push(OperatorToken { user, token });
    }
    if tokens.is_empty() {
        return Err("names no one: write USER_ID:TOKEN pairs, comma-separated".into());
    }
    Ok(tokens)
}

fn long_enough(what: &'static str) -> impl Fn(&str) -> Result<SecretString, String> {
    move |value: &str| {
        if value.chars().count() >= MIN_SECRET_LEN {
            Ok(SecretString::from(value))
        } else {
            Err(format!(
                "is too short to be a {what}: use at least {MIN_SECRET_LEN} random characters"
            ))
        }
    }
}
