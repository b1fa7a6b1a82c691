//! A stateful fake Azure DevOps for end-to-end runs: PRs that complete when merged at their
//! current source commit (409 when it moved), PR creation (409 when one is open for the same
//! branches), threads, votes, builds that run to the result a test planned, and classic releases
//! (`fake_cd`) or YAML pipeline runs (`fake_yaml`), branch policies and auto-complete (`fake_policy`). It answers the REST shapes the real service uses.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::http_fakes::Fake;

use super::fake_cd::{self, CdState};
use super::fake_origin::{self, FakeTag};
use super::fake_policy::{self, FakePolicy};
use super::fake_projects;
use super::fake_threads;
use super::fake_versions;
use super::fake_yaml::{self, YamlStage, YamlState};

#[derive(Debug, Clone)]
pub struct FakePr {
    pub id: u32,
    pub repo: String,
    pub title: String,
    pub source_branch: String,
    pub target_branch: String,
    pub source_commit: String,
    pub status: String,
    pub merge_commit: Option<String>,
    pub closed: Option<String>,
    pub draft: bool,
    /// Votes by reviewer id.
    pub reviewers: BTreeMap<String, i64>,
    /// Who set auto-complete, if anyone.
    pub auto_complete: Option<String>,
    /// The source commit of each iteration (each push), oldest first.
    pub iterations: Vec<String>,
    /// Its repository's project (set by `add_pr` from `in_project`).
    pub project: &'static str,
    pub description: String,
    /// Label names (all active).
    pub labels: Vec<String>,
    /// The `completionOptions` of the completion or auto-complete last asked for.
    pub completion: Value,
}

impl FakePr {
    /// An active PR of Billo.Api from `branch` at `commit` into develop.
    pub fn open(id: u32, title: &str, branch: &str, commit: &str) -> Self {
        Self {
            id,
            repo: "Billo.Api".into(),
            title: title.into(),
            source_branch: branch.into(),
            target_branch: "develop".into(),
            source_commit: commit.into(),
            status: "active".into(),
            merge_commit: None,
            closed: None,
            draft: false,
            reviewers: BTreeMap::new(),
            auto_complete: None,
            iterations: vec![commit.into()],
            project: "Proj",
            description: format!("{title} (description)"),
            labels: Vec::new(),
            completion: Value::Null,
        }
    }
}

/// How a queued build behaves: finishes with `result` after `polls` reads, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPlan {
    Finish { polls: u32, result: &'static str },
    Never,
}

#[derive(Debug, Clone)]
pub struct FakeBuild {
    pub id: i64,
    pub branch: String,
    pub commit: Option<String>,
    pub reads: u32,
    pub plan: BuildPlan,
    /// The deploying stages of a YAML run (`fake_yaml`); empty for any other build.
    pub yaml: Vec<YamlStage>,
    /// The pipeline: 7 is CI, 8 the separate CD pipeline (`fake_yaml::CD_PIPELINE`).
    pub definition: i64,
    /// The build whose completion triggered this run.
    pub triggered_by: Option<i64>,
}

