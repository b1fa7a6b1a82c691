//! The Socket Mode listener: a few outbound WebSocket connections ("slots", two by default), each
//! kept open by its own loop. Every envelope is handled in its own task and acked when its
//! intent is saved, so one slow envelope delays no other.
//!
//! Our own client rather than slack-morphism's listener, for what Slack asks of one:
//! - `refresh_requested` and `warning` reconnect make-before-break: the old connection keeps
//!   serving until Slack closes it (or for `drain`), so no envelope is lost in the gap;
//! - `too_many_websockets` closes and backs off with jitter, doubling while it repeats;
//! - `link_disabled` stops the slot and says so;
//! - a broken or silent connection (nothing heard for `idle`, pings every `ping`) reconnects at
//!   once, then with capped exponential backoff while it keeps failing.
//!
//! Read `reconnect.rs` (when), `connection.rs` (one socket), `frames.rs` (what Slack sends), then
//! `dispatch.rs` (what each envelope does).

mod connection;
mod frames;
pub mod reconnect;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::connection::{Live, Report, Socket};
use self::reconnect::{Backoff, BackoffSettings, Ended};
pub use super::dispatch::Receivers;
use super::web::SlackApi;

#[derive(Debug, Clone)]
pub struct SocketSettings {
    /// Connections kept open; Slack allows 10 per app across all replicas.
    pub connections: usize,
    pub backoff: BackoffSettings,
    /// A connection that has heard nothing for this long is taken for dead.
    pub idle: Duration,
    /// How often we ping Slack.
    pub ping: Duration,
    /// How long a rotated connection keeps serving if Slack does not close it.
    pub drain: Duration,
    /// The longest wait for `apps.connections.open` and the WebSocket handshake.
    pub connect_timeout: Duration,
}

impl Default for SocketSettings {
    fn default() -> Self {
        Self {
            connections: 2,
            backoff: BackoffSettings::default(),
            idle: Duration::from_secs(45),
            ping: Duration::from_secs(15),
            drain: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
        }
    }
}

/// A running listener.
pub struct SocketMode {
    stop: CancellationToken,
    slots: JoinSet<()>,
}

impl SocketMode {
    /// Starts the connection slots; they connect in the background.
    pub fn start(api: &SlackApi, receivers: Arc<Receivers>, settings: SocketSettings) -> Self {
        let stop = CancellationToken::new();
        let mut slots = JoinSet::new();
        for slot in 0..settings.connections {
            let slot = Slot {
                index: slot,
                api: api.clone(),
                receivers: receivers.clone(),
                settings: settings.clone(),
                stop: stop.clone(),
            };
            slots.spawn(slot.keep_connected());
        }
        Self { stop, slots }
    }

    /// Closes the connections; envelopes then go to the other replicas, if any.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while self.slots.join_next().await.is_some() {}
        })
        .await;
    }
}

struct Slot {
    index: usize,
    api: SlackApi,
    receivers: Arc<Receivers>,
    settings: SocketSettings,
    stop: CancellationToken,
}

impl Slot {
    async fn keep_connected(self) {
        let mut backoff = Backoff::new(self.settings.backoff.clone());
        loop {
            let ended = match self.open().await {
                Ok(socket) => {
                    let live = Live::spawn(
                        socket,
                        self.receivers.clone(),
                        &self.settings,
                        self.index,
                        &self.stop,
                    );
                    match self.serve(live, &mut backoff).await {
                        Some(ended) => ended,
                        None => return,
                    }
                }
                Err(e) => {
                    warn!(slot = self.index, error = %e, "cannot open a Socket Mode connection");
                    Ended::Broken
                }
            };
            if ended == Ended::Broken {
                self.receivers.link.failed(chrono::Utc::now());
            }
            let Some(pause) = backoff.next(ended, rand::random()) else {
                error!(
                    slot = self.index,
                    "Slack disabled Socket Mode for this app (link_disabled); this connection stays closed. Turn Socket Mode on in the app's settings and restart."
                );
                return;
            };
            if !pause.is_zero() {
                info!(slot = self.index, pause_ms = pause.as_millis(), reason = ?ended, "connecting again after a pause");
            }
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// The bot's workspace if not known yet, a fresh URL, then the WebSocket handshake.
    async fn open(&self) -> Result<Socket, String> {
        let connect = async {
            self.receivers
                .workspace
                .get_or_try_init(|| async { self.api.auth_test().await.map(|me| me.workspace) })
                .await
                .map_err(|e| format!("cannot learn the bot's workspace from auth.test: {e}"))?;
            let url = self
                .api
                .connections_open()
                .await
                .map_err(|e| e.to_string())?;
            let tls = crate::tls::client_config().map_err(|e| e.to_string())?;
            let parsed = url::Url::parse(&url)
                .map_err(|_| "Slack gave a WebSocket URL the bot cannot read".to_owned())?;
            // Through the proxy when one applies. Nagle's algorithm is off on it (the connector
            // sets TCP_NODELAY): acks are small and must not wait behind the last one's TCP ack.
            let tcp = self
                .api
                .tcp_to(&parsed)
                .await
                .map_err(|e| format!("cannot connect the WebSocket: {e}"))?;
            let (socket, _) = tokio_tungstenite::client_async_tls_with_config(
                url.as_str(),
                tcp,
                None,
                Some(tokio_tungstenite::Connector::Rustls(tls)),
            )
            .await
            // The error may quote the URL, and its ticket: only say what went wrong.
            .map_err(|e| format!("WebSocket handshake failed ({})", handshake_error(&e)))?;
            Ok(socket)
        };
        tokio::time::timeout(self.settings.connect_timeout, connect)
            .await
            .map_err(|_| "no connection within the timeout".to_owned())?
    }

    /// Serves `live` until it ends; `None` when the listener stops.
    async fn serve(&self, mut live: Live, backoff: &mut Backoff) -> Option<Ended> {
        loop {
            let report = tokio::select! {
                () = self.stop.cancelled() => return None,
                report = live.reports.recv() => report,
            };
            match report {
                Some(Report::Hello) => backoff.healthy(),
                Some(Report::Ended(Ended::Rotated)) => {
                    // Make before break: the old connection serves on until Slack closes it, or
                    // for `drain` at most, while the slot opens the new one.
                    live.close_after(self.settings.drain);
                    return Some(Ended::Rotated);
                }
                Some(Report::Ended(ended)) => {
                    live.close();
                    return Some(ended);
                }
                None => return Some(Ended::Broken),
            }
        }
    }
}

fn handshake_error(error: &tokio_tungstenite::tungstenite::Error) -> &'static str {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Io(_) => "network error",
        Error::Tls(_) => "TLS error",
        Error::Http(_) => "HTTP error answer",
        Error::Url(_) => "bad URL",
        _ => "protocol error",
    }
}
