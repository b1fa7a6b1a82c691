# release-agent: a two-stage build. The runtime image is Debian slim with git (for clones and
# fetches), CA certificates and bubblewrap (the reviewer's sandbox), and runs as an unprivileged
# user.
#
#   docker build -t release-agent .
#   docker run --env-file .env release-agent
#
# Reviews need the Claude Code CLI, which is not in this image (it is large, and its licence is
# yours to accept). To add it, append to the runtime stage, before `USER`:
#
#   RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
#       && npm install -g @anthropic-ai/claude-code && rm -rf /var/lib/apt/lists/*
#
# and set ANTHROPIC_API_KEY: each review gets a fresh, empty HOME, so a logged-in ~/.claude is not
# seen. CLAUDE_CMD defaults to `claude`.
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
# SIGTERM stops it gracefully within 10 s (steps reach their checkpoint first).
STOPSIGNAL SIGTERM
ENTRYPOINT ["release-agent"]
CMD ["serve"]
