//! FXP: a file moved from one partner's FTP server to another's, the data
//! connection going from server to server while ferry holds both control
//! connections.
//!
//! suppaftp cannot read the second reply of a transfer it did not open, so
//! this is ferry's own small control client: the destination listens
//! (`PASV`), the source is told to connect there (`PORT`), `STOR` (or
//! `APPE` to resume) goes to the destination before `RETR` goes to the
//! source, and both `226` replies are read. A third connection watches the
//! destination's `SIZE` for progress. Plain FTP only: FXP over TLS needs
//! `SSCN`/`CPSV`, which few servers offer.
//!
//! The servers must accept it: vsftpd needs `pasv_promiscuous=YES` on the
//! destination and `port_promiscuous=YES` on the source.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::ftp::{address, find_sha256};
use super::{ConnectorError, Result};
use crate::config::{Connector, ConnectorProtocol};

/// The longest reply line read from a partner's server.
const MAX_REPLY_LINE: usize = 8192;

/// What an FXP transfer did, for the journal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FxpReport {
    pub from: String,
    pub to: String,
    pub from_path: String,
    pub to_path: String,
    pub size: u64,
    pub resumed_from: u64,
    /// `sha256` when both servers computed the same hash, `size` otherwise.
    pub verified_by: &'static str,
    pub sha256: Option<String>,
    /// The largest size of the destination's temporary file seen while the
    /// transfer ran.
    pub progress_seen: u64,
}

struct Control {
    reader: BufReader<TcpStream>,
    target: String,
}

impl Control {
    fn connect(connector: &Connector) -> Result<Control> {
        let target = connector.describe();
        if connector.protocol != ConnectorProtocol::Ftp {
            return Err(ConnectorError::Refused {
                target,
                doing: "FXP".into(),
                message:
                    "FXP runs over plain FTP connectors only (FXP over TLS needs SSCN or CPSV)"
                        .into(),
            });
        }
        let addr = address(connector)?;
        let stream = TcpStream::connect_timeout(&addr, connector.timeout).map_err(|source| {
            ConnectorError::Connect {
                target: target.clone(),
                source,
            }
        })?;
        let _ = stream.set_read_timeout(Some(connector.timeout.max(Duration::from_secs(5)) * 4));
        let _ = stream.set_write_timeout(Some(connector.timeout));
        let mut control = Control {
            reader: BufReader::new(stream),
            target,
        };
        control.expect_reply("greeting", &[220])?;
        let (code, _) = control.command(&format!("USER {}", connector.user))?;
        if code == 331 {
            let password = connector.password.as_ref().map_or("", |p| p.expose());
            let (code, _) = control.command_quiet(&format!("PASS {password}"), "PASS")?;
            if code != 230 && code != 202 {
                return Err(ConnectorError::Login {
                    target: control.target,
                });
            }
        } else if code != 230 {
            return Err(ConnectorError::Login {
                target: control.target,
            });
        }
        control.expect("TYPE I", &[200])?;
        Ok(control)
    }

    /// The server's address on this control connection, which `PORT` can
    /// name only if it is IPv4 (FXP between IPv6 servers needs `EPRT`,
    /// which ferry does not send).
    fn peer_v4(&self) -> Result<Ipv4Addr> {
        let refused = |message: String| ConnectorError::Refused {
            target: self.target.clone(),
            doing: "FXP".into(),
            message,
        };
        match self.reader.get_ref().peer_addr() {
            Ok(addr) => match addr.ip() {
                IpAddr::V4(ip) => Ok(ip),
                IpAddr::V6(ip) => ip
                    .to_ipv4_mapped()
                    .ok_or_else(|| refused(format!("FXP needs IPv4 servers; this one is at {ip}"))),
            },
            Err(e) => Err(refused(format!("the connection has no peer: {e}"))),
        }
    }

