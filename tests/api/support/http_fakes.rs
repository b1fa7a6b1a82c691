//! Building blocks for fake HTTP services: answers in sequence, and a fast retry policy.

use std::sync::Mutex;
use std::time::Duration;

use release_agent::http_client::RetryPolicy;
use wiremock::{Request, Respond, ResponseTemplate};

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
