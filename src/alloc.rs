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