    fn send(&mut self, line: &str, shown: &str) -> Result<()> {
        let stream = self.reader.get_mut();
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|source| ConnectorError::Io {
                target: self.target.clone(),
                doing: format!("sending {shown}"),
                source,
            })
    }

    /// Reads one reply, multi-line ones included: `(code, text)`; a line
    /// longer than [`MAX_REPLY_LINE`] or a reply over 64 KiB ends it.
    fn reply(&mut self, doing: &str) -> Result<(u16, String)> {
        let mut text = String::new();
        let mut first: Option<String> = None;
        loop {
            let mut line = String::new();
            // At most one byte past the longest line accepted: an endless
            // line from a partner's server must not grow memory.
            let n = std::io::Read::take(&mut self.reader, MAX_REPLY_LINE as u64 + 1)
                .read_line(&mut line)
                .map_err(|source| ConnectorError::Io {
                    target: self.target.clone(),
                    doing: format!("waiting for the reply to {doing}"),
                    source,
                })?;
            if n == 0 || line.len() > MAX_REPLY_LINE || text.len() > 65536 {
                let source = if n == 0 {
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed")
                } else {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the server sent a reply line longer than 8192 bytes",
                    )
                };
                return Err(ConnectorError::Io {
                    target: self.target.clone(),
                    doing: format!("waiting for the reply to {doing}"),
                    source,
                });
            }
            text.push_str(&line);
            let code = line
                .get(..3)
                .filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
            match (&first, code) {
                (None, Some(code)) if line.as_bytes().get(3) == Some(&b'-') => {
                    first = Some(code.to_owned())
                }
                (None, Some(code)) => return Ok((code.parse().unwrap_or(0), text)),
                (Some(open), Some(code))
                    if open == code && line.as_bytes().get(3) == Some(&b' ') =>
                {
                    return Ok((code.parse().unwrap_or(0), text));
                }
                _ => {}
            }
        }
    }

    fn command(&mut self, line: &str) -> Result<(u16, String)> {
        self.send(line, line)?;
        self.reply(line)
    }

    /// A command whose arguments are secret: logs and errors name only `shown`.
    fn command_quiet(&mut self, line: &str, shown: &str) -> Result<(u16, String)> {
        self.send(line, shown)?;
        self.reply(shown)
    }

    fn expect(&mut self, line: &str, ok: &[u16]) -> Result<String> {
        let (code, text) = self.command(line)?;
        self.check(line, code, text, ok)
    }

    fn expect_reply(&mut self, doing: &str, ok: &[u16]) -> Result<String> {
        let (code, text) = self.reply(doing)?;
        self.check(doing, code, text, ok)
    }

    fn check(&self, doing: &str, code: u16, text: String, ok: &[u16]) -> Result<String> {
        if ok.contains(&code) {
            Ok(text)
        } else {
            Err(ConnectorError::Refused {
                target: self.target.clone(),
                doing: doing.to_owned(),
                message: text.trim_end().to_owned(),
            })
        }
    }

    fn size(&mut self, path: &str) -> Result<Option<u64>> {
        let (code, text) = self.command(&format!("SIZE {path}"))?;
        Ok((code == 213)
            .then(|| text[3..].trim().parse().ok())
            .flatten())
    }

    /// The server's SHA-256 of `path`, if it offers `XSHA256` or `HASH`.
    fn sha256(&mut self, path: &str) -> Option<String> {
        let (code, features) = self.command("FEAT").ok()?;
        let features = if code == 211 {
            features.to_ascii_uppercase()
        } else {
            String::new()
        };
        let reply = if features.contains("HASH") && features.contains("SHA-256") {
            self.command("OPTS HASH SHA-256").ok()?;
            self.command(&format!("HASH {path}")).ok()?
        } else if features.contains("XSHA256") {
            self.command(&format!("XSHA256 {path}")).ok()?
        } else {
            return None;
        };
        matches!(reply.0, 213 | 250)
            .then(|| find_sha256(&reply.1))
            .flatten()
    }
}

/// The port of `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`: `p1 * 256 + p2`.
/// The address in the reply is read but not used (see [`port_argument`]).
fn pasv_port(reply: &str) -> Option<u16> {
    let start = reply.find('(')? + 1;
    let end = start + reply[start..].find(')')?;
    let fields: Vec<u8> = reply[start..end]
        .split(',')
        .map(|f| f.trim().parse::<u8>().ok())
        .collect::<Option<_>>()?;
    (fields.len() == 6).then(|| u16::from(fields[4]) << 8 | u16::from(fields[5]))
}

/// The `PORT` argument that sends the source to `port` at `host`:
/// `h1,h2,h3,h4,p1,p2`.
fn port_argument(host: Ipv4Addr, port: u16) -> String {
    let [h1, h2, h3, h4] = host.octets();
    let [p1, p2] = port.to_be_bytes();
    format!("{h1},{h2},{h3},{h4},{p1},{p2}")
}

