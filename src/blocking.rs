//! Blocking calls made from threads that may drive async tasks.

/// Runs `f`, which blocks (a synchronous database client, a wait for an
/// object store's answer), where it may block.
///
/// Such clients block on a small runtime of their own, and tokio refuses to
/// start one on a thread that drives another runtime's tasks (ferry's
/// servers call the journal and the store from such threads now and then,
/// at start for one). There, `block_in_place` first hands the thread's
/// other tasks to another worker, as any blocking call on an async thread
/// should; on any other thread (`spawn_blocking`'s, the file pool's, the
/// pipeline's) `f` just runs.
pub(crate) fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
