//! What each tenant and each of its partners uses of its limits: the bytes
//! kept against a storage quota, and bandwidth through token buckets.
//!
//! The meters live for the whole process, keyed by tenant name, outside the
//! [`Tenant`](crate::tenant::Tenant) values a reload rebuilds: a reload changes the
//! rates and quotas, never the counts or the buckets' state, and an upload
//! that started before it still meets the same bucket as one started after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config;
use crate::journal::{Journal, JournalError, Timestamp};

/// How much a bucket holds when full, in seconds of its rate: a transfer
/// that paused may send this much at once, and no more.
const BURST: f64 = 0.1;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A token bucket in bytes. Takers may overdraw it; they then wait until it
/// is back above zero, so a large write is paced as exactly as a small one.
#[derive(Debug)]
pub struct Bucket {
    state: Mutex<BucketState>,
    /// Whether it has a rate: most buckets have none, and their takers
    /// should not queue on a lock for nothing.
    limited: std::sync::atomic::AtomicBool,
    /// Seconds of its rate it holds when full.
    burst: f64,
}

/// Seconds of its `plugin_cpu` share a tenant may spend at once: at 25%,
/// one second of CPU, so that an occasional heavy call is not held back.
const CPU_BURST: f64 = 4.0;

#[derive(Debug)]
struct BucketState {
    /// Bytes per second; `None` lets everything through.
    rate: Option<u64>,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A bucket without a rate, holding `burst` seconds of one once set.
    fn new(burst: f64) -> Bucket {
        Bucket {
            state: Mutex::new(BucketState {
                rate: None,
                tokens: 0.0,
                at: Instant::now(),
            }),
            limited: std::sync::atomic::AtomicBool::new(false),
            burst,
        }
    }

    fn set_rate(&self, rate: Option<u64>) {
        let mut state = lock(&self.state);
        self.limited
            .store(rate.is_some(), std::sync::atomic::Ordering::Relaxed);
        if state.rate != rate {
            let full = rate.map_or(0.0, |r| r as f64 * self.burst);
            // A first rate starts full: it is a new allowance.
            state.tokens = if state.rate.is_none() {
                full
            } else {
                state.tokens.min(full)
            };
            state.rate = rate;
        }
    }

    /// Takes `n` bytes and returns how long the taker must wait before it
    /// moves them (or the next ones).
    fn take(&self, n: usize) -> Duration {
        if !self.limited.load(std::sync::atomic::Ordering::Relaxed) {
            return Duration::ZERO;
        }
        let mut state = lock(&self.state);
        let Some(rate) = state.rate else {
            return Duration::ZERO;
        };
        let rate = rate as f64;
        let now = Instant::now();
        let refill = now.duration_since(state.at).as_secs_f64() * rate;
        state.tokens = (state.tokens + refill).min(rate * self.burst);
        state.at = now;
        state.tokens -= n as f64;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / rate)
        }
    }
}

/// The buckets one transfer direction of one session draws from: its
/// tenant's and its partner's.
#[derive(Debug, Clone)]
pub struct Throttle {
    buckets: [Arc<Bucket>; 2],
}

impl Throttle {
    fn wait(&self, n: usize) -> Duration {
        let [tenant, partner] = &self.buckets;
        tenant.take(n).max(partner.take(n))
    }

