//! Claims of an earlier life of this process (`startup::instance`): given back at start, so a
//! restarted bot goes on with its runs, cards, messages and questions at once instead of
//! waiting for their leases to run out. Only the process holding the instance's lock calls
//! this, so the claims' holder is known to be dead.

use tracing::instrument;

use super::{BeginWrite, Store, StoreError, on_db};

impl Store {
    /// Gives back every claim owned by `instance`'s engine, outbound queue and answerer; returns
    /// how many there were.
    #[instrument(level = "debug", skip_all, fields(instance))]
    pub async fn release_claims(&self, instance: &str) -> Result<u64, StoreError> {
        let engine = format!("engine-{instance}");
        let outbound = format!("outbound-{instance}");
        let answerer = format!("answerer-{instance}");
        let released = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut released = 0;
            for (sql, owner) in [
                ("UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1", &engine),
                ("UPDATE runs SET card_claim_by = NULL, card_claim_until = NULL WHERE card_claim_by = $1", &outbound),
                ("UPDATE outbox SET claim_by = NULL, claim_until = NULL WHERE claim_by = $1", &outbound),
                ("UPDATE questions SET claim_by = NULL, claim_until = NULL WHERE claim_by = $1", &answerer),
            ] {
                released += sqlx::query(sql).bind(owner).execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            released
        });
        Ok(released)
    }
}
