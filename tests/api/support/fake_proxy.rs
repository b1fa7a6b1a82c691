//! A corporate proxy on loopback: HTTP `CONNECT` tunnels and absolute-form requests, both only
//! with the right `Proxy-Authorization: Basic`, to host names that only it resolves (`slack.test`,
//! `azdo.test` …, mapped to the fakes' loopback ports). Its answers are those of common proxies
//! (Squid): `407 Proxy Authentication Required` with `Proxy-Authenticate`, `403 Forbidden` for
//! a destination it will not tunnel to, `200 Connection established`.
//!
//! Each forwarded plain-http request gets `Connection: close`, so every request comes through
//! here on its own and the log is complete.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FakeProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// `host:port` → where it really is.
    hosts: HashMap<String, SocketAddr>,
    /// The accepted `Proxy-Authorization` value.
    expected: String,
    /// `CONNECT host:port 200`, `GET http://host/path 407` …
    log: Vec<String>,
}

impl FakeProxy {
    /// A proxy that lets `user` with `password` through.
    pub async fn start(user: &str, password: &str) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let proxy = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(Mutex::new(State {
                expected: format!("Basic {token}"),
                ..State::default()
            })),
        });
        let state = proxy.state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, state.clone()));
            }
        });
        proxy
    }

    /// The proxy URL with these credentials.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// `http://127.0.0.1:port`, as the bot shows it.
    pub fn shown(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes `name` (`host:port`) lead to `to`.
    pub fn resolve(&self, name: &str, to: SocketAddr) {
        self.state.lock().unwrap().hosts.insert(name.to_owned(), to);
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

/// Where a fake listens, from its `http://127.0.0.1:port` URL.
pub fn addr_of(uri: &str) -> SocketAddr {
    let url = url::Url::parse(uri).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
        .parse()
        .unwrap()
}

async fn serve(mut client: TcpStream, state: Arc<Mutex<State>>) {
    let Some((head, rest)) = read_head(&mut client).await else {
        return;
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let mut words = request_line.split_whitespace();
    let (method, target, version) = (
        words.next().unwrap_or_default().to_owned(),
        words.next().unwrap_or_default().to_owned(),
        words.next().unwrap_or("HTTP/1.1").to_owned(),
    );
    let authorized = {
        let expected = state.lock().unwrap().expected.clone();
        headers.iter().any(|h| {
            h.split_once(':').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("proxy-authorization") && value.trim() == expected
            })
        })
    };
    let (name, origin_form) = if method == "CONNECT" {
        (target.clone(), None)
    } else {
        let Ok(url) = url::Url::parse(&target) else {
            let _ = client
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        };
        let name = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(80)
        );
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        (name, Some(path))
    };
    let upstream = state.lock().unwrap().hosts.get(&name).copied();
    let answer = if !authorized {
        407
    } else if upstream.is_none() {
        403
    } else {
        200
    };
    state
        .lock()
        .unwrap()
        .log
        .push(format!("{method} {target} {answer}"));
    match answer {
        407 => {
            let _ = client
                .write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        }
        403 => {
            let _ = client
                .write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        }
        _ => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream.unwrap()).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    match origin_form {
        None => {
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
        }
        Some(path) => {
            let mut forwarded = format!("{method} {path} {version}\r\n");
            for header in headers {
                let name = header.split(':').next().unwrap_or_default().trim();
                let hop = ["proxy-authorization", "proxy-connection", "connection"];
                if !hop.iter().any(|h| name.eq_ignore_ascii_case(h)) {
                    forwarded.push_str(header);
                    forwarded.push_str("\r\n");
                }
            }
            forwarded.push_str("Connection: close\r\n\r\n");
            if server.write_all(forwarded.as_bytes()).await.is_err() {
                return;
            }
        }
    }
    if server.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// The request head up to its blank line, and whatever came after it.
async fn read_head(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            return Some((head, buffer[end + 4..].to_vec()));
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 || buffer.len() > 64 * 1024 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}
