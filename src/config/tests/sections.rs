//! The optional sections (Azure DevOps, Jira, the HTTP receiver) and the workflows' settings.

use super::*;

#[test]
fn azure_devops_and_jira_are_off_until_one_of_their_variables_is_set() {
    let config = config(&[]).unwrap();
    assert!(config.azdo.is_none() && config.jira.is_none());
    assert_eq!(config.reviewer.command, std::path::PathBuf::from("claude"));
    assert_eq!(config.reviewer.timeout, std::time::Duration::from_secs(900));
    assert_eq!(config.repos_dir, std::path::PathBuf::from("repos"));
}

#[test]
fn a_partial_section_names_what_is_missing() {
    let text = config_err(&[("AZDO_PROJECT", "Proj"), ("JIRA_EMAIL", "bot@example.com")]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "AZDO_ORGANIZATION: is required: the organization name (or set AZDO_BASE_URL to a collection URL)",
            "AZDO_PAT: is required: a personal access token with Code, Build and Release scopes",
            "JIRA_BASE_URL: is required: your Jira site, like https://example.atlassian.net",
            "JIRA_API_TOKEN: is required: an API token of that account",
        ]
    );
}

#[test]
fn cloud_and_server_urls_get_the_right_release_host() {
    let cloud = config(&[
        ("AZDO_ORGANIZATION", "billo"),
        ("AZDO_PROJECT", "Proj"),
        ("AZDO_PAT", "pat-secret"),
    ])
    .unwrap();
    let azdo = cloud.azdo.unwrap();
    assert_eq!(azdo.base_url.as_str(), "https://dev.azure.com/billo");
    assert_eq!(
        azdo.release_base_url.as_str(),
        "https://vsrm.dev.azure.com/billo"
    );
    assert_eq!(
        azdo.identity_base_url.as_str(),
        "https://vssps.dev.azure.com/billo"
    );
    assert_eq!(
        (azdo.api_version.as_str(), azdo.negotiate_version),
        ("7.1", true),
        "auto by default: 7.1, lowered to what a server speaks"
    );

    let legacy = config(&[
        ("AZDO_BASE_URL", "https://billo.visualstudio.com/"),
        ("AZDO_PROJECT", "P"),
        ("AZDO_PAT", "x"),
    ])
    .unwrap();
    assert_eq!(
        legacy.azdo.unwrap().release_base_url.as_str(),
        "https://billo.vsrm.visualstudio.com/"
    );

    let server = config(&[
        (
            "AZDO_BASE_URL",
            "https://tfs.example.com/tfs/DefaultCollection",
        ),
        ("AZDO_PROJECT", "P"),
        ("AZDO_PAT", "x"),
        ("AZDO_API_VERSION", "6.0"),
    ])
    .unwrap()
    .azdo
    .unwrap();
    assert_eq!(
        server.identity_base_url, server.base_url,
        "a Server collection serves identities itself"
    );
    assert_eq!(
        server.release_base_url, server.base_url,
        "a Server collection serves releases itself"
    );
    assert_eq!(
        (server.api_version.as_str(), server.negotiate_version),
        ("6.0", false)
    );
}

#[test]
fn branch_keys_count_for_the_default_project_the_repositories_and_jira_projects() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos.toml");
    std::fs::write(&repos, "[repos.\"Billo.Web\"]\njira_project = \"WEB\"\n").unwrap();
    let repos = repos.display().to_string();
    let jira = [
        ("JIRA_BASE_URL", "https://billo.atlassian.net/"),
        ("JIRA_EMAIL", "bot@billo.example"),
        ("JIRA_API_TOKEN", "jira-secret-token"),
        ("REPOS_CONFIG", repos.as_str()),
    ];
    let with = |projects: &str| {
        let mut vars = jira.to_vec();
        vars.push(("JIRA_PROJECTS", projects));
        config(&vars)
    };
    let config = with("ops, web, ALLPOST").unwrap();
    assert_eq!(config.jira_projects(), ["ALLPOST", "WEB", "OPS"]);
    let err = lines(with("OPS, two words").unwrap_err());
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(err[0].starts_with("JIRA_PROJECTS: "), "{err:?}");
}

