//! What the three processes of a run know together: values the producer got into the pipe,
//! values the consumer handled, and whether the end marker went out and came in. They live in
//! shared memory created before fork, so main can judge the run (`verdict`) without re-reading
//! the logs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ipc_sys::shm::Shared;

use crate::desafio::error::Result;

#[repr(C)]
#[derive(zerocopy::FromZeros)]
pub struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    end_sent: AtomicBool,
    end_received: AtomicBool,
}

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

    /// The producer's end marker reached the pipe.
    pub fn mark_end_sent(&self) {
        self.counters.end_sent.store(true, Ordering::SeqCst);
    }

    /// The consumer read the end marker.
    pub fn mark_end_received(&self) {
        self.counters.end_received.store(true, Ordering::SeqCst);
    }

    pub fn end_sent(&self) -> bool {
        self.counters.end_sent.load(Ordering::SeqCst)
    }

    pub fn end_received(&self) -> bool {
        self.counters.end_received.load(Ordering::SeqCst)
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
