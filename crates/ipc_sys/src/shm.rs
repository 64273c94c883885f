//! Memory shared by a process and every child it forks afterwards: an anonymous `MAP_SHARED`
//! mapping holding one value.

use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags};

use crate::error::{Error, Result};

/// Types that may live in memory shared between processes.
///
/// # Safety
/// Implement only for types that
/// - are valid when all their bytes are zero (a fresh mapping is zero-filled), and
/// - stay valid and correctly synchronised when the *same bytes* are used by several processes
///   at once: no pointers or references (addresses mean nothing in another process), no
///   process-local handles, and every mutation through atomics or a primitive initialised for
///   process sharing (a `pthread`/`sem_t` object with its `pshared` flag set).
///
/// A `std::sync::Mutex` does not qualify: it may box its state or rely on being used by the
/// threads of one process only, and nothing makes it process-shared. The trait is not
/// implemented for any std type, so a `Shared<Mutex<_>>` does not compile:
///
/// ```compile_fail
/// let _ = ipc_sys::shm::Shared::<std::sync::Mutex<u64>>::new();
/// ```
pub unsafe trait ShmSafe: Sync {}

// SAFETY: `FromZeros` (derived, and so checked field by field by zerocopy) makes all-zero bytes a
// valid value; `Sync` types that are `FromZeros` can only be mutated through `&T` by atomics —
// the one interior mutability zerocopy accepts — which work across processes on shared pages.
// This is how the programs' counters qualify without an `unsafe` line of their own: they derive
// `zerocopy::FromZeros`.
unsafe impl<T: zerocopy::FromZeros + Sync> ShmSafe for T {}

/// One `T` in an anonymous shared mapping, created zero-filled.
pub struct Shared<T: ShmSafe> {
    ptr: NonNull<T>,
}

// SAFETY: the mapping is plain memory owned by this handle; moving the handle to another thread
// moves that ownership, and `T: Sync` (a supertrait of ShmSafe) makes the shared `&T` fine.
unsafe impl<T: ShmSafe> Send for Shared<T> {}
// SAFETY: `&Shared<T>` only hands out `&T`, and `T: Sync`.
unsafe impl<T: ShmSafe> Sync for Shared<T> {}

impl<T: ShmSafe> Shared<T> {
    pub fn new() -> Result<Shared<T>> {
        let len = NonZeroUsize::new(std::mem::size_of::<T>())
            .ok_or(Error::SharedMemory(Errno::EINVAL))?;
        // SAFETY: a fresh anonymous mapping overlaps nothing; its pages are zero-filled and
        // page-aligned (enough for any T), and `T: ShmSafe` makes zero bytes a valid T.
        // MAP_SHARED keeps the pages shared with every child forked later.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .map_err(Error::SharedMemory)?;
        Ok(Shared { ptr: ptr.cast() })
    }
}

impl<T: ShmSafe> std::ops::Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the mapping lives until `drop` and holds a valid T (see `new`); ShmSafe types
        // are mutated only through interior mutability meant for sharing.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ShmSafe> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped exactly once; no reference into it outlives self.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), std::mem::size_of::<T>()) };
    }
}
