//! The proxy variables: what the bot cannot use is named, and clear text never crosses to a
//! proxy on another machine.

use super::*;

#[test]
fn plain_http_through_a_proxy_on_another_machine_is_refused() {
    let jira = |proxy: &str| {
        config(&[
            ("JIRA_BASE_URL", "http://jira.localhost:8080"),
            ("JIRA_EMAIL", "bot@example.com"),
            ("JIRA_API_TOKEN", "token-secret"),
            ("HTTP_PROXY", proxy),
        ])
    };
    assert!(
        jira("http://127.0.0.1:3128").is_ok(),
        "a proxy on this machine"
    );
    let refused = lines(jira("http://u:hunter2@proxy.corp:3128").unwrap_err());
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].starts_with(
            "JIRA_BASE_URL: is plain http, and HTTP_PROXY sends it through the proxy http://proxy.corp:3128 on another machine"
        ),
        "{refused:?}"
    );
    assert!(!refused[0].contains("hunter2"));
    let exempt = config(&[
        ("JIRA_BASE_URL", "http://jira.localhost:8080"),
        ("JIRA_EMAIL", "bot@example.com"),
        ("JIRA_API_TOKEN", "token-secret"),
        ("HTTP_PROXY", "http://proxy.corp:3128"),
        ("NO_PROXY", "localhost,.localhost"),
    ]);
    assert!(exempt.is_ok(), "NO_PROXY keeps it on this machine");
}

#[test]
fn a_proxy_the_bot_cannot_use_is_named() {
    let err = lines(config(&[("ALL_PROXY", "socks5://proxy.corp:1080")]).unwrap_err());
    assert_eq!(err.len(), 1);
    assert!(
        err[0].starts_with("ALL_PROXY: names a socks5 proxy"),
        "{err:?}"
    );
}
