//! The nodes sharing the journal, and the jobs one of them runs at a time.
//! SQLite's implementation: an embedded journal has one process (the data
//! directory's pipeline lock sees to it), which is the whole cluster, so
//! both live in memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::*;

/// What the process knows of itself: its heartbeats and its job leases.
#[derive(Default)]
pub(super) struct Members {
    beats: HashMap<String, (NodeBeat, Timestamp, Instant)>,
    jobs: HashMap<String, (String, Instant)>,
    secrets: HashMap<String, Vec<u8>>,
}

impl Cluster for SqliteJournal {
    fn heartbeat(&self, beat: &NodeBeat) -> Result<()> {
        let mut members = lock(&self.cluster);
        members.beats.insert(
            beat.node.clone(),
            (beat.clone(), Timestamp::now(), Instant::now()),
        );
        Ok(())
    }

    fn nodes(&self) -> Result<Vec<NodeStatus>> {
        let members = lock(&self.cluster);
        let mut nodes: Vec<NodeStatus> = members
            .beats
            .values()
            .map(|(beat, at, when)| NodeStatus {
                node: beat.node.clone(),
                version: beat.version.clone(),
                started_at: beat.started_at,
                last_beat: *at,
                silent_for_ms: when.elapsed().as_millis() as i64,
                load: beat.load.clone(),
            })
            .collect();
        nodes.sort_by(|a, b| b.last_beat.cmp(&a.last_beat).then(a.node.cmp(&b.node)));
        Ok(nodes)
    }

    fn hold(&self, job: &str, owner: &str, term: Duration) -> Result<bool> {
        let mut members = lock(&self.cluster);
        let now = Instant::now();
        match members.jobs.get(job) {
            Some((holder, until)) if holder != owner && *until > now => Ok(false),
            _ => {
                members
                    .jobs
                    .insert(job.to_owned(), (owner.to_owned(), now + term));
                Ok(true)
            }
        }
    }

    fn let_go(&self, job: &str, owner: &str) -> Result<()> {
        let mut members = lock(&self.cluster);
        if members
            .jobs
            .get(job)
            .is_some_and(|(holder, _)| holder == owner)
        {
            members.jobs.remove(job);
        }
        Ok(())
    }

    fn secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(lock(&self.cluster).secrets.get(name).cloned())
    }

    fn offer_secret(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let mut members = lock(&self.cluster);
        Ok(members
            .secrets
            .entry(name.to_owned())
            .or_insert_with(|| sealed.to_vec())
            .clone())
    }
}

/// One node, nothing to share: the trait's answers say so.
impl Settings for SqliteJournal {}
