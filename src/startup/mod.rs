//! Building the application from its config and running it until it is told to stop.
//!
//! `Application::build` connects and migrates the store, proves both Slack tokens work (a bad
//! token would otherwise be retried forever by the Socket Mode client) and assembles the parts;
//! `run_until_stopped` runs the Socket Mode listener, the engine, the intake and the outbound
//! queue until the shutdown token fires or one of them ends, then stops them in order.

mod instance;
mod parts;
mod preflight;
mod retention;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::azdo::AzureDevOps;
use crate::clock::Clock;
use crate::config::Config;
use crate::http_server::slack::SlackOverHttp;
use crate::http_server::{HttpServer, Shared};
use crate::slack::approvers::Approvers;
use crate::slack::front_door::FrontDoor;
use crate::slack::home::HomeTab;
use crate::slack::link::SlackLink;
use crate::slack::live_home;
use crate::slack::outbound::Outbound;
use crate::slack::socket_mode::{Receivers, SocketMode, SocketSettings};
use crate::slack::web::{SlackApi, SlackError};
use crate::slack::workspace::Workspace;
use crate::store::{Store, StoreError};
use crate::workflow::intake::Intake;
use crate::workflow::pr::poller::Poller;
use crate::workflow::questions::Answerer;
use crate::workflow::{Engine, Wakers};

use instance::Instance;
pub use parts::{Parts, repos_on_disk};
use preflight::{prune_worktrees, verify_tokens};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database {url}: {source}")]
    Database { url: String, source: StoreError },
    #[error("cannot migrate the database: {0}")]
    Migrate(StoreError),
    #[error("cannot set up the Slack client: {0}")]
    SlackClient(std::io::Error),
    #[error("{var} was refused by Slack ({source}); check the token")]
    SlackToken {
        var: &'static str,
        source: SlackError,
    },
    #[error(
        "nobody may approve anything: SLACK_APPROVERS is empty. Set it to the Slack user ids and \
         user-group ids (U…, S…) of the people who may merge and approve releases, or to `anyone` \
         to let every member of the workspace decide; REPOS_CONFIG's `approvers` tables can then \
         narrow it per repository and decision"
    )]
    NoApprovers,
    #[error("cannot set up a client: {0}")]
    Client(crate::http_client::HttpError),
    #[error("cannot listen on {addr} (HTTP_BIND, HTTP_PORT): {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

pub struct Application {
    store: Store,
    api: SlackApi,
    engine: Engine,
    intake: Intake,
    outbound: Outbound,
    poller: Option<Poller>,
    receivers: Arc<Receivers>,
    /// Socket Mode's settings; `None` when only Slack over HTTP is on.
    socket: Option<SocketSettings>,
    http: Option<HttpServer>,
    clock: Clock,
    delivery_retention: chrono::TimeDelta,
    /// Held while the process lives: its lock says this instance's claims are ours.
    _instance: Instance,
}

