//! Content in an S3-compatible object store that several nodes share.
//!
//! ```text
//! TENANT/objects/<sha256>   committed content, named by its SHA-256
//! TENANT/uploads/<random>   a multipart upload in progress, and for a moment
//!                           after it completes, before its copy by hash
//! ```
//!
//! A large upload goes up as a multipart upload in parts of [`PART`] bytes,
//! hashed as they go. After each part the store knows the upload's id, the
//! parts' ids and the SHA-256 state after them; that is the upload's
//! suspension token, which [`Progress`] hands to the journal as parts
//! complete. A node that dies mid-upload therefore leaves an upload that
//! any node resumes from the last complete part, with the hash going on
//! from the saved state: object-store libraries' streaming helpers hide
//! those ids, so the parts are driven one by one here. Parts in an
//! unfinished multipart upload are invisible to every reader by S3's
//! design; the content becomes reachable under its hash only by a copy
//! after the upload completed. Content that fits in one part is put
//! directly under its hash.
//!
//! The client is asynchronous and runs on a small runtime of its own; the
//! store's callers are synchronous threads (the file pool, the pipeline).

use std::collections::HashSet;
use std::io;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt as _, RetryConfig};
use serde::{Deserialize, Serialize};
use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest as _, Sha256};

use super::{Backend, ContentHash, ObjectRead, Progress, Staging, StoreError};

/// The size of every part but the last (S3 wants at least 5 MiB).
const PART: usize = 8 << 20;
/// Parts an upload sends while it fills the next. Measured here (1 GiB over
/// SFTP to s3s-fs on the same 2 cores): 20 s with one in flight, 19-20 s
/// with two, so one, and memory stays at two parts per upload; a remote
/// store with longer round trips may want more.
const IN_FLIGHT: usize = 1;
/// How much a download fetches per request.
const WINDOW: u64 = 4 << 20;
/// Windows a download asks for ahead of the one it reads: requests to an
/// object store take a round trip each, so one at a time leaves the
/// stream waiting (measured here: 1 GiB in 23 s with one ahead).
const AHEAD: usize = 3;
/// Uploads that completed but were never copied by hash (their node died
/// in between) are removed by the sweep after this long.
const ORPHANED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Where the object store is and how to sign requests to it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// `http(s)://HOST:PORT` of an S3-compatible server; AWS itself when
    /// `None`.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// A connection to one bucket, shared by every tenant's store.
#[derive(Clone, Debug)]
pub struct S3 {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: AmazonS3,
    /// Named in every error: `s3://BUCKET at ENDPOINT`.
    name: String,
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which tokio refuses
        // inside another runtime; nothing here needs to finish.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl S3 {
    /// Connects to the bucket and checks that it answers: a wrong endpoint,
    /// bucket or key fails here, at start, naming what was tried.
    pub fn connect(settings: &S3Settings) -> Result<S3, StoreError> {
        let name = match &settings.endpoint {
            Some(endpoint) => format!("s3://{} at {endpoint}", settings.bucket),
            None => format!("s3://{}", settings.bucket),
        };
        let remote = |doing: &'static str| {
            let name = name.clone();
            move |e: object_store::Error| StoreError::Remote {
                endpoint: name,
                doing,
                source: Box::new(e),
            }
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            // A store that does not answer must turn into a clear error for
            // the client within seconds, not minutes of retries.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(60)),
            );
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        match (&settings.access_key_id, &settings.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
            }
            _ => builder = builder.with_skip_signature(true),
        }
        let client = builder.build().map_err(remote("configuring the client"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ferry-s3")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io {
                doing: "starting the object store's runtime",
                source,
            })?;
        let s3 = S3 {
            inner: Arc::new(Inner {
                client,
                name: name.clone(),
                runtime: Some(runtime),
            }),
        };
        // A missing key answers "not found"; anything else (no server, no
        // bucket, a refused key) is an error worth stopping for.
        let probe = Path::from("ferry-probe/does-not-exist");
        match s3.run(move |c| async move { c.head(&probe).await }) {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(s3),
            Err(e) => Err(remote("checking that the bucket answers")(e)),
        }
    }

    /// The store of one tenant: its objects under `TENANT/`.
    pub(super) fn tenant(&self, tenant: &str) -> S3Tenant {
        S3Tenant {
            s3: self.clone(),
            prefix: tenant.to_owned(),
        }
    }

    /// Runs a request on the store's runtime and waits for it; callable
    /// from any thread (on a runtime's worker, the worker's other tasks
    /// move elsewhere first).
    fn run<T, F>(&self, request: impl FnOnce(AmazonS3) -> F) -> Result<T, object_store::Error>
    where
        F: Future<Output = Result<T, object_store::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let receiver = self.spawn(request);
        wait(receiver)
    }

    /// Starts a request; its answer arrives on the receiver.
    fn spawn<T, F>(
        &self,
        request: impl FnOnce(AmazonS3) -> F,
    ) -> Receiver<Result<T, object_store::Error>>
    where
        F: Future<Output = Result<T, object_store::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let (sender, receiver) = sync_channel(1);
        let future = request(self.inner.client.clone());
        let runtime = self
            .inner
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the store");
        runtime.spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver
    }

    fn error(&self, doing: &'static str) -> impl FnOnce(object_store::Error) -> StoreError {
        let endpoint = self.inner.name.clone();
        move |e| StoreError::Remote {
            endpoint,
            doing,
            source: Box::new(e),
        }
    }
}

