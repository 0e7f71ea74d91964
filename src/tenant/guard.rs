//! Who has failed to log in too often: one guard for the whole process,
//! shared by every listener (SFTP, FTP, FTPS), so that spreading guesses
//! over listeners earns nothing.
//!
//! Failures are counted per (tenant, address): an address that keeps
//! failing at acme's logins is banned from acme's logins only, so one
//! tenant's partners behind a shared NAT cannot lock out another tenant's.
//! IPv6 addresses are grouped by their /64, the block one host is usually
//! given, so that a host cannot spray guesses from its own block. Failures
//! aimed at no known tenant count under the strangers' key (`None`).
//!
//! A login (`alice@acme`) that fails from many addresses is never locked:
//! anyone could then keep a partner out for ever with a few wrong
//! passwords. Instead every attempt at it waits [`SLOW_DOWN`] before its
//! answer, right or wrong, while it is under attack: a guesser gets a few
//! tries a second, the partner still gets in.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::config::Limits;
use crate::journal::{EventKind, Journal, Timestamp, Topic};

/// How long failures count towards a ban.
const WINDOW: Duration = Duration::from_secs(600);

/// How long an attempt at a login under attack waits before its answer.
pub const SLOW_DOWN: Duration = Duration::from_secs(1);

/// The part of an address failures are counted by: an IPv4 address, or
/// the /64 of an IPv6 one (an IPv4-mapped IPv6 address is its IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(IpAddr);

