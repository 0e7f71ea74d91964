//! The integration tests: one binary, one module per concern. Each test
//! drives the real `ferry` binary on its own scratch directory.

mod admin;
mod authority;
mod backends;
mod browser;
mod campaign;
mod cluster;
mod config_errors;
mod conformance;
mod connectors;
mod content;
mod crash;
mod folders;
mod ftp;
mod https;
mod isolation;
mod journal;
mod limits;
mod peers;
mod pipeline;
mod plugin_host;
mod plugins;
mod postgres;
mod quickstart;
mod receipts;
mod reload;
mod retention;
mod scaffold;
mod security;
mod sftp;
mod soak;
mod tidy;
mod traversal;
mod util;
mod web;
mod xsd;
