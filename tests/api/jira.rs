//! The Jira client against a local server that answers like Jira Cloud v3.

use std::time::{Duration, Instant};

use base64::Engine;
use release_agent::domain::JiraKey;
use release_agent::http_client::HttpError;
use release_agent::jira::adf::{Document, Inline};
use release_agent::jira::{Jira, JiraClient, JiraError, JiraSettings, Moved, NewIssue};
use secrecy::SecretString;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::http_fakes::{Sequence, fast_retry, json};
use crate::support::init;

const TOKEN: &str = "jira-token-secret-4242";

async fn fake() -> (MockServer, JiraClient) {
    init();
    let server = MockServer::start().await;
    let settings = JiraSettings {
        base_url: Url::parse(&server.uri()).unwrap(),
        email: "bot@example.com".into(),
        token: SecretString::from(TOKEN),
        retry: fast_retry(),
        proxy: release_agent::proxy::Proxies::default(),
        resolution: "Done".into(),
    };
    (server, JiraClient::new(settings).unwrap())
}

fn key(text: &str) -> JiraKey {
    JiraKey::parse(text).unwrap()
}

fn issue_json(key: &str, status: &str) -> Value {
    json!({"id": "10001", "key": key, "self": "x", "fields": {"summary": "Login page", "status": {"name": status}, "issuetype": {"name": "Story"}}})
}

async fn mount_issue(server: &MockServer, key: &str, status: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/rest/api/3/issue/{key}")))
        .respond_with(json(200, issue_json(key, status)))
        .mount(server)
        .await;
}

async fn mount_transitions(server: &MockServer, key: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/rest/api/3/issue/{key}/transitions")))
        .respond_with(json(
            200,
            json!({"transitions": [
            {"id": "21", "name": "Start work", "to": {"name": "In Progress"}},
            {"id": "31", "name": "Send to review", "to": {"name": "Code Review"}},
            {"id": "41", "name": "Won't do", "to": {"name": "Closed"}}]}),
        ))
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_issue_is_read_with_basic_auth() {
    let (server, client) = fake().await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bot@example.com:{TOKEN}"))
    );
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/ALLPOST-4028"))
        .and(query_param("fields", "summary,status,issuetype"))
        .and(header("authorization", basic.as_str()))
        .respond_with(json(200, issue_json("ALLPOST-4028", "To Do")))
        .mount(&server)
        .await;
    let issue = client.issue(&key("ALLPOST-4028")).await.unwrap();
    assert_eq!(
        (
            issue.summary.as_str(),
            issue.status.as_str(),
            issue.issue_type.as_str()
        ),
        ("Login page", "To Do", "Story")
    );
    assert_eq!(issue.url, format!("{}/browse/ALLPOST-4028", server.uri()));
}

