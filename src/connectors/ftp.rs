//! FTP and FTPS connector on suppaftp's blocking client with rustls.
//!
//! suppaftp gives the control connection, passive data connections and TLS;
//! the copy loops are ferry's (suppaftp's helpers copy in 8 KiB pieces).
//! Listing prefers `MLSD` (exact sizes and UTC times) and falls back to
//! `LIST`; a hash comes from `HASH` (SHA-256 selected with `OPTS HASH`) or
//! `XSHA256`, whichever the server announces in `FEAT`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use suppaftp::list::{File as ListedFile, ListParser};
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, RustlsConnector, RustlsFtpStream, Status};

use super::{ConnectorError, Remote, RemoteFile, Result, copy};
use crate::config::{Connector, ConnectorProtocol};

pub struct FtpRemote {
    ftp: RustlsFtpStream,
    target: String,
    hash: HashCommand,
    mlsd: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashCommand {
    None,
    /// `HASH` (draft-bryan-ftpext-hash) with SHA-256 selected.
    Hash,
    Xsha256,
}

/// Resolves the connector's host and port to one address.
pub(super) fn address(connector: &Connector) -> Result<SocketAddr> {
    let target = connector.describe();
    (connector.host.as_str(), connector.port)
        .to_socket_addrs()
        .and_then(|mut addrs| {
            addrs
                .next()
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
        })
        .map_err(|source| ConnectorError::Connect { target, source })
}

/// The TLS settings of a connector: its own CA file, or the system's roots.
pub(super) fn tls_config(connector: &Connector) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let local = |why: String| ConnectorError::Local(why);
    if let Some(path) = &connector.tls_ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| local(format!("cannot read {}: {e}", path.display())))?;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| local(format!("{}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| local(format!("{}: {e}", path.display())))?;
        }
    } else {
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| local(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl FtpRemote {
    pub fn connect(connector: &Connector) -> Result<FtpRemote> {
        let target = connector.describe();
        let addr = address(connector)?;
        let timeout = connector.timeout;
        let failed = |e: FtpError| match untrusted_certificate(&e) {
            Some(why) => ConnectorError::Certificate {
                target: target.clone(),
                why,
            },
            None => ConnectorError::Connect {
                target: target.clone(),
                source: std::io::Error::other(e),
            },
        };
        let mut ftp = match connector.protocol {
            ConnectorProtocol::FtpsImplicit => {
                let tls = RustlsConnector::from(tls_config(connector)?);
                implicit_with_timeout(addr, tls, &connector.host, timeout).map_err(failed)?
            }
            _ => RustlsFtpStream::connect_timeout(addr, timeout).map_err(failed)?,
        };
        let _ = ftp.get_ref().set_read_timeout(Some(timeout));
        let _ = ftp.get_ref().set_write_timeout(Some(timeout));
        if connector.protocol == ConnectorProtocol::FtpsImplicit {
            // `AUTH TLS` sends these for explicit FTPS; implicit FTPS needs
            // them too, or the server's data connections stay in clear text
            // while ferry's speak TLS.
            for command in ["PBSZ 0", "PROT P"] {
                ftp.custom_command(command, &[Status::CommandOk])
                    .map_err(failed)?;
            }
        }
        if connector.protocol == ConnectorProtocol::Ftps {
            let tls = RustlsConnector::from(tls_config(connector)?);
            ftp = ftp.into_secure(tls, &connector.host).map_err(failed)?;
        }
        // A passive reply names an address to connect to; ferry connects to
        // the control connection's address (and the reply's port) instead,
        // as curl and lftp do: a partner's server must not be able to send
        // ferry into the host's own network.
        ftp.set_passive_nat_workaround(true);
        ftp = ftp.passive_stream_builder(move |addr| {
            let stream =
                TcpStream::connect_timeout(&addr, timeout).map_err(FtpError::ConnectionError)?;
            let _ = stream.set_read_timeout(Some(timeout));
            let _ = stream.set_write_timeout(Some(timeout));
            Ok(stream)
        });
        let password = connector.password.as_ref().map_or("", |p| p.expose());
        ftp.login(connector.user.as_str(), password)
            .map_err(|_| ConnectorError::Login {
                target: target.clone(),
            })?;
        let mut remote = FtpRemote {
            ftp,
            target,
            hash: HashCommand::None,
            mlsd: false,
        };
        remote
            .ftp
            .transfer_type(FileType::Binary)
            .map_err(remote.refused("TYPE I"))?;
        remote.ftp.set_mode(if connector.extended_passive {
            Mode::ExtendedPassive
        } else {
            Mode::Passive
        });
        // FEAT is optional in FTP: a server without it gets the basics.
        if let Ok(features) = remote.ftp.feat() {
            let has = |name: &str| features.keys().any(|k| k.eq_ignore_ascii_case(name));
            remote.mlsd = has("MLST");
            let hash_algorithms = features
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("HASH"))
                .and_then(|(_, v)| v.clone())
                .unwrap_or_default();
            if hash_algorithms.to_ascii_uppercase().contains("SHA-256")
                && remote
                    .ftp
                    .custom_command("OPTS HASH SHA-256", &[Status::CommandOk])
                    .is_ok()
            {
                remote.hash = HashCommand::Hash;
            } else if has("XSHA256") {
                remote.hash = HashCommand::Xsha256;
            }
        }
        Ok(remote)
    }

    fn refused(&self, doing: &str) -> impl FnOnce(FtpError) -> ConnectorError {
        let target = self.target.clone();
        let doing = doing.to_owned();
        move |e| match e {
            FtpError::ConnectionError(source) => ConnectorError::Io {
                target,
                doing,
                source,
            },
            other => ConnectorError::Refused {
                target,
                doing,
                message: other.to_string(),
            },
        }
    }
}

/// What is wrong with the server's certificate, when that is why a
/// connection failed: rustls' verdict comes back inside an I/O error.
fn untrusted_certificate(e: &FtpError) -> Option<String> {
    let FtpError::ConnectionError(io) = e else {
        return None;
    };
    match io.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(why) => Some(format!("{why:?}")),
        _ => None,
    }
}

