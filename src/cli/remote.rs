//! `ferry plugin upload` and `ferry plugin activate`: the admin API of a
//! running server, called from the command line. The admin listener is
//! plain HTTP on a local or private address, so one request over a
//! `TcpStream` is all it takes (no HTTP client library for two calls).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

/// Where the running server's admin API is, and whose token to use.
#[derive(Args)]
pub struct Remote {
    #[command(flatten)]
    slot: super::plugin::SlotArgs,
    /// A file holding the token to use (a tenant's own); the operator's
    /// from the configuration when absent.
    #[arg(long)]
    token_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct UploadArgs {
    /// The component to upload.
    plugin: PathBuf,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct ActivateArgs {
    /// The SHA-256 of the version to serve (one uploaded or one that served).
    sha256: String,
    #[command(flatten)]
    remote: Remote,
}

/// How long the server may take to answer (an upload is replayed first).
const ANSWER_WITHIN: Duration = Duration::from_secs(300);

pub fn upload(config: &Path, args: UploadArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.plugin)
        .with_context(|| format!("reading {}", args.plugin.display()))?;
    call(config, &args.remote, "PUT", "", "application/wasm", &bytes)
}

pub fn activate(config: &Path, args: ActivateArgs) -> anyhow::Result<ExitCode> {
    let body = serde_json::json!({ "sha256": args.sha256 }).to_string();
    call(
        config,
        &args.remote,
        "POST",
        "/activate",
        "application/json",
        body.as_bytes(),
    )
}

/// Sends one request to the slot's route and prints the answer; a status
/// other than 2xx is the command's failure, with the server's reason.
fn call(
    config: &Path,
    remote: &Remote,
    method: &str,
    suffix: &str,
    content_type: &str,
    body: &[u8],
) -> anyhow::Result<ExitCode> {
    let loaded = crate::config::load(config)?;
    let Some(admin) = &loaded.admin else {
        bail!(
            "{} has no [admin] section: the running server's admin API is how uploads reach it",
            config.display()
        );
    };
    let token = match &remote.token_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("reading {}", file.display()))?
            .trim()
            .to_owned(),
        None => admin.token.expose().to_owned(),
    };
    let path = format!(
        "/api/v1/tenants/{}/partners/{}/plugins/{}{suffix}",
        crate::web::encode_segment(&remote.slot.tenant),
        crate::web::encode_segment(&remote.slot.partner),
        remote.slot.role.as_str()
    );
    let (status, answer) = request(admin.address, method, &path, &token, content_type, body)?;
    let shown = serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(answer);
    if (200..300).contains(&status) {
        println!("{shown}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{shown}");
        bail!("the server at {} answered {status}", admin.address)
    }
}

/// One HTTP/1.1 request with `Connection: close`; the status and body.
fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(10))
        .with_context(|| format!("cannot reach the admin API at {address}: is ferry serving?"))?;
    stream.set_read_timeout(Some(ANSWER_WITHIN))?;
    stream.set_write_timeout(Some(ANSWER_WITHIN))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .with_context(|| format!("reading the answer of {address}"))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("{address} sent no HTTP answer"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("{address} sent no HTTP status"))?;
    // A chunked body (hyper's choice for some answers) is joined here.
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok((status, body))
}

/// The data of a chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            super::dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
