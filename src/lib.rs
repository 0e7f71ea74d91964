//! ferry: a managed file transfer engine. See ARCHITECTURE.md for the map.

pub mod admin;
pub mod alloc;
mod blocking;
pub mod cli;
pub mod config;
pub mod connectors;
mod fault;
pub mod poller;
pub mod proofs;
pub mod settings;
// The fuzz targets' harnesses: built for `fuzz/` (the `fuzzing` feature)
// and for the unit tests that replay their corpus, never into the shipped
// binary.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod journal;
pub mod metrics;
pub mod names;
pub mod pipeline;
pub mod plugin;
pub mod protocols;
pub mod secrets;
pub mod ssh;
pub mod store;
pub mod tenant;
pub mod transform;
pub mod usage;
pub mod web;

pub use fault::crashpoint;

/// Formats an error and all its causes on one line: `outer: inner: root`.
pub fn error_chain(error: &(dyn std::error::Error + '_)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
