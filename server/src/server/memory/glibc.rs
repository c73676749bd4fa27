//! The one call into the C library: glibc's `malloc_trim`. The only `unsafe` of the
//! workspace (the server crate denies it everywhere else, the other crates forbid it).

/// Gives the free memory of every malloc arena back to the system, the parts of it between
/// blocks still in use included (whole free pages, with `madvise(MADV_DONTNEED)`), keeping
/// no padding. Whether any memory was given back.
pub(super) fn trim() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and touches only glibc's own allocator state,
    // each arena under that arena's lock; glibc documents it as MT-Safe, so calling it
    // from a tokio worker while other threads allocate and free is sound. It is not
    // async-signal-safe, and this is never called from a signal handler. The argument is
    // the padding to leave at the top of the main heap: any value is valid.
    unsafe { libc::malloc_trim(0) == 1 }
}
