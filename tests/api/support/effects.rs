//! A fake outside service for the test flow: it counts the effects it is asked to cause, can be
//! told to fail a number of times first, and answers whether it has seen an effect (so a flow can
//! look for an effect before repeating it, as real flows do with Azure DevOps).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[derive(Default)]
struct Seen {
    /// Effect key → how many times it was caused.
    caused: HashMap<String, u32>,
    /// Effect name → failures still to answer before succeeding.
    failures: HashMap<String, (u16, u32)>,
}

pub struct EffectService {
    server: MockServer,
    seen: Arc<Mutex<Seen>>,
}

struct Responder(Arc<Mutex<Seen>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let parts: Vec<&str> = request
            .url
            .path()
            .trim_start_matches('/')
            .split('/')
            .collect();
        let mut seen = self.0.lock().unwrap();
        match (request.method.as_str(), parts.as_slice()) {
            ("POST", ["effects", name, run]) => {
                if let Some((status, left)) = seen.failures.get_mut(*name)
                    && *left > 0
                {
                    *left -= 1;
                    return ResponseTemplate::new(*status);
                }
                *seen.caused.entry(format!("{name}/{run}")).or_default() += 1;
                ResponseTemplate::new(201).set_body_json(json!({"id": format!("{name}-{run}")}))
            }
            ("GET", ["effects", name, run]) => match seen.caused.get(&format!("{name}/{run}")) {
                Some(_) => {
                    ResponseTemplate::new(200).set_body_json(json!({"id": format!("{name}-{run}")}))
                }
                None => ResponseTemplate::new(404),
            },
            _ => ResponseTemplate::new(400),
        }
    }
}

impl EffectService {
    pub async fn start() -> Arc<Self> {
        let server = MockServer::start().await;
        let seen = Arc::new(Mutex::new(Seen::default()));
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder(seen.clone()))
            .mount(&server)
            .await;
        Arc::new(Self { server, seen })
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Makes the next `times` requests to cause `name` fail with `status`.
    pub fn fail(&self, name: &str, status: u16, times: u32) {
        self.seen
            .lock()
            .unwrap()
            .failures
            .insert(name.to_owned(), (status, times));
    }

    /// How many times each effect key (`name/run`) was caused.
    pub fn caused(&self) -> HashMap<String, u32> {
        self.seen.lock().unwrap().caused.clone()
    }

    pub fn count(&self, name: &str, run: &str) -> u32 {
        self.caused()
            .get(&format!("{name}/{run}"))
            .copied()
            .unwrap_or(0)
    }
}