impl Origin {
    pub fn of(ip: IpAddr) -> Origin {
        match ip {
            IpAddr::V4(_) => Origin(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Origin(IpAddr::V4(v4)),
                None => {
                    let mut segments = v6.segments();
                    segments[4..].fill(0);
                    Origin(IpAddr::V6(Ipv6Addr::from(segments)))
                }
            },
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

impl std::str::FromStr for Origin {
    type Err = std::net::AddrParseError;

    /// `192.0.2.7`, `2001:db8::1` or `2001:db8::/64`.
    fn from_str(text: &str) -> Result<Origin, Self::Err> {
        let text = text.strip_suffix("/64").unwrap_or(text);
        Ok(Origin::of(text.parse()?))
    }
}

#[derive(Default)]
struct Record {
    recent: Vec<Instant>,
    banned_until: Option<Instant>,
    /// When the ban began, for the admin API.
    banned_at: Option<Timestamp>,
}

/// A ban in force, as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ban {
    /// The tenant whose logins the address may not try; `None` for
    /// failures at unknown tenants.
    pub tenant: Option<String>,
    pub address: String,
    pub since: Timestamp,
    pub seconds_left: u64,
}

type Key = (Option<String>, Origin);

/// Failed logins and bans; see the module's documentation.
#[derive(Default)]
pub struct Guard {
    origins: Mutex<HashMap<Key, Record>>,
    /// Recent failures by `login@tenant`: past the limit, a login is slowed.
    logins: Mutex<HashMap<String, Record>>,
}

/// What [`Guard::failed`] decided.
pub struct Failure {
    /// The address is now banned from the tenant's logins.
    pub banned: bool,
}

impl Guard {
    /// Whether `ip` is banned from the logins of `tenant` (`None`: of
    /// unknown tenants, what an unbound listener knows before a login).
    pub fn banned(&self, tenant: Option<&str>, ip: IpAddr) -> bool {
        let now = Instant::now();
        let origins = lock(&self.origins);
        origins
            .get(&(tenant.map(str::to_owned), Origin::of(ip)))
            .and_then(|r| r.banned_until)
            .is_some_and(|until| until > now)
    }

    /// How long an attempt at `login` (`login@tenant`) must wait before its
    /// answer: [`SLOW_DOWN`] while it has failed `limits.login_failures`
    /// times or more within the window, from any addresses; else nothing.
    pub fn slow_down(&self, login: &str, limits: &Limits) -> Duration {
        let now = Instant::now();
        let logins = lock(&self.logins);
        let recent = logins.get(login).map_or(0, |r| {
            r.recent
                .iter()
                .filter(|t| now.duration_since(**t) < WINDOW)
                .count()
        });
        if recent as u32 >= limits.login_failures {
            SLOW_DOWN
        } else {
            Duration::ZERO
        }
    }

    /// Records a failed login of `login` (the key of [`login_key`]) from
    /// `ip`, aimed at `tenant` (if known, else `None`), journals it there,
    /// and bans the address from that tenant's logins after
    /// `limits.login_failures` failures within ten minutes.
    pub fn failed(
        &self,
        ip: IpAddr,
        tenant: Option<&str>,
        login: &str,
        journal: &dyn Journal,
        limits: &Limits,
        protocol: &str,
    ) -> Failure {
        let now = Instant::now();
        let origin = Origin::of(ip);
        let banned = {
            let mut origins = lock(&self.origins);
            prune(&mut origins, now);
            let record = origins
                .entry((tenant.map(str::to_owned), origin))
                .or_default();
            record.recent.retain(|t| now.duration_since(*t) < WINDOW);
            record.recent.push(now);
            if record.recent.len() as u32 >= limits.login_failures {
                record.recent.clear();
                record.banned_until = Some(now + limits.ban);
                record.banned_at = Some(Timestamp::now());
                true
            } else {
                false
            }
        };
        {
            let mut logins = lock(&self.logins);
            prune(&mut logins, now);
            let record = logins.entry(login.to_owned()).or_default();
            record.recent.retain(|t| now.duration_since(*t) < WINDOW);
            // Enough to tell an attack; a guesser's flood must not grow it.
            if record.recent.len() < 1024 {
                record.recent.push(now);
            }
        }
        tracing::warn!(%ip, login, protocol, banned, "login failed");
        if banned {
            // The other nodes of the journal ban the address too.
            let told = format!(
                "ban {} {} {origin}",
                limits.ban.as_secs(),
                tenant.unwrap_or("-")
            );
            if let Err(e) = journal.tell(Topic::Bans, &told) {
                tracing::warn!(error = %crate::error_chain(&e), "the other nodes were not told of a ban");
            }
        }
        if let Some(tenant) = tenant {
            let mut events = vec![(
                EventKind::LoginFailed,
                json!({ "address": ip.to_string(), "user": login, "protocol": protocol }),
            )];
            if banned {
                events.push((
                    EventKind::Banned,
                    json!({ "address": origin.to_string(), "seconds": limits.ban.as_secs(), "protocol": protocol }),
                ));
            }
            for (kind, detail) in events {
                if let Err(e) = journal.record_event(tenant, kind, detail) {
                    tracing::error!(error = %crate::error_chain(&e), "cannot journal a failed login");
                }
            }
        }
        Failure { banned }
    }

    /// The bans in force of `tenant` (every one with `None`, strangers'
    /// included), oldest first.
    pub fn bans(&self, tenant: Option<&str>) -> Vec<Ban> {
        let now = Instant::now();
        let origins = lock(&self.origins);
        let mut bans: Vec<Ban> = origins
            .iter()
            .filter(|((t, _), _)| tenant.is_none() || t.as_deref() == tenant)
            .filter_map(|((t, origin), record)| {
                let until = record.banned_until.filter(|until| *until > now)?;
                Some(Ban {
                    tenant: t.clone(),
                    address: origin.to_string(),
                    since: record.banned_at.unwrap_or(Timestamp(0)),
                    seconds_left: until.duration_since(now).as_secs().max(1),
                })
            })
            .collect();
        bans.sort_by_key(|b| b.since);
        bans
    }

    /// Lifts the bans of `origin` in `tenant` (in every tenant, and the
    /// strangers' one, with `None`), with their failure counts. Returns how
    /// many were lifted.
    pub fn lift(&self, tenant: Option<&str>, origin: Origin) -> usize {
        let now = Instant::now();
        let mut origins = lock(&self.origins);
        let mut lifted = 0;
        origins.retain(|(t, o), record| {
            let matches = *o == origin && (tenant.is_none() || t.as_deref() == tenant);
            if matches && record.banned_until.is_some_and(|until| until > now) {
                lifted += 1;
            }
            !matches
        });
        lifted
    }

    /// Lifts bans as [`Guard::lift`] does, and tells the other nodes of the
    /// journal to lift them too.
    pub fn lift_everywhere(
        &self,
        tenant: Option<&str>,
        origin: Origin,
        journal: &dyn Journal,
    ) -> usize {
        let lifted = self.lift(tenant, origin);
        let told = format!("lift {} {origin}", tenant.unwrap_or("*"));
        if let Err(e) = journal.tell(Topic::Bans, &told) {
            tracing::warn!(error = %crate::error_chain(&e), "the other nodes were not told of a lifted ban");
        }
        lifted
    }

    /// Applies what another node told of its bans (`Topic::Bans`): a ban it
    /// imposed, or bans it lifted. Telling it again changes nothing.
    pub fn heard(&self, told: &str) {
        let words: Vec<&str> = told.split(' ').collect();
        let tenant = |word: &str| (word != "-" && word != "*").then(|| word.to_owned());
        match words[..] {
            ["ban", seconds, who, origin] => {
                let (Ok(seconds), Ok(origin)) = (seconds.parse::<u64>(), origin.parse::<Origin>())
                else {
                    return;
                };
                let now = Instant::now();
                let mut origins = lock(&self.origins);
                let record = origins.entry((tenant(who), origin)).or_default();
                let until = now + Duration::from_secs(seconds);
                if record.banned_until.is_none_or(|current| current < until) {
                    record.banned_until = Some(until);
                    record.banned_at.get_or_insert_with(Timestamp::now);
                }
            }
            ["lift", who, origin] => {
                if let Ok(origin) = origin.parse::<Origin>() {
                    let only = (who != "*").then(|| tenant(who)).flatten();
                    self.lift(only.as_deref(), origin);
                }
            }
            _ => {}
        }
    }

    /// Forgets a removed tenant's bans.
    pub fn forget(&self, tenant: &str) {
        lock(&self.origins).retain(|(t, _), _| t.as_deref() != Some(tenant));
        let suffix = format!("@{tenant}");
        lock(&self.logins).retain(|login, _| !login.ends_with(&suffix));
    }
}

/// Records whose failures left the window and whose ban ended are dropped
/// as others come: guessers choose the keys, so the maps must not grow with
/// every name they try.
fn prune<K>(map: &mut HashMap<K, Record>, now: Instant) {
    map.retain(|_, r| {
        r.recent
            .last()
            .is_some_and(|t| now.duration_since(*t) < WINDOW)
            || r.banned_until.is_some_and(|until| until > now)
    });
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The key of a login in the guard: `alice@acme` whether it was typed as
/// `alice` on a listener bound to acme or as `alice@acme`; as typed when
/// the tenant is unknown.
pub fn login_key(user: &str, tenant: Option<&str>) -> String {
    let login = user.rsplit_once('@').map_or(user, |(login, _)| login);
    match tenant {
        Some(tenant) => format!("{login}@{tenant}"),
        None => user.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_counted_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Origin::of(a), Origin::of(b));
        assert_ne!(Origin::of(a), Origin::of(c));
        assert_eq!(Origin::of(a).to_string(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(Origin::of(mapped).to_string(), "192.0.2.7");
        assert_eq!(
            "2001:db8:1:2::/64".parse::<Origin>().unwrap(),
            Origin::of(a)
        );
    }

    #[test]
    fn bans_are_per_tenant_and_logins_only_slow_down() {
        let dir = tempfile::tempdir().unwrap();
        let journal = crate::journal::SqliteJournal::open(&dir.path().join("j.sqlite")).unwrap();
        let limits = Limits {
            login_failures: 3,
            ..Limits::default()
        };
        let guard = Guard::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            guard.failed(ip, Some("acme"), "alice@acme", &journal, &limits, "ftp");
        }
        assert!(guard.banned(Some("acme"), ip));
        assert!(!guard.banned(Some("globex"), ip), "another tenant's logins");
        assert!(!guard.banned(None, ip));
        assert_eq!(guard.slow_down("alice@acme", &limits), SLOW_DOWN);
        assert_eq!(guard.slow_down("bob@acme", &limits), Duration::ZERO);
        assert_eq!(guard.bans(Some("acme")).len(), 1);
        assert_eq!(guard.bans(Some("globex")).len(), 0);
        assert_eq!(guard.lift(Some("acme"), Origin::of(ip)), 1);
        assert!(!guard.banned(Some("acme"), ip));
    }

    /// What another node tells is applied as it says, and telling it twice
    /// changes nothing.
    #[test]
    fn bans_told_by_another_node_apply_here() {
        let guard = Guard::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        guard.heard("ban 600 acme 192.0.2.7");
        guard.heard("ban 600 acme 192.0.2.7");
        assert!(guard.banned(Some("acme"), ip));
        assert!(!guard.banned(Some("globex"), ip));
        guard.heard("ban 600 - 2001:db8::/64");
        assert!(guard.banned(None, "2001:db8::9".parse().unwrap()));
        guard.heard("lift acme 192.0.2.7");
        assert!(!guard.banned(Some("acme"), ip));
        guard.heard("lift * 2001:db8::/64");
        assert!(!guard.banned(None, "2001:db8::9".parse().unwrap()));
        guard.heard("ban nonsense");
        assert!(guard.bans(None).is_empty());
    }
}
