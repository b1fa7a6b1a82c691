//! A stateful fake Jira Cloud: issues with statuses, a workflow where any status leads to the
//! statuses in `TARGETS`, issue creation and search by label.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::http_fakes::Fake;

/// The statuses every status can move to, with the transition's id and name.
const TARGETS: [(&str, &str, &str); 4] = [
    ("21", "Start work", "In Progress"),
    ("31", "Send to review", "Code Review"),
    ("41", "Ready for testing", "Ready for QA"),
    ("51", "Close", "Done"),
];

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub summary: String,
    pub status: String,
    pub labels: Vec<String>,
}

#[derive(Default)]
pub struct JiraState {
    pub issues: BTreeMap<String, FakeIssue>,
    /// Every issue the bot created, by key.
    pub created: Vec<String>,
    pub moves: Vec<(String, String)>,
}

pub type FakeJira = Fake<JiraState>;

struct Router(Arc<Mutex<JiraState>>);

impl FakeJira {
    pub async fn start() -> Self {
        Fake::serve(Router).await
    }

    pub fn base_url(&self) -> String {
        self.uri()
    }

    pub fn add_issue(&self, key: &str, summary: &str, status: &str) {
        let issue = FakeIssue {
            summary: summary.into(),
            status: status.into(),
            labels: Vec::new(),
        };
        self.state.lock().unwrap().issues.insert(key.into(), issue);
    }

    pub fn status(&self, key: &str) -> String {
        self.state.lock().unwrap().issues[key].status.clone()
    }

    pub fn with<T>(&self, read: impl FnOnce(&JiraState) -> T) -> T {
        read(&self.state.lock().unwrap())
    }
}

fn issue_json(key: &str, issue: &FakeIssue) -> Value {
    json!({"id": "1", "key": key, "fields": {"summary": issue.summary, "status": {"name": issue.status}, "issuetype": {"name": "Story"}, "labels": issue.labels}})
}

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let path: Vec<&str> = request
            .url
            .path()
            .trim_start_matches('/')
            .split('/')
            .collect();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let not_found = || {
            ResponseTemplate::new(404).set_body_json(json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}))
        };
        match (request.method.as_str(), path.as_slice()) {
            ("GET", ["rest", "api", "3", "myself"]) => ResponseTemplate::new(200).set_body_json(json!({"displayName": "Release Bot"})),
            ("GET", ["rest", "api", "3", "issue", key]) => match state.issues.get(*key) {
                Some(issue) => ResponseTemplate::new(200).set_body_json(issue_json(key, issue)),
                None => not_found(),
            },
            ("GET", ["rest", "api", "3", "issue", key, "transitions"]) => match state.issues.get(*key) {
                Some(issue) => {
                    let transitions: Vec<Value> = TARGETS
                        .iter()
                        .filter(|(_, _, to)| *to != issue.status)
                        .map(|(id, name, to)| json!({"id": id, "name": name, "to": {"name": to}}))
                        .collect();
                    ResponseTemplate::new(200).set_body_json(json!({"transitions": transitions}))
                }
                None => not_found(),
            },
            ("POST", ["rest", "api", "3", "issue", key, "transitions"]) => {
                let id = body["transition"]["id"].as_str().unwrap_or_default();
                let Some((_, _, to)) = TARGETS.iter().find(|(t, _, _)| *t == id) else {
                    return ResponseTemplate::new(400).set_body_json(json!({"errorMessages": ["Transition id is not valid."]}));
                };
                match state.issues.get_mut(*key) {
                    Some(issue) => {
                        issue.status = (*to).into();
                        state.moves.push(((*key).into(), (*to).into()));
                        ResponseTemplate::new(204)
                    }
                    None => not_found(),
                }
            }
            ("POST", ["rest", "api", "3", "issue"]) => {
                let project = body["fields"]["project"]["key"].as_str().unwrap_or("X").to_owned();
                let key = format!("{project}-{}", 100 + state.issues.len());
                let labels = body["fields"]["labels"].as_array().into_iter().flatten().filter_map(|l| l.as_str().map(str::to_owned)).collect();
                let summary = body["fields"]["summary"].as_str().unwrap_or_default().to_owned();
                state.issues.insert(key.clone(), FakeIssue { summary, status: "To Do".into(), labels });
                state.created.push(key.clone());
                ResponseTemplate::new(201).set_body_json(json!({"id": "9", "key": key, "self": "x"}))
            }
            ("POST", ["rest", "api", "3", "search", "jql"]) => {
                let jql = body["jql"].as_str().unwrap_or_default();
                let label = jql.split("labels = \"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("");
                let issues: Vec<Value> = state
                    .issues
                    .iter()
                    .filter(|(_, issue)| issue.labels.iter().any(|l| l == label))
                    .map(|(key, issue)| issue_json(key, issue))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({"issues": issues, "isLast": true}))
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"errorMessages": [format!("the fake has no {} {}", request.method, request.url.path())]})),
        }
    }
}
