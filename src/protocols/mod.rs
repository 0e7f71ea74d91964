//! The servers partners connect to. A protocol module turns its requests
//! into `tenant::Tenant` operations; none of them touches the file system.

pub mod ftp;
pub mod listing;
pub mod login;
pub mod sftp;