    /// Accounts for `n` bytes moved, sleeping the task as the rates demand.
    pub async fn pace(&self, n: usize) {
        let wait = self.wait(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Accounts for `n` bytes moved, sleeping the thread as the rates demand.
    pub fn pace_blocking(&self, n: usize) {
        let wait = self.wait(n);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// Which way bytes go, seen from the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Into the tenant: uploads, pulls.
    Up,
    /// Out of it: downloads, pushes.
    Down,
}

/// The meters of every tenant of the process.
#[derive(Debug, Default)]
pub struct Meters {
    tenants: Mutex<HashMap<String, Arc<TenantMeter>>>,
    /// The nodes sharing the journal that are alive (0 until known: one):
    /// each node moves its share of a rate, the rate divided by them.
    share: std::sync::atomic::AtomicU32,
}

impl Meters {
    /// Sets how many nodes share the rates; returns whether that changed
    /// (the caller then configures every tenant again).
    pub fn set_share(&self, nodes: u32) -> bool {
        self.share
            .swap(nodes.max(1), std::sync::atomic::Ordering::Relaxed)
            .max(1)
            != nodes.max(1)
    }

    /// This node's share of `rate`.
    fn shared(&self, rate: Option<u64>) -> Option<u64> {
        let nodes = u64::from(self.share.load(std::sync::atomic::Ordering::Relaxed).max(1));
        rate.map(|rate| (rate / nodes).max(1))
    }

    /// Drops the meter of a purged tenant: if it comes back, it counts anew.
    pub fn forget(&self, tenant: &str) {
        lock(&self.tenants).remove(tenant);
    }

    /// The meter of `tenant`, with the rates of its configuration applied
    /// (this node's share of them).
    pub fn configure(&self, tenant: &config::Tenant) -> Arc<TenantMeter> {
        let meter = Arc::clone(
            lock(&self.tenants)
                .entry(tenant.name.clone())
                .or_insert_with(|| {
                    Arc::new(TenantMeter {
                        tenant: Buckets::unlimited(),
                        partners: Mutex::default(),
                        stored: Mutex::default(),
                        connectors: Mutex::new(0),
                        handles: Mutex::new(0),
                        cpu: Bucket::new(CPU_BURST),
                    })
                }),
        );
        // Uploads without a quota are not counted: count from the journal
        // again at next use, in case this configuration brings one.
        meter.recount();
        meter
            .cpu
            .set_rate(Some((tenant.plugin_cpu * 1e6).max(1.0) as u64));
        meter
            .tenant
            .up
            .set_rate(self.shared(tenant.usage.upload_rate));
        meter
            .tenant
            .down
            .set_rate(self.shared(tenant.usage.download_rate));
        let mut partners = lock(&meter.partners);
        for (name, partner) in &tenant.partners {
            let buckets = partners
                .entry(name.clone())
                .or_insert_with(Buckets::unlimited);
            buckets.up.set_rate(self.shared(partner.usage.upload_rate));
            buckets
                .down
                .set_rate(self.shared(partner.usage.download_rate));
        }
        drop(partners);
        meter
    }
}

/// A partner's buckets, one per way.
#[derive(Debug, Clone)]
struct Buckets {
    up: Arc<Bucket>,
    down: Arc<Bucket>,
}

impl Buckets {
    fn unlimited() -> Buckets {
        Buckets {
            up: Arc::new(Bucket::new(BURST)),
            down: Arc::new(Bucket::new(BURST)),
        }
    }

    fn way(&self, way: Way) -> &Arc<Bucket> {
        match way {
            Way::Up => &self.up,
            Way::Down => &self.down,
        }
    }
}

/// One tenant's meters.
#[derive(Debug)]
pub struct TenantMeter {
    tenant: Buckets,
    partners: Mutex<HashMap<String, Buckets>>,
    /// Bytes kept, read from the journal on first use and counted on from
    /// there; `None` until then, and after retention removed files.
    stored: Mutex<Option<Stored>>,
    /// Pushes and pulls running now.
    connectors: Mutex<u32>,
    /// SFTP handles open now, of all the tenant's sessions.
    handles: Mutex<u32>,
    /// CPU time of plugin steps, in microseconds, at `plugin_cpu` of a core.
    cpu: Bucket,
}

/// The right to run one push or pull of a tenant, within its
/// `max_connector_transfers`; given back when dropped.
#[derive(Debug)]
pub struct ConnectorSlot {
    meter: Option<Arc<TenantMeter>>,
}

impl Drop for ConnectorSlot {
    fn drop(&mut self) {
        if let Some(meter) = &self.meter {
            let mut running = lock(&meter.connectors);
            *running = running.saturating_sub(1);
        }
    }
}

/// One open SFTP handle of a tenant, within `limits.max_open_handles`;
/// given back when dropped.
#[derive(Debug)]
pub struct HandleSlot {
    meter: Arc<TenantMeter>,
}

impl Drop for HandleSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.meter.handles);
        *open = open.saturating_sub(1);
    }
}

#[derive(Debug, Default)]
struct Stored {
    total: u64,
    by_partner: HashMap<String, u64>,
}

/// What is left of the tightest quota over an upload.
#[derive(Debug, Clone)]
pub struct Room {
    pub bytes: u64,
    /// The error an upload larger than `bytes` fails with.
    pub exceeded: QuotaExceeded,
}

