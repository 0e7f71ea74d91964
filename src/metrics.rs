//! Prometheus metrics, by tenant and protocol, in the text format the
//! admin API serves at `/metrics`.
//!
//! Counters live in one process-wide registry keyed by tenant; protocols,
//! connectors, the pipeline and the plugin host add to it through the
//! methods of [`Metrics`]. What the journal already knows (pipeline tasks
//! waiting or dead-lettered) is passed in at scrape time instead.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

/// The registry.
#[derive(Default)]
pub struct Metrics {
    tenants: Mutex<BTreeMap<String, TenantMetrics>>,
}

#[derive(Default)]
struct TenantMetrics {
    /// By protocol (`sftp`, `ftp`, `ftps`, `sftp-pull`, `cli`, ...).
    flows: BTreeMap<String, Flow>,
    /// By plugin role.
    plugins: BTreeMap<String, PluginCalls>,
    /// The last hour, a minute at a time (oldest first), for the console.
    minutes: std::collections::VecDeque<Minute>,
}

/// What happened in one minute of a tenant's last hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Minute {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    pub files_in: u64,
    pub bytes_in: u64,
    pub files_out: u64,
    pub bytes_out: u64,
    /// Uploads that failed (cut, refused).
    pub failed: u64,
}

/// Minutes kept per tenant.
const MINUTES: usize = 60;

impl TenantMetrics {
    /// The entry of the current minute, made (and the oldest dropped) as
    /// time moves on.
    fn this_minute(&mut self) -> &mut Minute {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64
            / 60;
        if self.minutes.back().is_none_or(|m| m.minute != now) {
            self.minutes.push_back(Minute {
                minute: now,
                ..Minute::default()
            });
        }
        while self.minutes.len() > MINUTES
            || self
                .minutes
                .front()
                .is_some_and(|m| m.minute <= now - MINUTES as i64)
        {
            self.minutes.pop_front();
        }
        self.minutes.back_mut().expect("just pushed")
    }
}

#[derive(Default)]
struct Flow {
    bytes_in: u64,
    files_in: u64,
    bytes_out: u64,
    files_out: u64,
    sessions: i64,
    transfers: u64,
    transfer_seconds: f64,
}

#[derive(Default)]
struct PluginCalls {
    calls: u64,
    failures: u64,
    seconds: f64,
}

/// The process's registry.
pub fn metrics() -> &'static Metrics {
    // Process-wide: one registry, every series of which is labelled by
    // tenant.
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

