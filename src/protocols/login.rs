//! Who is logging in and whether the credentials hold. Shared by every
//! protocol server, with the process-wide [`Guard`] of failed logins.
//!
//! Every way a password login can fail (an unknown login or tenant, an
//! address `allow_from` does not list, an account that needs TLS on a
//! clear connection, a wrong password) takes one argon2 verification and
//! gets the same answer, so that the time and the text of a refusal tell a
//! guesser nothing about which logins exist.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use crate::config::Account;
use crate::tenant::guard::login_key;
use crate::tenant::{Hub, Tenant};

pub use crate::tenant::guard::Guard;

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
/// (tens of milliseconds): call it off the async executor. An account with
/// no password is checked against a stand-in hash, so that it takes as long.
pub fn password_matches(account: &Account, password: &str) -> bool {
    match &account.password_hash {
        Some(hash) => verify(hash, password),
        None => {
            verify(stand_in(), password);
            false
        }
    }
}

fn verify(hash: &str, password: &str) -> bool {
    use argon2::password_hash::PasswordVerifier as _;
    let Ok(hash) = argon2::password_hash::phc::PasswordHash::new(hash) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

/// A hash made with the parameters `hash-password` uses, verified in place
/// of a real one when there is none to check: the refusal of an unknown
/// login then costs what a wrong password costs.
fn stand_in() -> &'static str {
    // Process-wide: a constant made once, no tenant's data.
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        crate::config::hash_password("ferry: no such account")
            .expect("hashing a constant cannot fail")
    })
}

/// What a password login needs besides the password.
pub struct Attempt<'a> {
    pub hub: &'a Arc<Hub>,
    /// The listener's tenant, if it is bound to one.
    pub bound: Option<&'a str>,
    pub user: &'a str,
    pub ip: IpAddr,
    pub protocol: &'static str,
    /// Whether the connection is protected by TLS (SSH always is).
    pub tls: bool,
    /// Refuse whatever the password (an SSH account that needs its key
    /// first), after the same work as any other refusal.
    pub refuse: bool,
}

/// Why a password login was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The address is banned from this tenant's logins.
    Banned,
    /// Anything else: the same answer whatever the reason.
    Incorrect,
}

/// Checks a password login from end to end: the ban of the address, the
/// account, `allow_from`, TLS where the account needs it, the password; a
/// login under attack from many addresses answers only after the guard's
/// slow-down; a failure is counted. Every refusal but a ban takes one
/// argon2 verification.
pub async fn password_login(attempt: Attempt<'_>, password: &str) -> Result<Candidate, Refused> {
    let hub = attempt.hub;
    let candidate = resolve(hub, attempt.bound, attempt.user);
    let tenant = aimed_at(hub, attempt.bound, attempt.user);
    if hub.guard().banned(tenant.as_deref(), attempt.ip) {
        return Err(Refused::Banned);
    }
    let key = login_key(attempt.user, candidate.as_ref().map(|c| c.tenant.name()));
    let limits = hub.config().limits.clone();
    let slow_down = hub.guard().slow_down(&key, &limits);
    let usable = candidate
        .as_ref()
        .filter(|c| !attempt.refuse && c.allows(attempt.ip) && (attempt.tls || !needs_tls(c)))
        .map(|c| c.account.clone());
    let password = password.to_owned();
    let checked = tokio::task::spawn_blocking(move || match usable {
        Some(account) => password_matches(&account, &password),
        None => {
            verify(stand_in(), &password);
            false
        }
    });
    let (ok, ()) = tokio::join!(checked, tokio::time::sleep(slow_down));
    if ok.unwrap_or(false)
        && let Some(candidate) = candidate
    {
        return Ok(candidate);
    }
    let hub = Arc::clone(hub);
    let (ip, protocol) = (attempt.ip, attempt.protocol);
    let _ = tokio::task::spawn_blocking(move || {
        hub.guard().failed(
            ip,
            tenant.as_deref(),
            &key,
            hub.journal().as_ref(),
            &limits,
            protocol,
        )
    })
    .await;
    Err(Refused::Incorrect)
}

/// Finds the account whose bearer token (HTTPS) is `token`, among the
/// listener's tenant's accounts or, on a listener bound to none, every
/// tenant's; the address's ban and the partner's `allow_from` hold as for
/// a password, and a failure counts toward the same ban. No argon2: the
/// tokens are 256 random bits made by ferry, checked by their SHA-256
/// (compared in constant time). Journals a failure: call it off the
/// async executor.
pub fn token_login(
    hub: &Hub,
    bound: Option<&str>,
    token: &str,
    ip: IpAddr,
    protocol: &str,
) -> Result<Candidate, Refused> {
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    let names: Vec<String> = match bound {
        Some(tenant) => vec![tenant.to_owned()],
        None => hub.config().tenants.keys().cloned().collect(),
    };
    let mut found = None;
    for tenant in names.iter().filter_map(|name| hub.tenant(name)) {
        let config = tenant.config();
        for partner in config.partners.values() {
            for account in &partner.accounts {
                if let Some(hash) = &account.token_sha256
                    && crate::web::same_token(hash, &digest)
                {
                    found = Some(Candidate {
                        tenant: Arc::clone(&tenant),
                        partner: partner.name.clone(),
                        account: account.clone(),
                    });
                }
            }
        }
    }
    let tenant = found
        .as_ref()
        .map(|c| c.tenant.name().to_owned())
        .or_else(|| bound.map(str::to_owned));
    if hub.guard().banned(tenant.as_deref(), ip) {
        return Err(Refused::Banned);
    }
    match found {
        Some(candidate) if candidate.allows(ip) => Ok(candidate),
        _ => {
            failed(hub, ip, "(bearer token)", tenant.as_deref(), protocol);
            Err(Refused::Incorrect)
        }
    }
}

/// The tenant a login is aimed at, if it exists: the listener's, or the
/// one named after the `@`. Its failures are counted (and journaled) there.
pub fn aimed_at(hub: &Hub, bound: Option<&str>, user: &str) -> Option<String> {
    let named = bound.or_else(|| user.rsplit_once('@').map(|(_, tenant)| tenant))?;
    hub.tenant(named).map(|t| t.name().to_owned())
}

/// Whether `candidate` may only log in over TLS (FTP; SSH always is).
pub fn needs_tls(candidate: &Candidate) -> bool {
    candidate.account.require_tls || candidate.tenant.config().require_tls
}

/// Records a failed login that is not a password's (a public key), in the
/// tenant it was aimed at.
pub fn failed(hub: &Hub, ip: IpAddr, user: &str, tenant: Option<&str>, protocol: &str) {
    let limits = hub.config().limits.clone();
    hub.guard().failed(
        ip,
        tenant,
        &login_key(user, tenant),
        hub.journal().as_ref(),
        &limits,
        protocol,
    );
}

/// Whether `key` (its algorithm and key data) is one of the account's keys.
pub fn key_matches(account: &Account, key: &russh::keys::PublicKey) -> bool {
    account.ssh_keys.iter().any(|line| {
        russh::keys::PublicKey::from_openssh(line).is_ok_and(|k| k.key_data() == key.key_data())
    })
}
