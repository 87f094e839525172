//! Favourite roles, remembered per user (IdP + subject) in the store, so they follow the user
//! across browsers and broker replicas. Only role aliases are kept — never anything that grants
//! access: a favourite the policy no longer allows simply does not show.

use crate::domain::Identity;
use crate::store::{Store, StoreError, key};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Favourites outlive sessions by far; a year without a change forgets them.
const KEEP: Duration = Duration::from_secs(400 * 24 * 3600);
/// A bound on what one user can make the store hold.
pub(crate) const MAX: usize = 100;

fn store_key(identity: &Identity) -> String {
    let mut h = Sha256::new();
    h.update(identity.idp.as_str().as_bytes());
    h.update([0]);
    h.update(identity.subject.as_bytes());
    key("favourites", &hex::encode(h.finalize()))
}

fn decode(bytes: Option<&[u8]>) -> BTreeSet<String> {
    bytes
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default()
}

/// Each user's favourite roles, in the store.
pub(crate) struct Favourites {
    store: Arc<dyn Store>,
}

impl Favourites {
    /// Favourites kept in `store`.
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Favourites { store }
    }

    /// The user's favourite role aliases.
    pub(crate) async fn list(&self, identity: &Identity) -> Result<BTreeSet<String>, StoreError> {
        Ok(decode(
            self.store.get(&store_key(identity)).await?.as_deref(),
        ))
    }

    /// Adds or removes `alias`; returns whether it is a favourite now.
    pub(crate) async fn toggle(
        &self,
        identity: &Identity,
        alias: &str,
    ) -> Result<bool, StoreError> {
        let name = alias.to_string();
        let written = self
            .store
            .update(&store_key(identity), KEEP, &move |old| {
                let mut set = decode(old);
                if !set.remove(&name) && set.len() < MAX {
                    set.insert(name.clone());
                }
                serde_json::to_vec(&set).ok()
            })
            .await?;
        Ok(decode(written.as_deref()).contains(alias))
    }
}