/// Waits for an answer started with [`S3::spawn`].
fn wait<T>(receiver: Receiver<Result<T, object_store::Error>>) -> Result<T, object_store::Error> {
    let answer = || {
        receiver.recv().unwrap_or_else(|_| {
            Err(object_store::Error::Generic {
                store: "S3",
                source: "the object store's runtime stopped".into(),
            })
        })
    };
    crate::blocking::off_the_runtime(answer)
}

/// One tenant's part of the bucket.
#[derive(Debug, Clone)]
pub(super) struct S3Tenant {
    s3: S3,
    prefix: String,
}

impl S3Tenant {
    fn object(&self, hash: &ContentHash) -> Path {
        Path::from(format!("{}/objects/{hash}", self.prefix))
    }
}

/// What a suspended upload is resumed from (as JSON after `s3:`).
#[derive(Debug, Serialize, Deserialize)]
struct Token {
    key: String,
    id: String,
    /// The ids (ETags) of the complete parts, in order.
    parts: Vec<String>,
    /// Bytes in those parts.
    size: u64,
    /// The SHA-256 state after them, hex.
    sha: String,
}

impl Token {
    fn parse(text: &str) -> Option<Token> {
        serde_json::from_str(text.strip_prefix("s3:")?).ok()
    }

    fn text(&self) -> String {
        format!(
            "s3:{}",
            serde_json::to_string(self).expect("a token serialises")
        )
    }
}

impl Backend for S3Tenant {
    fn stage(&self) -> Result<Box<dyn Staging>, StoreError> {
        Ok(Box::new(S3Staging {
            tenant: self.clone(),
            key: Path::from(format!(
                "{}/uploads/{:032x}",
                self.prefix,
                rand::random::<u128>()
            )),
            id: None,
            parts: Vec::new(),
            buf: Vec::new(),
            sha: Sha256::new(),
            size: 0,
            kept: 0,
            in_flight: Default::default(),
            landed_sha: Sha256::new(),
            progress: None,
            done: false,
        }))
    }

    fn resume(&self, suspended: &str, size: u64) -> Result<Box<dyn Staging>, StoreError> {
        let not = || StoreError::NotResumable(suspended.chars().take(80).collect());
        let token = Token::parse(suspended).ok_or_else(not)?;
        let key = format!("{}/uploads/", self.prefix);
        if token.size != size || !token.key.starts_with(&key) {
            return Err(not());
        }
        let state = hex::decode(&token.sha).map_err(|_| not())?;
        let state = SerializedState::<Sha256>::try_from(&state[..]).map_err(|_| not())?;
        let sha = Sha256::deserialize(&state).map_err(|_| not())?;
        Ok(Box::new(S3Staging {
            tenant: self.clone(),
            key: Path::from(token.key),
            id: Some(token.id),
            parts: token.parts,
            buf: Vec::new(),
            landed_sha: sha.clone(),
            sha,
            size,
            kept: size,
            in_flight: Default::default(),
            progress: None,
            done: false,
        }))
    }

