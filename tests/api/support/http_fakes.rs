//! Building blocks for fake HTTP services: answers in sequence, a fast retry policy, faults, and
//! the server a stateful fake answers on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use release_agent::http_client::RetryPolicy;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers with each template in turn, then keeps answering with the last one.
pub struct Sequence(Mutex<Vec<ResponseTemplate>>);

impl Sequence {
    pub fn new(answers: Vec<ResponseTemplate>) -> Self {
        assert!(!answers.is_empty());
        Self(Mutex::new(answers))
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut answers = self.0.lock().unwrap();
        if answers.len() > 1 {
            answers.remove(0)
        } else {
            answers[0].clone()
        }
    }
}

/// Retries fast enough for tests; the same rules as in production.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        max_wait: Duration::from_secs(3),
        timeout: Duration::from_millis(500),
    }
}

pub fn json(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// A fault a busy or flaky service shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// 429 with `Retry-After: 1`; the request was not acted on.
    Throttled,
    /// 500 before acting.
    ServerError,
    /// The request is acted on, but the answer comes after the client gave up.
    LostAnswer,
}

/// Makes one request in every `n` to a fake fail, at a random place within each run of `n` (so a
/// fake that sees few requests still sees faults), chosen by a seeded random generator so a
/// failing run can be replayed; the kinds of fault take turns. Off until [`Faults::enable`].
pub struct Faults {
    plan: Mutex<Option<FaultPlan>>,
    injected: Mutex<std::collections::BTreeMap<Fault, usize>>,
}

struct FaultPlan {
    every: usize,
    /// Requests seen, and which one of the current run of `every` fails.
    seen: usize,
    failing: usize,
    late_by: Duration,
    rng: rand::rngs::StdRng,
}

impl Faults {
    pub fn off() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            plan: Mutex::new(None),
            injected: Mutex::default(),
        })
    }

    /// From now on, one request in every `every` fails; lost answers come `late_by` late.
    pub fn enable(&self, every: usize, late_by: Duration, seed: u64) {
        use rand::SeedableRng;
        *self.plan.lock().unwrap() = Some(FaultPlan {
            every,
            seen: 0,
            failing: 0,
            late_by,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        });
    }

    /// How many faults of each kind were injected.
    pub fn injected(&self) -> std::collections::BTreeMap<Fault, usize> {
        self.injected.lock().unwrap().clone()
    }

    /// Answers `request` through `inner`, or fails it as the plan says.
    pub fn answer(&self, request: &Request, inner: &dyn Respond) -> ResponseTemplate {
        use rand::Rng;
        let (fault, late_by) = {
            let mut plan = self.plan.lock().unwrap();
            let Some(plan) = plan.as_mut() else {
                return inner.respond(request);
            };
            let place = plan.seen % plan.every;
            if place == 0 {
                plan.failing = plan.rng.random_range(0..plan.every);
            }
            plan.seen += 1;
            if place != plan.failing {
                return inner.respond(request);
            }
            // The kinds take turns, so every kind shows up in a short run.
            let fault = [Fault::Throttled, Fault::ServerError, Fault::LostAnswer]
                [((plan.seen - 1) / plan.every) % 3];
            (fault, plan.late_by)
        };
        *self.injected.lock().unwrap().entry(fault).or_default() += 1;
        match fault {
            Fault::Throttled => json(429, serde_json::json!({"message": "Too many requests"}))
                .insert_header("Retry-After", "1"),
            Fault::ServerError => json(500, serde_json::json!({"message": "Internal error"})),
            Fault::LostAnswer => inner.respond(request).set_delay(late_by),
        }
    }
}

/// A stateful fake service: a local server whose every request a router answers from `state`,
/// through faults that are off until a test enables them.
pub struct Fake<S> {
    server: MockServer,
    pub state: Arc<Mutex<S>>,
    pub faults: Arc<Faults>,
}

impl<S: Default> Fake<S> {
    /// Starts the server with fresh state, answered by the router `route` makes over it.
    pub async fn serve<R: Respond + 'static>(route: impl FnOnce(Arc<Mutex<S>>) -> R) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(S::default()));
        let faults = Faults::off();
        Mock::given(wiremock::matchers::any())
            .respond_with(WithFaults(route(state.clone()), faults.clone()))
            .mount(&server)
            .await;
        Self {
            server,
            state,
            faults,
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }
}

/// A fake's responder behind [`Faults`].
pub struct WithFaults<R>(pub R, pub std::sync::Arc<Faults>);

impl<R: Respond> Respond for WithFaults<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.1.answer(request, &self.0)
    }
}
