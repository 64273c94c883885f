//! Memory shared by a process and every child it forks afterwards: an anonymous `MAP_SHARED`
//! mapping holding one value. It backs the run's tally and the worker pool's semaphore.

use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags};

use crate::error::{Error, Result};

/// Types whose all-zero bit pattern is a valid value, so a fresh (zero-filled) mapping already
/// holds one.
///
/// # Safety
/// Implement only for types for which all-zero bytes are a valid, initialised value.
pub unsafe trait Zeroable {}

/// One `T` in an anonymous shared mapping, created zero-filled.
pub struct Shared<T: Zeroable> {
    ptr: NonNull<T>,
}

// SAFETY: the mapping is plain memory owned by this handle; sending the handle to another thread
// moves that ownership. Sharing `&Shared<T>` is sharing `&T`, hence the `T: Sync` bound.
unsafe impl<T: Zeroable + Sync> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Zeroable + Sync> Sync for Shared<T> {}

impl<T: Zeroable> Shared<T> {
    pub fn new() -> Result<Shared<T>> {
        let len = NonZeroUsize::new(std::mem::size_of::<T>())
            .ok_or(Error::SharedMemory(Errno::EINVAL))?;
        // SAFETY: a fresh anonymous mapping overlaps nothing; its pages are zero-filled and
        // page-aligned, and `T: Zeroable` makes zero bytes a valid T. MAP_SHARED keeps the
        // pages shared with every child forked later.
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

    /// The raw pointer, for C APIs that take one (e.g. `sem_post`).
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T: Zeroable> std::ops::Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the mapping lives until `drop` and holds a valid T (see `new`). Types stored
        // here are only mutated through interior mutability meant for sharing (atomics, a
        // process-shared semaphore).
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Zeroable> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped exactly once; no reference into it outlives self.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), std::mem::size_of::<T>()) };
    }
}