    fn open(&self, hash: &ContentHash) -> Result<(Box<dyn ObjectRead>, u64), StoreError> {
        let path = self.object(hash);
        let head = path.clone();
        let size = match self.s3.run(move |c| async move { c.head(&head).await }) {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return Err(StoreError::NotFound(*hash)),
            Err(e) => return Err(self.s3.error("opening an object")(e)),
        };
        Ok((
            Box::new(S3Object {
                s3: self.s3.clone(),
                path,
                size,
                window: Mutex::new(Window::default()),
            }),
            size,
        ))
    }

    fn discard(&self, suspended: &str) {
        let Some(token) = Token::parse(suspended) else {
            return;
        };
        if !token.key.starts_with(&format!("{}/uploads/", self.prefix)) {
            return;
        }
        let key = Path::from(token.key);
        // Best effort: an upload left behind is the bucket's lifecycle
        // rule's to abort (see README, "Running several nodes").
        let _ = self.s3.run(move |c| async move {
            let _ = c.abort_multipart(&key, &token.id).await;
            match c.delete(&key).await {
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                other => other,
            }
        });
    }

    fn clean_staging(&self, _keep: &[String]) -> Result<usize, StoreError> {
        // Uploads in progress here may be other nodes': nothing is a
        // leftover by being unknown to this one. The sweep removes what a
        // death between an upload's completion and its copy left.
        Ok(0)
    }

    fn sweep(&self, in_use: &HashSet<ContentHash>, grace: Duration) -> Result<usize, StoreError> {
        let objects = Path::from(format!("{}/objects", self.prefix));
        let uploads = Path::from(format!("{}/uploads", self.prefix));
        let list = |prefix: Path| {
            self.s3.run(move |c| async move {
                let mut listing = c.list(Some(&prefix));
                let mut found = Vec::new();
                while let Some(meta) = listing.next().await {
                    found.push(meta?);
                }
                Ok(found)
            })
        };
        let old = |meta: &object_store::ObjectMeta, age: Duration| {
            chrono::Utc::now()
                .signed_duration_since(meta.last_modified)
                .to_std()
                .is_ok_and(|passed| passed > age)
        };
        let mut doomed = Vec::new();
        for meta in list(objects).map_err(self.s3.error("listing the objects"))? {
            let Some(Ok(hash)) = meta.location.filename().map(str::parse::<ContentHash>) else {
                continue;
            };
            if !in_use.contains(&hash) && old(&meta, grace) {
                doomed.push(meta.location);
            }
        }
        for meta in list(uploads).map_err(self.s3.error("listing the uploads"))? {
            if old(&meta, ORPHANED_AFTER) {
                doomed.push(meta.location);
            }
        }
        let mut removed = 0;
        for path in doomed {
            // A commit of the same content rewrites the object (a fresh
            // modification time): look again just before the delete.
            let head = path.clone();
            match self.s3.run(move |c| async move { c.head(&head).await }) {
                Ok(meta) if old(&meta, grace) => {}
                _ => continue,
            }
            self.s3
                .run(move |c| async move { c.delete(&path).await })
                .map_err(self.s3.error("removing an object"))?;
            removed += 1;
        }
        Ok(removed)
    }

    fn same_write(&self, a: &str, b: &str) -> bool {
        match (Token::parse(a), Token::parse(b)) {
            (Some(a), Some(b)) => a.key == b.key && a.id == b.id,
            _ => a == b,
        }
    }
}

