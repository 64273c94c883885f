//! A task-pool worker: reads one task at a time from its own pipe, runs it, writes the result
//! back, until its pipe closes. A job worker (`serve`) runs the pool's job inside itself (a panic
//! or abort ends the process, which the dispatcher reports as `Crashed` for that task only); a
//! command worker (`exec::serve`) runs each command in a process of its own, which it times.
//! Both speak through `Pipes`.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use ipc_sys::frame::{self, FrameBuffer, FrameError, PREFIX};
use serde::de::DeserializeOwned;

use super::wire::{self, WorkerResult, WorkerTask};
use super::{Job, MAX_FRAME, MAX_OUTPUT, Never};

/// A worker's two pipe ends: tasks in (reassembled from the frames), results out.
pub(crate) struct Pipes {
    tasks: File,
    results: File,
    buf: FrameBuffer,
}

impl Pipes {
    /// Says the worker is up (`WorkerResult::Ready`); `None` if the dispatcher cannot hear it.
    pub fn open(tasks: File, mut results: File) -> Option<Pipes> {
        let ready = wire::frame(&WorkerResult::<Never>::Ready).ok()?;
        frame::write_frame(&mut results, &ready).ok()?;
        Some(Pipes {
            tasks,
            results,
            buf: FrameBuffer::new(MAX_FRAME),
        })
    }

    /// The next task (blocking); `Ok(None)` at end of file, the dispatcher's word to exit;
    /// `Err` for a broken pipe or a task this worker cannot read.
    pub fn next<W: DeserializeOwned>(&mut self) -> Result<Option<WorkerTask<W>>, ()> {
        match self.buf.read_frame(&mut self.tasks) {
            Ok(Some(payload)) => wire::decode(payload).map(Some).ok_or(()),
            Ok(None) => Ok(None),
            Err(_) => Err(()),
        }
    }

    /// Writes one result frame; false if the dispatcher is gone.
    pub fn send(&mut self, frame: &[u8]) -> bool {
        frame::write_frame(&mut self.results, frame).is_ok()
    }

    /// No part of a task is buffered: the next one must come from the pipe.
    pub fn idle(&self) -> bool {
        self.buf.pending() == 0
    }

    pub fn tasks_fd(&self) -> BorrowedFd<'_> {
        self.tasks.as_fd()
    }
}

/// A job worker: runs `job` on every task it is sent; returns its exit code.
pub fn serve<J: Job>(job: &J, tasks: File, results: File) -> i32 {
    // The dispatcher's interrupt flag handler was inherited; a job worker told to stop (SIGTERM
    // on timeout) must die at once instead, whatever job code it is running.
    if ipc_sys::signal::restore_default_interrupts().is_err() {
        return 1;
    }
    ipc_sys::signal::one_line_panics("worker");
    let Some(mut pipes) = Pipes::open(tasks, results) else {
        return 1;
    };
    loop {
        let task = match pipes.next::<J::In>() {
            Ok(Some(task)) => task,
            Ok(None) => return 0,
            Err(()) => return 1,
        };
        match run_job(job, task.id, task.work) {
            Ok(frame) if pipes.send(&frame) => {}
            _ => return 1,
        }
    }
}

/// Runs the job and frames its result. Checked here, where the output is, so the dispatcher
/// never has to cope with a frame over its limit: a result over `MAX_OUTPUT` fails at once and
/// says why.
fn run_job<J: Job>(job: &J, id: u64, input: J::In) -> Result<Vec<u8>, FrameError> {
    let start = Instant::now();
    let result = job.run(input);
    let runtime: Duration = start.elapsed();
    let message = WorkerResult::Job {
        id,
        result,
        runtime,
    };
    let frame = wire::frame(&message);
    if frame.as_ref().is_ok_and(|f| f.len() - PREFIX <= MAX_OUTPUT) {
        return frame;
    }
    let len = match &message {
        WorkerResult::Job {
            result: Ok(output), ..
        } => wire::encoded_len(output),
        WorkerResult::Job {
            result: Err(text), ..
        } => text.len(),
        _ => 0,
    };
    wire::frame(&WorkerResult::<J::Out>::Job {
        id,
        result: Err(format!("output too large: {len} bytes")),
        runtime,
    })
}
