//! The HTTP receiver section: off unless HTTP_PORT is set; its webhook secret and operator token
//! are optional, and what they guard is refused without them.

use std::net::{IpAddr, SocketAddr};

use secrecy::SecretString;

use super::reader::Reader;
use crate::http_server::HttpSettings;

/// Secrets shorter than this are refused: they would be guessable.
const MIN_SECRET_LEN: usize = 16;

/// `Some(None)`: the receiver is off; `None`: something is wrong (already reported).
pub(super) fn read(vars: &mut Reader<'_>) -> Option<Option<HttpSettings>> {
    let port = vars.optional("HTTP_PORT", |p| {
        p.parse::<u16>()
            .map_err(|_| format!("`{p}` must be a port number from 0 to 65535"))
    });
    let bind = vars.parsed("HTTP_BIND", "0.0.0.0", |b| {
        b.parse::<IpAddr>()
            .map_err(|_| format!("`{b}` is not an IP address (0.0.0.0 listens on every interface)"))
    });
    let webhook_secret = vars.optional("WEBHOOK_SECRET", long_enough("webhook secret"));
    let operator_token = vars.optional("OPERATOR_TOKEN", long_enough("token"));
    let (port, bind, webhook_secret, operator_token) =
        (port?, bind?, webhook_secret?, operator_token?);
    Some(port.map(|port| HttpSettings {
        addr: SocketAddr::new(bind, port),
        webhook_secret,
        operator_token,
    }))
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
