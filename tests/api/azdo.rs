//! The Azure DevOps client against a local server that answers like Azure DevOps: every call the
//! flows make, the URL shapes of the cloud and of a Server collection, and the failure modes
//! (stale merge, existing PR, 203 sign-in page, throttling, 5xx, timeouts, paging).

use std::time::{Duration, Instant};

use base64::Engine;
use release_agent::azdo::{
    Anchor, ApproverRef, AzdoClient, AzdoError, AzdoSettings, AzureDevOps, BuildState, Builds,
    ClassicReleases, CompletionOptions, Identities, MergeStrategy, NewPullRequest, NewThread,
    PendingApproval, Person, PrReviews, PrStatus, PullRequests, Resolved, StageStatus,
    ThreadStatus, Vote, Wait,
};
use release_agent::domain::RepoName;
use release_agent::http_client::HttpError;
use secrecy::SecretString;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::fake_azdo::identity_json;
use crate::support::http_fakes::{Sequence, fast_retry, json};
use crate::support::init;

const PAT: &str = "azdo-pat-secret-31337";
const ORG: &str = "/org";
const PROJECT: &str = "/org/Proj/_apis";
const RM: &str = "/vsrm/org/Proj/_apis";

async fn fake() -> (MockServer, AzdoClient) {
    init();
    let server = MockServer::start().await;
    let base = Url::parse(&format!("{}{ORG}", server.uri())).unwrap();
    let release = Url::parse(&format!("{}/vsrm{ORG}", server.uri())).unwrap();
    let mut settings = AzdoSettings::new(base, release, "Proj", SecretString::from(PAT));
    settings.retry = fast_retry();
    settings.merge_poll = Duration::from_millis(10);
    settings.merge_wait = Duration::from_secs(2);
    (server, AzdoClient::new(settings).unwrap())
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).unwrap()
}

fn pr_json(id: u32, status: &str, merge_status: &str) -> Value {
    json!({
        "pullRequestId": id, "status": status, "isDraft": false, "title": "Login page",
        "description": "Adds the login page", "sourceRefName": "refs/heads/feature/ALLPOST-4028_login",
        "targetRefName": "refs/heads/develop", "createdBy": {"id": "u1", "displayName": "Ada"},
        "lastMergeSourceCommit": {"commitId": "aaa111"}, "lastMergeTargetCommit": {"commitId": "bbb222"},
        "lastMergeCommit": {"commitId": "ccc333"}, "mergeStatus": merge_status,
        "repository": {"id": "repo-guid", "name": "Billo.Api", "project": {"id": "proj-guid"}},
        "_links": {"web": {"href": format!("https://dev.azure.com/org/Proj/_git/Billo.Api/pullrequest/{id}")}}
    })
}

fn requests_to(received: &[wiremock::Request], verb: &str, route: &str) -> Vec<Value> {
    received
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == route)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn a_pr_is_read_by_id_at_project_level_with_the_pat_and_the_suppress_header() {
    let (server, client) = fake().await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(":{PAT}"))
    );
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/git/pullrequests/12")))
        .and(query_param("api-version", "7.1"))
        .and(header("authorization", basic.as_str()))
        .and(header("x-tfs-fedauthredirect", "Suppress"))
        .respond_with(json(200, pr_json(12, "active", "succeeded")))
        .mount(&server)
        .await;
    let pr = client.pull_request(12).await.unwrap();
    assert_eq!(
        (pr.id, pr.status, pr.repo.as_str()),
        (12, PrStatus::Active, "Billo.Api")
    );
    assert_eq!(
        (pr.source_branch.as_str(), pr.target_branch.as_str()),
        ("feature/ALLPOST-4028_login", "develop")
    );
    assert_eq!(pr.source_commit.as_deref(), Some("aaa111"));
    assert_eq!(
        pr.web_url,
        "https://dev.azure.com/org/Proj/_git/Billo.Api/pullrequest/12"
    );
}

