//! Connections that have not logged in yet, counted per listener and per
//! address (an IPv6 /64) over every listener, like OpenSSH's
//! `MaxStartups` and `PerSourceMaxStartups`: a stranger holding hundreds
//! of idle connections open takes descriptors and memory from every tenant
//! before any login is tried. A connection over either limit is closed at
//! once; one within them holds a [`Startup`] until it logs in or goes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use super::guard::Origin;
use crate::config::Limits;

/// See the module's documentation.
#[derive(Default)]
pub struct Gate {
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    by_origin: HashMap<Origin, u32>,
    by_listener: HashMap<SocketAddr, u32>,
}

/// One connection not logged in yet; dropping it (at login, or when the
/// connection ends) frees its place.
pub struct Startup {
    gate: Arc<Gate>,
    origin: Origin,
    listener: SocketAddr,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `max_startups_per_address` connections of this address wait to log in.
    Address,
    /// `max_startups` connections wait to log in on this listener.
    Listener,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Full::Address => "too many connections from your address are not logged in yet",
            Full::Listener => "too many connections are not logged in yet; try again later",
        })
    }
}

impl Gate {
    /// Lets a new connection from `ip` on `listener` in, within `limits`.
    pub fn enter(
        self: &Arc<Self>,
        listener: SocketAddr,
        ip: IpAddr,
        limits: &Limits,
    ) -> Result<Startup, Full> {
        let origin = Origin::of(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.by_origin.get(&origin).copied().unwrap_or(0) >= limits.max_startups_per_address {
            return Err(Full::Address);
        }
        if counts.by_listener.get(&listener).copied().unwrap_or(0) >= limits.max_startups {
            return Err(Full::Listener);
        }
        *counts.by_origin.entry(origin).or_default() += 1;
        *counts.by_listener.entry(listener).or_default() += 1;
        Ok(Startup {
            gate: Arc::clone(self),
            origin,
            listener,
        })
    }
}

impl Drop for Startup {
    fn drop(&mut self) {
        let mut counts = self.gate.counts.lock().unwrap_or_else(|p| p.into_inner());
        fn down<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
            if let Some(n) = map.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
        down(&mut counts.by_origin, &self.origin);
        down(&mut counts.by_listener, &self.listener);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_listener_free_on_drop() {
        let gate = Arc::new(Gate::default());
        let limits = Limits {
            max_startups: 3,
            max_startups_per_address: 2,
            ..Limits::default()
        };
        let l1: SocketAddr = "127.0.0.1:21".parse().unwrap();
        let l2: SocketAddr = "127.0.0.1:22".parse().unwrap();
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let first = gate.enter(l1, a, &limits).unwrap();
        let _second = gate.enter(l2, a, &limits).unwrap();
        assert_eq!(gate.enter(l1, a, &limits).err(), Some(Full::Address));
        let _b1 = gate.enter(l1, b, &limits).unwrap();
        let _b2 = gate.enter(l1, b, &limits).unwrap();
        let c: IpAddr = "127.0.0.4".parse().unwrap();
        assert_eq!(gate.enter(l1, c, &limits).err(), Some(Full::Listener));
        drop(first);
        assert!(gate.enter(l1, a, &limits).is_ok());
    }
}
