//! When each pull source was last polled, what came of it, and when the
//! next poll is due, as this node's poller last said: for the admin API's
//! partner list and the console. Nothing here is durable; a restart starts
//! empty and the first poll (at once) fills it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::journal::Timestamp;

/// One pull source's polling, as shown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PollStatus {
    /// When this node last polled it (absent before its first poll here).
    pub last_poll: Option<Timestamp>,
    /// What came of that poll: files taken, or why it failed.
    pub outcome: Option<String>,
    /// When this node looks at it next.
    pub next_poll: Timestamp,
}

/// Every source's [`PollStatus`], by (tenant, partner).
#[derive(Default)]
pub struct Polls {
    sources: Mutex<HashMap<(String, String), PollStatus>>,
}

fn at(time: SystemTime) -> Timestamp {
    Timestamp(
        time.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as i64,
    )
}

impl Polls {
    /// A poll ended with `outcome`; the next is due at `next`.
    pub fn polled(&self, tenant: &str, partner: &str, outcome: String, next: SystemTime) {
        self.set(tenant, partner, Some(outcome), next, true);
    }

    /// No poll now (another node holds the source, say: `outcome`); the
    /// next look is at `next`.
    pub fn skipped(&self, tenant: &str, partner: &str, outcome: String, next: SystemTime) {
        self.set(tenant, partner, Some(outcome), next, false);
    }

    fn set(
        &self,
        tenant: &str,
        partner: &str,
        outcome: Option<String>,
        next: SystemTime,
        now: bool,
    ) {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let entry = sources
            .entry((tenant.to_owned(), partner.to_owned()))
            .or_insert(PollStatus {
                last_poll: None,
                outcome: None,
                next_poll: at(next),
            });
        if now {
            entry.last_poll = Some(Timestamp::now());
        }
        entry.outcome = outcome;
        entry.next_poll = at(next);
    }

    /// The source stopped being polled here (removed from the configuration).
    pub fn forget(&self, tenant: &str, partner: &str) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(tenant.to_owned(), partner.to_owned()));
    }

    pub fn get(&self, tenant: &str, partner: &str) -> Option<PollStatus> {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(tenant.to_owned(), partner.to_owned()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_poll_and_a_skip_are_shown_until_forgotten() {
        let polls = Polls::default();
        assert!(polls.get("acme", "dave").is_none());
        let next = SystemTime::now() + Duration::from_secs(60);
        polls.skipped("acme", "dave", "another node polls it".into(), next);
        let shown = polls.get("acme", "dave").unwrap();
        assert!(shown.last_poll.is_none());
        assert_eq!(shown.next_poll, at(next));
        polls.polled("acme", "dave", "took 2 files".into(), next);
        let shown = polls.get("acme", "dave").unwrap();
        assert!(shown.last_poll.is_some());
        assert_eq!(shown.outcome.as_deref(), Some("took 2 files"));
        assert!(polls.get("globex", "dave").is_none());
        polls.forget("acme", "dave");
        assert!(polls.get("acme", "dave").is_none());
    }
}
