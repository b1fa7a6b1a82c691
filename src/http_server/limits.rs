//! The receiver's limits, so neither a slow client nor a flood takes it down: the headers of a
//! request must arrive within 10 s (a slowloris connection is closed, and an idle keep-alive one
//! too), at most 1024 connections are open (more are closed at once), at most 64 requests are
//! handled at once (more get 503 at once), and a request that takes longer than 30 s gets 503.
//! axum::serve has none of these, so the accept loop is ours, on hyper-util.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{ApiError, closing};

const HEADER_READ: Duration = Duration::from_secs(10);
const CONNECTIONS: usize = 1024;

/// Which requests are handled: how many at once, and for how long each.
pub struct Admission {
    in_flight: Semaphore,
    request_time: Duration,
}

impl Admission {
    pub fn new(in_flight: usize, request_time: Duration) -> Self {
        Self {
            in_flight: Semaphore::new(in_flight),
            request_time,
        }
    }
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(64, Duration::from_secs(30))
    }
}

/// How long requests in flight may finish after a shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown`, then lets requests in flight finish.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ);
    let builder = Arc::new(builder);
    let open = Arc::new(Semaphore::new(CONNECTIONS));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                warn!(error = %e, "the HTTP receiver cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            debug!("too many open connections; closing a new one");
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or is too slow ends its connection; nothing to report.
            let _ = connection.await;
            drop(permit);
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("requests still in flight after the shutdown's grace period were dropped");
    }
}

/// Admits a request if fewer than the limit are handled, and stops it after its time.
pub async fn admit(
    axum::extract::State(admission): axum::extract::State<Arc<Admission>>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = admission.in_flight.try_acquire() else {
        let busy = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests at once; try again in a moment",
        );
        return closing(busy.into_response());
    };
    match tokio::time::timeout(admission.request_time, next.run(request)).await {
        Ok(response) => response,
        Err(_) => closing(
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request took longer than {}s and was stopped",
                    admission.request_time.as_secs_f32()
                ),
            )
            .into_response(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    /// A receiver whose one handler sleeps `ms`, admitting one request at a time for 300 ms.
    async fn receiver() -> String {
        let admission = Arc::new(Admission::new(1, Duration::from_millis(300)));
        let app = Router::new()
            .route(
                "/sleep/{ms}",
                get(
                    |axum::extract::Path(ms): axum::extract::Path<u64>| async move {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        "done"
                    },
                ),
            )
            .layer(axum::middleware::from_fn_with_state(admission, admit));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, app, CancellationToken::new()));
        url
    }

    async fn get_status(url: String) -> (u16, String) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let response = reqwest::get(url).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    #[tokio::test]
    async fn a_long_request_is_stopped_and_one_beyond_the_limit_is_turned_away() {
        let url = receiver().await;
        let (slow, busy) = tokio::join!(get_status(format!("{url}/sleep/2000")), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            get_status(format!("{url}/sleep/0")).await
        });
        assert_eq!(slow.0, 503);
        assert!(
            slow.1.contains("the request took longer than 0.3s"),
            "{}",
            slow.1
        );
        assert_eq!(busy.0, 503);
        assert!(busy.1.contains("too many requests at once"), "{}", busy.1);
        assert_eq!(
            get_status(format!("{url}/sleep/0")).await,
            (200, "done".into())
        );
    }
}
