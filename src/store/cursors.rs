//! Cursors: small named values kept between runs (how far the PR poller has looked).

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::{Store, StoreError, on_db};

impl Store {
    /// The value of cursor `name`; the first caller sets it to `initial`.
    #[instrument(level = "debug", skip_all, fields(cursor = name))]
    pub async fn cursor_or_init(
        &self,
        name: &str,
        initial: &str,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let insert = "INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
        let select = "SELECT value FROM cursors WHERE name = $1";
        let value: String = on_db!(self, pool => {
            sqlx::query(insert).bind(name).bind(initial).bind(now).execute(pool).await?;
            sqlx::query_scalar(select).bind(name).fetch_one(pool).await?
        });
        Ok(value)
    }
}
