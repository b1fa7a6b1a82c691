//! The REST api-version, negotiated with the server. Azure DevOps Services speaks 7.1; Azure
//! DevOps Server 2022 speaks up to 7.0, 2020 up to 6.0, 2019 up to 5.x. With AZDO_API_VERSION
//! `auto` the client starts at 7.1, and when a server refuses a call with
//! `VssVersionOutOfRangeException` ("… The latest REST API version this server supports is
//! 6.0."), it repeats the call at that version and keeps it for every later call.

use std::sync::RwLock;

use reqwest::Response;
use serde::de::DeserializeOwned;
use tracing::info;

use super::client::AzdoClient;
use crate::http_client::{Call, HttpError};

/// The version in use, and whether the server may lower it.
#[derive(Debug)]
pub(super) struct ApiVersion {
    current: RwLock<String>,
    negotiate: bool,
}

impl ApiVersion {
    pub(super) fn new(start: &str, negotiate: bool) -> Self {
        Self {
            current: RwLock::new(start.to_owned()),
            negotiate,
        }
    }

    pub(super) fn current(&self) -> String {
        self.current.read().map(|v| v.clone()).unwrap_or_default()
    }

    /// The version a refusal names, if the refusal is about the version and names a lower one
    /// than the current; that version is kept from now on.
    fn lower_to(&self, error: &HttpError) -> Option<String> {
        let HttpError::Status {
            status: 400,
            type_key: Some(key),
            message,
            ..
        } = error
        else {
            return None;
        };
        if !self.negotiate || key != "VssVersionOutOfRangeException" {
            return None;
        }
        let named = supported_version(message)?;
        let mut current = self.current.write().ok()?;
        if numbers(&named) >= numbers(&current) {
            return None;
        }
        info!(from = %*current, to = %named, "the Azure DevOps server speaks an older REST api-version; using it");
        *current = named.clone();
        Some(named)
    }
}

/// "… The latest REST API version this server supports is 6.0." → `6.0`.
fn supported_version(message: &str) -> Option<String> {
    let (_, tail) = message.split_once("supports is ")?;
    let version: String = tail
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.').to_owned();
    (!version.is_empty() && version.contains('.')).then_some(version)
}

fn numbers(version: &str) -> Vec<u32> {
    version
        .split(['.', '-'])
        .map_while(|p| p.parse().ok())
        .collect()
}

/// `call` with its `api-version` set to `version`, keeping a `-preview…` suffix.
fn at_version(mut call: Call, version: &str) -> Call {
    let pairs: Vec<(String, String)> = call
        .url
        .query_pairs()
        .map(|(k, v)| match k.as_ref() {
            "api-version" => {
                let suffix = v.find('-').map_or("", |i| &v[i..]);
                (k.into_owned(), format!("{version}{suffix}"))
            }
            _ => (k.into_owned(), v.into_owned()),
        })
        .collect();
    call.url.query_pairs_mut().clear().extend_pairs(pairs);
    call
}

impl AzdoClient {
    /// Sends a call; a refusal of its api-version is answered by repeating it once at the
    /// version the server names (with AZDO_API_VERSION auto).
    pub(super) async fn send(&self, call: Call) -> Result<Response, HttpError> {
        match self.api.send(call.clone()).await {
            Err(e) => match self.version.lower_to(&e) {
                Some(version) => self.api.send(at_version(call, &version)).await,
                None => Err(e),
            },
            ok => ok,
        }
    }

    pub(super) async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, HttpError> {
        let response = self.send(call).await?;
        self.api.decode(response).await
    }

    /// Whether the server's api-version knows `searchCriteria.minTime` (7.1 and later).
    pub(super) fn knows_time_ranges(&self) -> bool {
        self.speaks_at_least(&[7, 1])
    }

    /// Whether the api-version in use is `version` (`[7, 0]`) or newer.
    pub(super) fn speaks_at_least(&self, version: &[u32]) -> bool {
        numbers(&self.api_version()).as_slice() >= version
    }

    /// The api-version the client uses now (after negotiation, if any).
    pub fn api_version(&self) -> String {
        self.version.current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(message: &str) -> HttpError {
        HttpError::Status {
            service: "Azure DevOps",
            status: 400,
            type_key: Some("VssVersionOutOfRangeException".into()),
            message: message.into(),
        }
    }

    const SERVER_2020: &str = "The requested REST API version of 7.1 is out of range for this server. The latest REST API version this server supports is 6.0.";

    #[test]
    fn a_version_refusal_lowers_the_version_once() {
        let version = ApiVersion::new("7.1", true);
        assert_eq!(version.lower_to(&refusal(SERVER_2020)), Some("6.0".into()));
        assert_eq!(version.current(), "6.0");
        assert_eq!(
            version.lower_to(&refusal(SERVER_2020)),
            None,
            "not higher again"
        );
    }

    #[test]
    fn a_fixed_version_or_another_refusal_changes_nothing() {
        let fixed = ApiVersion::new("7.1", false);
        assert_eq!(fixed.lower_to(&refusal(SERVER_2020)), None);
        let auto = ApiVersion::new("7.1", true);
        let other = HttpError::Status {
            service: "Azure DevOps",
            status: 400,
            type_key: Some("InvalidArgumentValueException".into()),
            message: "supports is 6.0".into(),
        };
        assert_eq!(auto.lower_to(&other), None);
        assert_eq!(auto.lower_to(&refusal("no version named")), None);
        assert_eq!(auto.current(), "7.1");
    }

    #[test]
    fn a_repeated_call_keeps_its_preview_suffix() {
        let url = url::Url::parse(
            "https://x/_apis/policy/evaluations?api-version=7.1-preview&artifactId=a",
        )
        .unwrap();
        let call = at_version(Call::get(url), "6.0");
        assert_eq!(
            call.url.query(),
            Some("api-version=6.0-preview&artifactId=a")
        );
    }
}
