//! The container files: the Dockerfile's runtime stage, and docker-compose.yml checked by
//! `docker compose config` (or docker-compose v1) where one is installed, and by its structure
//! everywhere.

use std::path::Path;
use std::process::Command;

use serde_yaml::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn compose() -> Value {
    let text = std::fs::read_to_string(Path::new(ROOT).join("docker-compose.yml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// A YAML list of strings.
fn strings(list: &Value) -> Vec<&str> {
    list.as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn postgres_must_be_healthy_and_have_a_password_before_the_bot_starts() {
    let compose = compose();
    let services = &compose["services"];
    let check = format!("{:?}", services["postgres"]["healthcheck"]["test"]);
    assert!(check.contains("pg_isready"), "{check}");
    assert_eq!(
        services["release-agent"]["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    let password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
        .as_str()
        .unwrap();
    assert!(
        password.starts_with("${POSTGRES_PASSWORD:?"),
        "required: {password}"
    );
    let url = services["release-agent"]["environment"]["DATABASE_URL"]
        .as_str()
        .unwrap();
    assert!(
        url.starts_with("postgres://") && url.contains("@postgres:5432/"),
        "{url}"
    );
    let bot = &services["release-agent"];
    let ports = strings(&bot["ports"]);
    assert_eq!(
        ports,
        ["127.0.0.1:8080:8080"],
        "the receiver is published on the host's loopback only"
    );
    assert_eq!(
        bot["environment"]["HTTP_BIND"], "0.0.0.0",
        "reachable through the mapping"
    );
}

#[test]
fn the_runtime_image_is_small_has_git_and_runs_as_a_user() {
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    let stages: Vec<&str> = dockerfile.split("\nFROM ").collect();
    assert_eq!(stages.len(), 3, "a build stage and a runtime stage");
    let runtime = stages[2];
    assert!(runtime.starts_with("debian:bookworm-slim"), "{runtime}");
    assert!(runtime.contains("install -y --no-install-recommends git ca-certificates"));
    assert!(runtime.contains("USER 10001:10001"));
    assert!(runtime.contains("COPY --from=build"));
    assert!(
        runtime.contains("HEALTHCHECK") && runtime.contains(r#"CMD ["release-agent", "health"]"#),
        "{runtime}"
    );
}

#[test]
fn the_image_installs_a_pinned_claude_code_cli_new_enough_for_the_bot_unless_told_not_to() {
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    let pinned = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG CLAUDE_CODE_VERSION="))
        .expect("a build argument with a default");
    let version: Vec<u32> = pinned.split('.').map(|p| p.parse().unwrap()).collect();
    let (a, b, c) = release_agent::reviewer::OLDEST_CLI_VERSION;
    assert!(
        version.as_slice() >= [a, b, c].as_slice(),
        "the image's CLI {pinned} is older than the bot needs"
    );
    assert!(dockerfile.contains(r#"if [ -n "${CLAUDE_CODE_VERSION}" ]; then"#));
    assert!(dockerfile.contains(r#"npm install --global --no-fund --no-audit "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}""#));
}

#[test]
fn the_bot_restarts_has_a_health_check_and_keeps_its_clones_and_the_clis_files() {
    let compose = compose();
    let bot = &compose["services"]["release-agent"];
    assert_eq!(bot["restart"], "unless-stopped");
    let check = strings(&bot["healthcheck"]["test"]);
    assert_eq!(check, ["CMD", "release-agent", "health"]);
    let volumes = strings(&bot["volumes"]);
    assert_eq!(
        volumes,
        [
            "repos:/var/lib/release-agent/repos",
            "claude:/var/lib/release-agent/.claude"
        ]
    );
    assert_eq!(
        bot["environment"]["HTTP_PORT"], "8080",
        "`health` asks the receiver"
    );
}

/// A tool the container checks need; CI sets RELEASE_AGENT_TEST_CONTAINER_TOOLS=required after
/// installing them, so there these checks cannot pass by skipping.
fn tool_or_skip(found: bool, what: &str) -> bool {
    if !found {
        assert_ne!(
            std::env::var("RELEASE_AGENT_TEST_CONTAINER_TOOLS").as_deref(),
            Ok("required"),
            "{what} is not installed"
        );
        eprintln!("{what} is not installed: skipped");
    }
    found
}

#[test]
fn hadolint_passes_the_dockerfile() {
    let run = Command::new("hadolint")
        .arg("Dockerfile")
        .current_dir(ROOT)
        .output();
    if !tool_or_skip(run.is_ok(), "hadolint") {
        return;
    }
    let out = run.unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `docker compose` (the plugin) or `docker-compose` (v1), whichever answers.
fn compose_tool() -> Option<Vec<&'static str>> {
    [vec!["docker", "compose"], vec!["docker-compose"]]
        .into_iter()
        .find(|tool| {
            Command::new(tool[0])
                .args(&tool[1..])
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn docker_compose_config_accepts_the_file_only_with_a_password() {
    let tool = compose_tool();
    if !tool_or_skip(tool.is_some(), "`docker compose` or `docker-compose`") {
        return;
    }
    let tool = tool.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(ROOT).join("docker-compose.yml"),
        dir.path().join("docker-compose.yml"),
    )
    .unwrap();
    std::fs::write(dir.path().join(".env"), "SLACK_CHANNEL_ID=C0123\n").unwrap();
    let config = |password: Option<&str>| {
        let mut command = Command::new(tool[0]);
        command
            .args(&tool[1..])
            .args(["config", "-q"])
            .current_dir(dir.path())
            .env_remove("POSTGRES_PASSWORD");
        if let Some(password) = password {
            command.env("POSTGRES_PASSWORD", password);
        }
        command.output().unwrap()
    };
    let without = config(None);
    assert!(
        !without.status.success(),
        "a missing POSTGRES_PASSWORD is refused"
    );
    assert!(String::from_utf8_lossy(&without.stderr).contains("set POSTGRES_PASSWORD"));
    let with = config(Some("correct-horse"));
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
}