impl Metrics {
    fn flow(&self, tenant: &str, protocol: &str, change: impl FnOnce(&mut Flow)) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        // Keys are allocated once per tenant and protocol, not per call.
        if !tenants.contains_key(tenant) {
            tenants.insert(tenant.to_owned(), TenantMetrics::default());
        }
        let flows = &mut tenants.get_mut(tenant).expect("just inserted").flows;
        if !flows.contains_key(protocol) {
            flows.insert(protocol.to_owned(), Flow::default());
        }
        change(flows.get_mut(protocol).expect("just inserted"));
    }

    fn minute(&self, tenant: &str, change: impl FnOnce(&mut Minute)) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        if !tenants.contains_key(tenant) {
            tenants.insert(tenant.to_owned(), TenantMetrics::default());
        }
        change(
            tenants
                .get_mut(tenant)
                .expect("just inserted")
                .this_minute(),
        );
    }

    /// A file stored for a tenant (an upload, a pull, a local put).
    pub fn received(&self, tenant: &str, protocol: &str, bytes: u64) {
        self.flow(tenant, protocol, |f| {
            f.files_in += 1;
            f.bytes_in += bytes;
        });
        self.minute(tenant, |m| {
            m.files_in += 1;
            m.bytes_in += bytes;
        });
    }

    /// A file sent in full (a download, a push).
    pub fn sent(&self, tenant: &str, protocol: &str, bytes: u64) {
        self.flow(tenant, protocol, |f| {
            f.files_out += 1;
            f.bytes_out += bytes;
        });
        self.minute(tenant, |m| {
            m.files_out += 1;
            m.bytes_out += bytes;
        });
    }

    /// An upload that failed (cut off, refused by the store or a quota).
    pub fn upload_failed(&self, tenant: &str) {
        self.minute(tenant, |m| m.failed += 1);
    }

    /// A tenant's last hour, a minute at a time, oldest first (minutes
    /// with nothing in them are left out).
    pub fn activity(&self, tenant: &str) -> Vec<Minute> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        match tenants.get_mut(tenant) {
            Some(t) => {
                // Drops what has grown older than an hour.
                t.this_minute();
                t.minutes.iter().copied().collect()
            }
            None => Vec::new(),
        }
    }

    /// One transfer's duration (pushes and pulls, where ferry is the client).
    pub fn transfer(&self, tenant: &str, protocol: &str, seconds: f64) {
        self.flow(tenant, protocol, |f| {
            f.transfers += 1;
            f.transfer_seconds += seconds;
        });
    }

    /// A session logged in; it counts as active until the guard drops.
    pub fn session(&'static self, tenant: &str, protocol: &str) -> SessionGauge {
        self.flow(tenant, protocol, |f| f.sessions += 1);
        SessionGauge {
            metrics: self,
            key: Arc::new((tenant.to_owned(), protocol.to_owned())),
        }
    }

    /// One plugin call, and whether it failed (trapped, ran out of time or
    /// memory, or answered nonsense).
    pub fn plugin_call(&self, tenant: &str, role: &str, seconds: f64, failed: bool) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let plugins = &mut tenants.entry(tenant.to_owned()).or_default().plugins;
        let calls = plugins.entry(role.to_owned()).or_default();
        calls.calls += 1;
        calls.seconds += seconds;
        calls.failures += u64::from(failed);
    }

    /// The text format, for the tenants `visible` says.
    pub fn render(
        &self,
        visible: impl Fn(&str) -> bool,
        tasks: &[(String, String, u64)],
    ) -> String {
        let tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        type Get = fn(&Flow) -> String;
        let flows: [(&str, &str, &str, Get); 7] = [
            (
                "ferry_bytes_in_total",
                "counter",
                "Bytes of files stored.",
                |f| f.bytes_in.to_string(),
            ),
            ("ferry_files_in_total", "counter", "Files stored.", |f| {
                f.files_in.to_string()
            }),
            (
                "ferry_bytes_out_total",
                "counter",
                "Bytes of files sent in full (downloads, pushes).",
                |f| f.bytes_out.to_string(),
            ),
            (
                "ferry_files_out_total",
                "counter",
                "Files sent in full (downloads, pushes).",
                |f| f.files_out.to_string(),
            ),
            (
                "ferry_sessions_active",
                "gauge",
                "Logged-in sessions.",
                |f| f.sessions.to_string(),
            ),
            (
                "ferry_transfer_seconds_count",
                "counter",
                "Transfers ferry made as a client (pushes, pulls).",
                |f| f.transfers.to_string(),
            ),
            (
                "ferry_transfer_seconds_sum",
                "counter",
                "Their total duration, in seconds.",
                |f| format!("{:.3}", f.transfer_seconds),
            ),
        ];
        for (name, kind, help, get) in flows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (tenant, metrics) in tenants.iter().filter(|(t, _)| visible(t)) {
                for (protocol, flow) in &metrics.flows {
                    let _ = writeln!(
                        out,
                        "{name}{{tenant=\"{}\",protocol=\"{}\"}} {}",
                        label(tenant),
                        label(protocol),
                        get(flow)
                    );
                }
            }
        }
        type Calls = fn(&PluginCalls) -> String;
        let plugins: [(&str, &str, Calls); 3] = [
            ("ferry_plugin_calls_total", "Plugin calls.", |c| {
                c.calls.to_string()
            }),
            (
                "ferry_plugin_failures_total",
                "Plugin calls that failed (the file is quarantined or retried).",
                |c| c.failures.to_string(),
            ),
            (
                "ferry_plugin_seconds_total",
                "Time spent in plugin calls, in seconds.",
                |c| format!("{:.6}", c.seconds),
            ),
        ];
        for (name, help, get) in plugins {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (tenant, metrics) in tenants.iter().filter(|(t, _)| visible(t)) {
                for (role, calls) in &metrics.plugins {
                    let _ = writeln!(
                        out,
                        "{name}{{tenant=\"{}\",role=\"{}\"}} {}",
                        label(tenant),
                        label(role),
                        get(calls)
                    );
                }
            }
        }
        let name = "ferry_pipeline_tasks";
        let _ = writeln!(
            out,
            "# HELP {name} Pipeline steps (deliveries, pushes, acknowledgements) waiting or dead-lettered.\n# TYPE {name} gauge"
        );
        for (tenant, state, count) in tasks.iter().filter(|(t, _, _)| visible(t)) {
            let _ = writeln!(
                out,
                "{name}{{tenant=\"{}\",state=\"{}\"}} {count}",
                label(tenant),
                label(state)
            );
        }
        out
    }
}

/// Escapes a label value as the text format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Keeps a session counted as active while it lives.
pub struct SessionGauge {
    metrics: &'static Metrics,
    key: Arc<(String, String)>,
}

impl Drop for SessionGauge {
    fn drop(&mut self) {
        let (tenant, protocol) = &*self.key;
        self.metrics.flow(tenant, protocol, |f| f.sessions -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_by_tenant_and_hides_other_tenants() {
        let m: &'static Metrics = Box::leak(Box::default());
        m.received("acme", "sftp", 10);
        m.received("acme", "sftp", 5);
        m.sent("globex", "ftp", 7);
        let gauge = m.session("acme", "sftp");
        m.plugin_call("acme", "validator", 0.5, true);
        let tasks = vec![("globex".to_owned(), "dead".to_owned(), 2)];
        let all = m.render(|_| true, &tasks);
        assert!(
            all.contains("ferry_bytes_in_total{tenant=\"acme\",protocol=\"sftp\"} 15"),
            "{all}"
        );
        assert!(
            all.contains("ferry_files_in_total{tenant=\"acme\",protocol=\"sftp\"} 2"),
            "{all}"
        );
        assert!(
            all.contains("ferry_sessions_active{tenant=\"acme\",protocol=\"sftp\"} 1"),
            "{all}"
        );
        assert!(
            all.contains("ferry_plugin_failures_total{tenant=\"acme\",role=\"validator\"} 1"),
            "{all}"
        );
        assert!(
            all.contains("ferry_pipeline_tasks{tenant=\"globex\",state=\"dead\"} 2"),
            "{all}"
        );
        drop(gauge);
        let acme = m.render(|t| t == "acme", &tasks);
        assert!(
            acme.contains("ferry_sessions_active{tenant=\"acme\",protocol=\"sftp\"} 0"),
            "{acme}"
        );
        assert!(!acme.contains("globex"), "{acme}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
