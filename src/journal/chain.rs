//! The hash chain over a tenant's events.
//!
//! `hash(n) = SHA-256("ferry-journal-v1" | prev_hash | tenant | seq | at |
//! kind | message | partner | detail)`, each field preceded by its length in
//! bytes (a big-endian u64; `docs/proofs.md` has the bytes), with
//! `prev_hash` of the first event all zeros. The tenant's head (last seq and
//! hash) is stored apart, so a removed tail is noticed too.

use std::fmt;

use sha2::{Digest, Sha256};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields an event's hash covers, as stored.
pub struct Link<'a> {
    pub tenant: &'a str,
    pub seq: u64,
    pub at: i64,
    pub kind: &'a str,
    pub message: Option<i64>,
    pub partner: Option<&'a str>,
    pub detail: &'a str,
}

pub fn hash(prev_hash: &str, link: &Link<'_>) -> String {
    let mut h = Sha256::new();
    let message = link.message.map(|m| m.to_string()).unwrap_or_default();
    for field in [
        "ferry-journal-v1",
        prev_hash,
        link.tenant,
        &link.seq.to_string(),
        &link.at.to_string(),
        link.kind,
        &message,
        link.partner.unwrap_or(""),
        link.detail,
    ] {
        // A length prefix makes the encoding unambiguous whatever the fields hold.
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The first break in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// Events are missing before `seq` (deleted, or the chain was cut).
    Missing { expected: u64, found: u64 },
    /// The event does not follow the one before it (reordered, or one before it was replaced).
    Broken { seq: u64 },
    /// The event's content does not match its hash (edited).
    Edited { seq: u64 },
    /// The stored head names a later event than the last one present (the tail was removed).
    Truncated { last: u64, head: u64 },
    /// The stored head's hash differs from the last event's.
    HeadMismatch { seq: u64 },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainProblem::Missing { expected, found } => write!(
                f,
                "event {expected} is missing (the next one present is {found}): events were deleted"
            ),
            ChainProblem::Broken { seq } => write!(
                f,
                "event {seq} does not follow event {}: events were reordered or replaced",
                seq - 1
            ),
            ChainProblem::Edited { seq } => {
                write!(
                    f,
                    "event {seq} was edited: its content does not match its hash"
                )
            }
            ChainProblem::Truncated { last, head } => write!(
                f,
                "the chain ends at event {last} but its head says {head}: the last events were deleted"
            ),
            ChainProblem::HeadMismatch { seq } => {
                write!(f, "the chain head does not match event {seq}")
            }
        }
    }
}

/// Walks events in seq order and reports the first break.
pub struct Verifier {
    expected: u64,
    prev: String,
    pub problem: Option<ChainProblem>,
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            expected: 1,
            prev: GENESIS.to_owned(),
            problem: None,
        }
    }

    /// Feeds the next stored event. Returns false once a problem was found.
    pub fn feed(&mut self, link: &Link<'_>, prev_hash: &str, stored_hash: &str) -> bool {
        if self.problem.is_some() {
            return false;
        }
        if link.seq != self.expected {
            self.problem = Some(ChainProblem::Missing {
                expected: self.expected,
                found: link.seq,
            });
            return false;
        }
        // Linkage first: a moved event still hashes correctly over its own
        // fields but no longer names its predecessor.
        if prev_hash != self.prev {
            self.problem = Some(ChainProblem::Broken { seq: link.seq });
            return false;
        }
        if hash(prev_hash, link) != stored_hash {
            self.problem = Some(ChainProblem::Edited { seq: link.seq });
            return false;
        }
        self.expected += 1;
        self.prev = stored_hash.to_owned();
        true
    }

    /// Compares the end of the walk with the stored head; returns the events seen.
    pub fn finish(&mut self, head: Option<(u64, String)>) -> u64 {
        let last = self.expected - 1;
        if self.problem.is_none() {
            match head {
                Some((head_seq, _)) if head_seq > last => {
                    self.problem = Some(ChainProblem::Truncated {
                        last,
                        head: head_seq,
                    });
                }
                Some((head_seq, head_hash)) if head_seq == last && head_hash != self.prev => {
                    self.problem = Some(ChainProblem::HeadMismatch { seq: last });
                }
                Some((head_seq, _)) if head_seq < last => {
                    self.problem = Some(ChainProblem::HeadMismatch { seq: head_seq });
                }
                None if last > 0 => self.problem = Some(ChainProblem::HeadMismatch { seq: last }),
                _ => {}
            }
        }
        last
    }

    pub fn head(&self) -> &str {
        &self.prev
    }
}

/// The result of recomputing one tenant's chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    pub tenant: String,
    pub events: u64,
    pub head: String,
    /// The first break found, if any.
    pub problem: Option<ChainProblem>,
}