#[tokio::test]
async fn a_server_collection_url_works_and_names_with_spaces_are_encoded() {
    init();
    let server = MockServer::start().await;
    let base = Url::parse(&format!("{}/tfs/DefaultCollection", server.uri())).unwrap();
    let mut settings = AzdoSettings::new(base.clone(), base, "My Project", SecretString::from(PAT));
    settings.retry = fast_retry();
    let client = AzdoClient::new(settings).unwrap();
    Mock::given(method("GET"))
        .and(path("/tfs/DefaultCollection/My%20Project/_apis/git/repositories/My%20Repo"))
        .respond_with(json(200, json!({"id": "r1", "name": "My Repo", "project": {"id": "p1"},
            "defaultBranch": "refs/heads/main", "remoteUrl": "https://tfs/x", "webUrl": "https://tfs/y"})))
        .mount(&server)
        .await;
    let found = client.repository(&repo("My Repo")).await.unwrap();
    assert_eq!(
        (found.id.as_str(), found.default_branch.as_deref()),
        ("r1", Some("main"))
    );
}

#[tokio::test]
async fn active_prs_for_a_target_branch_are_read_across_pages() {
    let (server, client) = fake().await;
    let page = |ids: std::ops::Range<u32>| json!({"count": ids.len(), "value": ids.map(|i| pr_json(i, "active", "succeeded")).collect::<Vec<_>>()});
    let route = format!("{PROJECT}/git/repositories/Billo.Api/pullrequests");
    for (skip, ids) in [("0", 1..101), ("100", 101..104)] {
        Mock::given(method("GET"))
            .and(path(route.as_str()))
            .and(query_param("searchCriteria.status", "active"))
            .and(query_param(
                "searchCriteria.targetRefName",
                "refs/heads/develop",
            ))
            .and(query_param("$skip", skip))
            .respond_with(json(200, page(ids)))
            .mount(&server)
            .await;
    }
    let prs = client
        .active_pull_requests(&repo("Billo.Api"), "develop")
        .await
        .unwrap();
    assert_eq!(prs.len(), 103);
    assert_eq!(prs.last().unwrap().id, 103);
}

#[tokio::test]
async fn iterations_and_their_changes_are_read_with_paging() {
    let (server, client) = fake().await;
    let base = format!("{PROJECT}/git/repositories/Billo.Api/pullRequests/12/iterations");
    Mock::given(method("GET"))
        .and(path(base.as_str()))
        .respond_with(json(200, json!({"count": 2, "value": [
            {"id": 1, "sourceRefCommit": {"commitId": "s1"}, "targetRefCommit": {"commitId": "t1"}},
            {"id": 2, "sourceRefCommit": {"commitId": "s2"}, "targetRefCommit": {"commitId": "t1"}}]})))
        .mount(&server)
        .await;
    let changes = format!("{base}/2/changes");
    Mock::given(method("GET"))
        .and(path(changes.as_str()))
        .and(query_param("$compareTo", "0"))
        .and(query_param("$skip", "0"))
        .respond_with(json(200, json!({"changeEntries": [
            {"changeTrackingId": 1, "item": {"path": "/src/lib.rs"}, "changeType": "edit"}], "nextSkip": 1, "nextTop": 1})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(changes.as_str()))
        .and(query_param("$skip", "1"))
        .respond_with(json(200, json!({"changeEntries": [
            {"changeTrackingId": 2, "item": {"path": "/src/new.rs"}, "changeType": "edit, rename", "originalPath": "/src/old.rs"}],
            "nextSkip": 0, "nextTop": 0})))
        .mount(&server)
        .await;
    let iterations = client.iterations(&repo("Billo.Api"), 12).await.unwrap();
    assert_eq!(
        iterations.last().unwrap().source_commit.as_deref(),
        Some("s2")
    );
    let changes = client.changes(&repo("Billo.Api"), 12, 2).await.unwrap();
    let paths: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c.path.as_str(), c.change.as_str()))
        .collect();
    assert_eq!(
        paths,
        [("/src/lib.rs", "edit"), ("/src/new.rs", "edit, rename")]
    );
    assert_eq!(changes[1].original_path.as_deref(), Some("/src/old.rs"));
}

