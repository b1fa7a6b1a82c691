//! `release-agent health`: asks the running bot, on its HTTP receiver (`GET /status` on
//! `HTTP_PORT`), whether its database answers and its Slack connection is up. It exits 0 only
//! then, so a container health check needs no curl in the image. It reads `HTTP_PORT` and
//! `HTTP_BIND` alone, from the environment or `.env`: a health check must not fail over another
//! setting.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

/// How long the bot may take to answer; its own database check gives up after 10 s.
const TIMEOUT: Duration = Duration::from_secs(15);

/// What the bot said, or why it could not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// The database answers; Slack is not connected (Socket Mode reconnects by itself).
    SlackDown,
    DatabaseDown,
    /// No answer at all: the bot is not running, or not on this port.
    NoAnswer(String),
}

impl Health {
    pub fn describe(&self) -> String {
        match self {
            Health::Ok => "ok: the database answers and Slack is connected".into(),
            Health::SlackDown => {
                "degraded: the database answers, Slack is not connected (the bot reconnects by itself; \
                 if it stays so, see `release-agent check`)"
                    .into()
            }
            Health::DatabaseDown => "down: the bot's database does not answer".into(),
            Health::NoAnswer(why) => format!("down: the bot does not answer: {why}"),
        }
    }
}

/// Asks the bot listening on `port` (at `bind`, or loopback when it listens everywhere).
pub async fn probe(bind: Option<IpAddr>, port: u16) -> Health {
    let host = match bind {
        Some(ip) if !ip.is_unspecified() => ip,
        _ => IpAddr::from([127, 0, 0, 1]),
    };
    let url = format!("http://{}/status", std::net::SocketAddr::new(host, port));
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
    {
        Ok(client) => client,
        Err(e) => return Health::NoAnswer(e.to_string()),
    };
    let response = match client.get(&url).send().await {
        Ok(response) => response,
        Err(e) => return Health::NoAnswer(format!("{url}: {}", e.without_url())),
    };
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match body["status"].as_str() {
        Some("ok") => Health::Ok,
        Some("degraded") => Health::SlackDown,
        Some("down") => Health::DatabaseDown,
        _ => Health::NoAnswer(format!("{url} is not the bot's status")),
    }
}

/// The subcommand: prints the state and exits 0 when healthy, 1 when not, 2 when it cannot
/// tell where to ask.
pub fn command() -> ExitCode {
    let target = crate::config::env_lookup()
        .map_err(|e| e.to_string())
        .and_then(|lookup| {
            let port = lookup("HTTP_PORT")
                .filter(|p| !p.trim().is_empty())
                .ok_or("HTTP_PORT is not set: health asks the bot's HTTP receiver, so set HTTP_PORT for the bot and here")?;
            let port: u16 = port
                .trim()
                .parse()
                .map_err(|_| format!("HTTP_PORT: `{port}` is not a port number"))?;
            let bind = lookup("HTTP_BIND").and_then(|b| b.trim().parse().ok());
            Ok((bind, port))
        });
    let (bind, port) = match target {
        Ok(target) => target,
        Err(e) => {
            eprintln!("release-agent health: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("release-agent health: {e}");
            return ExitCode::from(2);
        }
    };
    let health = runtime.block_on(probe(bind, port));
    println!("{}", health.describe());
    if health == Health::Ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
