//! A hyper connector that opens TCP connections directly, or through the proxy `Proxies` names
//! for the destination, tunnelled with HTTP `CONNECT`. The Slack Web API client and the Socket
//! Mode WebSocket connect through it; TLS, for https and wss, runs inside the tunnel.
//!
//! The `CONNECT` exchange is written here rather than taken from hyper-util's `Tunnel`, whose
//! error does not say what the proxy answered: a release engineer needs "403 Forbidden from
//! proxy.corp:3128", not "tunnel error: unsuccessful".

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_service::Service;

use super::Proxies;

/// The most a proxy's answer to `CONNECT` may take.
const MAX_ANSWER: usize = 16 * 1024;

/// Why a connection through a proxy failed, naming the proxy (never its credentials).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "the proxy {proxy} refused the credentials (407 Proxy Authentication Required): check the user and password in {var}"
    )]
    AuthRequired { proxy: String, var: &'static str },
    #[error(
        "the proxy {proxy} refused to open a tunnel (CONNECT) to {target}: {answer}. Ask for it to be allowed, or add the host to NO_PROXY if it is reachable without the proxy"
    )]
    Refused {
        proxy: String,
        target: String,
        answer: String,
    },
    #[error("cannot reach the proxy {proxy} ({var}): {cause}")]
    Unreachable {
        proxy: String,
        var: &'static str,
        cause: String,
    },
    #[error("the proxy {proxy} broke off the tunnel to {target}: {cause}")]
    Broken {
        proxy: String,
        target: String,
        cause: String,
    },
}

/// The deepest cause of `error`: "Connection refused" rather than "tunnel error".
pub fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// Plain TCP to the destination or to its proxy; TLS goes on top (hyper-rustls, tungstenite).
#[derive(Clone)]
pub struct ProxyConnector {
    proxies: Proxies,
    direct: HttpConnector,
}

type Connecting = Pin<
    Box<
        dyn Future<Output = Result<TokioIo<TcpStream>, Box<dyn std::error::Error + Send + Sync>>>
            + Send,
    >,
>;

impl ProxyConnector {
    pub fn new(proxies: Proxies) -> Self {
        let mut direct = HttpConnector::new();
        // https destinations come here too: TLS is the layer above.
        direct.enforce_http(false);
        // Acks are small and go at once (Nagle would hold one back behind the last).
        direct.set_nodelay(true);
        Self { proxies, direct }
    }

    /// A TCP stream to `url`'s host, through its proxy if it has one: for the WebSocket.
    pub async fn stream(
        &self,
        url: &url::Url,
    ) -> Result<TcpStream, Box<dyn std::error::Error + Send + Sync>> {
        let uri: Uri = super::as_http(url).as_str().parse()?;
        let io = self.clone().call(uri).await?;
        Ok(io.into_inner())
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut direct = self.direct.clone();
        let proxy = self.proxies.intercept(&dst).map(|(var, intercept)| {
            (
                var.clone(),
                intercept.uri().clone(),
                intercept.basic_auth().cloned(),
            )
        });
        Box::pin(async move {
            let Some((var, proxy_uri, auth)) = proxy else {
                return Ok(direct.call(dst).await?);
            };
            let default_port = if dst.scheme_str() == Some("https") {
                443
            } else {
                80
            };
            let target = format!(
                "{}:{}",
                dst.host().unwrap_or_default(),
                dst.port_u16().unwrap_or(default_port)
            );
            let mut io = direct
                .call(proxy_uri)
                .await
                .map_err(|e| ProxyError::Unreachable {
                    proxy: var.shown.clone(),
                    var: var.var,
                    cause: innermost(&e),
                })?;
            connect(io.inner_mut(), &target, auth.as_ref())
                .await
                .map_err(|answer| answer.into_error(&var.shown, var.var, &target))?;
            Ok(io)
        })
    }
}

/// What went wrong in the `CONNECT` exchange.
enum Answer {
    Status(u16, String),
    Io(std::io::Error),
    Garbled(&'static str),
}

impl Answer {
    fn into_error(self, proxy: &str, var: &'static str, target: &str) -> ProxyError {
        let (proxy, target) = (proxy.to_owned(), target.to_owned());
        match self {
            Answer::Status(407, _) => ProxyError::AuthRequired { proxy, var },
            Answer::Status(_, line) => ProxyError::Refused {
                proxy,
                target,
                answer: line,
            },
            Answer::Io(e) => ProxyError::Broken {
                proxy,
                target,
                cause: e.to_string(),
            },
            Answer::Garbled(what) => ProxyError::Broken {
                proxy,
                target,
                cause: what.to_owned(),
            },
        }
    }
}

/// Asks the proxy on `stream` for a tunnel to `target` (`host:port`) and reads its answer up to
/// the blank line; what follows is the tunnel. Every protocol the bot speaks through it (TLS,
/// HTTP, WebSocket) has the client speak first, so the proxy sends nothing past its headers.
async fn connect(
    stream: &mut TcpStream,
    target: &str,
    auth: Option<&HeaderValue>,
) -> Result<(), Answer> {
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    if let Some(auth) = auth {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(auth.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).await.map_err(Answer::Io)?;
    let mut answer = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_ANSWER {
            return Err(Answer::Garbled("its answer to CONNECT has no end"));
        }
        // One byte at a time: nothing past the blank line may be taken from the tunnel.
        match stream.read(&mut byte).await.map_err(Answer::Io)? {
            0 => return Err(Answer::Garbled("it closed the connection before answering")),
            _ => answer.push(byte[0]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let line = text.lines().next().unwrap_or_default().trim().to_owned();
    let mut words = line.split_whitespace();
    let status = match (words.next(), words.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(status))) if version.starts_with("HTTP/1.") => status,
        _ => return Err(Answer::Garbled("its answer to CONNECT is not HTTP")),
    };
    let reason: Vec<&str> = words.collect();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(Answer::Status(
            status,
            format!("{status} {}", reason.join(" ")).trim().to_owned(),
        ))
    }
}
