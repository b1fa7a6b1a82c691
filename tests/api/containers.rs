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
    let ports: Vec<&str> = bot["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
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
        dockerfile.contains("npm install -g @anthropic-ai/claude-code"),
        "documents adding the CLI"
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
    let Some(tool) = compose_tool() else {
        eprintln!(
            "neither `docker compose` nor `docker-compose` is installed: only the structure was checked"
        );
        return;
    };
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
