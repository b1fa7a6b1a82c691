//! What the Socket Mode listener last said about its connections, for `GET /status`. Error
//! texts are not kept: a connection URL carries a one-time ticket.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct SlackLink(Arc<Mutex<Report>>);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// A connection said hello and no error came after it.
    pub connected: bool,
    /// The number of connections Slack counted at the last hello.
    pub connections: u32,
    pub last_hello: Option<DateTime<Utc>>,
    pub last_error: Option<DateTime<Utc>>,
}

impl SlackLink {
    pub fn hello(&self, connections: u32, at: DateTime<Utc>) {
        let mut report = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        report.connected = true;
        report.connections = connections;
        report.last_hello = Some(at);
    }

    /// Slack over HTTP alone: there is no connection to lose, so the link counts as up.
    pub fn http_only(&self) {
        let mut report = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        report.connected = true;
    }

    /// A transport error: the listener reconnects, and says hello again when it has.
    pub fn failed(&self, at: DateTime<Utc>) {
        let mut report = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        report.connected = false;
        report.last_error = Some(at);
    }

    pub fn report(&self) -> Report {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
