//! The files a partner keeps and checks offline: a proof of events about
//! a file, a checkpoint, a consistency proof between two checkpoints; and
//! their verification, which needs nothing but the file and the journal's
//! public key (`docs/proofs.md` specifies both for other languages).

use serde::{Deserialize, Serialize};

use crate::journal::merkle::{self, Hash};
use crate::journal::{Checkpoint, RawEvent};
use crate::journal::{Link, chain_hash};
use crate::secrets::journal_key;

pub const PROOF_FORMAT: &str = "ferry-proof-v1";
pub const CONSISTENCY_FORMAT: &str = "ferry-consistency-v1";

/// What a proof is about: a file of a partner's mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subject {
    pub partner: String,
    pub name: String,
    pub sha256: Option<String>,
}

/// One event and the path from its leaf to the checkpoint's root.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvenEvent {
    pub event: RawEvent,
    pub leaf_index: u64,
    pub path: Vec<String>,
}

/// `/receipts/proofs/NAME.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proof {
    pub format: String,
    pub checkpoint: Checkpoint,
    pub subject: Subject,
    pub events: Vec<ProvenEvent>,
}

/// That the journal of `to` extends the journal of `from`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Consistency {
    pub format: String,
    pub from: Checkpoint,
    pub to: Checkpoint,
    pub path: Vec<String>,
}

pub fn hex_hash(text: &str) -> Result<Hash, String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| format!("`{text}` is not a SHA-256 in hex"))?;
    Ok(out)
}

/// A proof's path of hashes, each in hex.
fn hex_path(path: &[String]) -> Result<Vec<Hash>, String> {
    path.iter().map(|h| hex_hash(h)).collect()
}

/// Checks a checkpoint's key and signature.
pub fn verify_checkpoint(c: &Checkpoint, public: &[u8; 32]) -> Result<(), String> {
    use base64::Engine as _;
    if c.key_id != journal_key::key_id(public) {
        return Err(format!(
            "the checkpoint was signed by key {}, not by this key ({})",
            c.key_id,
            journal_key::key_id(public)
        ));
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&c.signature)
        .map_err(|_| "the checkpoint's signature is not base64".to_owned())?;
    let text = Checkpoint::signed_text(&c.tenant, c.size, &c.root, c.time);
    if !journal_key::verify(public, text.as_bytes(), &signature) {
        return Err(format!(
            "the signature of {}'s checkpoint of {} events does not verify: it was altered or is not this key's",
            c.tenant, c.size
        ));
    }
    hex_hash(&c.root)?;
    Ok(())
}

/// Verifies every part of a proof; answers one sentence per event saying
/// what it proves.
pub fn verify_proof(proof: &Proof, public: &[u8; 32]) -> Result<Vec<String>, String> {
    if proof.format != PROOF_FORMAT {
        return Err(format!(
            "not a {PROOF_FORMAT} file (format `{}`)",
            proof.format
        ));
    }
    let c = &proof.checkpoint;
    verify_checkpoint(c, public)?;
    let root = hex_hash(&c.root)?;
    if proof.events.is_empty() {
        return Err("the proof holds no event".into());
    }
    let mut said = Vec::new();
    for proven in &proof.events {
        let e = &proven.event;
        let seq = e.seq;
        if e.tenant != c.tenant {
            return Err(format!(
                "event {seq} is of tenant {}, the checkpoint of {}",
                e.tenant, c.tenant
            ));
        }
        let link = Link {
            tenant: &e.tenant,
            seq,
            at: e.at,
            kind: &e.kind,
            message: e.message,
            partner: e.partner.as_deref(),
            detail: &e.detail,
        };
        if chain_hash(&e.prev_hash, &link) != e.hash {
            return Err(format!(
                "event {seq}: its hash does not match its fields (altered)"
            ));
        }
        if seq == 0 || proven.leaf_index != seq - 1 || proven.leaf_index >= c.size {
            return Err(format!(
                "event {seq}: leaf {} is not its place in a journal of {} events",
                proven.leaf_index, c.size
            ));
        }
        let path = hex_path(&proven.path)?;
        let leaf = merkle::leaf_hash(&hex_hash(&e.hash)?);
        if !merkle::verify_inclusion(proven.leaf_index, c.size, &leaf, &path, &root) {
            return Err(format!(
                "event {seq} is not in {}'s journal of {} events (its inclusion proof fails)",
                c.tenant, c.size
            ));
        }
        let by = e
            .partner
            .as_deref()
            .map(|p| format!(" by {p}"))
            .unwrap_or_default();
        said.push(format!(
            "event '{}' (seq {seq}) of {}{by} at {} is in {}'s journal of {}, signed at {}",
            e.kind,
            proof.subject.name,
            time(e.at),
            c.tenant,
            events(c.size),
            time(c.time),
        ));
    }
    Ok(said)
}

/// Verifies that `to` extends `from`: both signed, and the path proves it.
pub fn verify_consistency(proof: &Consistency, public: &[u8; 32]) -> Result<String, String> {
    if proof.format != CONSISTENCY_FORMAT {
        return Err(format!(
            "not a {CONSISTENCY_FORMAT} file (format `{}`)",
            proof.format
        ));
    }
    let (from, to) = (&proof.from, &proof.to);
    verify_checkpoint(from, public)?;
    verify_checkpoint(to, public)?;
    if from.tenant != to.tenant {
        return Err(format!(
            "the checkpoints are of {} and {}",
            from.tenant, to.tenant
        ));
    }
    let path = hex_path(&proof.path)?;
    let (r1, r2) = (hex_hash(&from.root)?, hex_hash(&to.root)?);
    if !merkle::verify_consistency(from.size, to.size, &r1, &r2, &path) {
        return Err(format!(
            "{}'s journal of {} events does not extend its journal of {} events: events were rewritten or removed",
            to.tenant, to.size, from.size
        ));
    }
    Ok(format!(
        "{}'s journal of {} (signed at {}) extends its journal of {} (signed at {}): nothing was rewritten",
        to.tenant,
        events(to.size),
        time(to.time),
        events(from.size),
        time(from.time)
    ))
}

/// UTC, ISO 8601, milliseconds shown only when not zero (as
/// `tools/verify_proof.py` prints them: both verifiers say the same).
fn time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    if ms % 1000 == 0 {
        humantime::format_rfc3339_seconds(t).to_string()
    } else {
        humantime::format_rfc3339_millis(t).to_string()
    }
}

/// `1 event`, `1,234 events`.
fn events(n: u64) -> String {
    format!("{} event{}", thousands(n), if n == 1 { "" } else { "s" })
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn large_counts_are_grouped() {
        assert_eq!(super::thousands(1234), "1,234");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_000_000), "1,000,000");
        assert_eq!(super::events(1), "1 event");
        assert_eq!(super::time(1_796_650_356_000), "2026-12-07T13:32:36Z");
        assert_eq!(super::time(1_796_650_356_425), "2026-12-07T13:32:36.425Z");
    }
}