#[tokio::test]
async fn an_issue_moves_through_the_transition_that_leads_to_the_status() {
    let (server, client) = fake().await;
    mount_issue(&server, "ALLPOST-1", "In Progress").await;
    mount_transitions(&server, "ALLPOST-1").await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/ALLPOST-1/transitions"))
        .and(body_partial_json(json!({"transition": {"id": "31"}})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let moved = client
        .move_to(&key("ALLPOST-1"), "code review")
        .await
        .unwrap();
    assert_eq!(
        moved,
        Moved::Moved {
            from: "In Progress".into(),
            transition: "Send to review".into()
        }
    );
}

/// A 500 on the transition (Jira did not act): the walk is taken again from the status read
/// back, and the issue moves; one that Jira carried out despite its 500 is not taken twice.
#[tokio::test]
async fn a_transition_that_failed_is_walked_again_from_the_status_read_back() {
    let (server, client) = fake().await;
    mount_issue(&server, "ALLPOST-1", "In Progress").await;
    mount_transitions(&server, "ALLPOST-1").await;
    let refused = json(500, json!({"errorMessages": ["Internal server error"]}));
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/ALLPOST-1/transitions"))
        .respond_with(Sequence::new(vec![
            refused.clone(),
            ResponseTemplate::new(204),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let moved = client.move_to(&key("ALLPOST-1"), "Code Review").await;
    assert!(matches!(moved, Ok(Moved::Moved { .. })), "{moved:?}");

    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/ALLPOST-2"))
        .respond_with(Sequence::new(vec![
            json(200, issue_json("ALLPOST-2", "In Progress")),
            json(200, issue_json("ALLPOST-2", "Code Review")),
        ]))
        .mount(&server)
        .await;
    mount_transitions(&server, "ALLPOST-2").await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/ALLPOST-2/transitions"))
        .respond_with(refused)
        .expect(1)
        .mount(&server)
        .await;
    let moved = client.move_to(&key("ALLPOST-2"), "Code Review").await;
    assert_eq!(moved, Ok(Moved::AlreadyThere), "acted on despite its 500");
}

#[tokio::test]
async fn an_issue_already_in_the_status_counts_as_moved() {
    let (server, client) = fake().await;
    mount_issue(&server, "ALLPOST-2", "Code Review").await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;
    assert_eq!(
        client
            .move_to(&key("ALLPOST-2"), "Code Review")
            .await
            .unwrap(),
        Moved::AlreadyThere
    );
}

#[tokio::test]
async fn a_status_without_a_direct_transition_is_refused_with_the_reachable_ones() {
    let (server, client) = fake().await;
    mount_issue(&server, "ALLPOST-3", "To Do").await;
    mount_transitions(&server, "ALLPOST-3").await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;
    let error = client
        .move_to(&key("ALLPOST-3"), "Ready for QA")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, JiraError::NoPath { reachable, .. } if reachable.len() == 3),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "ALLPOST-3 cannot move from To Do to Ready for QA: from there it can only go to In Progress, Code Review, Closed"
    );
}

#[tokio::test]
async fn an_issue_is_created_with_an_adf_description_and_the_configured_type() {
    let (server, client) = fake().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .and(body_partial_json(json!({"fields": {
            "project": {"key": "ALLPOST"},
            "issuetype": {"name": "Task"},
            "summary": "Update dependencies of Billo.Api",
            "labels": ["release-agent"],
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Bumps serde."}]}]}}})))
        .respond_with(json(
            201,
            json!({"id": "10009", "key": "ALLPOST-4100", "self": "x"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    mount_issue(&server, "ALLPOST-4100", "To Do").await;
    let new = NewIssue {
        project: "ALLPOST".into(),
        issue_type: "Task".into(),
        summary: "Update dependencies\nof Billo.Api".into(),
        description: Document::from_text("Bumps serde."),
        labels: vec!["release-agent".into()],
    };
    assert_eq!(
        client.create_issue(&new).await.unwrap().key,
        key("ALLPOST-4100")
    );
}

#[tokio::test]
async fn jira_field_errors_are_shown_to_the_user() {
    let (server, client) = fake().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(json(
            400,
            json!({"errorMessages": [], "errors": {"customfield_10010": "Team is required."}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let new = NewIssue {
        project: "ALLPOST".into(),
        issue_type: "Story".into(),
        summary: "x".into(),
        description: Document::default(),
        labels: Vec::new(),
    };
    let error = client.create_issue(&new).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Jira answered HTTP 400: customfield_10010: Team is required."
    );
}

#[tokio::test]
async fn a_comment_is_added_in_adf() {
    let (server, client) = fake().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/ALLPOST-1/comment"))
        .and(body_partial_json(json!({"body": {"type": "doc", "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "Merged in "},
            {"type": "text", "text": "PR 12", "marks": [{"type": "link", "attrs": {"href": "https://dev.azure.com/x/12"}}]}]}]}})))
        .respond_with(json(201, json!({"id": "5001"})))
        .expect(1)
        .mount(&server)
        .await;
    let body = Document::default().paragraph(vec![
        Inline::Text("Merged in ".into()),
        Inline::Link {
            text: "PR 12".into(),
            url: "https://dev.azure.com/x/12".into(),
        },
    ]);
    assert_eq!(
        client.comment(&key("ALLPOST-1"), &body).await.unwrap(),
        "5001"
    );
}

#[tokio::test]
async fn search_pages_with_next_page_token() {
    let (server, client) = fake().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(body_partial_json(json!({"nextPageToken": "page-2"})))
        .respond_with(json(
            200,
            json!({"issues": [issue_json("ALLPOST-3", "Done")], "isLast": true}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(body_partial_json(
            json!({"jql": "project = ALLPOST AND labels = release-agent", "nextPageToken": null}),
        ))
        .respond_with(json(
            200,
            json!({"issues": [issue_json("ALLPOST-1", "Done"), issue_json("ALLPOST-2", "Done")],
            "nextPageToken": "page-2", "isLast": false}),
        ))
        .mount(&server)
        .await;
    let found = client
        .search("project = ALLPOST AND labels = release-agent", 100)
        .await
        .unwrap();
    let keys: Vec<&str> = found.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["ALLPOST-1", "ALLPOST-2", "ALLPOST-3"]);
}

#[tokio::test]
async fn a_bad_token_is_named_and_throttling_is_waited_out() {
    let (server, client) = fake().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            json(200, json!({"displayName": "Release Bot"})),
            ResponseTemplate::new(401),
        ]))
        .mount(&server)
        .await;
    let started = Instant::now();
    assert_eq!(client.myself().await.unwrap(), "Release Bot");
    assert!(started.elapsed() >= Duration::from_millis(950));
    let error = client.myself().await.unwrap_err();
    assert!(
        matches!(
            error,
            JiraError::Http(HttpError::Auth {
                var: "JIRA_API_TOKEN",
                ..
            })
        ),
        "{error:?}"
    );
    assert!(!error.to_string().contains(TOKEN));
}