/// suppaftp's implicit FTPS connect has no timeout and sets none on its
/// socket, so a server that accepts the connection but never answers the
/// TLS handshake would hold the caller (a pipeline worker) forever. The
/// connect runs on a thread of its own instead; after `timeout` the caller
/// goes on with an error, and the thread ends when the server closes.
fn implicit_with_timeout(
    addr: std::net::SocketAddr,
    tls: RustlsConnector,
    host: &str,
    timeout: std::time::Duration,
) -> Result<RustlsFtpStream, FtpError> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let host = host.to_owned();
    std::thread::Builder::new()
        .name("ftps-connect".into())
        .spawn(move || {
            let _ = sender.send(RustlsFtpStream::connect_secure_implicit(addr, tls, &host));
        })
        .map_err(FtpError::ConnectionError)?;
    receiver.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(FtpError::ConnectionError(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no TLS handshake in time",
        )))
    })
}

fn is_missing(e: &FtpError) -> bool {
    matches!(e, FtpError::UnexpectedResponse(r) if r.status == Status::FileUnavailable)
}

impl Remote for FtpRemote {
    fn target(&self) -> &str {
        &self.target
    }

    fn list(&mut self, dir: &str) -> Result<Vec<RemoteFile>> {
        let dir = if dir.is_empty() { "/" } else { dir };
        let parsed: Vec<ListedFile> = if self.mlsd {
            let lines = self
                .ftp
                .mlsd(Some(dir))
                .map_err(self.refused(&format!("MLSD {dir}")))?;
            lines
                .iter()
                .filter_map(|l| ListParser::parse_mlsd(l).ok())
                .collect()
        } else {
            let lines = self
                .ftp
                .list(Some(dir))
                .map_err(self.refused(&format!("LIST {dir}")))?;
            lines
                .iter()
                .filter_map(|l| ListParser::parse_posix(l).ok())
                .collect()
        };
        let mut files: Vec<RemoteFile> = parsed
            .into_iter()
            .filter(|f| f.is_file())
            .map(|f| RemoteFile {
                name: f.name().to_owned(),
                size: f.size() as u64,
                modified: f
                    .modified()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs() as i64),
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    fn size(&mut self, path: &str) -> Result<Option<u64>> {
        match self.ftp.size(path) {
            Ok(size) => Ok(Some(size as u64)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(self.refused(&format!("SIZE {path}"))(e)),
        }
    }

    fn get(&mut self, path: &str, offset: u64, sink: &mut dyn Write) -> Result<u64> {
        if offset > 0 {
            self.ftp
                .resume_transfer(offset as usize)
                .map_err(self.refused(&format!("REST {offset}")))?;
        }
        let mut stream = self
            .ftp
            .retr_as_stream(path)
            .map_err(self.refused(&format!("RETR {path}")))?;
        let mut copied = 0u64;
        let mut buf = vec![0; super::CHUNK];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ConnectorError::Io {
                        target: self.target.clone(),
                        doing: format!("reading {path}"),
                        source,
                    });
                }
            };
            sink.write_all(&buf[..n])
                .map_err(|e| ConnectorError::Local(format!("storing {path}: {e}")))?;
            copied += n as u64;
        }
        stream
            .finish()
            .map_err(self.refused(&format!("RETR {path}")))?;
        Ok(copied)
    }

    fn put(
        &mut self,
        path: &str,
        offset: u64,
        source: &mut dyn Read,
        _confirmed: &mut Option<u64>,
    ) -> Result<u64> {
        let mut stream = if offset > 0 {
            // REST + STOR continues at the offset on servers that take it;
            // APPE is the fallback every server has.
            match self.ftp.resume_transfer(offset as usize) {
                Ok(()) => self.ftp.put_with_stream(path),
                Err(_) => self.ftp.append_with_stream(path),
            }
        } else {
            self.ftp.put_with_stream(path)
        }
        .map_err(self.refused(&format!("STOR {path}")))?;
        let written = copy(source, &mut stream).map_err(|source| ConnectorError::Io {
            target: self.target.clone(),
            doing: format!("writing {path}"),
            source,
        })?;
        // `finish` closes the data connection and waits for 226: only then
        // has the server taken the whole file.
        stream
            .finish()
            .map_err(self.refused(&format!("STOR {path}")))?;
        Ok(written)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        if self.ftp.rename(from, to).is_ok() {
            return Ok(());
        }
        // Some servers refuse to replace an existing file.
        let _ = self.ftp.rm(to);
        self.ftp
            .rename(from, to)
            .map_err(self.refused(&format!("RNFR {from} / RNTO {to}")))
    }

    fn delete(&mut self, path: &str) -> Result<()> {
        self.ftp
            .rm(path)
            .map_err(self.refused(&format!("DELE {path}")))
    }

    fn sha256(&mut self, path: &str) -> Result<Option<String>> {
        let command = match self.hash {
            HashCommand::None => return Ok(None),
            HashCommand::Hash => format!("HASH {path}"),
            HashCommand::Xsha256 => format!("XSHA256 {path}"),
        };
        let reply = self
            .ftp
            .custom_command(&command, &[Status::File, Status::RequestedFileActionOk])
            .map_err(self.refused(&command))?;
        Ok(find_sha256(&String::from_utf8_lossy(&reply.body)))
    }
}

/// The first 64-digit hex word of a reply: `213 SHA-256 0-99 ab12... name`
/// or `250 ab12...`.
pub(super) fn find_sha256(reply: &str) -> Option<String> {
    reply
        .split(|c: char| c.is_whitespace())
        .find(|word| word.len() == 64 && word.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

impl Drop for FtpRemote {
    fn drop(&mut self) {
        let _ = self.ftp.quit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hashes_in_replies() {
        let hash = "a".repeat(64);
        assert_eq!(
            find_sha256(&format!("213 SHA-256 0-10 {hash} file")),
            Some(hash.clone())
        );
        assert_eq!(
            find_sha256(&format!("250 {}", hash.to_uppercase())),
            Some(hash)
        );
        assert_eq!(find_sha256("500 unknown command"), None);
    }
}
