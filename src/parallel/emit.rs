//! Output that streams in a stable order while the pool runs.
//!
//! Results reach the pool's dispatcher in whatever order the workers finish; its callbacks (the
//! tutorial's `apply_async(..., callback=...)`) hold an early result back until every task pushed
//! before it has been written, so the output is in task order — the order of the walk — however
//! many processes run. The counts behind the caller's summary live in shared memory (`Tally`),
//! updated as each task's output is written: the caller can tell exactly what was printed even
//! when the run is cut short and the dispatcher's own reports never arrive.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// How many counters a program may keep in a `Tally`.
pub const COUNTERS: usize = 6;

/// Counts shared by the dispatcher (which writes them) and the caller (which reads them).
#[repr(C)]
#[derive(zerocopy::FromZeros)]
pub struct Tally {
    counts: [AtomicU64; COUNTERS],
    /// Tasks whose output has been written (or that were lost), in order.
    emitted: AtomicU64,
    /// Tasks that ended without a result (their worker crashed or timed out).
    lost: AtomicU64,
    /// The errno of the first failed write to standard output; 0 while writes succeed.
    output_error: AtomicI32,
}

impl Tally {
    pub fn add(&self, counter: usize, n: u64) {
        if let Some(c) = self.counts.get(counter) {
            c.fetch_add(n, Ordering::SeqCst);
        }
    }

    pub fn get(&self, counter: usize) -> u64 {
        self.counts
            .get(counter)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }

    #[cfg(test)]
    pub fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::SeqCst)
    }

    #[cfg(test)]
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::SeqCst)
    }

    /// Why standard output stopped taking our writes (`EPIPE`: its reader has gone).
    pub fn output_error(&self) -> Option<io::Error> {
        match self.output_error.load(Ordering::SeqCst) {
            0 => None,
            errno => Some(io::Error::from_raw_os_error(errno)),
        }
    }

    fn set_output_error(&self, e: &io::Error) {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        let _ = self
            .output_error
            .compare_exchange(0, errno, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Turns one task's output into what is printed and counted.
pub trait Render {
    type Output;

    /// Appends to `out` (standard output) and `err` (standard error) what `output` stands for
    /// and adds its counts to `tally`.
    fn render(&self, output: &Self::Output, out: &mut Vec<u8>, err: &mut Vec<u8>, tally: &Tally);

    /// A task, in its turn, came back without a result (its worker crashed or timed out).
    fn lost(&self) {}
}

/// The dispatcher-side state: results held back until their turn.
pub struct Emitter<O> {
    next: u64,
    waiting: BTreeMap<u64, Option<O>>,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl<O> Default for Emitter<O> {
    fn default() -> Self {
        Emitter {
            next: 1,
            waiting: BTreeMap::new(),
            out: Vec::new(),
            err: Vec::new(),
        }
    }
}

impl<O: Clone> Emitter<O> {
    /// Task `id` (ids start at 1) ended: with its output, or lost (`None`). Writes every result
    /// whose turn has come; with `stream` false only counts (the caller prints at the end). An
    /// output is copied only if it must wait for an earlier task's.
    pub fn arrive(
        &mut self,
        id: u64,
        output: Option<&O>,
        render: &dyn Render<Output = O>,
        tally: &Tally,
        stream: bool,
    ) {
        if id == self.next {
            self.emit(output, render, tally, stream);
        } else {
            self.waiting.insert(id, output.cloned());
        }
        while let Some(output) = self.waiting.remove(&self.next) {
            self.emit(output.as_ref(), render, tally, stream);
        }
    }

    /// Writes the result of task `self.next`, whose turn it is.
    fn emit(
        &mut self,
        output: Option<&O>,
        render: &dyn Render<Output = O>,
        tally: &Tally,
        stream: bool,
    ) {
        match output {
            Some(output) => render.render(output, &mut self.out, &mut self.err, tally),
            None => {
                render.lost();
                tally.lost.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.next += 1;
        self.flush(tally, stream);
        tally.emitted.fetch_add(1, Ordering::SeqCst);
    }

    fn flush(&mut self, tally: &Tally, stream: bool) {
        if !self.err.is_empty() {
            // Standard error failing is not worth a message nobody can see.
            let _ = io::stderr().lock().write_all(&self.err);
            self.err.clear();
        }
        if stream && !self.out.is_empty() && tally.output_error().is_none() {
            let mut stdout = io::stdout().lock();
            if let Err(e) = stdout.write_all(&self.out).and_then(|()| stdout.flush()) {
                tally.set_output_error(&e);
            }
        }
        self.out.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Render for Echo {
        type Output = String;

        fn render(&self, output: &String, out: &mut Vec<u8>, _: &mut Vec<u8>, tally: &Tally) {
            out.extend_from_slice(output.as_bytes());
            tally.add(0, 1);
        }
    }

    #[test]
    fn results_are_released_in_task_order_and_lost_ones_are_skipped() {
        let tally = ipc_sys::shm::Shared::<Tally>::new().unwrap();
        let mut e = Emitter::default();
        e.arrive(2, Some(&"b".into()), &Echo, &tally, false);
        assert_eq!(tally.emitted(), 0, "task 1 is still out");
        e.arrive(3, None, &Echo, &tally, false);
        e.arrive(1, Some(&"a".into()), &Echo, &tally, false);
        assert_eq!((tally.emitted(), tally.lost(), tally.get(0)), (3, 1, 2));
    }
}
