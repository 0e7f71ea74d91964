//! Data connections: passive (PASV, EPSV) and active (PORT, EPRT, off by
//! default), plain or TLS (`PROT P`), and the blocking copy loops that move
//! files through them with large buffers.
//!
//! A transfer runs on a blocking thread with a `std` socket (and rustls'
//! blocking stream for TLS): the store's writes are blocking anyway, and a
//! plain loop of 256 KiB reads and writes is the fastest way through.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Bytes moved per read or write.
pub const BUFFER: usize = 256 << 10;
/// How long a client has to open the data connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a data connection may stall before the transfer fails.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the next transfer's data connection comes from.
pub enum Channel {
    Passive(TcpListener),
    Active(SocketAddr),
}

/// Opens a passive listener on the control connection's local address, on
/// a port from `range` (or any). The port range is tried from a random
/// start, so that parallel sessions do not all collide on the first port.
pub async fn listen(local: IpAddr, range: Option<(u16, u16)>) -> io::Result<TcpListener> {
    let Some((first, last)) = range else {
        return TcpListener::bind((local, 0)).await;
    };
    let count = u32::from(last - first) + 1;
    let start = rand::random::<u32>() % count;
    for i in 0..count {
        let port = first + ((start + i) % count) as u16;
        match TcpListener::bind((local, port)).await {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("every passive port from {first} to {last} is in use"),
    ))
}

/// Waits for the client's data connection. Connections from any other
/// address than the control connection's are refused (closed) and the wait
/// goes on: no third party can inject or steal a file.
pub async fn open(channel: Channel, client: IpAddr) -> io::Result<std::net::TcpStream> {
    let stream = match channel {
        Channel::Passive(listener) => {
            let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
            loop {
                let (stream, from) = tokio::time::timeout_at(deadline, listener.accept())
                    .await
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "no data connection came")
                    })??;
                if from.ip() == client {
                    break stream;
                }
                tracing::warn!(%from, expected = %client, "data connection from a foreign address refused");
            }
        }
        Channel::Active(to) => tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client did not answer"))??,
    };
    // Nagle's algorithm stays on: a data connection carries bulk bytes,
    // where coalescing segments can only help, and its last segment goes
    // out with the shutdown that ends the transfer.
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    Ok(stream)
}

/// An open data connection, on a blocking thread.
pub enum Data {
    Plain(std::net::TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>>),
}

impl Data {
    /// Wraps the socket in TLS when the session asked for `PROT P`.
    pub fn new(
        socket: std::net::TcpStream,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Data> {
        let Some(config) = tls else {
            return Ok(Data::Plain(socket));
        };
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        let mut stream = rustls::StreamOwned::new(conn, socket);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Data::Tls(Box::new(stream)))
    }

    /// Ends the connection cleanly: TLS `close_notify`, then FIN.
    pub fn finish(mut self) -> io::Result<()> {
        if let Data::Tls(stream) = &mut self {
            stream.conn.send_close_notify();
            stream.flush()?;
        }
        let socket = match &self {
            Data::Plain(s) => s,
            Data::Tls(s) => &s.sock,
        };
        let _ = socket.shutdown(std::net::Shutdown::Write);
        Ok(())
    }
}

impl Read for Data {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Data::Plain(s) => s.read(buf),
            Data::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Data {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Data::Plain(s) => s.write(buf),
            Data::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Data::Plain(s) => s.flush(),
            Data::Tls(s) => s.flush(),
        }
    }
}

/// Parses `h1,h2,h3,h4,p1,p2` (PORT).
pub fn parse_port(arg: &str) -> Option<SocketAddr> {
    let n: Vec<u8> = arg
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d, p1, p2] = n.as_slice() else {
        return None;
    };
    let ip = IpAddr::from([*a, *b, *c, *d]);
    Some(SocketAddr::new(ip, u16::from(*p1) << 8 | u16::from(*p2)))
}

/// Parses `|1|h|port|` or `|2|h|port|` (EPRT).
pub fn parse_eprt(arg: &str) -> Option<SocketAddr> {
    let delim = arg.chars().next()?;
    let parts: Vec<&str> = arg.split(delim).collect();
    let [_, proto, host, port, _] = parts.as_slice() else {
        return None;
    };
    let ip: IpAddr = host.parse().ok()?;
    match (*proto, ip) {
        ("1", IpAddr::V4(_)) | ("2", IpAddr::V6(_)) => {}
        _ => return None,
    }
    Some(SocketAddr::new(ip, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_arguments() {
        assert_eq!(
            parse_port("127,0,0,1,195,80"),
            Some("127.0.0.1:50000".parse().unwrap())
        );
        assert_eq!(parse_port("127,0,0,1,195"), None);
        assert_eq!(parse_port("127,0,0,1,256,1"), None);
        assert_eq!(
            parse_eprt("|1|127.0.0.1|50000|"),
            Some("127.0.0.1:50000".parse().unwrap())
        );
        assert_eq!(parse_eprt("|2|::1|21|"), Some("[::1]:21".parse().unwrap()));
        assert_eq!(parse_eprt("|2|127.0.0.1|21|"), None);
        assert_eq!(parse_eprt("|1|x|21|"), None);
    }
}