#[tokio::test]
async fn the_bots_identity_comes_from_connection_data() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .and(path(format!("{ORG}/_apis/connectionData")))
        .and(query_param("api-version", "7.1-preview.1"))
        .respond_with(json(
            200,
            json!({"authenticatedUser": {"id": "bot-guid", "displayName": "Release Bot"}}),
        ))
        .mount(&server)
        .await;
    let me = client.whoami().await.unwrap();
    assert_eq!(
        (me.id.as_str(), me.name.as_str()),
        ("bot-guid", "Release Bot")
    );
}

#[tokio::test]
async fn general_and_inline_threads_and_the_vote_are_posted() {
    let (server, client) = fake().await;
    let threads = format!("{PROJECT}/git/repositories/Billo.Api/pullRequests/12/threads");
    Mock::given(method("POST"))
        .and(path(threads.as_str()))
        .respond_with(json(200, json!({"id": 501})))
        .mount(&server)
        .await;
    let vote = format!("{PROJECT}/git/repositories/Billo.Api/pullRequests/12/reviewers/bot-guid");
    Mock::given(method("PUT"))
        .and(path(vote.as_str()))
        .and(body_partial_json(json!({"vote": -5, "id": "bot-guid"})))
        .respond_with(json(200, json!({"id": "bot-guid", "vote": -5})))
        .mount(&server)
        .await;

    let r = repo("Billo.Api");
    let general = NewThread {
        content: "## Review\nLooks fine".into(),
        anchor: None,
        status: ThreadStatus::Closed,
        key: Some("abc123:summary".into()),
        iteration: None,
        mark: None,
    };
    assert_eq!(client.post_thread(&r, 12, &general).await.unwrap(), 501);
    let inline = NewThread {
        content: "Possible panic".into(),
        anchor: Some(Anchor {
            path: "src/lib.rs".into(),
            start_line: 42,
            end_line: 42,
        }),
        status: ThreadStatus::Active,
        key: None,
        iteration: None,
        mark: None,
    };
    client.post_thread(&r, 12, &inline).await.unwrap();
    client
        .vote(&r, 12, "bot-guid", Vote::WaitForAuthor)
        .await
        .unwrap();

    let posted = requests_to(&server.received_requests().await.unwrap(), "POST", &threads);
    assert_eq!(posted[0]["status"], "closed");
    assert!(posted[0].get("threadContext").is_none());
    assert_eq!(
        posted[1]["threadContext"],
        json!({"filePath": "/src/lib.rs",
        "rightFileStart": {"line": 42, "offset": 1}, "rightFileEnd": {"line": 42, "offset": 1}})
    );
    assert_eq!(posted[1]["comments"][0]["content"], "Possible panic");
    assert_eq!(
        posted[0]["properties"]["release-agent.key"]["$value"],
        "abc123:summary"
    );
    assert!(posted[1].get("properties").is_none());
}

#[tokio::test]
async fn a_thread_is_found_again_by_its_key() {
    let (server, client) = fake().await;
    let threads = format!("{PROJECT}/git/repositories/Billo.Api/pullRequests/12/threads");
    Mock::given(method("GET"))
        .and(path(threads.as_str()))
        .respond_with(json(200, json!({"count": 3, "value": [
            {"id": 7, "comments": [], "properties": {"CodeReviewThreadType": {"$type": "System.String", "$value": "VoteUpdate"}}},
            {"id": 8, "comments": [], "properties": {"release-agent.key": {"$type": "System.String", "$value": "abc123:0"}}},
            {"id": 9, "comments": []}]})))
        .mount(&server)
        .await;
    let r = repo("Billo.Api");
    assert_eq!(
        client.find_thread(&r, 12, "abc123:0").await.unwrap(),
        Some(8)
    );
    assert_eq!(client.find_thread(&r, 12, "abc123:1").await.unwrap(), None);
}

