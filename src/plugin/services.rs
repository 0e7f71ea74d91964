//! Where the host imports get their answers. The server answers from the
//! journal and the store ([`JournalServices`]); the runner answers from a
//! local file and fixtures ([`MemoryServices`]). Either way, everything is
//! already scoped to one tenant and one partner when the plugin asks.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::journal::{Direction, Journal, MessageId, MessageQuery, Timestamp};
use crate::store::{Blob, ContentHash, Store};

/// Which past messages a plugin asks for.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub direction: Option<Direction>,
    pub since: Option<i64>,
    pub limit: u32,
}

/// One past message, as a plugin sees it. Also the format of `--history`
/// fixtures for `ferry plugin run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub message_id: i64,
    pub direction: Direction,
    pub name: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub state: String,
    pub received_at: i64,
}

/// What the host imports need, for one call.
pub trait HostServices: Send + 'static {
    /// Reads the file under decision at `offset`; 0 at its end.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// The size of the file under decision, so that a read of its end
    /// costs the bytes that are there, not the bytes asked for.
    fn size(&mut self) -> io::Result<u64>;
    fn history(&mut self, query: &HistoryQuery) -> Result<Vec<HistoryEntry>, String>;
    fn param(&self, name: &str) -> Option<String>;
    fn kv_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String>;
    fn kv_count(&mut self) -> Result<usize, String>;
}

/// The server's answers: the partner's journal and the tenant's store.
pub struct JournalServices {
    journal: Arc<dyn Journal>,
    store: Store,
    hash: Option<ContentHash>,
    blob: Option<Blob>,
    tenant: String,
    partner: String,
    params: Arc<BTreeMap<String, String>>,
    /// For replays: only messages older than this one are history.
    before: Option<MessageId>,
}

impl JournalServices {
    pub fn new(
        journal: Arc<dyn Journal>,
        store: Store,
        hash: Option<ContentHash>,
        tenant: &str,
        partner: &str,
        params: Arc<BTreeMap<String, String>>,
    ) -> JournalServices {
        JournalServices {
            journal,
            store,
            hash,
            blob: None,
            tenant: tenant.to_owned(),
            partner: partner.to_owned(),
            params,
            before: None,
        }
    }

    /// History as it was when message `id` arrived.
    pub fn as_of(mut self, id: MessageId) -> JournalServices {
        self.before = Some(id);
        self
    }
}

impl JournalServices {
    /// The file's content, opened at the first read.
    fn blob(&mut self) -> io::Result<Option<&Blob>> {
        if self.blob.is_none() {
            let Some(hash) = self.hash else {
                return Ok(None);
            };
            let inline = self
                .journal
                .inline_content(&self.tenant, &hash)
                .map_err(io::Error::other)?;
            let blob = self
                .store
                .open_content(&hash, inline)
                .map_err(io::Error::other)?;
            self.blob = Some(blob);
        }
        Ok(self.blob.as_ref())
    }
}

impl HostServices for JournalServices {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Some(blob) = self.blob()? else {
            return Ok(0);
        };
        if offset >= blob.size() {
            return Ok(0);
        }
        blob.read_at(buf, offset)
    }

    fn size(&mut self) -> io::Result<u64> {
        Ok(self.blob()?.map_or(0, Blob::size))
    }

    fn history(&mut self, query: &HistoryQuery) -> Result<Vec<HistoryEntry>, String> {
        let messages = self
            .journal
            .messages(&MessageQuery {
                tenant: Some(self.tenant.clone()),
                partner: Some(self.partner.clone()),
                direction: query.direction,
                since: query.since.map(Timestamp),
                before: self.before,
                limit: Some(query.limit as usize),
                ..MessageQuery::default()
            })
            .map_err(|e| crate::error_chain(&e))?;
        Ok(messages
            .into_iter()
            .map(|m| HistoryEntry {
                message_id: m.id.0,
                direction: m.direction,
                name: m.name,
                size: m.size,
                sha256: m.hash.map(|h| h.to_string()),
                state: m.state.to_string(),
                received_at: m.created_at.0,
            })
            .collect())
    }

    fn param(&self, name: &str) -> Option<String> {
        self.params.get(name).cloned()
    }

    fn kv_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.journal
            .kv_get(&self.tenant, &self.partner, key)
            .map_err(|e| crate::error_chain(&e))
    }

    fn kv_count(&mut self) -> Result<usize, String> {
        self.journal
            .kv_count(&self.tenant, &self.partner)
            .map_err(|e| crate::error_chain(&e))
    }
}

/// The runner's answers: content, history and parameters given up front,
/// and a key-value store that lives as long as this value.
#[derive(Debug, Clone, Default)]
pub struct MemoryServices {
    pub content: Vec<u8>,
    pub history: Vec<HistoryEntry>,
    pub params: BTreeMap<String, String>,
    pub kv: BTreeMap<String, Vec<u8>>,
}

impl HostServices for MemoryServices {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = (offset as usize).min(self.content.len());
        let n = buf.len().min(self.content.len() - start);
        buf[..n].copy_from_slice(&self.content[start..start + n]);
        Ok(n)
    }

    fn size(&mut self) -> io::Result<u64> {
        Ok(self.content.len() as u64)
    }

    fn history(&mut self, query: &HistoryQuery) -> Result<Vec<HistoryEntry>, String> {
        let mut entries: Vec<HistoryEntry> = self
            .history
            .iter()
            .filter(|e| query.direction.is_none_or(|d| d == e.direction))
            .filter(|e| query.since.is_none_or(|s| e.received_at >= s))
            .cloned()
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.message_id));
        entries.truncate(query.limit as usize);
        Ok(entries)
    }

    fn param(&self, name: &str) -> Option<String> {
        self.params.get(name).cloned()
    }

    fn kv_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.kv.get(key).cloned())
    }

    fn kv_count(&mut self) -> Result<usize, String> {
        Ok(self.kv.len())
    }
}
