//! The joinable queue itself, as every process of a run sees it: the items queue (a
//! `SOCK_SEQPACKET` socket pair), a page of shared counters (the "board"), and for a bounded
//! queue a process-shared semaphore of N slots. `put`, `put_nowait`, `get`, `task_done`,
//! `full` and `empty` are here; `join` is main's (see `join`).
//!
//! **The bound.** `Queue(N)` in the original is a pipe plus a semaphore of N slots: `put` takes a
//! slot (blocking, or failing at once for `put_nowait`), `get` gives one back. The same here, with
//! a POSIX unnamed semaphore in shared memory (`ipc_sys::semaphore`). The socket's own buffer is
//! not used as the bound: its size is in bytes of kernel bookkeeping (about 270 eight-byte
//! messages by default, varying with sysctls), so "full" would mean nothing a user chose, and
//! `full()` could not be asked. The semaphore is the exact bound; `CAPACITY_MAX` keeps it below
//! the socket's own limit, so it is always the semaphore that blocks a `put`.
//!
//! **The count `join()` waits for.** `put` counts an item (per producer) *before* queueing it,
//! as `JoinableQueue.put` raises its unfinished-tasks count before the item leaves the process:
//! the count can never dip to what is done while an item is in flight. A `put` that does not
//! complete (interrupted, or the consumer gone) takes its count back. Only a producer killed
//! in the middle of a `put` leaves an item whose fate is unknown; main settles it once the queue
//! is closed and drained (see `join`).
//!
//! **Waking whoever waits.** A producer blocked on a slot is woken by permits, not signals: main
//! closes the queue (`closed`) and releases one permit per producer, each woken producer that
//! sees the queue closed gives its permit back for the next. A permit cannot be lost the way a
//! signal landing just before the wait would be. Waits on the socket go through `wait_event`,
//! which watches SIGINT/SIGTERM without that race.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ipc_sys::queue::{QueueEnd, Received};
use ipc_sys::semaphore::Semaphore;
use ipc_sys::shm::Shared;
use ipc_sys::signal::{Wake, Watch, interrupted, wait_event};
use nix::poll::{PollFd, PollFlags};

use super::{Error, Result};

/// Most producers accepted (the board has a slot per producer).
pub const MAX_PRODUCERS: usize = 1000;
/// Largest `--capacity`: well below the ~270 small messages the socket holds by default, so the
/// semaphore, not the socket buffer, is what bounds the queue.
pub const CAPACITY_MAX: u64 = 100;
/// An item on the queue (and an id on the doorbell): 8 bytes, little-endian.
pub const ITEM_LEN: usize = 8;
/// The doorbell message that says "the items queue is closed and drained" (no item has id 0:
/// producers are numbered from 1).
pub const DRAINED: u64 = 0;

/// Counters shared by every process of a run.
#[repr(C)]
#[derive(zerocopy::FromZeros)]
pub struct Board {
    /// Items each producer has put (counted before queueing; index = producer number).
    put: [AtomicU64; MAX_PRODUCERS + 1],
    /// The highest item number of each producer the consumer has taken (FIFO: all before it too).
    taken_upto: [AtomicU64; MAX_PRODUCERS + 1],
    taken: AtomicU64,
    done: AtomicU64,
    /// Id of the item the consumer is working on, 0 when it holds none.
    holding: AtomicU64,
    /// Set by main: no more puts (an interrupt, or the run failed).
    closed: AtomicBool,
    /// Set by the consumer once the queue is closed (every producer gone) and empty.
    drained: AtomicBool,
    /// `put` / `put_nowait` calls made (each producer's attempts, a killed producer's last one
    /// included), those refused, and times `full()` said the opposite of what the put found.
    attempts: AtomicU64,
    refused: AtomicU64,
    stale_hints: AtomicU64,
}

/// What one put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The item is on the queue; `waited` says whether the put had to wait for a slot.
    Queued { waited: bool },
    /// `put_nowait` on a full queue: nothing was put.
    Full,
    /// The queue was closed (or this process interrupted) first: nothing was put.
    Closed,
}