#[test]
fn base_urls_hold_no_credentials_and_plain_http_stays_on_this_machine() {
    let azdo = |url: &str| {
        config(&[
            ("AZDO_BASE_URL", url),
            ("AZDO_PROJECT", "Proj"),
            ("AZDO_PAT", "pat-secret"),
        ])
    };
    let with_password = lines(azdo("https://bot:hunter2@dev.azure.com/billo").unwrap_err());
    assert_eq!(
        with_password,
        [
            "AZDO_BASE_URL: the URL holds a user name or password (user:password@): remove it; the \
          tokens have variables of their own"
        ]
    );
    let plain = lines(azdo("http://tfs.example.com/tfs/Col").unwrap_err());
    assert_eq!(
        plain,
        [
            "AZDO_BASE_URL: `http://tfs.example.com/tfs/Col` is plain http to another machine: use \
          https, or tokens cross the network in clear text"
        ]
    );
    for local in [
        "http://127.0.0.1:8080/org",
        "http://localhost/tfs/Col",
        "http://[::1]:81/c",
    ] {
        assert!(azdo(local).is_ok(), "{local}");
    }
}

#[test]
fn jira_defaults_and_secrets_stay_hidden() {
    let config = config(&[
        ("JIRA_BASE_URL", "https://billo.atlassian.net/"),
        ("JIRA_EMAIL", "bot@billo.example"),
        ("JIRA_API_TOKEN", "jira-secret-token"),
        ("AZDO_ORGANIZATION", "billo"),
        ("AZDO_PROJECT", "Proj"),
        ("AZDO_PAT", "azdo-secret-pat"),
        ("ANTHROPIC_API_KEY", "sk-ant-secret"),
    ])
    .unwrap();
    let jira = config.jira.as_ref().unwrap();
    assert_eq!(
        (jira.project.as_str(), jira.issue_type.as_str()),
        ("ALLPOST", "Story")
    );
    assert_eq!(
        jira.settings.base_url.as_str(),
        "https://billo.atlassian.net/"
    );
    assert_eq!(
        config.jira_projects(),
        ["ALLPOST"],
        "only the default project by default"
    );
    let shown = format!("{config:?} {:?}", config.summary());
    for secret in ["jira-secret-token", "azdo-secret-pat", "sk-ant-secret"] {
        assert!(!shown.contains(secret), "{secret} leaked");
    }
}

#[test]
fn release_settings_have_defaults_and_explain_bad_values() {
    let release = config(&[]).unwrap().release;
    assert_eq!(release.branch, "main");
    assert_eq!(release.poll_interval, Duration::from_secs(30));
    assert_eq!(release.wait_max, Duration::from_secs(3600));
    let custom = config(&[("RELEASE_BRANCH", "refs/heads/master")])
        .unwrap()
        .release;
    assert_eq!(custom.branch, "master");
    let err = lines(
        config(&[
            ("RELEASE_POLL_INTERVAL_SECONDS", "0"),
            ("RELEASE_WAIT_MAX_SECONDS", "an hour"),
        ])
        .unwrap_err(),
    );
    assert_eq!(err.len(), 2, "{err:?}");
    assert!(
        err[0].starts_with("RELEASE_POLL_INTERVAL_SECONDS: "),
        "{}",
        err[0]
    );
    assert!(err[1].contains("`an hour`"), "{}", err[1]);
}

#[test]
fn the_http_receiver_is_off_until_a_port_is_set_and_refuses_short_secrets() {
    assert!(config(&[]).unwrap().http.is_none());
    let http = config(&[
        ("HTTP_PORT", "8080"),
        ("WEBHOOK_SECRET", "a-webhook-secret-of-some-length"),
    ])
    .unwrap()
    .http
    .unwrap();
    assert_eq!(
        http.addr.to_string(),
        "127.0.0.1:8080",
        "loopback by default"
    );
    assert!(http.webhook_secret.is_some() && http.operator_token.is_none());
    let err = lines(
        config(&[
            ("HTTP_PORT", "80800"),
            ("HTTP_BIND", "localhost"),
            ("OPERATOR_TOKEN", "hunter2"),
        ])
        .unwrap_err(),
    );
    assert_eq!(
        err,
        [
            "HTTP_PORT: `80800` must be a port number from 0 to 65535",
            "HTTP_BIND: `localhost` is not an IP address (0.0.0.0 listens on every interface)",
            "OPERATOR_TOKEN: is too short to be a token: use at least 16 random characters",
        ]
    );
}

