//! Corporate proxies. `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`, in upper or lower
//! case (upper wins), are read once with the rest of the config and honoured by every connection
//! the bot opens: the Slack Web API and the Socket Mode WebSocket (tunnelled with `CONNECT`,
//! `connector.rs`), Azure DevOps and Jira (reqwest, which sends plain-http requests to the proxy
//! in absolute form and tunnels https), git and the reviewer (the variables, passed on).
//!
//! A proxy URL's user and password become `Proxy-Authorization: Basic`; they are secrets, so the
//! URL is kept as a `SecretString` and shown without them. The matching rules (`NO_PROXY`'s
//! domains, suffixes, IPs and CIDR ranges, `*`) are hyper-util's, which reqwest uses too, so the
//! Slack client and the HTTP clients decide alike.

mod connector;

use std::fmt;
use std::sync::Arc;

use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use connector::{ProxyConnector, ProxyError};

/// reqwest's constructor of a proxy for one scheme, or for all.
type MakeProxy = fn(&str) -> reqwest::Result<reqwest::Proxy>;

/// One proxy variable, as set.
#[derive(Clone)]
struct ProxyVar {
    /// The variable it came from, in the case it was set.
    var: &'static str,
    /// The URL as given, credentials included.
    url: SecretString,
    /// `http://host:port`, without credentials: what messages show.
    shown: String,
}

/// The proxy settings. `Debug` shows no credentials.
#[derive(Clone, Default)]
pub struct Proxies {
    http: Option<ProxyVar>,
    https: Option<ProxyVar>,
    all: Option<ProxyVar>,
    no: String,
    matcher: Option<Arc<Matcher>>,
}

/// Where a connection goes: through which proxy, or direct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Direct,
    /// Through the proxy `shown` (no credentials), set by `var`.
    Proxy {
        shown: String,
        var: &'static str,
    },
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Direct => f.write_str("direct"),
            Route::Proxy { shown, var } => write!(f, "through the proxy {shown} ({var})"),
        }
    }
}

/// A proxy variable with a value the bot cannot use. The message never repeats the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyVarError {
    pub var: &'static str,
    pub problem: String,
}

impl Proxies {
    /// Reads the four variables from `lookup`, each in upper case, else lower case.
    pub fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<ProxyVarError>> {
        let mut errors = Vec::new();
        let mut read = |upper: &'static str, lower: &'static str| {
            let (var, value) = [upper, lower].into_iter().find_map(|var| {
                let value = lookup(var)?.trim().to_owned();
                (!value.is_empty()).then_some((var, value))
            })?;
            match parse(&value) {
                Ok(shown) => Some(ProxyVar {
                    var,
                    url: SecretString::from(with_scheme(&value)),
                    shown,
                }),
                Err(problem) => {
                    errors.push(ProxyVarError { var, problem });
                    None
                }
            }
        };
        let https = read("HTTPS_PROXY", "https_proxy");
        let http = read("HTTP_PROXY", "http_proxy");
        let all = read("ALL_PROXY", "all_proxy");
        if !errors.is_empty() {
            return Err(errors);
        }
        let no = ["NO_PROXY", "no_proxy"]
            .into_iter()
            .find_map(|var| lookup(var).filter(|v| !v.trim().is_empty()))
            .unwrap_or_default();
        Ok(Self::new(http, https, all, no))
    }

    fn new(
        http: Option<ProxyVar>,
        https: Option<ProxyVar>,
        all: Option<ProxyVar>,
        no: String,
    ) -> Self {
        let any = http.is_some() || https.is_some() || all.is_some();
        let matcher = any.then(|| {
            let url = |p: &Option<ProxyVar>| {
                p.as_ref()
                    .map_or_else(String::new, |p| p.url.expose_secret().to_owned())
            };
            Arc::new(
                Matcher::builder()
                    .http(url(&http))
                    .https(url(&https))
                    .all(url(&all))
                    .no(no.clone())
                    .build(),
            )
        });
        Self {
            http,
            https,
            all,
            no,
            matcher,
        }
    }