/// A crash between posting a thread's note and resolving it must not leave the note twice: the
/// thread is read first, and the note posted only where it is missing (a deleted copy does not
/// count).
#[tokio::test]
async fn resolving_a_thread_again_leaves_its_note_once() {
    let (server, client) = fake().await;
    let threads = format!("{PROJECT}/git/repositories/Billo.Api/pullRequests/12/threads");
    let note = "Fixed in abc12345: the code changed. (release-agent)";
    let comment = |id: u32, content: &str, deleted: bool| json!({"id": id, "content": content, "isDeleted": deleted, "author": {"id": "bot-guid"}});
    for (id, comments) in [
        (
            7,
            vec![
                comment(1, "**Critical**: check it", false),
                comment(2, note, false),
            ],
        ),
        (
            8,
            vec![
                comment(1, "**Critical**: check it", false),
                comment(2, note, true),
            ],
        ),
    ] {
        let at = format!("{threads}/{id}");
        Mock::given(method("GET"))
            .and(path(at.as_str()))
            .respond_with(json(
                200,
                json!({"id": id, "status": "active", "comments": comments}),
            ))
            .mount(&server)
            .await;
        Mock::given(method("PATCH"))
            .and(path(at.as_str()))
            .respond_with(json(200, json!({"id": id, "status": "fixed"})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{at}/comments").as_str()))
            .respond_with(json(200, json!({"id": 3})))
            .mount(&server)
            .await;
    }
    let r = repo("Billo.Api");
    for id in [7, 8] {
        client
            .resolve_thread(&r, 12, id, Some(note), Resolved::Fixed)
            .await
            .unwrap();
    }
    let received = server.received_requests().await.unwrap();
    assert!(
        requests_to(&received, "POST", &format!("{threads}/7/comments")).is_empty(),
        "thread 7 has the note already"
    );
    assert_eq!(
        requests_to(&received, "POST", &format!("{threads}/8/comments")),
        [json!({"content": note, "parentCommentId": 1, "commentType": 1})],
        "thread 8's copy was deleted"
    );
    for id in [7, 8] {
        assert_eq!(
            requests_to(&received, "PATCH", &format!("{threads}/{id}")),
            [json!({"status": "fixed"})]
        );
    }
}

fn merge_options() -> CompletionOptions {
    CompletionOptions {
        strategy: MergeStrategy::Squash,
        delete_source_branch: true,
        merge_commit_message: None,
    }
}

#[tokio::test]
async fn completing_sends_the_reviewed_commit_and_waits_until_the_merge_is_done() {
    let (server, client) = fake().await;
    let route = format!("{PROJECT}/git/repositories/Billo.Api/pullrequests/12");
    Mock::given(method("GET"))
        .and(path(route.as_str()))
        .respond_with(Sequence::new(vec![
            json(200, pr_json(12, "active", "succeeded")),
            json(200, pr_json(12, "active", "queued")),
            json(200, pr_json(12, "completed", "succeeded")),
        ]))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(route.as_str()))
        .and(body_partial_json(
            json!({"status": "completed", "lastMergeSourceCommit": {"commitId": "aaa111"},
            "completionOptions": {"mergeStrategy": "squash", "deleteSourceBranch": true}}),
        ))
        .respond_with(json(200, pr_json(12, "active", "queued")))
        .expect(1)
        .mount(&server)
        .await;
    let merged = client
        .complete(&repo("Billo.Api"), 12, "aaa111", &merge_options())
        .await
        .unwrap();
    assert_eq!(
        (merged.status, merged.merge_commit.as_deref()),
        (PrStatus::Completed, Some("ccc333"))
    );
}

#[tokio::test]
async fn a_stale_merge_is_its_own_error_and_merges_nothing() {
    let (server, client) = fake().await;
    let route = format!("{PROJECT}/git/repositories/Billo.Api/pullrequests/12");
    Mock::given(method("GET"))
        .and(path(route.as_str()))
        .respond_with(json(200, pr_json(12, "active", "succeeded")))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(route.as_str()))
        .respond_with(json(409, json!({"$id": "1", "message": "TF401192: The source branch has been modified since the last merge attempt.",
            "typeKey": "GitPullRequestStaleException", "errorCode": 0})))
        .expect(1)
        .mount(&server)
        .await;
    let error = client
        .complete(&repo("Billo.Api"), 12, "old999", &merge_options())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AzdoError::StaleSource { reviewed, .. } if reviewed == "old999"),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("moved since commit old999 was reviewed, so nothing was merged"),
        "{error}"
    );
}

