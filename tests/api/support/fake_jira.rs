//! A stateful fake Jira Cloud: issues with statuses and a changelog, a workflow where any status
//! leads to the statuses in `TARGETS` (or the one a test sets, with status categories and screens
//! that require a Resolution), issue creation and search by label.
//!
//! Approximation: the error texts (a transition without its required Resolution, an issue type the
//! project does not have, a version without a project or with a taken name, an unknown fix
//! version) follow Jira's documented field-error shape (`{"errorMessages": [], "errors":
//! {field: text}}`), but the texts themselves are not captured from a live site.

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

/// A transition of a workflow a test sets: from a status (`*`: any), to a status of a category
/// (`new`, `indeterminate`, `done`), and whether its screen requires a Resolution.
#[derive(Debug, Clone, Copy)]
pub struct FakeTransition {
    pub from: &'static str,
    pub id: &'static str,
    pub name: &'static str,
    pub to: &'static str,
    pub category: &'static str,
    pub resolution: bool,
}

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub summary: String,
    pub status: String,
    pub labels: Vec<String>,
    pub fix_versions: Vec<String>,
}

/// A version of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeVersion {
    pub id: String,
    pub project: String,
    pub name: String,
    pub released: bool,
    pub release_date: Option<String>,
}

#[derive(Default)]
pub struct JiraState {
    pub issues: BTreeMap<String, FakeIssue>,
    /// Every issue the bot created, by key.
    pub created: Vec<String>,
    pub moves: Vec<(String, String)>,
    /// The workflow, when a test sets one; empty: every status leads to `TARGETS`.
    pub workflow: Vec<FakeTransition>,
    /// (issue, from, to, resolution) of every status change, oldest first: the changelog.
    pub history: Vec<(String, String, String, Option<String>)>,
    /// An issue type the projects do not have: creating one is refused.
    pub missing_type: Option<String>,
    /// Creations whose answer is lost (the issue is created, the caller gets a 502).
    pub lost_answers: u32,
    /// Searches that miss a newly created issue, as Jira's lagging index does.
    pub search_lag: u32,
    /// New issues not yet searchable, with the searches they still miss.
    pub unindexed: BTreeMap<String, u32>,
    /// How many searches were made.
    pub searches: u32,
    pub versions: Vec<FakeVersion>,
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
            fix_versions: Vec::new(),
        };
        self.state.lock().unwrap().issues.insert(key.into(), issue);
    }

    pub fn status(&self, key: &str) -> String {
        self.state.lock().unwrap().issues[key].status.clone()
    }

    pub fn with<T>(&self, read: impl FnOnce(&JiraState) -> T) -> T {
        read(&self.state.lock().unwrap())
    }

    pub fn with_mut<T>(&self, change: impl FnOnce(&mut JiraState) -> T) -> T {
        change(&mut self.state.lock().unwrap())
    }
}

fn issue_json(key: &str, issue: &FakeIssue) -> Value {
    json!({"id": "1", "key": key, "fields": {"summary": issue.summary, "status": {"name": issue.status}, "issuetype": {"name": "Story"}, "labels": issue.labels}})
}

/// The transitions from `status`: the test's workflow, or every status of `TARGETS`.
fn offered(state: &JiraState, status: &str) -> Vec<FakeTransition> {
    if !state.workflow.is_empty() {
        return state
            .workflow
            .iter()
            .filter(|t| t.from == "*" || t.from == status)
            .copied()
            .collect();
    }
    TARGETS
        .iter()
        .filter(|(_, _, to)| *to != status)
        .map(|&(id, name, to)| FakeTransition {
            from: "*",
            id,
            name,
            to,
            category: if to == "Done" {
                "done"
            } else {
                "indeterminate"
            },
            resolution: false,
        })
        .collect()
}

/// The fake's id of a project: a number derived from its key.
fn project_id(key: &str) -> i64 {
    10_000 + key.bytes().map(i64::from).sum::<i64>()
}

/// The key of the project with `id`, among the projects of the fake's issues.
fn project_key(state: &JiraState, id: i64) -> Option<String> {
    state
        .issues
        .keys()
        .filter_map(|key| key.split('-').next())
        .find(|key| project_id(key) == id)
        .map(str::to_owned)
}

fn version_json(v: &FakeVersion) -> Value {
    json!({"id": v.id, "name": v.name, "released": v.released, "releaseDate": v.release_date, "archived": false})
}

