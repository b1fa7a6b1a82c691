//! Where the store lives: `DATABASE_URL`, parsed once. A PostgreSQL URL may carry a password, so
//! it is kept secret and only ever shown with the password masked.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

#[derive(Clone)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(SecretString),
}

impl DatabaseUrl {
    /// A SQLite file next to the bot, when `DATABASE_URL` is not set.
    pub const DEFAULT: &'static str = "sqlite://release-agent.db";

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("sqlite:") {
            if text.contains(":memory:") || text.contains("mode=memory") {
                return Err("an in-memory database forgets every run when the bot stops; name a file, e.g. sqlite://release-agent.db".into());
            }
            Ok(Self::Sqlite(text.to_owned()))
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Url::parse(text).map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
            Ok(Self::Postgres(SecretString::from(text)))
        } else {
            Err("must start with sqlite: or postgres://".into())
        }
    }

    /// The URL with any password replaced by `***`, fit for logs and `check`.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(url) => url.clone(),
            Self::Postgres(secret) => match Url::parse(secret.expose_secret()) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    url.to_string()
                }
                Err(_) => "postgres://***".into(),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}
