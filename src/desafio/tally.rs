//! Two counters shared by the three processes of a run: values the producer got into the pipe
//! and values the consumer handled. They live in shared memory created before fork, so main can
//! write its summary without re-reading the logs.

use std::sync::atomic::{AtomicU64, Ordering};

use ipc_sys::shm::{Shared, ShmSafe};

use crate::desafio::error::Result;

#[repr(C)]
pub struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
}

// SAFETY: all-zero bytes are two valid AtomicU64 values (0), and atomics work across processes
// on shared memory; there is nothing else in the struct.
unsafe impl ShmSafe for Counters {}

/// Counters that stay shared with every child forked after `Tally::new`.
pub struct Tally {
    counters: Shared<Counters>,
}

impl Tally {
    pub fn new() -> Result<Tally> {
        Ok(Tally {
            counters: Shared::new()?,
        })
    }

    pub fn add_sent(&self, n: u64) {
        self.counters.sent.fetch_add(n, Ordering::SeqCst);
    }

    pub fn add_received(&self, n: u64) {
        self.counters.received.fetch_add(n, Ordering::SeqCst);
    }

    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> u64 {
        self.counters.received.load(Ordering::SeqCst)
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
