//! One TLS client configuration for every outbound connection: Slack's Web API and its
//! WebSockets, Azure DevOps, Jira. The machine's CA certificates are read and parsed once per
//! process, not once per HTTP client (the bot has five) and again at every WebSocket connect;
//! each copy held about a hundred kilobytes of parsed roots for as long as the bot ran.

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, RootCertStore};
use tracing::warn;

/// The machine's CA certificates could not be used. Cloned to every caller, since all share
/// the one attempt.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "cannot verify TLS certificates: {0}. Install the ca-certificates package, or point SSL_CERT_FILE at a CA bundle"
)]
pub struct TlsError(String);

/// Without ALPN: for WebSockets (their handshake needs HTTP/1.1), and for connectors that set
/// ALPN themselves.
pub fn client_config() -> Result<Arc<ClientConfig>, TlsError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, TlsError>> = OnceLock::new();
    CONFIG.get_or_init(|| build(roots()?).map(Arc::new)).clone()
}

/// For reqwest, which takes the config as it is: the same roots, offering HTTP/2 and HTTP/1.1.
pub fn http_config() -> Result<ClientConfig, TlsError> {
    let mut config = ClientConfig::clone(&*client_config()?);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificates `rustls-native-certs` finds (the system store, or `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`). Unreadable ones are skipped with a warning as long as some are usable.
fn roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (_, unparsable) = roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(TlsError(format!("no usable CA certificate ({why})")));
    }
    if unparsable > 0 || !found.errors.is_empty() {
        warn!(
            usable = roots.len(),
            unparsable,
            errors = found.errors.len(),
            "some CA certificates of this machine could not be read; using the rest"
        );
    }
    Ok(roots)
}

/// The crypto provider is named here rather than taken from the process default, so the config
/// is the same whoever builds it first (tests included).
fn build(roots: RootCertStore) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_shares_one_set_of_roots() {
        let (first, second) = (client_config().unwrap(), client_config().unwrap());
        assert!(Arc::ptr_eq(&first, &second), "the roots are read once");
        assert!(first.alpn_protocols.is_empty(), "WebSockets need HTTP/1.1");
        let http = http_config().unwrap();
        assert_eq!(http.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
    }
}