impl FakeBuild {
    /// The result, once the build has finished.
    pub fn finished(&self) -> Option<&'static str> {
        match self.plan {
            BuildPlan::Finish { polls, result } if self.reads > polls => Some(result),
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct AzdoState {
    pub prs: BTreeMap<u32, FakePr>,
    /// (PR, thread body) for every thread posted.
    pub threads: Vec<(u32, Value)>,
    /// (PR, vote) for every vote.
    pub votes: Vec<(u32, i64)>,
    /// (PR, lastMergeSourceCommit) for every completion attempt.
    pub completions: Vec<(u32, String)>,
    pub builds: Vec<FakeBuild>,
    pub plans: VecDeque<BuildPlan>,
    /// Repositories whose PR lists fail with a server error.
    pub broken: Vec<String>,
    /// Every read of one PR fails with a server error while set.
    pub pr_reads_fail: bool,
    /// Branch heads, for the source commit of PRs created through the API.
    pub heads: BTreeMap<String, String>,
    /// Branches with a CI trigger: completing a PR into one queues its build.
    pub triggers: Vec<String>,
    /// Titles and descriptions of PRs created through the API.
    pub created: Vec<(String, String)>,
    pub cd: CdState,
    /// Users and groups by id, as `_apis/identities` answers them.
    pub identities: BTreeMap<String, Value>,
    /// Branch policies on every target branch (`fake_policy`).
    pub policies: Vec<FakePolicy>,
    pub policy_reads: u32,
    /// Every completion is refused with this status and message while set.
    pub refuse_completion: Option<(u16, String)>,
    /// (PR, body) of every PATCH that set or cleared auto-complete.
    pub auto_completes: Vec<(u32, Value)>,
    /// The newest api-version the server speaks (`6.0` for Azure DevOps Server 2020); None is
    /// the cloud's 7.1.
    pub server_version: Option<&'static str>,
    /// `METHOD path?query` of every request, in order.
    pub requests: Vec<String>,
    /// Repositories (lower case) in a project other than `Proj` (`fake_projects`).
    pub projects: BTreeMap<String, &'static str>,
    /// The YAML pipeline that deploys the release branch, when a test plans one.
    pub yaml: YamlState,
    /// A real bare repository behind Billo.Api: completions merge there, heads and tags are
    /// read from it (`fake_origin`).
    pub origin: Option<std::path::PathBuf>,
    /// (branch, commit) of every branch created through the refs API.
    pub branches_created: Vec<(String, String)>,
    /// Every annotated tag created through the API, in order.
    pub tags: Vec<FakeTag>,
}

pub type FakeAzdo = Fake<AzdoState>;

struct Router(Arc<Mutex<AzdoState>>);

impl FakeAzdo {
    pub async fn start() -> Self {
        Fake::serve(Router).await
    }

    /// Adds a user (with `mail`) or a group (with `members`, ids of users or groups) to what
    /// `_apis/identities` knows; returns its IdentityRef, as release approvals name it.
    pub fn add_identity(
        &self,
        id: &str,
        name: &str,
        mail: Option<&str>,
        members: &[&str],
    ) -> Value {
        let mut state = self.state.lock().unwrap();
        let identity = identity_json(id, name, mail, members);
        state.identities.insert(id.to_owned(), identity);
        json!({"id": id, "displayName": name, "uniqueName": mail.unwrap_or(name), "isContainer": mail.is_none()})
    }

    /// The value for AZDO_BASE_URL.
    pub fn base_url(&self) -> String {
        format!("{}/org", self.uri())
    }

    pub fn add_pr(&self, mut pr: FakePr) {
        let mut state = self.state.lock().unwrap();
        pr.project = fake_projects::project_of(&state, &pr.repo);
        state.prs.insert(pr.id, pr);
    }

    /// A push to `branch`: its head and every active PR from it move to `commit`.
    pub fn move_branch(&self, branch: &str, commit: &str) {
        let mut state = self.state.lock().unwrap();
        state.heads.insert(branch.to_owned(), commit.to_owned());
        for pr in state
            .prs
            .values_mut()
            .filter(|pr| pr.source_branch == branch && pr.status == "active")
        {
            pr.source_commit = commit.to_owned();
            pr.iterations.push(commit.to_owned());
        }
    }

    /// A push: the PR's source branch moves to `commit`.
    pub fn push(&self, pr: u32, commit: &str) {
        let mut state = self.state.lock().unwrap();
        let pr = state.prs.get_mut(&pr).unwrap();
        pr.source_commit = commit.to_owned();
        pr.iterations.push(commit.to_owned());
    }

    /// Moves repository `repo` to `project`.
    pub fn in_project(&self, repo: &str, project: &'static str) {
        let mut state = self.state.lock().unwrap();
        state.projects.insert(repo.to_ascii_lowercase(), project);
    }

    /// A person completes PR `pr` in Azure DevOps (policies or not).
    pub fn merge_by_hand(&self, pr: u32) {
        fake_policy::complete(&mut self.state.lock().unwrap(), pr);
    }

    /// A person sets the status of PR `pr`'s finding threads whose title contains `title`
    /// (`fixed`, `wontFix`, `closed`, `byDesign`), as the PR page does.
    pub fn set_thread_status(&self, pr: u32, title: &str, status: &str) {
        let mut state = self.state.lock().unwrap();
        let mut found = 0;
        for (_, body) in state.threads.iter_mut().filter(|(of, _)| *of == pr) {
            let content = body["comments"][0]["content"].as_str().unwrap_or_default();
            if body.get("threadContext").is_some() && content.contains(title) {
                body["status"] = status.into();
                found += 1;
            }
        }
        assert!(found > 0, "no finding thread on PR {pr} says {title:?}");
    }

    /// A person votes on PR `pr` in Azure DevOps.
    pub fn vote(&self, pr: u32, reviewer: &str, vote: i64) {
        let mut state = self.state.lock().unwrap();
        let pr = state.prs.get_mut(&pr).unwrap();
        pr.reviewers.insert(reviewer.to_owned(), vote);
    }

    /// `who` approves the pending approval of YAML stage `stage` in Azure DevOps.
    pub fn approve_yaml_by_hand(&self, stage: &str, who: (&str, &str)) {
        self.with_mut(|state| {
            let id = state
                .builds
                .iter()
                .flat_map(|b| &b.yaml)
                .filter(|s| s.plan.name == stage)
                .find_map(|s| s.approval.as_ref().filter(|a| a.status == "pending"))
                .map(|a| a.id.clone())
                .expect("the stage waits for an approval");
            fake_yaml::decide(state, &id, "approved", who).unwrap();
        });
    }

    /// The other check of YAML stage `stage` passes.
    pub fn pass_check(&self, stage: &str) {
        self.with_mut(|state| {
            for s in state.builds.iter_mut().flat_map(|b| &mut b.yaml) {
                if s.plan.name == stage {
                    s.check_passed = true;
                }
            }
        });
    }

    pub fn plan_build(&self, plan: BuildPlan) {
        self.state.lock().unwrap().plans.push_back(plan);
    }

    pub fn with<T>(&self, read: impl FnOnce(&AzdoState) -> T) -> T {
        read(&self.state.lock().unwrap())
    }

    /// Changes the fake's state, as something happening in Azure DevOps would.
    pub fn with_mut<T>(&self, change: impl FnOnce(&mut AzdoState) -> T) -> T {
        change(&mut self.state.lock().unwrap())
    }
}

/// An identity as `GET _apis/identities?queryMembership=Direct` answers it: a user with its
/// mail, or (without one) a group with the ids of its direct members. The fields follow the
/// published Identity type (specification/ims/7.1/identities.json). Approximation: the spec's
/// examples all use `queryMembership=None` (with `memberIds: []`); that `Direct` fills a group's
/// `memberIds` is the field's documented meaning, not an observed answer. The bot is
/// conservative where it is not: a group whose members it cannot read lets nobody approve in
/// Slack, and the refusal says who it found.
pub fn identity_json(id: &str, name: &str, mail: Option<&str>, members: &[&str]) -> Value {
    let class = if mail.is_some() { "User" } else { "Group" };
    json!({"id": id, "providerDisplayName": name, "isContainer": mail.is_none(), "isActive": true,
        "memberIds": members, "members": [], "memberOf": [],
        "properties": {"SchemaClassName": {"$type": "System.String", "$value": class},
                       "Mail": {"$type": "System.String", "$value": mail.unwrap_or_default()}}})
}

pub fn pr_json(pr: &FakePr) -> Value {
    let commit = |c: &Option<String>| c.as_ref().map(|c| json!({"commitId": c}));
    json!({
        "pullRequestId": pr.id, "status": pr.status, "isDraft": pr.draft, "title": pr.title,
        "description": pr.description,
        "labels": pr.labels.iter().map(|name| json!({"id": format!("label-{name}"), "name": name, "active": true})).collect::<Vec<_>>(),
        "sourceRefName": format!("refs/heads/{}", pr.source_branch),
        "targetRefName": format!("refs/heads/{}", pr.target_branch),
        "createdBy": {"id": "u-ada", "displayName": "Ada", "uniqueName": "ada@billo.example"},
        "lastMergeSourceCommit": {"commitId": pr.source_commit},
        "lastMergeCommit": commit(&pr.merge_commit),
        "mergeStatus": "succeeded",
        "closedDate": pr.closed,
        "reviewers": pr.reviewers.iter().map(|(id, vote)| json!({"id": id, "vote": vote})).collect::<Vec<_>>(),
        "autoCompleteSetBy": pr.auto_complete.as_ref().map(|id| json!({"id": id})),
        "repository": {"id": format!("repo-{}", pr.repo), "name": pr.repo, "project": {"id": fake_projects::project_id(pr.project)}},
        "_links": {"web": {"href": format!("https://dev.azure.com/org/{}/_git/{}/pullrequest/{}", pr.project, pr.repo, pr.id)}}
    })
}

fn build_json(build: &FakeBuild) -> Value {
    let (status, result) = match (fake_yaml::status(build), build.finished()) {
        (Some(deploying), _) => deploying,
        (None, Some(result)) => ("completed", Some(result)),
        (None, None) if build.reads == 0 => ("notStarted", None),
        (None, None) => ("inProgress", None),
    };
    json!({"id": build.id, "buildNumber": format!("2026.{}", build.id), "status": status, "result": result,
        "definition": {"id": build.definition}, "project": {"id": "proj-guid"},
        "triggeredByBuild": build.triggered_by.map(|id| json!({"id": id})),
        "sourceBranch": format!("refs/heads/{}", build.branch), "sourceVersion": build.commit,
        "_links": {"web": {"href": format!("https://dev.azure.com/org/Proj/_build/results?buildId={}", build.id)}}})
}

pub fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

pub fn list(values: Vec<Value>) -> ResponseTemplate {
    ok(json!({"count": values.len(), "value": values}))
}

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let mut path: Vec<String> = request
            .url
            .path_segments()
            .unwrap()
            .map(percent_decode)
            .collect();
        let query: BTreeMap<String, String> = request
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let method = request.method.as_str();
        state.requests.push(format!(
            "{method} {}",
            request
                .url
                .as_str()
                .split_once("/org")
                .map_or("", |(_, tail)| tail)
        ));
        if let Some(refused) = fake_versions::refusal(method, state.server_version, &query)
            .or_else(|| fake_projects::scope(&state, &mut path))
        {
            return refused;
        }
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        let routes = [
            fake_cd::route,
            fake_origin::route,
            fake_policy::route,
            fake_threads::route,
            fake_yaml::route,
        ];
        if let Some(answer) = routes
            .iter()
            .find_map(|route| route(&mut state, method, &parts, &query, &body))
        {
            return answer;
        }
        match (request.method.as_str(), parts.as_slice()) {
            ("GET", ["org", "_apis", "identities"]) => {
                assert_eq!(
                    query.get("queryMembership").map(String::as_str),
                    Some("Direct"),
                    "the bot reads a group's direct members"
                );
                let found: Vec<Value> = query
                    .get("identityIds")
                    .map(String::as_str)
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|id| state.identities.get(id).cloned())
                    .collect();
                list(found)
            }
            ("GET", ["org", "_apis", "connectionData"]) => {
                ok(json!({"authenticatedUser": {"id": "bot-guid", "displayName": "Release Bot"}}))
            }
            ("GET", ["org", "Proj", "_apis", "git", "pullrequests", _])
            | ("GET", ["org", "Proj", "_apis", "git", "repositories", _, "pullrequests", _])
                if state.pr_reads_fail =>
            {
                ResponseTemplate::new(500).set_body_json(json!({"message": "TF400898: An internal error occurred."}))
            }
            ("GET", ["org", "Proj", "_apis", "git", "pullrequests", id])
            | ("GET", ["org", "Proj", "_apis", "git", "repositories", _, "pullrequests", id]) => {
                let id = id.parse().unwrap_or(0);
                fake_policy::settle_auto_complete(&mut state, id);
                match state.prs.get(&id) {
                    Some(pr) => ok(pr_json(pr)),
                    None => ResponseTemplate::new(404).set_body_json(json!({"message": "TF401180: The requested pull request was not found."})),
                }
            }
            ("POST", ["org", "Proj", "_apis", "git", "repositories", repo, "pullrequests"]) => {
                let branch = |key: &str| body[key].as_str().unwrap_or_default().trim_start_matches("refs/heads/").to_owned();
                let (source, target) = (branch("sourceRefName"), branch("targetRefName"));
                if state.prs.values().any(|pr| pr.status == "active" && pr.source_branch == source && pr.target_branch == target) {
                    return ResponseTemplate::new(409).set_body_json(json!({"message": "TF401179: An active pull request for the source and target branch already exists.", "typeKey": "GitPullRequestExistsException"}));
                }
                let title = body["title"].as_str().unwrap_or_default().to_owned();
                state.created.push((title.clone(), body["description"].as_str().unwrap_or_default().to_owned()));
                let id = 400 + state.prs.len() as u32;
                let mut pr = FakePr {
                    id,
                    repo: (*repo).to_owned(),
                    title,
                    source_commit: fake_origin::head(&state, &source)
                        .or_else(|| state.heads.get(&source).cloned())
                        .unwrap_or_else(|| format!("{source}-head")),
                    source_branch: source,
                    target_branch: target,
                    status: "active".into(),
                    merge_commit: None,
                    closed: None,
                    draft: false,
                    reviewers: BTreeMap::new(),
                    auto_complete: None,
                    iterations: Vec::new(),
                    project: fake_projects::project_of(&state, repo),
                    description: body["description"].as_str().unwrap_or_default().to_owned(),
                    labels: Vec::new(),
                    completion: Value::Null,
                };
                pr.iterations.push(pr.source_commit.clone());
                let answer = pr_json(&pr);
                state.prs.insert(id, pr);
                ResponseTemplate::new(201).set_body_json(answer)
            }
            ("GET", ["org", "Proj", "_apis", "git", "repositories", repo, "pullrequests"])
                if state.broken.iter().any(|b| b.eq_ignore_ascii_case(repo)) =>
            {
                ResponseTemplate::new(500).set_body_json(json!({"message": "TF400898: An internal error occurred."}))
            }
            ("GET", ["org", "Proj", "_apis", "git", "repositories", repo, "pullrequests"]) => {
                let status = query.get("searchCriteria.status").cloned().unwrap_or_else(|| "active".into());
                let target = query.get("searchCriteria.targetRefName").cloned().unwrap_or_default();
                let source = query.get("searchCriteria.sourceRefName").cloned().unwrap_or_default();
                let skip: usize = query.get("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
                let top: usize = query.get("$top").and_then(|s| s.parse().ok()).unwrap_or(101);
                // minTime is a 7.1 parameter: an older server ignores it.
                let knows_time = fake_versions::numbers(state.server_version.unwrap_or("7.1")) >= (7, 1);
                let closed_since = query.get("searchCriteria.minTime").filter(|_| knows_time).cloned();
                let found = state
                    .prs
                    .values()
                    .rev()
                    .filter(|pr| pr.repo.eq_ignore_ascii_case(repo) && pr.status == status)
                    .filter(|pr| target.is_empty() || target == format!("refs/heads/{}", pr.target_branch))
                    .filter(|pr| source.is_empty() || source == format!("refs/heads/{}", pr.source_branch))
                    .filter(|pr| closed_since.as_ref().is_none_or(|since| pr.closed.as_ref().is_some_and(|c| c >= since)))
                    .skip(skip)
                    .take(top)
                    .map(pr_json)
                    .collect();
                list(found)
            }
            ("GET", ["org", "Proj", "_apis", "git", "repositories", repo]) => {
                ok(json!({"id": format!("repo-{repo}"), "name": repo, "project": {"id": "proj-guid"}}))
            }
            ("GET", ["org", "Proj", "_apis", "build", "definitions"]) => list(vec![json!({"id": 7, "name": "CI"})]),
            ("GET", ["org", "Proj", "_apis", "build", "builds"]) => {
                let branch = query.get("branchName");
                let definition = query.get("definitions");
                let found = state
                    .builds
                    .iter()
                    .rev()
                    .filter(|b| branch.is_none_or(|branch| format!("refs/heads/{}", b.branch) == *branch))
                    .filter(|b| definition.is_none_or(|d| *d == b.definition.to_string()))
                    .map(build_json)
                    .collect();
                list(found)
            }
            ("POST", ["org", "Proj", "_apis", "build", "builds"]) => {
                let branch = body["sourceBranch"].as_str().unwrap_or_default().trim_start_matches("refs/heads/").to_owned();
                let commit = body["sourceVersion"].as_str().map(str::to_owned);
                ok(queue(&mut state, branch, commit))
            }
            ("GET", ["org", "Proj", "_apis", "build", "builds", id]) => {
                let id: i64 = id.parse().unwrap_or(0);
                match state.builds.iter_mut().find(|b| b.id == id) {
                    Some(build) => {
                        build.reads += 1;
                        fake_yaml::advance(build);
                        let answer = build_json(build);
                        fake_yaml::trigger_cd(&mut state, id);
                        ok(answer)
                    }
                    None => ResponseTemplate::new(404),
                }
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"message": format!("the fake has no {} {}", request.method, request.url.path())})),
        }
    }
}

/// Queues a build as planned; returns its JSON.
pub fn queue(state: &mut AzdoState, branch: String, commit: Option<String>) -> Value {
    let plan = state.plans.pop_front().unwrap_or(BuildPlan::Finish {
        polls: 1,
        result: "succeeded",
    });
    let yaml = if branch == state.cd.branch && !state.yaml.separate {
        fake_yaml::stages_for(&state.yaml)
    } else {
        Vec::new()
    };
    let build = FakeBuild {
        id: 900 + state.builds.len() as i64,
        branch,
        commit,
        reads: 0,
        plan,
        yaml,
        definition: 7,
        triggered_by: None,
    };
    let answer = build_json(&build);
    state.builds.push(build);
    answer
}

fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}
