//! The threads that do sessions' blocking work (file reads and writes, the
//! journal), shared fairly between tenants.
//!
//! An SFTP handle used to keep a blocking thread for as long as it was
//! open: a partner opening a few hundred directories took the runtime's
//! whole blocking pool, and with it every other tenant's logins. Here a
//! handle costs memory only; each request on it is one job on this pool.
//! Jobs wait in one queue per tenant, and a free thread takes the next job
//! of the next tenant in turn, so a tenant with a thousand jobs queued
//! delays another tenant's job by at most one job per thread. No tenant
//! runs more than three quarters of the threads at once, so that slow jobs
//! of one (a stalled disk, a journal write) leave threads for the others.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queues {
    /// Jobs waiting, by tenant.
    waiting: HashMap<String, VecDeque<Job>>,
    /// Tenants with jobs waiting, in turn order.
    turns: VecDeque<String>,
    /// Jobs running, by tenant.
    running: HashMap<String, usize>,
    stopping: bool,
}

struct Inner {
    queues: Mutex<Queues>,
    wake: Condvar,
    /// Jobs of one tenant running at once, at most.
    per_tenant: usize,
}

/// See the module's documentation.
pub struct Pool {
    inner: Arc<Inner>,
}

impl Pool {
    /// Starts `threads` threads named `name`.
    pub fn new(threads: usize, name: &str) -> Pool {
        let threads = threads.max(1);
        let inner = Arc::new(Inner {
            queues: Mutex::new(Queues::default()),
            wake: Condvar::new(),
            per_tenant: (threads * 3 / 4).max(1),
        });
        for i in 0..threads {
            let inner = Arc::clone(&inner);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || work(&inner));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a file thread");
            }
        }
        Pool { inner }
    }

    /// Runs `job` on the pool in `tenant`'s turn and returns its result;
    /// `None` if it panicked (the panic is logged).
    pub async fn run<T: Send + 'static>(
        &self,
        tenant: &str,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.submit(
            tenant,
            Box::new(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                match outcome {
                    Ok(value) => {
                        let _ = done.send(value);
                    }
                    Err(_) => tracing::error!("a job on the file threads panicked"),
                }
            }),
        );
        result.await.ok()
    }

    fn submit(&self, tenant: &str, job: Job) {
        let mut queues = lock(&self.inner.queues);
        let waiting = queues.waiting.entry(tenant.to_owned()).or_default();
        waiting.push_back(job);
        if waiting.len() == 1 {
            queues.turns.push_back(tenant.to_owned());
        }
        drop(queues);
        self.inner.wake.notify_one();
    }

    /// Jobs waiting and running, for tests and metrics.
    #[cfg(test)]
    fn load(&self, tenant: &str) -> (usize, usize) {
        let queues = lock(&self.inner.queues);
        (
            queues.waiting.get(tenant).map_or(0, VecDeque::len),
            queues.running.get(tenant).copied().unwrap_or(0),
        )
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        lock(&self.inner.queues).stopping = true;
        self.inner.wake.notify_all();
    }
}

fn work(inner: &Inner) {
    let mut queues = lock(&inner.queues);
    loop {
        if queues.stopping {
            return;
        }
        let Some((tenant, job)) = next(&mut queues, inner.per_tenant) else {
            queues = inner.wake.wait(queues).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        *queues.running.entry(tenant.clone()).or_default() += 1;
        drop(queues);
        job();
        queues = lock(&inner.queues);
        if let Some(running) = queues.running.get_mut(&tenant) {
            *running -= 1;
            if *running == 0 {
                queues.running.remove(&tenant);
            }
        }
        // A tenant held back by its share may go on now. Only then: a
        // wake-up with nothing to take costs a sleeping thread two context
        // switches, on every job.
        if !queues.turns.is_empty() {
            inner.wake.notify_one();
        }
    }
}

/// The next job: the first tenant in turn below its share gives one, and
/// goes to the back of the turns if it has more.
fn next(queues: &mut Queues, per_tenant: usize) -> Option<(String, Job)> {
    let position = queues
        .turns
        .iter()
        .position(|t| queues.running.get(t).copied().unwrap_or(0) < per_tenant)?;
    let tenant = queues.turns.remove(position)?;
    let waiting = queues.waiting.get_mut(&tenant)?;
    let job = waiting.pop_front()?;
    if waiting.is_empty() {
        queues.waiting.remove(&tenant);
    } else {
        queues.turns.push_back(tenant.clone());
    }
    Some((tenant, job))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_busy_tenant_leaves_threads_and_turns_to_another() {
        let pool = Arc::new(Pool::new(4, "test-files"));
        // acme fills its share with jobs that hold their threads.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        let mut held = Vec::new();
        for _ in 0..10 {
            let pool = Arc::clone(&pool);
            let hold = Arc::clone(&hold);
            held.push(tokio::spawn(async move {
                pool.run("acme", move || {
                    let _ = lock(&hold).recv();
                })
                .await
            }));
        }
        // Three of four threads at most; the rest of acme's jobs wait.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pool.load("acme") != (7, 3) {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                pool.load("acme")
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // globex is served at once on the thread left.
        let answer = tokio::time::timeout(Duration::from_secs(5), pool.run("globex", || 42))
            .await
            .expect("globex's job ran while acme's waited");
        assert_eq!(answer, Some(42));
        for _ in 0..10 {
            release.send(()).unwrap();
        }
        for job in held {
            assert_eq!(job.await.unwrap(), Some(()));
        }
        // A panic is reported as `None`, and the thread serves on.
        assert_eq!(pool.run("acme", || -> u8 { panic!("boom") }).await, None);
        assert_eq!(pool.run("acme", || 7).await, Some(7));
    }
}
