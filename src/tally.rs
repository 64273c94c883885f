//! Two counters shared by the three processes of a run: values the producer got into the pipe
//! and values the consumer handled. They live in an anonymous shared mapping created before fork,
//! so main can write its summary without re-reading the logs.

use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::mman::{MapFlags, ProtFlags};

use crate::error::{Error, Result};

#[repr(C)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
}

/// Counters in memory that stays shared with every child forked after `Tally::new`.
pub struct Tally {
    counters: NonNull<Counters>,
}

// SAFETY: the mapping is only ever read and written through atomics, which are safe to share
// between threads as they are between processes.
unsafe impl Send for Tally {}
// SAFETY: as above; `&Tally` only exposes atomic loads and read-modify-writes.
unsafe impl Sync for Tally {}

impl Tally {
    pub fn new() -> Result<Tally> {
        let len = NonZeroUsize::new(std::mem::size_of::<Counters>())
            .ok_or(Error::SharedMemory(nix::errno::Errno::EINVAL))?;
        // SAFETY: a fresh anonymous mapping overlaps nothing; its pages are zero-filled, and
        // all-zero bytes are valid AtomicU64 values. MAP_SHARED keeps it shared across fork.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .map_err(Error::SharedMemory)?;
        Ok(Tally {
            counters: ptr.cast(),
        })
    }

    fn counters(&self) -> &Counters {
        // SAFETY: the mapping is page-aligned, lives until `drop`, and is only ever accessed
        // through atomics, in this process and in every forked one.
        unsafe { self.counters.as_ref() }
    }

    pub fn add_sent(&self, n: u64) {
        self.counters().sent.fetch_add(n, Ordering::SeqCst);
    }

    pub fn add_received(&self, n: u64) {
        self.counters().received.fetch_add(n, Ordering::SeqCst);
    }

    pub fn sent(&self) -> u64 {
        self.counters().sent.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> u64 {
        self.counters().received.load(Ordering::SeqCst)
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        // SAFETY: the pointer and length are those of our own mapping, unmapped exactly once;
        // no reference into it outlives `self`.
        let _ = unsafe {
            nix::sys::mman::munmap(self.counters.cast(), std::mem::size_of::<Counters>())
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_start_at_zero_and_add_up() {
        let tally = Tally::new().unwrap();
        assert_eq!((tally.sent(), tally.received()), (0, 0));
        tally.add_sent(3);
        tally.add_received(2);
        tally.add_sent(1);
        assert_eq!((tally.sent(), tally.received()), (4, 2));
    }
}
