//! The key-value writes of one call, held until the decision is recorded.
//!
//! A plugin's `kv-set` used to be a synced journal write of its own, outside
//! the CPU deadline: one tenant's plugin could keep the shared journal busy
//! for everyone. Writes now wait here, reads see them, and the pipeline
//! commits them in the transaction that records the decision (see
//! `journal::Provenance::kv`): one sync per decision however many writes,
//! and none for a decision that fails.

use std::collections::{BTreeMap, HashMap};

use super::services::HostServices;

/// Keys a partner's store may hold, and their sizes.
pub(super) const MAX_KEYS: usize = 1000;
pub(super) const MAX_KEY: usize = 256;
pub(super) const MAX_VALUE: usize = 64 << 10;
/// What one call may write (keys and values, overwrites included).
pub(super) const MAX_BATCH: usize = 1 << 20;

/// Why a write was refused: a limit (the call traps) or the journal.
pub(super) enum Refused {
    Limit(String),
    Journal(String),
}

#[derive(Default)]
pub(super) struct KvBatch {
    /// Keys in the journal when the call first counted them.
    stored: Option<usize>,
    /// Whether each key touched was in the journal.
    existed: HashMap<String, bool>,
    /// The writes, in key order; `None` deletes.
    writes: BTreeMap<String, Option<Vec<u8>>>,
    /// Keys added minus keys removed by the writes.
    delta: isize,
    bytes: usize,
}

impl KvBatch {
    pub fn get(
        &mut self,
        services: &mut dyn HostServices,
        key: &str,
    ) -> Result<Option<Vec<u8>>, String> {
        if let Some(write) = self.writes.get(key) {
            return Ok(write.clone());
        }
        let value = services.kv_get(key)?;
        self.existed.insert(key.to_owned(), value.is_some());
        Ok(value)
    }

    /// Whether `key` holds a value now, the writes so far included.
    fn present(&mut self, services: &mut dyn HostServices, key: &str) -> Result<bool, String> {
        if let Some(write) = self.writes.get(key) {
            return Ok(write.is_some());
        }
        if let Some(existed) = self.existed.get(key) {
            return Ok(*existed);
        }
        self.get(services, key).map(|v| v.is_some())
    }

    pub fn set(
        &mut self,
        services: &mut dyn HostServices,
        key: String,
        value: Option<Vec<u8>>,
    ) -> Result<(), Refused> {
        if key.len() > MAX_KEY {
            return Err(Refused::Limit(format!(
                "a key of {} bytes (at most {MAX_KEY})",
                key.len()
            )));
        }
        let size = value.as_ref().map_or(0, Vec::len);
        if size > MAX_VALUE {
            return Err(Refused::Limit(format!(
                "a value of {size} bytes (at most {MAX_VALUE})"
            )));
        }
        if self.bytes + key.len() + size > MAX_BATCH {
            return Err(Refused::Limit(format!(
                "key-value writes of more than {MAX_BATCH} bytes in one call"
            )));
        }
        let was = self.present(services, &key).map_err(Refused::Journal)?;
        let will = value.is_some();
        if will && !was {
            let stored = match self.stored {
                Some(n) => n,
                None => *self
                    .stored
                    .insert(services.kv_count().map_err(Refused::Journal)?),
            };
            if stored as isize + self.delta >= MAX_KEYS as isize {
                return Err(Refused::Limit(format!("more than {MAX_KEYS} keys")));
            }
        }
        self.delta += isize::from(will) - isize::from(was);
        self.bytes += key.len() + size;
        self.writes.insert(key, value);
        Ok(())
    }

    /// The writes to commit with the decision, in key order.
    pub fn into_writes(self) -> Vec<(String, Option<Vec<u8>>)> {
        self.writes.into_iter().collect()
    }
}