/// A quota an upload would exceed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the storage quota of {whose} ({quota} bytes) is used up: {used} bytes are kept")]
pub struct QuotaExceeded {
    pub whose: String,
    pub quota: u64,
    pub used: u64,
}

impl TenantMeter {
    /// Whether the tenant's plugin steps may run now: not while the CPU
    /// time they used is more than its `plugin_cpu` share has earned.
    pub fn cpu_ready(&self) -> bool {
        self.cpu.take(0).is_zero()
    }

    /// Counts CPU time a plugin step of the tenant used.
    pub fn charge_cpu(&self, used: Duration) {
        self.cpu
            .take(used.as_micros().min(usize::MAX as u128) as usize);
    }

    /// A slot for one more push or pull, unless `limit` of them run already.
    pub fn connector_slot(self: &Arc<Self>, limit: Option<u32>) -> Option<ConnectorSlot> {
        let Some(limit) = limit else {
            return Some(ConnectorSlot { meter: None });
        };
        let mut running = lock(&self.connectors);
        if *running >= limit {
            return None;
        }
        *running += 1;
        Some(ConnectorSlot {
            meter: Some(Arc::clone(self)),
        })
    }

    /// A slot for one more open SFTP handle, unless `limit` are open.
    pub fn handle_slot(self: &Arc<Self>, limit: u32) -> Option<HandleSlot> {
        let mut open = lock(&self.handles);
        if *open >= limit {
            return None;
        }
        *open += 1;
        Some(HandleSlot {
            meter: Arc::clone(self),
        })
    }

    /// The buckets a session of `partner` draws from, one way.
    pub fn throttle(&self, partner: &str, way: Way) -> Throttle {
        let partner = lock(&self.partners)
            .get(partner)
            .map(|p| Arc::clone(p.way(way)))
            // Every configured partner has buckets (`Meters::configure` runs
            // at each reload); others cannot log in, but need not panic.
            .unwrap_or_else(|| Arc::new(Bucket::new(BURST)));
        Throttle {
            buckets: [Arc::clone(self.tenant.way(way)), partner],
        }
    }