#[tokio::test]
async fn a_merge_that_fails_reports_why() {
    let (server, client) = fake().await;
    let route = format!("{PROJECT}/git/repositories/Billo.Api/pullrequests/12");
    let mut conflicted = pr_json(12, "active", "conflicts");
    conflicted["mergeFailureMessage"] = json!("src/lib.rs has conflicts");
    Mock::given(method("GET"))
        .and(path(route.as_str()))
        .respond_with(Sequence::new(vec![
            json(200, pr_json(12, "active", "succeeded")),
            json(200, conflicted),
        ]))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(route.as_str()))
        .respond_with(json(200, pr_json(12, "active", "queued")))
        .mount(&server)
        .await;
    let error = client
        .complete(&repo("Billo.Api"), 12, "aaa111", &merge_options())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "PR 12 could not be merged: merge status conflicts src/lib.rs has conflicts"
    );
}

#[tokio::test]
async fn creating_a_pr_that_already_exists_returns_the_existing_one() {
    let (server, client) = fake().await;
    let route = format!("{PROJECT}/git/repositories/Billo.Api/pullrequests");
    Mock::given(method("POST"))
        .and(path(route.as_str()))
        .and(body_partial_json(json!({"sourceRefName": "refs/heads/develop", "targetRefName": "refs/heads/main"})))
        .respond_with(json(409, json!({"message": "TF401179: An active pull request for the source and target branch already exists.",
            "typeKey": "GitPullRequestExistsException"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route.as_str()))
        .and(query_param(
            "searchCriteria.sourceRefName",
            "refs/heads/develop",
        ))
        .and(query_param(
            "searchCriteria.targetRefName",
            "refs/heads/main",
        ))
        .respond_with(json(
            200,
            json!({"count": 1, "value": [pr_json(77, "active", "succeeded")]}),
        ))
        .mount(&server)
        .await;
    let new = NewPullRequest {
        source_branch: "develop".into(),
        target_branch: "main".into(),
        title: "Release Billo.Api 1.4.3".into(),
        description: "notes".into(),
    };
    assert_eq!(
        client
            .create_pull_request(&repo("Billo.Api"), &new)
            .await
            .unwrap()
            .id,
        77
    );
}

#[tokio::test]
async fn the_ci_definition_is_configured_by_id_or_name_or_discovered_by_repository() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/build/definitions/12")))
        .respond_with(json(200, json!({"id": 12, "name": "Api-CI"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/build/definitions")))
        .and(query_param("name", "Api Nightly"))
        .respond_with(json(
            200,
            json!({"count": 1, "value": [{"id": 30, "name": "Api Nightly"}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/git/repositories/Billo.Api")))
        .respond_with(json(200, json!({"id": "repo-guid", "name": "Billo.Api"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/build/definitions")))
        .and(query_param("repositoryId", "repo-guid"))
        .and(query_param("repositoryType", "TfsGit"))
        .respond_with(json(
            200,
            json!({"count": 1, "value": [{"id": 7, "name": "Billo.Api"}]}),
        ))
        .mount(&server)
        .await;
    let r = repo("Billo.Api");
    assert_eq!(client.ci_definition(&r, Some("12")).await.unwrap().id, 12);
    assert_eq!(
        client
            .ci_definition(&r, Some("Api Nightly"))
            .await
            .unwrap()
            .id,
        30
    );
    assert_eq!(client.ci_definition(&r, None).await.unwrap().id, 7);
}

fn build_json(id: i64, status: &str, result: Option<&str>) -> Value {
    json!({"id": id, "buildNumber": "20261123.4", "status": status, "result": result,
        "definition": {"id": 7, "name": "Billo.Api"}, "project": {"id": "proj-guid"},
        "sourceBranch": "refs/heads/develop", "sourceVersion": "ccc333",
        "_links": {"web": {"href": format!("https://dev.azure.com/org/Proj/_build/results?buildId={id}")}}})
}

#[tokio::test]
async fn a_build_is_queued_on_a_branch_and_its_state_and_link_are_read() {
    let (server, client) = fake().await;
    Mock::given(method("POST"))
        .and(path(format!("{PROJECT}/build/builds")))
        .and(body_partial_json(json!({"definition": {"id": 7}, "sourceBranch": "refs/heads/develop", "sourceVersion": "ccc333"})))
        .respond_with(json(200, build_json(900, "notStarted", None)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/build/builds/900")))
        .respond_with(Sequence::new(vec![
            json(200, build_json(900, "inProgress", None)),
            json(200, build_json(900, "completed", Some("failed"))),
        ]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/build/builds")))
        .and(query_param("definitions", "7"))
        .and(query_param("branchName", "refs/heads/develop"))
        .respond_with(json(
            200,
            json!({"count": 1, "value": [build_json(899, "completed", Some("succeeded"))]}),
        ))
        .mount(&server)
        .await;
    let queued = client
        .queue_build(&repo("Billo.Api"), 7, "develop", Some("ccc333"))
        .await
        .unwrap();
    assert_eq!((queued.id, queued.state), (900, BuildState::Queued));
    assert_eq!(
        queued.web_url,
        "https://dev.azure.com/org/Proj/_build/results?buildId=900"
    );
    assert_eq!(
        client.build(&repo("Billo.Api"), 900).await.unwrap().state,
        BuildState::Running
    );
    assert_eq!(
        client.build(&repo("Billo.Api"), 900).await.unwrap().state,
        BuildState::Failed
    );
    let recent = client
        .recent_builds(&repo("Billo.Api"), 7, "develop")
        .await
        .unwrap();
    assert_eq!(
        (recent[0].id, recent[0].source_commit.as_deref()),
        (899, Some("ccc333"))
    );
}

#[tokio::test]
async fn the_release_of_a_build_reports_which_stage_waits_for_whom_and_approvals_are_decided() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .and(path(format!("{RM}/release/releases")))
        .and(query_param("artifactTypeId", "Build"))
        .and(query_param("sourceId", "proj-guid:7"))
        .and(query_param("artifactVersionId", "900"))
        .respond_with(json(
            200,
            json!({"count": 2, "value": [
                {"id": 19, "name": "Release-19", "releaseDefinition": {"id": 6, "name": "Billo.Api-Docs"}},
                {"id": 18, "name": "Release-18", "releaseDefinition": {"id": 5, "name": "Billo.Api-CD"}}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{RM}/release/releases/18")))
        .respond_with(json(200, json!({"id": 18, "name": "Release-18", "status": "active",
            "_links": {"web": {"href": "https://dev.azure.com/org/Proj/_releaseProgress?releaseId=18"}},
            "environments": [
                {"id": 54, "name": "Sandbox", "rank": 1, "status": "succeeded"},
                {"id": 55, "name": "Production", "rank": 2, "status": "notStarted",
                 "preDeployApprovals": [{"id": 301, "status": "pending", "isAutomated": false, "approver": {"displayName": "Release Managers"}}]}]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{RM}/release/approvals")))
        .and(query_param("releaseIdsFilter", "18"))
        .and(query_param("statusFilter", "pending"))
        .respond_with(json(200, json!({"count": 1, "value": [{"id": 301, "status": "pending", "approvalType": "preDeploy",
            "approver": {"displayName": "[Proj]\\Release Managers", "id": "g-release", "uniqueName": "vstfs:///Classification/TeamProject/proj-guid\\Release Managers", "isContainer": true},
            "releaseEnvironment": {"id": 55, "name": "Production"}, "release": {"id": 18}}]})))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{RM}/release/approvals/301")))
        .and(body_partial_json(
            json!({"status": "approved", "comments": "Approved in Slack by @ada"}),
        ))
        .respond_with(json(200, json!({"id": 301, "status": "approved"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{RM}/release/approvals/302")))
        .and(body_partial_json(json!({"status": "rejected"})))
        .respond_with(json(200, json!({"id": 302, "status": "rejected"})))
        .expect(1)
        .mount(&server)
        .await;

    Mock::given(method("PATCH"))
        .and(path(format!("{RM}/release/releases/18/environments/55")))
        .and(query_param("api-version", "7.1-preview"))
        .and(body_partial_json(
            json!({"status": "inProgress", "comment": "Sandbox was skipped"}),
        ))
        .respond_with(json(200, json!({"id": 55, "status": "queued"})))
        .expect(1)
        .mount(&server)
        .await;

    let build = finished_build(&server, &client).await;
    let release = client
        .release_for_build(&repo("Billo.Api"), &build, Some("billo.api-cd"))
        .await
        .unwrap()
        .expect("a release was created");
    assert_eq!(
        (release.id, release.web_url.as_str()),
        (
            18,
            "https://dev.azure.com/org/Proj/_releaseProgress?releaseId=18"
        )
    );
    let summary: Vec<(String, StageStatus, Option<Wait>)> = release
        .stages
        .into_iter()
        .map(|s| (s.name, s.status, s.waiting))
        .collect();
    assert_eq!(
        summary,
        [
            ("Sandbox".into(), StageStatus::Succeeded, None),
            (
                "Production".into(),
                StageStatus::NotStarted,
                Some(Wait::Approval(vec![PendingApproval {
                    id: 301.into(),
                    approvers: vec![ApproverRef {
                        id: "g-release".into(),
                        name: "[Proj]\\Release Managers".into(),
                        email: None,
                        is_group: true,
                    }],
                    post_deploy: false,
                    required: 1,
                    approved_by: Vec::new(),
                }]))
            ),
        ]
    );
    client
        .decide_approval(
            &repo("Billo.Api"),
            &301.into(),
            true,
            "Approved in Slack by @ada",
        )
        .await
        .unwrap();
    client
        .decide_approval(
            &repo("Billo.Api"),
            &302.into(),
            false,
            "Rejected in Slack by @bo",
        )
        .await
        .unwrap();
    client
        .start_stage(&repo("Billo.Api"), 18, 55, "Sandbox was skipped")
        .await
        .unwrap();
}

/// A finished build as the client reads it, for the release tests to start from.
async fn finished_build(server: &MockServer, client: &AzdoClient) -> release_agent::azdo::Build {
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/build/builds/900")))
        .respond_with(json(200, build_json(900, "completed", Some("succeeded"))))
        .mount(server)
        .await;
    client.build(&repo("Billo.Api"), 900).await.unwrap()
}

#[tokio::test]
async fn a_203_sign_in_page_is_an_authentication_error_that_names_azdo_pat() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(203)
                .set_body_raw("<html><body>Sign In</body></html>", "text/html"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = client.pull_request(12).await.unwrap_err();
    assert!(
        matches!(error, AzdoError::Http(HttpError::Auth { status: 203, .. })),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("refused the credentials in AZDO_PAT"),
        "{error}"
    );
    assert!(!error.to_string().contains(PAT));
}

#[tokio::test]
async fn a_401_is_an_authentication_error_too() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    let error = client.whoami().await.unwrap_err();
    assert!(
        matches!(
            error,
            AzdoError::Http(HttpError::Auth {
                status: 401,
                var: "AZDO_PAT",
                ..
            })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_429_is_waited_out_as_retry_after_asks_even_for_a_post() {
    let (server, client) = fake().await;
    Mock::given(method("POST"))
        .and(path(format!("{PROJECT}/build/builds")))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"message": "TF400733: Request was blocked"})),
            json(200, build_json(901, "notStarted", None)),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let started = Instant::now();
    assert_eq!(
        client
            .queue_build(&repo("Billo.Api"), 7, "main", None)
            .await
            .unwrap()
            .id,
        901
    );
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_goes_back_to_the_caller() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "120"))
        .expect(1)
        .mount(&server)
        .await;
    let error = client.build(&repo("Billo.Api"), 1).await.unwrap_err();
    assert_eq!(
        error,
        AzdoError::Http(HttpError::RateLimited {
            service: "Azure DevOps",
            retry_after: Duration::from_secs(120)
        })
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn server_errors_are_retried_for_reads_but_never_for_writes() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/build/builds/5")))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(500),
            ResponseTemplate::new(502),
            json(200, build_json(5, "inProgress", None)),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PROJECT}/build/builds")))
        .respond_with(json(500, json!({"message": "VS402914: something broke"})))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        client.build(&repo("Billo.Api"), 5).await.unwrap().state,
        BuildState::Running
    );
    let error = client
        .queue_build(&repo("Billo.Api"), 7, "main", None)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Azure DevOps answered HTTP 500: VS402914: something broke"
    );
    assert!(
        error.is_transient(),
        "the step may try again later, after looking for the build"
    );
}

#[tokio::test]
async fn timeouts_are_retried_for_reads_only() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/build/builds/6")))
        .respond_with(Sequence::new(vec![
            json(200, build_json(6, "inProgress", None)).set_delay(Duration::from_secs(2)),
            json(200, build_json(6, "inProgress", None)),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PROJECT}/build/builds")))
        .respond_with(
            json(200, build_json(7, "notStarted", None)).set_delay(Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(client.build(&repo("Billo.Api"), 6).await.unwrap().id, 6);
    let error = client
        .queue_build(&repo("Billo.Api"), 7, "main", None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AzdoError::Http(HttpError::Timeout { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn lists_page_through_continuation_tokens() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/git/repositories/Billo.Api")))
        .respond_with(json(200, json!({"id": "repo-guid", "name": "Billo.Api"})))
        .mount(&server)
        .await;
    let route = format!("{PROJECT}/build/definitions");
    Mock::given(method("GET"))
        .and(path(route.as_str()))
        .and(query_param("continuationToken", "page-2"))
        .respond_with(json(
            200,
            json!({"count": 1, "value": [{"id": 2, "name": "Billo.Api"}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route.as_str()))
        .respond_with(
            json(
                200,
                json!({"count": 1, "value": [{"id": 1, "name": "Nightly"}]}),
            )
            .insert_header("x-ms-continuationtoken", "page-2"),
        )
        .mount(&server)
        .await;
    let found = client
        .ci_definition(&repo("Billo.Api"), None)
        .await
        .unwrap();
    assert_eq!(found.id, 2, "the definition on the second page was found");
}

#[tokio::test]
async fn a_group_of_approvers_is_read_down_to_its_people() {
    let (server, client) = fake().await;
    let answer = |ids: &str, value: Vec<Value>| {
        Mock::given(method("GET"))
            .and(path(format!("{ORG}/_apis/identities")))
            .and(query_param("identityIds", ids))
            .and(query_param("queryMembership", "Direct"))
            .respond_with(json(200, json!({"count": value.len(), "value": value})))
    };
    answer(
        "g-release",
        vec![identity_json(
            "g-release",
            "Release Managers",
            None,
            &["u-ann", "g-ops", "u-nomail"],
        )],
    )
    .mount(&server)
    .await;
    answer(
        "u-ann,g-ops,u-nomail",
        vec![
            identity_json("u-ann", "Ann Lee", Some("ann@billo.example"), &[]),
            identity_json("g-ops", "Ops", None, &["u-bo", "g-release"]),
            identity_json("u-nomail", "Build Service", Some(""), &[]),
        ],
    )
    .mount(&server)
    .await;
    answer(
        "u-bo",
        vec![identity_json(
            "u-bo",
            "Bo Berg",
            Some("BO@billo.example"),
            &[],
        )],
    )
    .mount(&server)
    .await;
    let approvers = [
        ApproverRef {
            id: "g-release".into(),
            name: "[Proj]\\Release Managers".into(),
            email: None,
            is_group: true,
        },
        ApproverRef {
            id: "u-bo".into(),
            name: "Bo Berg".into(),
            email: Some("bo@billo.example".into()),
            is_group: false,
        },
    ];
    let people = client.people(&approvers).await.unwrap();
    let person = |email: &str, name: &str| Person {
        email: email.into(),
        name: name.into(),
    };
    assert_eq!(
        people,
        [
            person("bo@billo.example", "Bo Berg"),
            person("ann@billo.example", "Ann Lee"),
        ],
        "users as listed, groups by their members, nested groups too, each person once, the \
         cycle back to the first group not followed, nobody without an email"
    );
}
