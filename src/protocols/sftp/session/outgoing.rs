//! Where a session's replies go. Over SSH they are handed to the channel as
//! owned bytes: russh slices them into packets as the client's window
//! allows, without the copy (and the second buffer of up to 32 KiB a
//! message) that writing through the channel's `AsyncWrite` makes. The
//! fuzzing harness, which has no SSH channel, writes them to a byte stream.

use std::future::Future;
use std::io;

use bytes::Bytes;
use russh::ChannelWriteHalf;

pub trait Outgoing: Send + 'static {
    /// Sends encoded replies, in order; returns once they are queued for
    /// the connection (not once the client has them).
    fn send(&mut self, replies: Bytes) -> impl Future<Output = io::Result<()>> + Send;
    /// Ends the output after the last reply: end of data, then the
    /// channel's close.
    fn finish(self) -> impl Future<Output = ()> + Send;
}

impl Outgoing for ChannelWriteHalf<russh::server::Msg> {
    async fn send(&mut self, replies: Bytes) -> io::Result<()> {
        self.data_bytes(replies).await.map_err(io::Error::other)
    }

    async fn finish(self) {
        let _ = self.eof().await;
        let _ = self.close().await;
    }
}

/// Replies written to a byte stream (the fuzzing harness).
#[cfg(any(test, feature = "fuzzing"))]
pub struct Stream<W>(pub W);

#[cfg(any(test, feature = "fuzzing"))]
impl<W: tokio::io::AsyncWrite + Unpin + Send + 'static> Outgoing for Stream<W> {
    async fn send(&mut self, replies: Bytes) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.0.write_all(&replies).await?;
        self.0.flush().await
    }

    async fn finish(mut self) {
        use tokio::io::AsyncWriteExt;
        let _ = self.0.shutdown().await;
    }
}
