//! A fresh database per test: a SQLite file in a temp dir, or a new database on the PostgreSQL
//! server named by `TEST_DATABASE_URL`.

use release_agent::store::DatabaseUrl;
use release_agent::store::Store;
use sqlx::{Connection, PgConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub url: String,
    /// Keeps the SQLite file alive.
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database, or `None` (with a notice) when PostgreSQL is asked for but
    /// `TEST_DATABASE_URL` is not set.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("release-agent.db").display());
                Some(Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let Some(admin) = postgres_url() else {
                    announce_skip();
                    return None;
                };
                Some(Self::create_on(&admin).await)
            }
        }
    }

    /// A fresh database on the PostgreSQL server whose admin URL is `admin`.
    pub async fn create_on(admin: &str) -> Self {
        let name = format!("ra_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(admin)
            .await
            .unwrap_or_else(|e| panic!("{admin} is not reachable: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(admin).unwrap();
        url.set_path(&name);
        Self {
            url: url.to_string(),
            _dir: None,
            postgres: Some((admin.to_owned(), name)),
        }
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&DatabaseUrl::parse(&self.url).unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// Puts `password` into a PostgreSQL URL (a trust-auth server ignores it), so a test can
    /// check that it shows up nowhere.
    pub fn with_password(mut self, password: &str) -> Self {
        let mut url = url::Url::parse(&self.url).unwrap();
        if url.scheme() == "postgres" {
            url.set_password(Some(password)).unwrap();
            self.url = url.to_string();
        }
        self
    }

    /// Runs one statement outside the store, as an operator with psql or sqlite3 would.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.postgres.is_some() {
            let mut conn = PgConnection::connect(&self.url).await?;
            Ok(sqlx::raw_sql(sql).execute(&mut conn).await?.rows_affected())
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
            Ok(sqlx::raw_sql(sql).execute(&mut conn).await?.rows_affected())
        }
    }

    /// The single number a `SELECT COUNT(*) …` returns.
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.postgres.is_some() {
            let mut conn = PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }

    /// Takes a PostgreSQL database away under a running bot, as a stopped server would: its
    /// connections are cut and new ones refused.
    pub async fn take_down(&self) {
        let (admin, name) = self.postgres.as_ref().expect("a PostgreSQL database");
        let mut conn = PgConnection::connect(admin).await.unwrap();
        let sql = format!("DROP DATABASE {name} WITH (FORCE)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }

    /// Drops a PostgreSQL test database (SQLite files go with their temp dir).
    pub async fn drop_database(self) {
        if let Some((admin, name)) = &self.postgres {
            let mut conn = PgConnection::connect(admin).await.unwrap();
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// Says once per test process, past libtest's output capture, that PostgreSQL tests were skipped.
fn announce_skip() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: the PostgreSQL variants of the tests (postgres::*) did not run, because \
             TEST_DATABASE_URL is not set. They passed vacuously; set it to run them.\n"
        );
    });
}

pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}
