//! Who is logging in, whether the credentials hold, and who has failed too
//! often. Shared by every protocol server.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::config::{Account, Limits};
use crate::journal::EventKind;
use crate::tenant::{Hub, Tenant};

/// A partner account, found from a login name.
#[derive(Clone)]
pub struct Candidate {
    pub tenant: Arc<Tenant>,
    pub partner: String,
    pub account: Account,
}

/// Finds the account for `user` on a listener bound to `bound` (or not).
///
/// `alice@globex` names tenant `globex` anywhere; plain `alice` needs a
/// listener bound to a tenant. Unknown users and tenants are `None`.
pub fn resolve(hub: &Hub, bound: Option<&str>, user: &str) -> Option<Candidate> {
    let (login, tenant_name) = match user.rsplit_once('@') {
        Some((login, tenant)) => (login, tenant),
        None => (user, bound?),
    };
    if bound.is_some_and(|b| b != tenant_name) {
        return None;
    }
    let tenant = hub.tenant(tenant_name)?;
    let (partner, account) = tenant.config().account(login)?;
    let (partner, account) = (partner.name.clone(), account.clone());
    Some(Candidate {
        tenant,
        partner,
        account,
    })
}

impl Candidate {
    /// Whether the partner's `allow_from` (if it has one) lets a login come
    /// from `ip`. A refusal is logged with the reason; it then fails like a
    /// wrong password, and counts towards a ban.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let config = self.tenant.config();
        let Some(partner) = config.partners.get(&self.partner) else {
            return false;
        };
        let allowed =
            partner.allow_from.is_empty() || partner.allow_from.iter().any(|n| n.contains(ip));
        if !allowed {
            tracing::warn!(tenant = %config.name, partner = %self.partner, %ip,
                "login from an address the partner's allow_from does not list");
        }
        allowed
    }
}

/// Checks a password against the account's argon2 hash. Slow on purpose
/// (tens of milliseconds): call it off the async executor.
pub fn password_matches(account: &Account, password: &str) -> bool {
    use argon2::password_hash::PasswordVerifier as _;
    let Some(hash) = &account.password_hash else {
        return false;
    };
    let Ok(hash) = argon2::password_hash::phc::PasswordHash::new(hash) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

/// Whether `key` (its algorithm and key data) is one of the account's keys.
pub fn key_matches(account: &Account, key: &russh::keys::PublicKey) -> bool {
    account.ssh_keys.iter().any(|line| {
        russh::keys::PublicKey::from_openssh(line).is_ok_and(|k| k.key_data() == key.key_data())
    })
}

/// Failed logins per address and per login, with bans. One per listener
/// process-wide. A banned address may try no login; a banned login may be
/// tried from no address (against a guesser who changes addresses).
pub struct Guard {
    failures: Mutex<HashMap<IpAddr, Record>>,
    /// By `login@tenant` where the tenant is known, else as typed.
    logins: Mutex<HashMap<String, Record>>,
}

#[derive(Default)]
struct Record {
    recent: Vec<Instant>,
    banned_until: Option<Instant>,
}

/// How long failures count towards a ban.
const WINDOW: Duration = Duration::from_secs(600);

impl Default for Guard {
    fn default() -> Self {
        Guard {
            failures: Mutex::new(HashMap::new()),
            logins: Mutex::new(HashMap::new()),
        }
    }
}

impl Guard {
    /// Whether `addr` is banned now.
    pub fn banned(&self, addr: IpAddr) -> bool {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures
            .get(&addr)
            .and_then(|r| r.banned_until)
            .is_some_and(|until| until > now)
    }

    /// Whether the login `user` (as typed) of `tenant` is banned now.
    pub fn login_banned(&self, user: &str, tenant: Option<&Tenant>) -> bool {
        let now = Instant::now();
        let logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        logins
            .get(&login_key(user, tenant))
            .and_then(|r| r.banned_until)
            .is_some_and(|until| until > now)
    }

    /// Records a failure, journals it in the tenant it was aimed at (if
    /// known), and bans the address, and the login, after
    /// `limits.login_failures` of them each.
    pub fn failed(
        &self,
        addr: IpAddr,
        user: &str,
        tenant: Option<&Tenant>,
        journal: &dyn crate::journal::Journal,
        limits: &Limits,
        protocol: &str,
    ) {
        let now = Instant::now();
        // Records whose failures left the window and whose ban ended are
        // dropped as others come: guessers choose the keys, so the maps
        // must not grow with every name they try.
        fn prune<K>(map: &mut HashMap<K, Record>, now: Instant) {
            map.retain(|_, r| {
                r.recent
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
                    || r.banned_until.is_some_and(|until| until > now)
            });
        }
        let count = |record: &mut Record| {
            record.recent.retain(|t| now.duration_since(*t) < WINDOW);
            record.recent.push(now);
            if record.recent.len() as u32 >= limits.login_failures {
                record.recent.clear();
                record.banned_until = Some(now + limits.ban);
                true
            } else {
                false
            }
        };
        let banned = {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            prune(&mut failures, now);
            count(failures.entry(addr).or_default())
        };
        let key = login_key(user, tenant);
        let login_banned = {
            let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
            prune(&mut logins, now);
            count(logins.entry(key.clone()).or_default())
        };
        tracing::warn!(%addr, user, protocol, banned, login_banned, "login failed");
        let Some(tenant) = tenant else { return };
        let mut events = vec![(
            EventKind::LoginFailed,
            json!({ "address": addr.to_string(), "user": user, "protocol": protocol }),
        )];
        if banned {
            events.push((
                EventKind::Banned,
                json!({ "address": addr.to_string(), "seconds": limits.ban.as_secs(), "protocol": protocol }),
            ));
        }
        if login_banned {
            events.push((
                EventKind::Banned,
                json!({ "login": key, "seconds": limits.ban.as_secs(), "protocol": protocol }),
            ));
        }
        for (kind, detail) in events {
            if let Err(e) = journal.record_event(tenant.name(), kind, detail) {
                tracing::error!(error = %crate::error_chain(&e), "cannot journal a failed login");
            }
        }
    }
}

/// The key of a login in the guard: `alice@acme` whether it was typed as
/// `alice` on a listener bound to acme or as `alice@acme`.
fn login_key(user: &str, tenant: Option<&Tenant>) -> String {
    let login = user.rsplit_once('@').map_or(user, |(login, _)| login);
    match tenant {
        Some(tenant) => format!("{login}@{}", tenant.name()),
        None => user.to_owned(),
    }
}
