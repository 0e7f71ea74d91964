//! Process-wide: the memory allocator's settings, applied first thing in
//! `main`.
//!
//! glibc's allocator gives each thread that contends for memory an arena
//! of its own, up to eight per core, and memory freed into one arena is
//! reused only by the threads that use that arena. ferry's buffers are
//! allocated on the async runtime's threads and freed on others (the file
//! threads, the pipeline), so after 200 concurrent downloads the freed
//! buffers sat in arenas the next transfers did not use: the resident set
//! grew from 168 to 222 MiB over three rounds of the bench and stayed
//! there. With one arena per core it stayed at 130-139 MiB, at the same
//! throughput here (`scripts/bench`, the note of 2026-12-07).

/// Caps glibc's arenas at one per core. `MALLOC_ARENA_MAX` in the
/// environment, when set, is left to decide.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        set_arena_max(cores.clamp(1, 64) as libc::c_int);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_arena_max(arenas: libc::c_int) {
    // SAFETY: `mallopt` takes two integers and changes only the allocator's
    // settings; it reads and writes no memory of ours. It is called from
    // `main` before any other thread exists, as glibc's manual asks of a
    // function it marks "MT-Unsafe init". A refusal (return value 0) leaves
    // glibc's default, which is only less frugal.
    let _ = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
}

/// How often freed memory goes back to the system.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts a thread that hands memory the allocator holds free back to the
/// system every [`TRIM_EVERY`] (`malloc_trim`), for the server's life.
///
/// glibc returns freed memory only from the top of an arena; what is freed
/// below a live allocation stays resident, to be reused by the threads of
/// that arena. ferry's bursts (plugin compiles at each reload, hundreds of
/// concurrent transfers) free much more than its steady state holds, and
/// the pieces were not reused: in the 30-minute soak (traffic, a plugin
/// swap every 30 s) the resident set climbed to 750-1,050 MiB with one
/// arena per core and to 690-860 MiB with sixteen, and stayed at 157-251
/// MiB with a trim every 10 s (three soaks side by side, 2026-12-07; run
/// alone later, 141-419 MiB minute by minute, with no trend). A trim
/// takes each arena's lock while it walks that arena's free chunks; it runs
/// on its own thread, off every request's path.
pub fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(TRIM_EVERY);
                    trim();
                }
            });
        if let Err(e) = spawned {
            // The server works without it, with a larger resident set.
            tracing::warn!(error = %e, "cannot start the thread that returns freed memory");
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: `malloc_trim` takes an integer and works on the allocator's
    // own free lists under the allocator's own locks (glibc marks it
    // MT-Safe); it reads and writes no memory of ours. Its result (whether
    // anything was released) is of no use here.
    let _ = unsafe { libc::malloc_trim(0) };
}
