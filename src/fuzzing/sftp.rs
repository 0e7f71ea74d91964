//! The SFTP request path: the input is the byte stream a client sends on
//! the `sftp` subsystem's channel, read by ferry's session (packet framing,
//! decoding, dispatch to the handle workers and the mailbox) for partner
//! `alice`, in memory: SSH itself is russh's and not ferry's to fuzz.
//!
//! Promises checked: the session ends by itself once its input ends (no
//! worker hangs) within [`PATIENCE`], and what it sends back is a sequence
//! of whole, decodable SFTP replies. (Replies are not matched to request
//! ids.) One hub serves every input of a process, so inputs see the files
//! earlier ones stored; a crash found that way may need its predecessors.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use russh_sftp::protocol::Packet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::protocols::sftp::session::{Context, Stream, run as run_session};
use crate::tenant::Hub;

const PATIENCE: Duration = Duration::from_secs(30);

struct Fixture {
    hub: Arc<Hub>,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    // Process-wide: the fuzz harness's fixture, made once per fuzzing process.
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = super::scratch("sftp");
        let hub = Hub::open(super::fixture_config(&dir, "")).expect("the fixture's hub");
        let runtime = super::runtime();
        Fixture { hub, runtime }
    })
}

/// Runs one session over the input (see the module's comment).
pub fn run(input: &[u8]) {
    let fixture = fixture();
    let hub = Arc::clone(&fixture.hub);
    let tenant = hub.tenant("acme").expect("the fixture's tenant");
    let peer: SocketAddr = "127.0.0.1:2222".parse().unwrap();
    let account = tenant
        .config()
        .account("alice")
        .map(|(_, account)| account.clone())
        .expect("the fixture's account");
    let ticket = hub
        .open_session(&tenant, "alice", &account, "sftp", peer)
        .expect("a session for alice");
    let cx = Context {
        hub,
        tenant,
        partner: "alice".into(),
        peer,
        ticket,
    };
    let input = input.to_vec();
    let replies = fixture.runtime.block_on(async move {
        let (client, server) = tokio::io::duplex(64 << 10);
        let (from_client, to_client) = tokio::io::split(server);
        let session = tokio::spawn(run_session(from_client, Stream(to_client), cx, None));
        let (mut from_server, mut to_server) = tokio::io::split(client);
        // Written while the replies are read: a session whose replies are
        // not read stops reading requests.
        let writer = tokio::spawn(async move {
            let _ = to_server.write_all(&input).await;
            let _ = to_server.shutdown().await;
        });
        let mut replies = Vec::new();
        tokio::time::timeout(PATIENCE, from_server.read_to_end(&mut replies))
            .await
            .expect("the session did not end after its input ended")
            .expect("reading the replies");
        writer.await.expect("the writer");
        session.await.expect("the session panicked");
        replies
    });
    check_replies(&replies);
}

fn check_replies(mut replies: &[u8]) {
    while !replies.is_empty() {
        assert!(
            replies.len() >= 4,
            "a reply's length cut short: {replies:?}"
        );
        let len = u32::from_be_bytes(replies[..4].try_into().unwrap()) as usize;
        assert!(
            replies.len() >= 4 + len,
            "a reply of {len} bytes cut short at {}",
            replies.len() - 4
        );
        let mut body = Bytes::copy_from_slice(&replies[4..4 + len]);
        let kind = body.first().copied();
        let packet = Packet::try_from(&mut body)
            .unwrap_or_else(|e| panic!("a reply (type {kind:?}) does not decode: {e}"));
        assert!(
            matches!(
                packet,
                Packet::Version(_)
                    | Packet::Status(_)
                    | Packet::Handle(_)
                    | Packet::Data(_)
                    | Packet::Name(_)
                    | Packet::Attrs(_)
                    | Packet::ExtendedReply(_)
            ),
            "a reply that is a request: {packet:?}"
        );
        replies = &replies[4 + len..];
    }
}