#[test]
fn operator_tokens_name_one_person_each_and_errors_never_quote_a_token() {
    const A: &str = "a-token-0123456789abcdef";
    const B: &str = "b-token-0123456789abcdef";
    let with = |tokens: &str| {
        config(&[
            ("HTTP_PORT", "8080"),
            ("OPERATOR_TOKEN", "nameless-token-0123456789"),
            ("OPERATOR_TOKENS", tokens),
        ])
    };
    let http = with(&format!("U0ANN:{A}, <@W0BOB>:{B}"))
        .unwrap()
        .http
        .unwrap();
    let people: Vec<&str> = http
        .operator_tokens
        .iter()
        .map(|t| t.user.as_str())
        .collect();
    assert_eq!(people, ["U0ANN", "W0BOB"]);
    assert!(!format!("{http:?}").contains(A), "Debug shows no token");
    let refused = |tokens: String| {
        let err = lines(with(&tokens).unwrap_err());
        assert!(
            !err.iter().any(|e| e.contains(A) || e.contains(B)),
            "{err:?}"
        );
        err.join("\n")
    };
    assert_eq!(
        refused(format!("U0ANN={A}")),
        "OPERATOR_TOKENS: entry 1 is not USER_ID:TOKEN (for example U0123ABCD:<token>)"
    );
    assert_eq!(
        refused(format!("U0ANN:{A},S0TEAM:{B}")),
        "OPERATOR_TOKENS: entry 2: S0TEAM is a user group; name one person's user id (U…)"
    );
    assert_eq!(
        refused(format!("U0ANN:{A},U0ANN:{B}")),
        "OPERATOR_TOKENS: entries 1 and 2 both name U0ANN: one token per person"
    );
    assert_eq!(
        refused(format!("U0ANN:{A},U0BOB:{A}")),
        "OPERATOR_TOKENS: entries 1 and 2 have the same token: each person needs their own"
    );
    assert_eq!(
        refused("U0ANN:short".into()),
        "OPERATOR_TOKENS: the token of entry 1 is too short to be a token: use at least 16 random characters"
    );
    assert_eq!(
        refused("U0ANN:nameless-token-0123456789".into()),
        "OPERATOR_TOKENS: one of its tokens is also OPERATOR_TOKEN: a token names one person, or nobody"
    );
}

#[test]
fn one_request_timeout_applies_to_azure_devops_and_jira() {
    let vars = [
        ("AZDO_ORGANIZATION", "billo"),
        ("AZDO_PROJECT", "Proj"),
        ("AZDO_PAT", "pat-secret"),
        ("JIRA_BASE_URL", "https://billo.atlassian.net"),
        ("JIRA_EMAIL", "bot@example.com"),
        ("JIRA_API_TOKEN", "jira-secret"),
    ];
    let defaults = config(&vars).unwrap();
    assert_eq!(
        defaults.azdo.unwrap().retry.timeout,
        Duration::from_secs(30)
    );
    let mut short = vars.to_vec();
    short.push(("HTTP_TIMEOUT_SECONDS", "5"));
    let short = config(&short).unwrap();
    assert_eq!(short.azdo.unwrap().retry.timeout, Duration::from_secs(5));
    assert_eq!(
        short.jira.unwrap().settings.retry.timeout,
        Duration::from_secs(5)
    );
    let err = lines(config(&[("HTTP_TIMEOUT_SECONDS", "0")]).unwrap_err());
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(err[0].starts_with("HTTP_TIMEOUT_SECONDS: "), "{}", err[0]);
}

#[test]
fn a_ticket_pattern_that_cannot_be_used_is_refused_with_the_reason() {
    for pattern in ["[A-Z", r"\p{Lu}+-\d+"] {
        let lines = lines(config(&[("TICKET_BRANCH_PATTERN", pattern)]).unwrap_err());
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!(
                "TICKET_BRANCH_PATTERN: `{pattern}` is not a regular expression"
            )),
            "{}",
            lines[0]
        );
    }
}

#[test]
fn review_limits_are_read_and_checked() {
    let config = config(&[
        ("REVIEW_CONCURRENCY", "1"),
        ("REVIEW_MAX_TURNS", "12"),
        ("REVIEW_MAX_BUDGET_USD", "2.5"),
    ])
    .unwrap();
    let reviewer = &config.reviewer;
    assert_eq!(
        (
            reviewer.concurrency,
            reviewer.max_turns,
            reviewer.max_budget_usd
        ),
        (1, 12, Some(2.5))
    );
    let defaults = self::config(&[]).unwrap().reviewer;
    assert_eq!((defaults.concurrency, defaults.max_budget_usd), (2, None));
    let err = lines(
        self::config(&[
            ("REVIEW_CONCURRENCY", "0"),
            ("REVIEW_MAX_BUDGET_USD", "-1"),
            ("ENGINE_CONCURRENCY", "lots"),
        ])
        .unwrap_err(),
    );
    assert_eq!(
        err,
        [
            "REVIEW_MAX_BUDGET_USD: `-1` must be a number of dollars above 0, like 2.50",
            "REVIEW_CONCURRENCY: `0` must be a whole number of processes from 1 to 64",
            "ENGINE_CONCURRENCY: `lots` must be a whole number of runs from 1 to 1024",
        ]
    );
    assert_eq!(self::config(&[]).unwrap().engine_concurrency, 16);
    let engine = self::config(&[("ENGINE_CONCURRENCY", "64")]).unwrap();
    assert_eq!(engine.engine_concurrency, 64);
}