/// A part on its way up.
struct InFlight {
    answer: Receiver<Result<PartId, object_store::Error>>,
    /// The upload's size once this part is in.
    size: u64,
    /// The hash state once this part is in.
    sha: Sha256,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("size", &self.size)
            .finish()
    }
}

/// A large upload going up part by part. Up to [`IN_FLIGHT`] parts are sent
/// while the next fills, so an upload holds at most `IN_FLIGHT + 1` parts
/// in memory.
#[derive(Debug)]
struct S3Staging {
    tenant: S3Tenant,
    key: Path,
    /// The multipart upload's id, from its first full part on.
    id: Option<String>,
    /// The ids of the parts that are in.
    parts: Vec<String>,
    /// The part being filled.
    buf: Vec<u8>,
    /// The hash of every byte handed to a part.
    sha: Sha256,
    /// Bytes taken.
    size: u64,
    /// Bytes in the parts that are in.
    kept: u64,
    /// Parts sent and not yet answered, oldest first.
    in_flight: std::collections::VecDeque<InFlight>,
    /// The hash state after the parts that are in.
    landed_sha: Sha256,
    progress: Option<Progress>,
    /// Committed, suspended or discarded: nothing left to give up.
    done: bool,
}

impl S3Staging {
    fn token(&self) -> Token {
        Token {
            key: self.key.to_string(),
            id: self.id.clone().unwrap_or_default(),
            parts: self.parts.clone(),
            size: self.kept,
            sha: hex::encode(self.landed_sha.serialize()),
        }
    }

    /// Waits for the oldest part in flight and records it.
    fn land(&mut self) -> Result<(), StoreError> {
        let Some(flight) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let part = wait(flight.answer).map_err(self.tenant.s3.error("sending a part"))?;
        self.parts.push(part.content_id);
        self.kept = flight.size;
        self.landed_sha = flight.sha;
        if let Some(progress) = &self.progress {
            progress.tell(&self.token().text(), self.kept);
        }
        Ok(())
    }

    /// Waits for every part in flight.
    fn land_all(&mut self) -> Result<(), StoreError> {
        while !self.in_flight.is_empty() {
            self.land()?;
        }
        Ok(())
    }

    /// Sends the part being filled (once fewer than [`IN_FLIGHT`] are).
    fn send(&mut self) -> Result<(), StoreError> {
        if self.in_flight.len() >= IN_FLIGHT {
            self.land()?;
        }
        let part = std::mem::take(&mut self.buf);
        self.sha.update(&part);
        let id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let key = self.key.clone();
                let id = self
                    .tenant
                    .s3
                    .run(move |c| async move { c.create_multipart(&key).await })
                    .map_err(self.tenant.s3.error("starting a multipart upload"))?;
                self.id = Some(id.clone());
                id
            }
        };
        let (key, index) = (self.key.clone(), self.parts.len() + self.in_flight.len());
        let answer = self.tenant.s3.spawn(move |c| async move {
            c.put_part(&key, &id, index, Bytes::from(part).into()).await
        });
        // The part holds every byte taken so far.
        self.in_flight.push_back(InFlight {
            answer,
            size: self.size,
            sha: self.sha.clone(),
        });
        Ok(())
    }

    fn give_up(&mut self) {
        self.done = true;
        for flight in std::mem::take(&mut self.in_flight) {
            let _ = wait(flight.answer);
        }
        if let Some(id) = self.id.take() {
            let key = self.key.clone();
            let _ = self
                .tenant
                .s3
                .run(move |c| async move { c.abort_multipart(&key, &id).await });
        }
    }
}

