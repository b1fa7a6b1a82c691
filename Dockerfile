# release-agent: a two-stage build. The runtime image is Debian slim with git (for clones and
# fetches), CA certificates, bubblewrap (the reviewer's sandbox) and the Claude Code CLI, and runs
# as an unprivileged user.
#
#   docker compose up -d                 # with a filled .env: the bot, PostgreSQL, health checks
#   docker build -t release-agent .      # the image alone
#   docker build --build-arg CLAUDE_CODE_VERSION= -t release-agent .   # without the CLI
#
# CLAUDE_CODE_VERSION pins the CLI (npm package @anthropic-ai/claude-code); its licence is yours
# to accept. The bot needs 2.1.162 or later (`release-agent check` says so). Each review gets a
# fresh, empty HOME, so reviews take their credentials from the environment: ANTHROPIC_API_KEY,
# CLAUDE_CODE_OAUTH_TOKEN (`claude setup-token`), or the Bedrock or Vertex AI variables.
#
# bubblewrap needs user namespaces, which Docker's default seccomp profile refuses; there
# `release-agent check` says the sandbox is off and why (REVIEWER_SANDBOX=auto). Run the container
# with a seccomp profile that allows them to have the sandbox.

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY migrations migrations
COPY src src
RUN cargo build --release --locked --bin release-agent

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/release-agent release-agent
# The reviewer. An empty CLAUDE_CODE_VERSION leaves it (and Node.js) out.
ARG CLAUDE_CODE_VERSION=2.1.330
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN if [ -n "${CLAUDE_CODE_VERSION}" ]; then \
        apt-get update && apt-get install -y --no-install-recommends nodejs npm \
        && npm install --global --no-fund --no-audit "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
        && npm cache clean --force && rm -rf /var/lib/apt/lists/* \
        && claude --version; \
    fi
COPY --from=build /src/target/release/release-agent /usr/local/bin/release-agent
USER 10001:10001
WORKDIR /var/lib/release-agent
ENV DATABASE_URL=sqlite:///var/lib/release-agent/release-agent.db \
    REPOS_BASE_DIR=/var/lib/release-agent/repos \
    HTTP_PORT=8080 \
    HTTP_BIND=0.0.0.0 \
    LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/release-agent"]
# Healthy while the database answers and Slack is connected (GET /status on HTTP_PORT).
HEALTHCHECK --interval=30s --timeout=20s --start-period=30s --retries=3 \
    CMD ["release-agent", "health"]
# SIGTERM stops it gracefully within 10 s (steps reach their checkpoint first).
STOPSIGNAL SIGTERM
ENTRYPOINT ["release-agent"]
CMD ["serve"]
