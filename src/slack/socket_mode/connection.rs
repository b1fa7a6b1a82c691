//! One live WebSocket: reads frames, hands envelopes to their own tasks, writes their acks, pings
//! Slack, and reports its hello and its end to the slot that opened it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::frames::{self, Frame};
use super::reconnect::Ended;
use super::{Receivers, SocketSettings};
use crate::slack::dispatch::{self, Handled};
use crate::workflow::acks_first::InFlight;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a connection tells its slot.
#[derive(Debug)]
pub enum Report {
    Hello,
    Ended(Ended),
}

/// A connection being served; closing it (or stopping the listener) sends a Close frame.
pub struct Live {
    pub reports: mpsc::UnboundedReceiver<Report>,
    close: CancellationToken,
}

impl Live {
    pub fn spawn(
        socket: Socket,
        receivers: Arc<Receivers>,
        settings: &SocketSettings,
        slot: usize,
        stop: &CancellationToken,
    ) -> Self {
        let (tx, reports) = mpsc::unbounded_channel();
        // Closed with the listener, or on its own.
        let close = stop.child_token();
        let serve = Serve {
            receivers,
            reports: tx,
            idle: settings.idle,
            ping: settings.ping,
            slot,
            app: None,
        };
        tokio::spawn(serve.run(socket, close.clone()));
        Self { reports, close }
    }

    pub fn close(&self) {
        self.close.cancel();
    }

    /// Keeps serving for `grace` (so envelopes Slack still sends here are acked), then closes.
    pub fn close_after(&self, grace: Duration) {
        let close = self.close.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            close.cancel();
        });
    }
}

/// Acks written with one flush, when that many are ready at once.
const ACKS_PER_WRITE: usize = 64;

/// An ack waiting to be written; its envelope counts as in flight until then.
struct Outgoing {
    text: String,
    _in_flight: InFlight,
}

/// Writes `acks` and flushes once.
async fn send_all(
    sink: &mut futures_util::stream::SplitSink<Socket, Message>,
    acks: impl Iterator<Item = Outgoing>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    for ack in acks {
        sink.feed(Message::text(ack.text)).await?;
    }
    sink.flush().await
}

struct Serve {
    receivers: Arc<Receivers>,
    reports: mpsc::UnboundedSender<Report>,
    idle: Duration,
    ping: Duration,
    slot: usize,
    /// The app this connection serves, from its hello.
    app: Option<String>,
}

impl Serve {
    async fn run(mut self, socket: Socket, close: CancellationToken) {
        let (mut sink, mut stream) = socket.split();
        let (acks, mut outgoing) = mpsc::unbounded_channel::<Outgoing>();
        let mut ping = tokio::time::interval(self.ping);
        ping.tick().await;
        let mut heard = Instant::now();
        let mut ready = Vec::new();
        let ended = loop {
            // Acks go before reading more: a burst is answered as it is handled, not after it.
            tokio::select! {
                biased;
                () = close.cancelled() => {
                    // Bounded: Slack sometimes drops TCP without answering the close.
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
                    return;
                }
                _ = outgoing.recv_many(&mut ready, ACKS_PER_WRITE) => {
                    // Handlers woken with this one (a group commit answers hundreds at once)
                    // run first, so their acks share this write: under a burst, one write per
                    // ack cost more CPU than the acks themselves.
                    tokio::task::yield_now().await;
                    while ready.len() < ACKS_PER_WRITE
                        && let Ok(ack) = outgoing.try_recv()
                    {
                        ready.push(ack);
                    }
                    if send_all(&mut sink, ready.drain(..)).await.is_err() {
                        break Ended::Broken;
                    }
                }
                _ = ping.tick() => {
                    if heard.elapsed() > self.idle {
                        warn!(slot = self.slot, "Socket Mode connection silent; connecting again");
                        break Ended::Broken;
                    }
                    if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break Ended::Broken;
                    }
                }
                frame = stream.next() => {
                    heard = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => self.text(text.as_str(), &acks),
                        Some(Ok(Message::Close(_))) | None => break Ended::Broken,
                        Some(Err(e)) => {
                            debug!(slot = self.slot, error = %e, "Socket Mode read failed");
                            break Ended::Broken;
                        }
                        // Pings are answered by the WebSocket layer; pongs only prove life.
                        Some(Ok(_)) => {}
                    }
                }
            }
        };
        let _ = self.reports.send(Report::Ended(ended));
    }

    fn text(&mut self, text: &str, acks: &mpsc::UnboundedSender<Outgoing>) {
        match frames::read(text) {
            Frame::Hello { connections, app } => {
                self.app = app;
                info!(
                    slot = self.slot,
                    num_connections = connections,
                    "Socket Mode connection ready"
                );
                self.receivers.link.hello(connections, chrono::Utc::now());
                let _ = self.reports.send(Report::Hello);
            }
            Frame::Disconnect { reason } => {
                info!(slot = self.slot, reason = %reason, "Slack asks to reconnect");
                let _ = self.reports.send(Report::Ended(Ended::by(&reason)));
            }
            Frame::Envelope { id, event, origin } => {
                let in_flight = self.receivers.acks.enter();
                let stranger = dispatch::stranger_to(&self.receivers, self.app.as_deref(), &origin);
                let (receivers, acks) = (self.receivers.clone(), acks.clone());
                tokio::spawn(async move {
                    let handled = match stranger {
                        Some(why) => {
                            dispatch::stranger(&id, &event, &origin, why, &receivers).await
                        }
                        None => dispatch::handle(event, &receivers).await,
                    };
                    if let Handled::Ack(answer) = handled {
                        let _ = acks.send(Outgoing {
                            text: frames::answer(&id, answer.as_deref()),
                            _in_flight: in_flight,
                        });
                    }
                });
            }
            Frame::Unreadable { id, why } => {
                warn!(envelope_id = %id, why = %why, "unreadable envelope acked");
                let _ = acks.send(Outgoing {
                    text: frames::ack(&id),
                    _in_flight: self.receivers.acks.enter(),
                });
            }
            Frame::Junk(why) => warn!(why = %why, "unreadable Socket Mode frame ignored"),
        }
    }
}