    fn stored<'a>(
        &'a self,
        journal: &dyn Journal,
        tenant: &config::Tenant,
    ) -> Result<MutexGuard<'a, Option<Stored>>, JournalError> {
        let mut stored = lock(&self.stored);
        if stored.is_none() {
            let since = tenant
                .retention_days
                .map(|days| Timestamp(Timestamp::now().0 - i64::from(days) * 86_400_000));
            let mut counted = Stored::default();
            for (partner, bytes) in journal.received_bytes(&tenant.name, since)? {
                counted.total += bytes;
                counted.by_partner.insert(partner, bytes);
            }
            *stored = Some(counted);
        }
        Ok(stored)
    }

    /// How many more bytes `partner` may store now, and under whose quota,
    /// or `None` when neither it nor its tenant has one.
    pub fn room(
        &self,
        journal: &dyn Journal,
        tenant: &config::Tenant,
        partner: &str,
    ) -> Result<Option<Room>, QuotaError> {
        let quotas = quotas(tenant, partner);
        if quotas.is_empty() {
            return Ok(None);
        }
        let guard = self.stored(journal, tenant)?;
        let stored = guard.as_ref().expect("loaded above");
        let mut room: Option<Room> = None;
        for (whose, quota, used) in quotas_used(&quotas, stored, partner) {
            if used >= quota {
                return Err(QuotaError::Exceeded(QuotaExceeded { whose, quota, used }));
            }
            if room.as_ref().is_none_or(|r| quota - used < r.bytes) {
                room = Some(Room {
                    bytes: quota - used,
                    exceeded: QuotaExceeded { whose, quota, used },
                });
            }
        }
        Ok(room)
    }

    /// The quota that binds `partner` first (its own or its tenant's:
    /// the one with the least room) and the bytes used of it, or `None`
    /// when neither has one: what a partner's `df` shows.
    pub fn usage(
        &self,
        journal: &dyn Journal,
        tenant: &config::Tenant,
        partner: &str,
    ) -> Result<Option<(u64, u64)>, QuotaError> {
        let quotas = quotas(tenant, partner);
        if quotas.is_empty() {
            return Ok(None);
        }
        let guard = self.stored(journal, tenant)?;
        let stored = guard.as_ref().expect("loaded above");
        Ok(quotas_used(&quotas, stored, partner)
            .min_by_key(|(_, quota, used)| quota.saturating_sub(*used))
            .map(|(_, quota, used)| (quota, used)))
    }

    /// Counts `size` more bytes kept for `partner`, unless that exceeds a
    /// quota: the last check, at commit, so that uploads running side by
    /// side cannot together go past it.
    pub fn reserve(
        &self,
        journal: &dyn Journal,
        tenant: &config::Tenant,
        partner: &str,
        size: u64,
    ) -> Result<(), QuotaError> {
        let quotas = quotas(tenant, partner);
        if quotas.is_empty() {
            // Not counted: a reload that brings a quota counts anew.
            return Ok(());
        }
        let mut guard = self.stored(journal, tenant)?;
        let stored = guard.as_mut().expect("loaded above");
        for (whose, quota, used) in quotas_used(&quotas, stored, partner) {
            if used + size > quota {
                return Err(QuotaError::Exceeded(QuotaExceeded { whose, quota, used }));
            }
        }
        stored.total += size;
        *stored.by_partner.entry(partner.to_owned()).or_default() += size;
        Ok(())
    }

    /// Counts `delta` more (or fewer) bytes of `partner`'s interrupted
    /// uploads kept to resume, when the count is loaded (else the journal
    /// read that loads it includes them).
    pub fn kept(&self, partner: &str, delta: i64) {
        if let Some(stored) = lock(&self.stored).as_mut() {
            let apply = |n: &mut u64| {
                *n = if delta >= 0 {
                    n.saturating_add(delta as u64)
                } else {
                    n.saturating_sub(delta.unsigned_abs())
                }
            };
            apply(&mut stored.total);
            apply(stored.by_partner.entry(partner.to_owned()).or_default());
        }
    }

    /// Takes back a [`TenantMeter::reserve`] whose commit failed.
    pub fn release(&self, partner: &str, size: u64) {
        if let Some(stored) = lock(&self.stored).as_mut() {
            stored.total = stored.total.saturating_sub(size);
            if let Some(bytes) = stored.by_partner.get_mut(partner) {
                *bytes = bytes.saturating_sub(size);
            }
        }
    }

    /// Counts again from the journal at next use: retention removed files.
    pub fn recount(&self) {
        *lock(&self.stored) = None;
    }
}

/// The quotas that apply to an upload of `partner`: (whose, bytes, is the tenant's).
/// Whether an upload of `partner` is bound by a quota (its own or its
/// tenant's), and so must read the journal's usage before it begins.
pub fn has_quota(tenant: &config::Tenant, partner: &str) -> bool {
    !quotas(tenant, partner).is_empty()
}

fn quotas(tenant: &config::Tenant, partner: &str) -> Vec<(String, u64, bool)> {
    let mut quotas = Vec::new();
    if let Some(quota) = tenant.usage.quota {
        quotas.push((format!("tenant `{}`", tenant.name), quota, true));
    }
    if let Some(quota) = tenant.partners.get(partner).and_then(|p| p.usage.quota) {
        quotas.push((format!("partner `{partner}`"), quota, false));
    }
    quotas
}

fn quotas_used<'a>(
    quotas: &'a [(String, u64, bool)],
    stored: &'a Stored,
    partner: &'a str,
) -> impl Iterator<Item = (String, u64, u64)> + 'a {
    quotas.iter().map(move |(whose, quota, of_tenant)| {
        let used = if *of_tenant {
            stored.total
        } else {
            stored.by_partner.get(partner).copied().unwrap_or(0)
        };
        (whose.clone(), *quota, used)
    })
}

#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error(transparent)]
    Exceeded(QuotaExceeded),
    #[error("cannot count the bytes kept")]
    Journal(#[from] JournalError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_paces_to_its_rate() {
        let bucket = Bucket::new(BURST);
        bucket.set_rate(Some(1_000_000));
        // The burst (100 ms) goes through at once, then the debt grows.
        assert_eq!(bucket.take(100_000), Duration::ZERO);
        let wait = bucket.take(500_000);
        assert!(
            wait > Duration::from_millis(450) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        let unlimited = Bucket::new(BURST);
        assert_eq!(unlimited.take(usize::MAX), Duration::ZERO);
    }
}
