//! `slack-manifest.yml` is a valid Slack app manifest (checked against Slack's own JSON Schema,
//! `tests/data/slack-app-manifest.schema.1.0.0.json`, MIT, from slackapi/manifest-schema) and asks
//! for exactly the bot scopes the code needs.

use std::collections::BTreeSet;

use serde_json::Value;

fn manifest() -> Value {
    read("slack-manifest.yml")
}

fn read(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_manifests_are_valid_for_slack() {
    let schema: Value =
        serde_json::from_str(include_str!("../data/slack-app-manifest.schema.1.0.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for name in ["slack-manifest.yml", "slack-manifest-http.yml"] {
        let manifest = read(name);
        let errors: Vec<String> = validator
            .iter_errors(&manifest)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

/// The HTTP variant is the Socket Mode manifest with request URLs at the receiver's Slack
/// endpoints and Socket Mode off: nothing else may drift apart.
#[test]
fn the_http_manifest_differs_only_in_its_request_urls() {
    let mut http = read("slack-manifest-http.yml");
    let base = "https://release-agent.example.com";
    let settings = &mut http["settings"];
    assert_eq!(settings["socket_mode_enabled"], false);
    settings["socket_mode_enabled"] = Value::Bool(true);
    let take = |value: &mut Value, key: &str| value.as_object_mut().unwrap().remove(key);
    assert_eq!(
        take(&mut settings["interactivity"], "request_url"),
        Some(Value::from(format!("{base}/slack/interactions")))
    );
    assert_eq!(
        take(&mut settings["event_subscriptions"], "request_url"),
        Some(Value::from(format!("{base}/slack/events")))
    );
    for command in http["features"]["slash_commands"].as_array_mut().unwrap() {
        assert_eq!(
            take(command, "url"),
            Some(Value::from(format!("{base}/slack/commands")))
        );
    }
    assert_eq!(http, manifest());
}

#[test]
fn the_manifest_sets_up_socket_mode_interactivity_and_both_commands() {
    let manifest = manifest();
    let settings = &manifest["settings"];
    assert_eq!(settings["socket_mode_enabled"], true);
    assert_eq!(settings["interactivity"]["is_enabled"], true);
    assert!(
        settings["interactivity"].get("request_url").is_none(),
        "Socket Mode needs no request URL"
    );
    let commands = manifest["features"]["slash_commands"].as_array().unwrap();
    let names: Vec<&str> = commands
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/review", "/release"]);
    for command in commands {
        assert!(
            command.get("url").is_none(),
            "Socket Mode commands have no URL"
        );
        assert!(
            !command["usage_hint"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{command}"
        );
    }
}

/// The bot scopes follow from the Web API methods the code calls (plus `commands` for the slash
/// commands), so a new call without its scope, or a scope nothing uses, fails here.
#[test]
fn the_manifest_asks_for_exactly_the_scopes_the_code_uses() {
    let source = include_str!("../../src/slack/web.rs");
    let posted = include_str!("../../src/slack/posted.rs");
    let scope_of: [(&str, &[&str]); 11] = [
        ("chat_post_message", &["chat:write"]),
        ("chat_update", &["chat:write"]),
        ("chat_post_ephemeral", &["chat:write"]),
        ("usergroups_users_list", &["usergroups:read"]),
        // Slack grants users:read.email only together with users:read.
        ("users_lookup_by_email", &["users:read", "users:read.email"]),
        // The clicker's email, for stages whose approvers come from Azure DevOps.
        ("users_info", &["users:read", "users:read.email"]),
        ("auth.test", &[]),
        // views.publish needs no scope, only the Home tab and its event (checked below).
        ("views_publish", &[]),
        ("apps_connections_open", &[]),
        // Read by hand (`SlackApi::get`): earlier posts found again by their metadata, in
        // public (channels:history) and private (groups:history) channels.
        (
            "conversations.history",
            &["channels:history", "groups:history"],
        ),
        (
            "conversations.replies",
            &["channels:history", "groups:history"],
        ),
    ];
    // Calls through slack-morphism's session, and methods named for `SlackApi::get`: the first
    // argument in web.rs, the conversations.* ones in posted.rs.
    let through = |text: &'static str, marker: &str, end: char| -> Vec<&'static str> {
        text.match_indices(marker)
            .map(|(at, _)| {
                let rest = &text[at + marker.len()..];
                &rest[..rest.find(end).unwrap()]
            })
            .collect()
    };
    let called: Vec<String> = through(source, "session.", '(')
        .into_iter()
        .filter(|m| !m.starts_with("http_session_api"))
        .chain(through(source, "self.get(\"", '"'))
        .map(str::to_owned)
        .chain(
            through(posted, "\"conversations.", '"')
                .into_iter()
                .map(|m| format!("conversations.{m}")),
        )
        .collect();
    assert!(called.iter().any(|m| m == "conversations.replies"));
    // The `app_mention` event (questions in a card's thread) comes only with its scope.
    let mut needed: BTreeSet<&str> = BTreeSet::from(["commands", "app_mentions:read"]);
    for method in &called {
        let (_, scope) = scope_of.iter().find(|(m, _)| m == method).unwrap_or_else(|| {
            panic!("src/slack/web.rs calls {method}; add its scope to this table and to slack-manifest.yml")
        });
        needed.extend(scope.iter());
    }
    let manifest = manifest();
    let granted: BTreeSet<&str> = manifest["oauth_config"]["scopes"]["bot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(granted, needed);
}

/// Each event the bot handles is subscribed, and nothing else.
#[test]
fn the_home_tab_is_on_and_the_events_the_bot_handles_are_subscribed() {
    let manifest = manifest();
    assert_eq!(manifest["features"]["app_home"]["home_tab_enabled"], true);
    let events = &manifest["settings"]["event_subscriptions"]["bot_events"];
    assert_eq!(
        events,
        &serde_json::json!(["app_home_opened", "app_mention"])
    );
    let dispatch = include_str!("../../src/slack/dispatch.rs");
    for handled in [
        "SlackEventCallbackBody::AppHomeOpened",
        "SlackEventCallbackBody::AppMention",
    ] {
        assert!(dispatch.contains(handled), "{handled}");
    }
}