/// What one get found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    Item(u64),
    /// Every producer is gone and the queue is empty.
    Drained,
    /// SIGINT or SIGTERM arrived while waiting.
    Interrupted,
}

/// The queue as seen by one process: the shared board and the slots (borrowed, so it is `Copy`
/// and can be handed to forked children).
#[derive(Clone, Copy)]
pub struct Queue<'a> {
    pub board: &'a Board,
    pub slots: Option<&'a Semaphore>,
}

impl<'a> Queue<'a> {
    pub fn new(board: &'a Shared<Board>, slots: Option<&'a Semaphore>) -> Queue<'a> {
        Queue { board, slots }
    }

    /// True once main has closed the queue or this process was told to stop.
    pub fn closing(&self) -> bool {
        self.board.closed.load(Ordering::SeqCst) || interrupted().is_some()
    }

    /// Whether main has closed the queue to puts.
    pub fn is_closed(&self) -> bool {
        self.board.closed.load(Ordering::SeqCst)
    }

    /// `full()`: no slot free right now. Only a hint: another process may take or free a slot
    /// the instant after.
    pub fn full(&self) -> bool {
        self.slots
            .is_some_and(|s| s.available().is_ok_and(|free| free <= 0))
    }

    /// `empty()`: nothing waiting to be taken right now. Only a hint, like `full()`; and
    /// "empty" is not "done": a taken item may still be unfinished. Once the consumer has found
    /// the queue closed and drained it is empty for good, whatever the counts say: a producer
    /// killed in the middle of a `put` counted an item that never reached the queue.
    pub fn empty(&self) -> bool {
        self.board.drained.load(Ordering::SeqCst)
            || self.put_total() <= self.board.taken.load(Ordering::SeqCst)
    }

    /// `put` (`nowait` false: waits for a slot) or `put_nowait` (fails at once when full).
    /// `on_block` runs just before the put starts waiting for a slot; `die_midway` once the item
    /// is counted, before it is queued (fault injection).
    pub fn put(
        &self,
        items: &QueueEnd,
        (producer, id): (usize, u64),
        nowait: bool,
        on_block: impl FnOnce(),
        die_midway: impl FnOnce(),
    ) -> Result<Put> {
        let mut waited = false;
        if self.closing() {
            return Ok(Put::Closed);
        }
        self.board.attempts.fetch_add(1, Ordering::SeqCst);
        if let Some(slots) = self.slots
            && !slots.try_acquire()?
        {
            if nowait {
                self.board.refused.fetch_add(1, Ordering::SeqCst);
                return Ok(Put::Full);
            }
            waited = true;
            on_block();
            slots.acquire()?;
        }
        if self.closing() {
            self.release_slot()?;
            return Ok(Put::Closed);
        }
        // Counted before it is queued: join() can never see "all done" while it is in flight.
        self.board.put[producer].fetch_add(1, Ordering::SeqCst);
        die_midway();
        match send_unless_interrupted(items, id) {
            Ok(true) => Ok(Put::Queued { waited }),
            Ok(false) => {
                self.take_back(producer)?;
                Ok(Put::Closed)
            }
            Err(e) => {
                // Not queued (the consumer is gone): the count goes back.
                self.take_back(producer)?;
                Err(e)
            }
        }
    }

    fn take_back(&self, producer: usize) -> Result<()> {
        self.board.put[producer].fetch_sub(1, Ordering::SeqCst);
        self.release_slot()
    }

    /// Gives a slot back (bounded queue only): a taken item's, or a put's that did not happen.
    pub fn release_slot(&self) -> Result<()> {
        if let Some(slots) = self.slots {
            slots.release()?;
        }
        Ok(())
    }

    /// Notes that `put_nowait`'s answer contradicted what `full()` said just before.
    pub fn note_stale_hint(&self) {
        self.board.stale_hints.fetch_add(1, Ordering::SeqCst);
    }

    /// `get`: the next item, waiting while the queue is empty. The item's slot is *not* given
    /// back here: the consumer does that after saying it took the item (`release_slot`), so
    /// the output never shows more than N items waiting.
    pub fn get(&self, items: &QueueEnd) -> Result<Got> {
        let mut buf = [0u8; ITEM_LEN];
        loop {
            match items.recv(&mut buf, false)? {
                Received::Message(ITEM_LEN) => {
                    let id = u64::from_le_bytes(buf);
                    let (p, n) = split(id);
                    self.board.holding.store(id, Ordering::SeqCst);
                    if let Some(upto) = self.board.taken_upto.get(p) {
                        upto.fetch_max(n, Ordering::SeqCst);
                    }
                    self.board.taken.fetch_add(1, Ordering::SeqCst);
                    return Ok(Got::Item(id));
                }
                Received::Message(len) => {
                    return Err(Error::BadMessage {
                        queue: "items",
                        len,
                    });
                }
                Received::Closed => {
                    self.board.drained.store(true, Ordering::SeqCst);
                    return Ok(Got::Drained);
                }
                Received::Empty => {
                    let mut fds = [PollFd::new(items.as_fd(), PollFlags::POLLIN)];
                    if wait_event(&mut fds, None, Watch::INTERRUPTS)? == Wake::Interrupted {
                        return Ok(Got::Interrupted);
                    }
                }
            }
        }
    }

    /// `task_done`: the shared count first, then the doorbell with the item's id (main drains
    /// the doorbell all the time, so this send cannot block for long).
    pub fn task_done(&self, id: u64, doorbell: &QueueEnd) -> Result<()> {
        self.board.done.fetch_add(1, Ordering::SeqCst);
        self.forget_holding();
        Ok(doorbell.send(&id.to_le_bytes())?)
    }

    /// The consumer is done with the item it held, marked or not.
    pub fn forget_holding(&self) {
        self.board.holding.store(0, Ordering::SeqCst);
    }

    /// Main: no more puts; wakes every producer waiting for a slot.
    pub fn close(&self, producers: u64) -> Result<()> {
        self.board.closed.store(true, Ordering::SeqCst);
        if let Some(slots) = self.slots {
            for _ in 0..producers {
                slots.release()?;
            }
        }
        Ok(())
    }

    pub fn put_by(&self, producer: usize) -> u64 {
        self.board.put[producer].load(Ordering::SeqCst)
    }

    pub fn taken_upto(&self, producer: usize) -> u64 {
        self.board.taken_upto[producer].load(Ordering::SeqCst)
    }

    pub fn put_total(&self) -> u64 {
        self.board
            .put
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum()
    }

    pub fn taken(&self) -> u64 {
        self.board.taken.load(Ordering::SeqCst)
    }

    pub fn done(&self) -> u64 {
        self.board.done.load(Ordering::SeqCst)
    }

    pub fn holding(&self) -> u64 {
        self.board.holding.load(Ordering::SeqCst)
    }

    /// `put` / `put_nowait` calls made: each was refused, queued, or cut short (closed queue,
    /// interrupt, a producer killed in the middle).
    pub fn attempts(&self) -> u64 {
        self.board.attempts.load(Ordering::SeqCst)
    }

    pub fn refused(&self) -> u64 {
        self.board.refused.load(Ordering::SeqCst)
    }

    pub fn stale_hints(&self) -> u64 {
        self.board.stale_hints.load(Ordering::SeqCst)
    }
}

/// (producer, item number) of an id.
pub fn split(id: u64) -> (usize, u64) {
    ((id >> 32) as usize, id & 0xffff_ffff)
}

/// Sends one item, waiting while the socket is full unless SIGINT/SIGTERM arrives: `Ok(false)`
/// then, with nothing sent.
fn send_unless_interrupted(items: &QueueEnd, id: u64) -> Result<bool> {
    loop {
        if items.try_send(&id.to_le_bytes())? {
            return Ok(true);
        }
        let mut fds = [PollFd::new(items.as_fd(), PollFlags::POLLOUT)];
        if wait_event(&mut fds, None, Watch::INTERRUPTS)? == Wake::Interrupted {
            return Ok(false);
        }
    }
}
