//! A PostgreSQL server of the test's own, made from the machine's installation (the one
//! `TEST_DATABASE_URL` points at), for tests that stop and start it under a running bot:
//! stopping the shared server would break the tests running beside them. Its binaries are found
//! under `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu), or in `TEST_PG_BINDIR`. As root
//! they run as the `postgres` user, since PostgreSQL refuses to run as root.

use std::path::PathBuf;
use std::process::Output;

use tokio::process::Command;

use super::db::postgres_url;

pub struct PgServer {
    /// Holds `data/`, the log and the server's socket.
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PgServer {
    /// A new server, running; `None` when `TEST_DATABASE_URL` is not set, as for every other
    /// PostgreSQL test.
    pub async fn start() -> Option<Self> {
        postgres_url()?;
        let bin = bin_dir();
        let as_postgres = std::os::unix::fs::MetadataExt::uid(
            &std::fs::metadata("/proc/self").expect("/proc/self"),
        ) == 0;
        let dir = if as_postgres {
            let made = run(Command::new("runuser").args([
                "-u",
                "postgres",
                "--",
                "mktemp",
                "-d",
                "/tmp/ra-pg-XXXXXX",
            ]))
            .await;
            PathBuf::from(String::from_utf8(made.stdout).unwrap().trim())
        } else {
            tempfile::Builder::new()
                .prefix("ra-pg-")
                .tempdir()
                .unwrap()
                .keep()
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = server.data();
        server
            .tool(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ],
            )
            .await;
        server.up().await;
        Some(server)
    }

    /// The URL of its `postgres` database, for creating test databases.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again), on the same port, and waits until it takes connections.
    pub async fn up(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.tool(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
            ],
        )
        .await;
    }

    /// Stops it as an administrator's restart does (`pg_ctl stop -m fast`): sessions are cut
    /// with "terminating connection due to administrator command", new ones refused.
    pub async fn down(&self) {
        self.tool("pg_ctl", &["stop", "-w", "-m", "fast", "-D", &self.data()])
            .await;
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    async fn tool(&self, name: &str, args: &[&str]) -> Output {
        let program = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command.args(args);
        run(&mut command).await
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["stop", "-m", "immediate", "-D", data.as_str()];
        let _ = if self.as_postgres {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&pg_ctl)
                .args(args)
                .output()
        } else {
            std::process::Command::new(&pg_ctl).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `TEST_PG_BINDIR`, or the newest `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TEST_PG_BINDIR") {
        return dir.into();
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect(
        "TEST_DATABASE_URL is set but no PostgreSQL server binaries were found under \
         /usr/lib/postgresql/<version>/bin: set TEST_PG_BINDIR to the directory holding initdb and pg_ctl",
    )
}

async fn run(command: &mut Command) -> Output {
    let output = command.output().await.expect("a PostgreSQL tool starts");
    assert!(
        output.status.success(),
        "{:?} failed: {}{}",
        command.as_std().get_program(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
