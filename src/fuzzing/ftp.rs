//! The FTP command path: ferry's FTP listener, served in this process on a
//! loopback port, and a client that sends the input's lines one by one as
//! commands. Where a command opens a passive data connection (`PASV`,
//! `EPSV`), the client connects to it and uses it for the next transfer, so
//! that uploads, downloads and listings run to their end too.
//!
//! Promises checked: every reply is well formed (`ddd text`, or a
//! multi-line `ddd-` ... `ddd text` of one code), arrives within
//! [`PATIENCE`], a transfer's `1xx` is followed by its final reply, and the
//! server greets the next connection (it lives on whatever one session sent).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::tenant::Hub;

/// How long one reply may take: longer than the server waits for a data
/// connection (30 s) before its `425`, and generous for a loaded machine;
/// a server that does not answer a command at all is a bug.
const PATIENCE: Duration = Duration::from_secs(45);
/// Commands sent per input.
const MAX_COMMANDS: usize = 64;

struct Fixture {
    port: u16,
    _hub: Arc<Hub>,
    _runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    // Process-wide: the fuzz harness's fixture (one server), made once per fuzzing process.
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = super::scratch("ftp");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = super::fixture_config(
            &dir,
            &format!(
                "[[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{port}\"\ntenant = \"acme\"\n"
            ),
        );
        let listener = config.listeners[0].clone();
        let hub = Hub::open(config).expect("the fixture's hub");
        let runtime = super::runtime();
        let serve = runtime
            .block_on(crate::protocols::ftp::bind(Arc::clone(&hub), listener))
            .expect("binding the fixture's FTP listener");
        runtime.spawn(serve);
        Fixture {
            port,
            _hub: hub,
            _runtime: runtime,
        }
    })
}

/// A reply: its code and its lines.
struct Reply {
    code: u16,
    lines: Vec<String>,
}

enum Ended {
    /// The server closed the connection (after `QUIT`, or a `421`).
    Closed,
}

/// Reads one reply, checking its form; `Err` when the connection closed.
fn read_reply(reader: &mut impl BufRead, after: &str) -> Result<Reply, Ended> {
    let mut lines = Vec::new();
    let mut first_code = None;
    loop {
        let mut raw = Vec::new();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) if lines.is_empty() => return Err(Ended::Closed),
            Ok(0) => panic!("the reply to {after:?} ended mid-way: {lines:?}"),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("no reply to {after:?} within {PATIENCE:?} (so far {lines:?})")
            }
            Err(_) => return Err(Ended::Closed),
        }
        assert!(
            raw.ends_with(b"\r\n"),
            "a reply line to {after:?} does not end with CRLF: {raw:?}"
        );
        let line = String::from_utf8(raw[..raw.len() - 2].to_vec())
            .unwrap_or_else(|e| panic!("a reply line to {after:?} is not UTF-8: {e}"));
        let code = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok());
        let separator = line.as_bytes().get(3).copied();
        match first_code {
            None => {
                let code = code.unwrap_or_else(|| {
                    panic!("the reply to {after:?} does not start with a code: {line:?}")
                });
                assert!((100..600).contains(&code), "reply code {code} to {after:?}");
                lines.push(line);
                match separator {
                    Some(b' ') | None => return Ok(Reply { code, lines }),
                    Some(b'-') => first_code = Some(code),
                    Some(_) => panic!("the reply to {after:?} is malformed: {:?}", lines[0]),
                }
            }
            Some(first) => {
                lines.push(line);
                if code == Some(first) && separator == Some(b' ') {
                    return Ok(Reply { code: first, lines });
                }
            }
        }
    }
}

/// The address of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`.
fn pasv_address(text: &str) -> Option<SocketAddr> {
    let inside = text.split_once('(')?.1.split_once(')')?.0;
    let numbers: Vec<u8> = inside
        .split(',')
        .map(|n| n.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d, p1, p2] = numbers[..] else {
        return None;
    };
    let ip = Ipv4Addr::new(a, b, c, d);
    ip.is_loopback()
        .then(|| SocketAddr::from((ip, u16::from(p1) << 8 | u16::from(p2))))
}

/// The port of a `229 Entering Extended Passive Mode (|||port|)`.
fn epsv_address(text: &str) -> Option<SocketAddr> {
    let inside = text.split_once("(|||")?.1.split_once("|)")?.0;
    Some(SocketAddr::from((
        Ipv4Addr::LOCALHOST,
        inside.parse().ok()?,
    )))
}

/// Uses a data connection for the transfer a `1xx` announced.
fn transfer(mut data: TcpStream, verb: &str, line: &[u8]) {
    let _ = data.set_read_timeout(Some(PATIENCE));
    let _ = data.set_write_timeout(Some(PATIENCE));
    if matches!(verb, "STOR" | "APPE" | "STOU") {
        // The upload's content: the command line, repeated to 8 KiB.
        let content: Vec<u8> = line.iter().copied().cycle().take(8192).collect();
        let _ = data.write_all(&content);
        let _ = data.shutdown(std::net::Shutdown::Write);
    }
    let _ = std::io::copy(&mut (&mut data).take(1 << 20), &mut std::io::sink());
}

/// Runs one session of the input's lines (see the module's comment).
pub fn run(input: &[u8]) {
    let fixture = fixture();
    let control = TcpStream::connect(("127.0.0.1", fixture.port))
        .expect("ferry's FTP listener no longer accepts connections");
    control.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut writer = control.try_clone().unwrap();
    let mut reader = BufReader::new(control);
    let banner = read_reply(&mut reader, "connecting").unwrap_or_else(|_| panic!("no greeting"));
    assert_eq!(banner.code, 220, "greeting: {:?}", banner.lines);

    let mut data: Option<TcpStream> = None;
    // Lines as the server frames them: ended by CR or LF, Telnet command
    // bytes (0xF0 and up) dropped, empty lines skipped without a reply.
    let lines = input
        .split(|&b| b == b'\n' || b == b'\r')
        .map(|line| {
            line.iter()
                .copied()
                .filter(|&b| b < 0xf0)
                .collect::<Vec<u8>>()
        })
        .filter(|line| !line.is_empty())
        .take(MAX_COMMANDS);
    for line in lines {
        let line = &line[..];
        let shown = String::from_utf8_lossy(line).into_owned();
        let mut command = line.to_vec();
        command.extend_from_slice(b"\r\n");
        if writer.write_all(&command).is_err() {
            return;
        }
        let verb = shown
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let Ok(reply) = read_reply(&mut reader, &shown) else {
            return;
        };
        match reply.code {
            // The session goes on in TLS, which this client does not speak.
            234 => return,
            227 | 229 => {
                let address = if reply.code == 227 {
                    pasv_address(&reply.lines[0])
                } else {
                    epsv_address(&reply.lines[0])
                };
                // A port this client cannot reach (out of local ports under
                // fuzzing) ends the input: the server would wait for it.
                match address.map(TcpStream::connect) {
                    Some(Ok(stream)) => data = Some(stream),
                    Some(Err(_)) => return,
                    None => data = None,
                }
            }
            125 | 150 => {
                if let Some(stream) = data.take() {
                    transfer(stream, &verb, line);
                }
                match read_reply(&mut reader, &shown) {
                    Ok(done) => assert!(
                        done.code >= 200,
                        "{shown:?}: {} after {}",
                        done.code,
                        reply.code
                    ),
                    Err(Ended::Closed) => return,
                }
            }
            _ => {}
        }
    }
}