fn transition_json(t: &FakeTransition) -> Value {
    let mut json = json!({"id": t.id, "name": t.name, "hasScreen": t.resolution,
        "to": {"name": t.to, "statusCategory": {"key": t.category}}, "fields": {}});
    if t.resolution {
        json["fields"]["resolution"] = json!({"required": true, "name": "Resolution",
            "allowedValues": [{"id": "10000", "name": "Done"}, {"id": "10001", "name": "Won't Do"}]});
    }
    json
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
                    let transitions: Vec<Value> = offered(&state, &issue.status).iter().map(transition_json).collect();
                    ResponseTemplate::new(200).set_body_json(json!({"transitions": transitions}))
                }
                None => not_found(),
            },
            ("GET", ["rest", "api", "3", "issue", key, "changelog"]) => {
                let values: Vec<Value> = state
                    .history
                    .iter()
                    .filter(|(issue, ..)| issue == key)
                    .map(|(_, from, to, _)| json!({"items": [{"field": "status", "fromString": from, "toString": to}]}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({"values": values, "isLast": true}))
            }
            ("POST", ["rest", "api", "3", "issue", key, "transitions"]) => {
                let id = body["transition"]["id"].as_str().unwrap_or_default();
                let Some(status) = state.issues.get(*key).map(|i| i.status.clone()) else {
                    return not_found();
                };
                let Some(transition) = offered(&state, &status).into_iter().find(|t| t.id == id) else {
                    return ResponseTemplate::new(400).set_body_json(json!({"errorMessages": [format!("Transition id '{id}' is not valid for this issue.")], "errors": {}}));
                };
                let resolution = body["fields"]["resolution"]["name"].as_str().map(str::to_owned);
                if transition.resolution && resolution.is_none() {
                    return ResponseTemplate::new(400).set_body_json(json!({"errorMessages": [], "errors": {"resolution": "Resolution is required."}}));
                }
                state.issues.get_mut(*key).unwrap().status = transition.to.into();
                state.moves.push(((*key).into(), transition.to.into()));
                state.history.push(((*key).into(), status, transition.to.into(), resolution));
                ResponseTemplate::new(204)
            }
            ("POST", ["rest", "api", "3", "issue"]) => {
                let issue_type = body["fields"]["issuetype"]["name"].as_str().unwrap_or_default();
                if state.missing_type.as_deref() == Some(issue_type) {
                    return ResponseTemplate::new(400).set_body_json(json!({"errorMessages": [], "errors": {"issuetype": "Specify a valid issue type"}}));
                }
                let project = body["fields"]["project"]["key"].as_str().unwrap_or("X").to_owned();
                let key = format!("{project}-{}", 100 + state.issues.len());
                let labels = body["fields"]["labels"].as_array().into_iter().flatten().filter_map(|l| l.as_str().map(str::to_owned)).collect();
                let summary = body["fields"]["summary"].as_str().unwrap_or_default().to_owned();
                state.issues.insert(key.clone(), FakeIssue { summary, status: "To Do".into(), labels, fix_versions: Vec::new() });
                state.created.push(key.clone());
                let lag = state.search_lag;
                state.unindexed.insert(key.clone(), lag);
                if state.lost_answers > 0 {
                    state.lost_answers -= 1;
                    return ResponseTemplate::new(502).set_body_string("Bad Gateway");
                }
                ResponseTemplate::new(201).set_body_json(json!({"id": "9", "key": key, "self": "x"}))
            }
            ("GET", ["rest", "api", "3", "project", project, "versions"]) => {
                let versions: Vec<Value> = state.versions.iter().filter(|v| v.project == *project).map(version_json).collect();
                ResponseTemplate::new(200).set_body_json(json!(versions))
            }
            ("GET", ["rest", "api", "3", "project", project]) => {
                ResponseTemplate::new(200).set_body_json(json!({"id": project_id(project).to_string(), "key": project, "name": project}))
            }
            ("POST", ["rest", "api", "3", "version"]) => {
                let Some(project) = body["projectId"].as_i64().and_then(|id| project_key(&state, id)) else {
                    return ResponseTemplate::new(400).set_body_json(json!({"errorMessages": [], "errors": {"projectId": "Project must be specified to create a version."}}));
                };
                let name = body["name"].as_str().unwrap_or_default().to_owned();
                if state.versions.iter().any(|v| v.project == project && v.name == name) {
                    return ResponseTemplate::new(400).set_body_json(json!({"errorMessages": [], "errors": {"name": "A version with this name already exists in this project."}}));
                }
                let version = FakeVersion { id: (10_000 + state.versions.len()).to_string(), project, name, released: false, release_date: None };
                let answer = version_json(&version);
                state.versions.push(version);
                ResponseTemplate::new(201).set_body_json(answer)
            }
            ("PUT", ["rest", "api", "3", "version", id]) => match state.versions.iter_mut().find(|v| v.id == *id) {
                Some(version) => {
                    version.released = body["released"].as_bool().unwrap_or(version.released);
                    version.release_date = body["releaseDate"].as_str().map(str::to_owned).or(version.release_date.take());
                    ResponseTemplate::new(200).set_body_json(version_json(version))
                }
                None => ResponseTemplate::new(404).set_body_json(json!({"errorMessages": [format!("Could not find version for id '{id}'")], "errors": {}})),
            },
            ("PUT", ["rest", "api", "3", "issue", key]) => {
                let project = key.split('-').next().unwrap_or_default().to_owned();
                let Some(issue) = state.issues.get(*key).cloned() else {
                    return not_found();
                };
                let mut fix_versions = issue.fix_versions;
                for change in body["update"]["fixVersions"].as_array().into_iter().flatten() {
                    let name = change["add"]["name"].as_str().unwrap_or_default();
                    if !state.versions.iter().any(|v| v.project == project && v.name == name) {
                        return ResponseTemplate::new(400).set_body_json(json!({"errorMessages": [], "errors": {"fixVersions": format!("Version name '{name}' is not valid")}}));
                    }
                    if !fix_versions.iter().any(|f| f == name) {
                        fix_versions.push(name.to_owned());
                    }
                }
                state.issues.get_mut(*key).unwrap().fix_versions = fix_versions;
                ResponseTemplate::new(204)
            }
            ("POST", ["rest", "api", "3", "search", "jql"]) => {
                let jql = body["jql"].as_str().unwrap_or_default();
                let label = jql.split("labels = \"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("");
                state.searches += 1;
                let issues: Vec<Value> = state
                    .issues
                    .iter()
                    .filter(|(key, _)| state.unindexed.get(*key).is_none_or(|misses| *misses == 0))
                    .filter(|(_, issue)| issue.labels.iter().any(|l| l == label))
                    .map(|(key, issue)| issue_json(key, issue))
                    .collect();
                for misses in state.unindexed.values_mut() {
                    *misses = misses.saturating_sub(1);
                }
                ResponseTemplate::new(200).set_body_json(json!({"issues": issues, "isLast": true}))
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"errorMessages": [format!("the fake has no {} {}", request.method, request.url.path())]})),
        }
    }
}
