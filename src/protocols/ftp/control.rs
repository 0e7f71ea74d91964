//! The control connection: lines in, replies out, over plain TCP or TLS
//! (implicit, or after `AUTH TLS`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// The longest command line accepted (RFC 959 sets no limit; paths are at
/// most `MAX_PATH` bytes, so this leaves room for the verb).
pub const MAX_LINE: usize = 4096 + 64;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A line read from the client.
pub enum Line {
    Command(String),
    /// Longer than [`MAX_LINE`]; its bytes were skipped up to the newline.
    TooLong,
}

pub struct Control {
    stream: Option<Stream>,
    buf: Vec<u8>,
    /// `buf[..filled]` holds bytes read and not yet consumed.
    filled: usize,
    /// The client closed its side. Kept, because the read that saw it may
    /// belong to a future that was dropped (a `select!` that went the
    /// other way), and a socket reports its end only once.
    closed: bool,
}

impl Control {
    pub fn new(stream: Stream) -> Control {
        Control {
            stream: Some(stream),
            buf: vec![0; 2 * MAX_LINE],
            filled: 0,
            closed: false,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Some(Stream::Tls(_)))
    }

    fn stream(&mut self) -> io::Result<&mut Stream> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::other("the control connection was lost in a TLS upgrade"))
    }

    /// The next line, without its CRLF; `None` when the client closed.
    ///
    /// A line ends at LF or at a bare CR: clients send ABOR as TCP urgent
    /// data (ftplib sends the whole `ABOR\r\n` so), and the kernel takes
    /// the urgent byte, the LF, out of the stream. Empty lines are skipped.
    pub async fn read_line(&mut self) -> io::Result<Option<Line>> {
        let mut skipping = false;
        loop {
            while let Some(end) = self.buf[..self.filled]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
            {
                // Telnet IP/Synch bytes that some clients put before ABOR.
                let line: Vec<u8> = self.buf[..end]
                    .iter()
                    .copied()
                    .filter(|&b| b < 0xf0)
                    .collect();
                self.buf.copy_within(end + 1..self.filled, 0);
                self.filled -= end + 1;
                if line.is_empty() && !skipping {
                    continue;
                }
                if skipping || line.len() > MAX_LINE {
                    return Ok(Some(Line::TooLong));
                }
                return Ok(Some(Line::Command(
                    String::from_utf8_lossy(&line).into_owned(),
                )));
            }
            if self.filled == self.buf.len() {
                // No newline in a full buffer: drop what is there and keep
                // skipping to the end of this line.
                skipping = true;
                self.filled = 0;
            }
            if self.closed {
                return Ok(None);
            }
            let filled = self.filled;
            let n = {
                let buf = &mut self.buf[filled..];
                let stream = self
                    .stream
                    .as_mut()
                    .ok_or_else(|| io::Error::other("no control connection"))?;
                stream.read(buf).await?
            };
            if n == 0 {
                self.closed = true;
                return Ok(None);
            }
            self.filled += n;
        }
    }

    /// Sends a reply; text with several lines becomes a multi-line reply.
    pub async fn reply(&mut self, code: u16, text: &str) -> io::Result<()> {
        let mut out = String::new();
        let lines: Vec<&str> = text.lines().collect();
        match lines.as_slice() {
            [] => out.push_str(&format!("{code} \r\n")),
            [one] => out.push_str(&format!("{code} {one}\r\n")),
            [first, middle @ .., last] => {
                out.push_str(&format!("{code}-{first}\r\n"));
                for line in middle {
                    // A middle line must not look like the last one.
                    out.push_str(&format!(" {line}\r\n"));
                }
                out.push_str(&format!("{code} {last}\r\n"));
            }
        }
        let stream = self.stream()?;
        stream.write_all(out.as_bytes()).await?;
        stream.flush().await
    }

    /// `AUTH TLS`: the handshake on the same connection. Bytes the client
    /// sent after the AUTH line in plain text are discarded, never read as
    /// commands of the protected session.
    pub async fn upgrade(&mut self, tls: Arc<rustls::ServerConfig>) -> io::Result<()> {
        self.filled = 0;
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return Err(io::Error::other(
                "the control connection is already protected",
            ));
        };
        let tls = tokio_rustls::TlsAcceptor::from(tls).accept(tcp).await?;
        self.stream = Some(Stream::Tls(Box::new(tls)));
        Ok(())
    }

    /// Whether the client has closed the connection, asked of the socket
    /// itself, now: used when a data connection ends, to tell an upload
    /// that was cut off (the client died: its control connection closed
    /// first) from one that is complete. tokio's readiness cannot answer
    /// this: the reactor may not have seen the close yet.
    pub fn closed_now(&mut self) -> bool {
        if self.closed {
            return true;
        }
        if self.filled > 0 {
            return false;
        }
        let tcp = match self.stream.as_ref() {
            Some(Stream::Plain(tcp)) => tcp,
            Some(Stream::Tls(tls)) => tls.get_ref().0,
            None => return true,
        };
        let mut probe = [0u8; 1];
        let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
        self.closed = match rustix::net::recv(tcp, &mut probe, flags) {
            Ok((0, _)) => true,
            Ok(_) => false,
            Err(e) => e != rustix::io::Errno::AGAIN && e != rustix::io::Errno::INTR,
        };
        self.closed
    }

    pub async fn shutdown(&mut self) {
        if let Some(stream) = self.stream.as_mut() {
            let _ = stream.shutdown().await;
        }
    }
}
