//! The HTTP plumbing the Azure DevOps and Jira clients share: Basic auth from a secret, a timeout
//! on every request, no redirects, and one policy for failures.
//!
//! - 401, and 2xx answers that are not JSON (Azure DevOps answers a bad PAT with a 203 HTML
//!   sign-in page), are authentication errors that name the variable to fix.
//! - 429 and 503 are waited out as `Retry-After` asks, for any method: the service did not act
//!   on the request. A wait longer than the policy allows is returned to the caller, so the engine
//!   can put the step to sleep instead of holding a task.
//! - Other 5xx answers, timeouts and broken connections are retried with capped backoff, but only
//!   for idempotent requests; a POST that may have reached the service is never sent twice here.
//!
//! Errors carry the service's own message (Azure DevOps `message`, Jira `errorMessages`), never
//! a credential.

mod error;

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{debug, instrument, warn};
use url::Url;

use crate::proxy::{ProxyError, Route};
use error::describe;

pub use error::HttpError;

/// How failures are retried inside one call.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The longest `Retry-After` waited out inside a call; longer waits go back to the caller.
    pub max_wait: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(8),
            max_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .backoff_base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        doubled.min(self.backoff_cap)
    }
}

/// One JSON API with Basic auth.
#[derive(Clone)]
pub struct JsonApi {
    client: reqwest::Client,
    service: &'static str,
    auth_var: &'static str,
    user: String,
    password: SecretString,
    policy: RetryPolicy,
    proxy: crate::proxy::Proxies,
}

/// A request: what to send and whether sending it twice is harmless.
#[derive(Clone)]
pub struct Call {
    pub method: Method,
    pub url: Url,
    pub body: Option<Value>,
    pub idempotent: bool,
}

impl Call {
    pub fn get(url: Url) -> Self {
        Self {
            method: Method::GET,
            url,
            body: None,
            idempotent: true,
        }
    }

    pub fn with_body(method: Method, url: Url, body: Value, idempotent: bool) -> Self {
        Self {
            method,
            url,
            body: Some(body),
            idempotent,
        }
    }
}