/// Moves `from_path` (`size` bytes) from the server of `from` to the server
/// of `to`: written as `to_path` + `temp_suffix`, checked, then renamed.
/// With `retry`, a temporary file an earlier attempt left is continued.
pub fn fxp_transfer(
    from: &Connector,
    from_path: &str,
    to: &Connector,
    to_path: &str,
    temp_suffix: &str,
    size: u64,
    retry: bool,
) -> Result<FxpReport> {
    let mut src = Control::connect(from)?;
    let mut dst = Control::connect(to)?;
    let temp = format!("{to_path}{temp_suffix}");
    let offset = match dst.size(&temp)? {
        Some(kept) if retry && kept <= size => kept,
        _ => 0,
    };
    let mut report = FxpReport {
        from: src.target.clone(),
        to: dst.target.clone(),
        from_path: from_path.to_owned(),
        to_path: to_path.to_owned(),
        size,
        resumed_from: offset,
        verified_by: "size",
        sha256: None,
        progress_seen: offset,
    };
    if offset < size || size == 0 {
        let pasv = dst.expect("PASV", &[227])?;
        let Some(port) = pasv_port(&pasv) else {
            return Err(ConnectorError::Refused {
                target: dst.target.clone(),
                doing: "PASV".into(),
                message: format!("cannot read the address in `{}`", pasv.trim_end()),
            });
        };
        // The source is sent to the destination's control address, not to
        // the one its reply names, as ferry's own passive connections are:
        // a partner's server must not be able to point the other partner's
        // server at an address of its choosing (an FTP bounce into the
        // source's network).
        let address = port_argument(dst.peer_v4()?, port);
        src.expect(&format!("PORT {address}"), &[200])?;
        if offset > 0 {
            src.expect(&format!("REST {offset}"), &[350])?;
        }
        // The destination answers STOR only once the source has connected,
        // so STOR is sent first and its reply read after RETR's.
        let store = if offset > 0 {
            format!("APPE {temp}")
        } else {
            format!("STOR {temp}")
        };
        dst.send(&store, &store)?;
        src.expect(&format!("RETR {from_path}"), &[125, 150])?;
        dst.expect_reply(&store, &[125, 150])?;
        let cut = [&src, &dst]
            .iter()
            .filter_map(|c| c.reader.get_ref().try_clone().ok())
            .collect();
        let progress = watch(to, &temp, size, cut);
        let done_src = src.expect_reply(&format!("RETR {from_path}"), &[226, 250]);
        let done_dst = dst.expect_reply(&store, &[226, 250]);
        report.progress_seen = progress.stop();
        done_src?;
        done_dst?;
    }
    let written = dst.size(&temp)?;
    if written != Some(size) {
        let _ = dst.command(&format!("DELE {temp}"));
        return Err(ConnectorError::Verify {
            target: dst.target.clone(),
            path: temp,
            why: format!("the destination holds {written:?} bytes, the source {size}"),
        });
    }
    if let (Some(theirs), Some(ours)) = (dst.sha256(&temp), src.sha256(from_path)) {
        if theirs != ours {
            let _ = dst.command(&format!("DELE {temp}"));
            return Err(ConnectorError::Verify {
                target: dst.target.clone(),
                path: temp,
                why: format!("SHA-256 {theirs} on the destination, {ours} on the source"),
            });
        }
        report.verified_by = "sha256";
        report.sha256 = Some(theirs);
    }
    dst.expect(&format!("RNFR {temp}"), &[350])?;
    dst.expect(&format!("RNTO {to_path}"), &[250])?;
    let _ = src.command("QUIT");
    let _ = dst.command("QUIT");
    Ok(report)
}

/// Watches the destination's temporary file grow, on a connection of its
/// own. A test fault (`FERRY_FAULTS=fxp.drop`) cuts the transfer once it has
/// started, to exercise the resume.
struct Watch {
    stop: Arc<AtomicBool>,
    seen: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn watch(to: &Connector, temp: &str, size: u64, cut: Vec<TcpStream>) -> Watch {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let thread = Control::connect(to).ok().map(|mut control| {
        let (stop, seen, temp) = (Arc::clone(&stop), Arc::clone(&seen), temp.to_owned());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(Some(now)) = control.size(&temp) {
                    seen.fetch_max(now, Ordering::SeqCst);
                    if now > 0 && now < size && crate::fault::once("fxp.drop") {
                        tracing::warn!("fault fxp.drop: cutting the transfer");
                        for stream in &cut {
                            let _ = stream.shutdown(Shutdown::Both);
                        }
                    }
                }
                // Under the test fault the watch is closer, to cut early.
                let pause = if crate::fault::check("fxp.drop").is_err() {
                    2
                } else {
                    50
                };
                std::thread::sleep(Duration::from_millis(pause));
            }
            let _ = control.command("QUIT");
        })
    });
    Watch { stop, seen, thread }
}

impl Watch {
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.seen.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pasv_ports_and_writes_port_arguments() {
        assert_eq!(
            pasv_port("227 Entering Passive Mode (10,0,0,7,195,80).\r\n"),
            Some(195 * 256 + 80)
        );
        assert_eq!(
            pasv_port("227 Entering Passive Mode (127,0,0,1,999,80)"),
            None
        );
        assert_eq!(pasv_port("227 Entering Passive Mode (1,2,3,4,5)"), None);
        assert_eq!(pasv_port("227 nothing"), None);
        assert_eq!(
            port_argument(Ipv4Addr::new(127, 0, 0, 1), 195 * 256 + 80),
            "127,0,0,1,195,80"
        );
    }
}