    /// Whether any proxy is set.
    pub fn any(&self) -> bool {
        self.matcher.is_some()
    }

    /// The route to `url` (http, https, ws or wss).
    pub fn route(&self, url: &Url) -> Route {
        self.var_for(url).map_or(Route::Direct, |p| Route::Proxy {
            shown: p.shown.clone(),
            var: p.var,
        })
    }

    /// The proxy variable that serves `url`, if any: the scheme's own, else ALL_PROXY, unless
    /// NO_PROXY exempts the host.
    fn var_for(&self, url: &Url) -> Option<&ProxyVar> {
        let uri: http::Uri = as_http(url).as_str().parse().ok()?;
        self.intercept(&uri).map(|(var, _)| var)
    }

    /// The proxy for the http(s) destination `uri`: its variable, and hyper-util's interception
    /// (the proxy's address and `Proxy-Authorization`).
    fn intercept(&self, uri: &http::Uri) -> Option<(&ProxyVar, Intercept)> {
        let intercept = self.matcher.as_ref()?.intercept(uri)?;
        let own = if uri.scheme_str() == Some("https") {
            &self.https
        } else {
            &self.http
        };
        Some((own.as_ref().or(self.all.as_ref())?, intercept))
    }

    /// The proxy for reqwest: its own implementation of the same rules, fed the same values.
    /// Without proxies, reqwest is told to use none, rather than read the process environment.
    pub fn configure(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        if !self.any() {
            return builder.no_proxy();
        }
        let no = || reqwest::NoProxy::from_string(&self.no);
        let mut builder = builder;
        let kinds: [(&Option<ProxyVar>, MakeProxy); 3] = [
            (&self.https, |u| reqwest::Proxy::https(u)),
            (&self.http, |u| reqwest::Proxy::http(u)),
            (&self.all, |u| reqwest::Proxy::all(u)),
        ];
        for (var, make) in kinds {
            if let Some(Ok(proxy)) = var.as_ref().map(|p| make(p.url.expose_secret())) {
                builder = builder.proxy(proxy.no_proxy(no()));
            }
        }
        builder
    }

    /// The variables for a child process (git), in both cases, since programs differ in which
    /// they read.
    pub fn env(&self) -> Vec<(String, SecretString)> {
        let mut env = Vec::new();
        for (var, name) in [
            (&self.https, "HTTPS_PROXY"),
            (&self.http, "HTTP_PROXY"),
            (&self.all, "ALL_PROXY"),
        ] {
            if let Some(p) = var {
                env.push((name.to_owned(), p.url.clone()));
                env.push((name.to_ascii_lowercase(), p.url.clone()));
            }
        }
        if self.any() && !self.no.is_empty() {
            env.push(("NO_PROXY".to_owned(), SecretString::from(self.no.clone())));
            env.push(("no_proxy".to_owned(), SecretString::from(self.no.clone())));
        }
        env
    }

    /// `check`'s lines: each variable set, without credentials.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let mut rows: Vec<(&'static str, String)> = [&self.https, &self.http, &self.all]
            .into_iter()
            .flatten()
            .map(|p| {
                let redacted = if has_credentials(p.url.expose_secret()) {
                    " (user and password redacted)"
                } else {
                    ""
                };
                (p.var, format!("{}{redacted}", p.shown))
            })
            .collect();
        if !self.no.is_empty() {
            rows.push(("NO_PROXY", self.no.clone()));
        }
        rows
    }
}

impl fmt::Debug for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |p: &Option<ProxyVar>| p.as_ref().map(|p| p.shown.clone());
        f.debug_struct("Proxies")
            .field("https", &shown(&self.https))
            .field("http", &shown(&self.http))
            .field("all", &shown(&self.all))
            .field("no", &self.no)
            .finish()
    }
}

/// `proxy:3128` means `http://proxy:3128`, as in curl.
fn with_scheme(value: &str) -> String {
    if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    }
}