impl Staging for S3Staging {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.done {
            return Err(io::Error::other("the upload is already finished"));
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(PART);
        }
        let n = buf.len().min(PART - self.buf.len());
        self.buf.extend_from_slice(&buf[..n]);
        self.size += n as u64;
        if self.buf.len() == PART {
            self.send().map_err(io::Error::other)?;
        }
        Ok(n)
    }

    fn suspend(mut self: Box<Self>) -> Result<(String, u64), StoreError> {
        // The part being filled is not in the store: it is given up, and
        // the client resumes from the end of the last part that is.
        let landed = self.land_all();
        self.done = true;
        landed?;
        if self.kept == 0 {
            self.give_up();
            return Ok((String::new(), 0));
        }
        Ok((self.token().text(), self.kept))
    }

    fn commit(mut self: Box<Self>) -> Result<ContentHash, StoreError> {
        let s3 = self.tenant.s3.clone();
        if self.id.is_none() {
            // One part's worth at most: put it where it belongs at once.
            self.done = true;
            let part = std::mem::take(&mut self.buf);
            let hash = ContentHash::from_bytes(Sha256::digest(&part).into());
            let path = self.tenant.object(&hash);
            s3.run(move |c| async move { c.put(&path, Bytes::from(part).into()).await })
                .map_err(s3.error("storing an object"))?;
            return Ok(hash);
        }
        if !self.buf.is_empty() {
            self.send()?;
        }
        self.land_all()?;
        self.done = true;
        let hash = ContentHash::from_bytes(self.sha.clone().finalize().into());
        let parts = self
            .parts
            .iter()
            .map(|id| PartId {
                content_id: id.clone(),
            })
            .collect::<Vec<_>>();
        let (key, id, object) = (
            self.key.clone(),
            self.id.clone().unwrap_or_default(),
            self.tenant.object(&hash),
        );
        s3.run(move |c| async move {
            c.complete_multipart(&key, &id, parts).await?;
            // Copied even when the content is there already: the copy's
            // fresh modification time keeps a sweep off it.
            c.copy(&key, &object).await?;
            c.delete(&key).await
        })
        .map_err(s3.error("completing an upload"))?;
        Ok(hash)
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn track(&mut self, progress: Progress) {
        self.progress = Some(progress);
    }
}

impl Drop for S3Staging {
    fn drop(&mut self) {
        if !self.done {
            self.give_up();
        }
    }
}

/// A committed object, read in windows fetched ahead.
#[derive(Debug)]
struct S3Object {
    s3: S3,
    path: Path,
    size: u64,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    start: u64,
    bytes: Bytes,
    /// The next windows, already asked for, in order.
    ahead: std::collections::VecDeque<(u64, Receiver<Result<Bytes, object_store::Error>>)>,
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("start", &self.start)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl S3Object {
    fn fetch(&self, start: u64) -> Receiver<Result<Bytes, object_store::Error>> {
        let end = (start + WINDOW).min(self.size);
        let path = self.path.clone();
        self.s3
            .spawn(move |c| async move { c.get_range(&path, start..end).await })
    }
}

impl ObjectRead for S3Object {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let within = |w: &Window| offset >= w.start && offset < w.start + w.bytes.len() as u64;
        if !within(&window) {
            // Reads mostly go forward, a little out of order (clients keep
            // several in flight): the windows fetched ahead serve them. A
            // jump elsewhere drops them and starts again from there.
            while window
                .ahead
                .front()
                .is_some_and(|(start, _)| start + WINDOW <= offset)
            {
                window.ahead.pop_front();
            }
            let (start, answer) = match window.ahead.pop_front() {
                Some((start, answer)) if offset >= start => (start, answer),
                _ => {
                    window.ahead.clear();
                    (offset, self.fetch(offset))
                }
            };
            let bytes = wait(answer)
                .map_err(|e| io::Error::other(self.s3.error("reading an object")(e)))?;
            window.start = start;
            window.bytes = bytes;
            if !within(&window) {
                return Ok(0);
            }
            let mut next = window
                .ahead
                .back()
                .map_or(start + window.bytes.len() as u64, |(last, _)| last + WINDOW);
            while window.ahead.len() < AHEAD && next < self.size {
                window.ahead.push_back((next, self.fetch(next)));
                next += WINDOW;
            }
        }
        let from = (offset - window.start) as usize;
        let n = buf.len().min(window.bytes.len() - from);
        buf[..n].copy_from_slice(&window.bytes[from..from + n]);
        Ok(n)
    }
}