impl JsonApi {
    /// `service` names the API in messages, `auth_var` the variable holding `password`.
    /// `headers` are sent with every request.
    pub fn new(
        service: &'static str,
        auth_var: &'static str,
        user: &str,
        password: SecretString,
        headers: &[(&'static str, &'static str)],
        policy: RetryPolicy,
        proxy: &crate::proxy::Proxies,
    ) -> Result<Self, HttpError> {
        let mut defaults = HeaderMap::new();
        defaults.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in headers {
            defaults.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let tls = crate::tls::http_config().map_err(|e| HttpError::Transport {
            service,
            detail: e.to_string(),
        })?;
        let client = proxy
            .configure(reqwest::Client::builder())
            .use_preconfigured_tls(tls)
            .default_headers(defaults)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| HttpError::Transport {
                service,
                detail: e.to_string(),
            })?;
        Ok(Self {
            client,
            service,
            auth_var,
            user: user.to_owned(),
            password,
            policy,
            proxy: proxy.clone(),
        })
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Sends `call` under the retry policy and decodes the JSON answer.
    pub async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, HttpError> {
        let response = self.send(call).await?;
        self.decode(response).await
    }

    /// Sends `call` under the retry policy; returns any 2xx JSON response.
    #[instrument(level = "debug", skip_all, fields(service = self.service, method = %call.method, path = call.url.path()))]
    pub async fn send(&self, call: Call) -> Result<Response, HttpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.policy.attempts;
            let outcome = self.send_once(&call).await;
            let wait = match &outcome {
                Ok(_) => return outcome,
                Err(HttpError::RateLimited { retry_after, .. })
                    if !last && *retry_after <= self.policy.max_wait =>
                {
                    *retry_after
                }
                Err(e)
                    if call.idempotent
                        && !last
                        && e.is_transient()
                        && !matches!(e, HttpError::RateLimited { .. }) =>
                {
                    self.policy.backoff(attempt)
                }
                Err(_) => return outcome,
            };
            if let Err(e) = &outcome {
                warn!(service = self.service, method = %call.method, path = call.url.path(), attempt, error = %e, "retrying");
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(&self, call: &Call) -> Result<Response, HttpError> {
        let mut request = self
            .client
            .request(call.method.clone(), call.url.clone())
            .basic_auth(&self.user, Some(self.password.expose_secret()));
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        debug!(service = self.service, method = %call.method, path = call.url.path(), "request");
        let outcome = match request.send().await {
            Ok(response) => self.check(response, &call.url).await,
            Err(e) => Err(self.unsent(e, &call.url)),
        };
        crate::metrics::external_call(
            self.service,
            outcome.as_ref().map_or_else(HttpError::outcome, |_| "ok"),
        );
        outcome
    }

    fn transport(&self, error: reqwest::Error) -> HttpError {
        if error.is_timeout() {
            HttpError::Timeout {
                service: self.service,
                timeout: self.policy.timeout,
            }
        } else {
            HttpError::Transport {
                service: self.service,
                detail: with_cause(&error.without_url()),
            }
        }
    }

    /// Why a request to `url` got no answer, naming the proxy it went through, if any, and its
    /// refusal. reqwest tunnels https through hyper-util, whose error says only "proxy
    /// authorization required" or "unsuccessful".
    fn unsent(&self, error: reqwest::Error, url: &Url) -> HttpError {
        let Route::Proxy { shown, var } = self.proxy.route(url) else {
            return self.transport(error);
        };
        if error.is_timeout() {
            return self.transport(error);
        }
        let cause = with_cause(&error.without_url());
        let target = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(443)
        );
        let refusal = if cause.contains("proxy authorization required") {
            ProxyError::AuthRequired { proxy: shown, var }
        } else if cause.contains("tunnel error: unsuccessful") {
            ProxyError::Refused {
                proxy: shown,
                target,
                answer: "it did not answer 200".into(),
            }
        } else {
            return HttpError::Transport {
                service: self.service,
                detail: format!("{cause}, through the proxy {shown} ({var})"),
            };
        };
        HttpError::Proxy {
            service: self.service,
            detail: refusal.to_string(),
        }
    }

    /// Sorts a response into success or the error a caller can act on.
    async fn check(&self, response: Response, url: &Url) -> Result<Response, HttpError> {
        let status = response.status();
        let service = self.service;
        if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            // A plain-http request went to the proxy, which wants other credentials.
            let detail = match self.proxy.route(url) {
                Route::Proxy { shown, var } => {
                    ProxyError::AuthRequired { proxy: shown, var }.to_string()
                }
                Route::Direct => "a proxy on the way asks for credentials (HTTP 407): set \
                     HTTPS_PROXY (or HTTP_PROXY) to http://user:password@proxy:port"
                    .to_owned(),
            };
            return Err(HttpError::Proxy { service, detail });
        }
        let json = is_json(response.headers());
        if status == StatusCode::NON_AUTHORITATIVE_INFORMATION
            || status == StatusCode::UNAUTHORIZED
            || (status.is_success()
                && !json
                && status != StatusCode::NO_CONTENT
                && response.content_length() != Some(0))
        {
            return Err(HttpError::Auth {
                service,
                var: self.auth_var,
                status: status.as_u16(),
            });
        }
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            let retry_after = retry_after(response.headers()).unwrap_or(Duration::from_secs(5));
            return Err(HttpError::RateLimited {
                service,
                retry_after,
            });
        }
        let (message, type_key) = describe(&response.text().await.unwrap_or_default());
        Err(match status {
            StatusCode::FORBIDDEN => HttpError::Forbidden {
                service,
                var: self.auth_var,
                message,
            },
            StatusCode::NOT_FOUND => HttpError::NotFound { service, message },
            StatusCode::CONFLICT => HttpError::Conflict {
                service,
                type_key,
                message,
            },
            _ => HttpError::Status {
                service,
                status: status.as_u16(),
                type_key,
                message,
            },
        })
    }

    pub async fn decode<T: DeserializeOwned>(&self, response: Response) -> Result<T, HttpError> {
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        serde_json::from_slice(&bytes).map_err(|e| HttpError::Decode {
            service: self.service,
            detail: e.to_string(),
        })
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

/// `Retry-After` in seconds (the form both services use).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

/// reqwest's message names the step that failed ("error sending request"); the innermost cause
/// says why (a refused connection, a certificate no configured CA signed). Neither holds the URL.
fn with_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if std::ptr::addr_eq(cause, error) {
        error.to_string()
    } else {
        format!("{error} ({cause})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=6)
            .map(|a| policy.backoff(a).as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000]);
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