/// The proxy's address without credentials, or what is wrong with the value.
fn parse(value: &str) -> Result<String, String> {
    let url = Url::parse(&with_scheme(value))
        .map_err(|e| format!("is not a proxy URL ({e}); write it like http://proxy.corp:3128"))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(
                "names a proxy reached over TLS (https://…), which the bot cannot use; \
                 give the proxy's http:// address (connections to the services are TLS inside \
                 the tunnel either way)"
                    .into(),
            );
        }
        other => {
            return Err(format!(
                "names a {other} proxy; the bot (and the Claude Code CLI) speak only to HTTP \
                 proxies: give an http:// proxy"
            ));
        }
    }
    let host = url
        .host_str()
        .ok_or("has no host; write it like http://proxy.corp:3128")?;
    Ok(format!("http://{host}:{}", url.port().unwrap_or(80)))
}

fn has_credentials(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
}

/// A WebSocket URL as the HTTP URL of the same host, which is what proxies are chosen by.
fn as_http(url: &Url) -> Url {
    let scheme = match url.scheme() {
        "wss" => "https",
        "ws" => "http",
        _ => return url.clone(),
    };
    let mut url = url.clone();
    // Only the special schemes may be swapped for each other; ws(s) and http(s) all are.
    let _ = url.set_scheme(scheme);
    url
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn proxies(pairs: &[(&str, &str)]) -> Result<Proxies, Vec<ProxyVarError>> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Proxies::read(&|name| vars.get(name).cloned())
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn each_scheme_takes_its_own_proxy_then_all_proxy_and_no_proxy_exempts() {
        let p = proxies(&[
            ("https_proxy", "http://alice:pw@secure.corp:3128"),
            ("ALL_PROXY", "fallback.corp:8080"),
            ("no_proxy", "internal.corp,10.0.0.0/8"),
        ])
        .unwrap();
        assert_eq!(
            p.route(&url("https://slack.com/api/auth.test")),
            Route::Proxy {
                shown: "http://secure.corp:3128".into(),
                var: "https_proxy"
            }
        );
        assert_eq!(
            p.route(&url("wss://wss-primary.slack.com/link")),
            p.route(&url("https://slack.com/")),
            "a WebSocket goes like its https"
        );
        assert_eq!(
            p.route(&url("http://jira.example.com/")),
            Route::Proxy {
                shown: "http://fallback.corp:8080".into(),
                var: "ALL_PROXY"
            }
        );
        assert_eq!(
            p.route(&url("https://tfs.internal.corp/tfs")),
            Route::Direct
        );
        assert_eq!(p.route(&url("http://10.1.2.3:8080/")), Route::Direct);
    }

    #[test]
    fn upper_case_wins_and_nothing_set_is_direct() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ])
        .unwrap();
        assert_eq!(
            p.route(&url("https://dev.azure.com/")).to_string(),
            "through the proxy http://upper:1 (HTTPS_PROXY)"
        );
        let none = proxies(&[]).unwrap();
        assert!(!none.any());
        assert_eq!(none.route(&url("https://dev.azure.com/")), Route::Direct);
        assert!(none.env().is_empty());
    }

    #[test]
    fn credentials_are_never_shown() {
        let p = proxies(&[("HTTPS_PROXY", "http://alice:s3cret@proxy.corp:3128")]).unwrap();
        let shown = format!("{p:?} {:?}", p.describe());
        assert!(
            !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
        assert_eq!(
            p.describe(),
            [(
                "HTTPS_PROXY",
                "http://proxy.corp:3128 (user and password redacted)".to_owned()
            )]
        );
        let env: Vec<String> = p.env().into_iter().map(|(n, _)| n).collect();
        assert_eq!(env, ["HTTPS_PROXY", "https_proxy"]);
    }

    #[test]
    fn unusable_values_are_refused_without_repeating_them() {
        let errors = proxies(&[
            ("HTTPS_PROXY", "socks5://bob:s3cret@proxy:1080"),
            ("http_proxy", "https://proxy.corp"),
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].var, "HTTPS_PROXY");
        assert!(errors[0].problem.contains("names a socks5 proxy"));
        assert_eq!(errors[1].var, "http_proxy");
        assert!(errors[1].problem.contains("over TLS"));
        assert!(!format!("{errors:?}").contains("s3cret"));
    }
}