/// What the parts built from the store and the engine share.
struct Core {
    store: Store,
    engine: Engine,
    clock: Clock,
    wakers: Arc<Wakers>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let parts = Parts::for_config(&config)?;
        Self::build_with(config, parts).await
    }

    pub async fn build_with(config: Config, mut parts: Parts) -> Result<Self, StartupError> {
        if config.slack.approvers.is_none() {
            return Err(StartupError::NoApprovers);
        }
        parts.engine.repo_channels = config.repos_config.channels();
        let store = open_store(&config).await?;
        let api = SlackApi::new(
            &config.slack.api_url,
            &config.slack.bot_token,
            config.slack.app_token.as_ref(),
            &config.proxy,
        )
        .map_err(StartupError::SlackClient)?;
        let workspace = verify_tokens(&api, config.slack.app_token.is_some()).await?;
        prune_worktrees(&config).await;
        let instance = Instance::acquire(&config.repos_dir);
        parts.engine.instance.clone_from(&instance.id);
        parts.outbound.instance.clone_from(&instance.id);
        match store.release_claims(&instance.id).await {
            Ok(0) => {}
            Ok(n) => {
                info!(instance = %instance.id, claims = n, "took back the claims of this instance's last life")
            }
            Err(e) => {
                warn!(error = %e, "cannot take back earlier claims; they wait for their leases")
            }
        }
        let wakers = Arc::new(Wakers::default());
        let engine = Engine::new(
            store.clone(),
            parts.flows.clone(),
            parts.clock.clone(),
            parts.engine,
            wakers.clone(),
        );
        let core = Core {
            store,
            engine,
            clock: parts.clock,
            wakers,
        };
        let approvers = Arc::new(Approvers::new(api.clone()));
        let intake = Intake::new(
            core.store.clone(),
            core.clock.clone(),
            core.engine.clone(),
            approvers,
            config.approval_policy(),
            core.wakers.clone(),
            config.pr.reviews_per_user_per_hour,
        );
        let outbound = Outbound::new(
            core.store.clone(),
            api.clone(),
            parts.flows,
            core.clock.clone(),
            core.wakers.clone(),
            parts.outbound,
        );
        let azdo = parts.azdo.clone();
        let poller = parts::poller(&config, parts.azdo, &core.engine, &core.store, &core.clock);
        let receivers = Arc::new(receivers(&config, &core, &api, &intake, workspace));
        if config.slack.app_token.is_none() {
            // No WebSocket to watch: Slack reaches the bot over HTTP alone.
            receivers.link.http_only();
        }
        let http = http_receiver(&config, &core, &intake, &receivers, azdo).await?;
        Ok(Self {
            store: core.store,
            api,
            engine: core.engine,
            intake,
            outbound,
            poller,
            receivers,
            socket: config.slack.app_token.is_some().then_some(parts.socket),
            http,
            clock: core.clock,
            delivery_retention: config.delivery_retention,
            _instance: instance,
        })
    }

    /// Where the HTTP receiver listens, when HTTP_PORT is set.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http.as_ref().and_then(|h| h.local_addr().ok())
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs until `shutdown` fires or a part ends on its own. On the way out: stop taking
    /// envelopes, let running steps reach their checkpoint, then close the database.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), StartupError> {
        let socket = self
            .socket
            .map(|settings| SocketMode::start(&self.api, self.receivers.clone(), settings));
        let mut parts = JoinSet::new();
        if let Some(http) = self.http {
            let stop = shutdown.clone();
            parts.spawn(async move {
                http.serve(stop).await;
                "HTTP receiver"
            });
        }
        let (engine, intake, outbound) = (self.engine, self.intake, self.outbound);
        let answerer = Answerer::new(engine.clone());
        let stop = shutdown.clone();
        parts.spawn(async move {
            engine.run(stop).await;
            "engine"
        });
        let stop = shutdown.clone();
        parts.spawn(async move {
            answerer.run(stop).await;
            "answerer"
        });
        let stop = shutdown.clone();
        parts.spawn(async move {
            intake.run(stop).await;
            "intake"
        });
        let stop = shutdown.clone();
        parts.spawn(async move {
            outbound.run(stop).await;
            "outbound queue"
        });
        let (store, clock, keep, stop) = (
            self.store.clone(),
            self.clock.clone(),
            self.delivery_retention,
            shutdown.clone(),
        );
        parts.spawn(async move {
            retention::prune_until_stopped(store, clock, keep, stop).await;
            "delivery retention"
        });
        let (home, store, clock, stop) = (
            self.receivers.home.clone(),
            self.store.clone(),
            self.clock.clone(),
            shutdown.clone(),
        );
        parts.spawn(async move {
            live_home::refresh_until_stopped(home, store, clock, HOME_REFRESH, stop).await;
            "live Home tab"
        });
        let (store, stop) = (self.store.clone(), shutdown.clone());
        parts.spawn(async move {
            store.watch_availability(stop).await;
            "database watch"
        });
        if let Some(poller) = self.poller {
            let stop = shutdown.clone();
            parts.spawn(async move {
                poller.run(stop).await;
                "PR poller"
            });
        }
        info!("release-agent is running");

        tokio::select! {
            // A stop asked for ends parts too; it is not one of them stopping on its own.
            biased;
            () = shutdown.cancelled() => info!("shutting down"),
            Some(ended) = parts.join_next() => {
                match ended {
                    Ok(name) => error!(part = name, "a part stopped on its own; shutting down"),
                    Err(e) => error!(error = %e, "a part crashed; shutting down"),
                }
                shutdown.cancel();
            }
        }
        if let Some(socket) = socket {
            socket.stop().await;
        }
        let drained = tokio::time::timeout(Duration::from_secs(9), async {
            while let Some(ended) = parts.join_next().await {
                if let Ok(name) = ended {
                    info!(part = name, "stopped");
                }
            }
        })
        .await;
        if drained.is_err() {
            warn!("some parts did not stop in time");
        }
        self.store.close().await;
        Ok(())
    }
}

/// How often the live Home tab looks for a change: a burst within it costs one publish.
const HOME_REFRESH: Duration = Duration::from_secs(3);

/// What the Socket Mode listener hands envelopes to.
fn receivers(
    config: &Config,
    core: &Core,
    api: &SlackApi,
    intake: &Intake,
    workspace: Option<Workspace>,
) -> Receivers {
    let door = FrontDoor::new(
        core.store.clone(),
        core.clock.clone(),
        core.engine.clone(),
        config.known_repos(),
        core.wakers.clone(),
    );
    Receivers {
        acks: core.wakers.acks.clone(),
        door: Arc::new(door),
        home: Arc::new(HomeTab::new(
            core.store.clone(),
            api.clone(),
            core.clock.clone(),
            intake.clone(),
        )),
        link: SlackLink::default(),
        api: api.clone(),
        workspace: OnceCell::new_with(workspace),
    }
}

/// The HTTP receiver, bound, when HTTP_PORT is set.
async fn http_receiver(
    config: &Config,
    core: &Core,
    intake: &Intake,
    receivers: &Arc<Receivers>,
    azdo: Option<Arc<dyn AzureDevOps>>,
) -> Result<Option<HttpServer>, StartupError> {
    let Some(settings) = &config.http else {
        return Ok(None);
    };
    let shared = Shared {
        store: core.store.clone(),
        engine: core.engine.clone(),
        intake: intake.clone(),
        slack: receivers.link.clone(),
        settings: settings.clone(),
        repos: parts::repos_with_targets(config, config.known_repos()),
        azdo,
        slack_http: config
            .slack
            .signing_secret
            .clone()
            .map(|signing_secret| SlackOverHttp {
                signing_secret,
                receivers: receivers.clone(),
            }),
    };
    let server = HttpServer::bind(shared)
        .await
        .map_err(|source| StartupError::Listen {
            addr: settings.addr,
            source,
        })?;
    Ok(Some(server))
}

pub async fn open_store(config: &Config) -> Result<Store, StartupError> {
    let store =
        Store::connect(&config.database)
            .await
            .map_err(|source| StartupError::Database {
                url: config.database.redacted(),
                source,
            })?;
    store.migrate().await.map_err(StartupError::Migrate)?;
    Ok(store)
}
