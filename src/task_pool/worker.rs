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

use super::wire::{self, WorkerHeader, WorkerResult};
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

    /// The next task (blocking): its header and what this kind of worker runs; `Ok(None)` at
    /// end of file, the dispatcher's word to exit; `Err` for a broken pipe or a task this
    /// worker cannot read.
    pub fn next<W: DeserializeOwned>(&mut self) -> Result<Option<(WorkerHeader, W)>, ()> {
        match self.buf.read_frame(&mut self.tasks) {
            Ok(Some(payload)) => {
                let (header, rest) = wire::split(payload).ok_or(())?;
                Ok(Some((header, wire::decode(rest).ok_or(())?)))
            }
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
        let (task, input) = match pipes.next::<J::In>() {
            Ok(Some(task)) => task,
            Ok(None) => return 0,
            Err(()) => return 1,
        };
        match run_job(job, task.id, input) {
            Ok(frame) if pipes.send(&frame) => {}
            _ => return 1,
        }
    }
}

/// Runs the job and frames its result. Checked here, where the output is, so the dispatcher
/// never has to cope with a frame over its limit: a result over `MAX_OUTPUT` (or one that cannot
/// be encoded) fails at once and says why.
fn run_job<J: Job>(job: &J, id: u64, input: J::In) -> Result<Vec<u8>, FrameError> {
    let start = Instant::now();
    let result = job.run(input);
    let runtime: Duration = start.elapsed();
    // Framed by reference: the output is not moved, and is still there to measure if too large.
    let frame = wire::frame(&WorkerResult::Job {
        id,
        result: result.as_ref().map_err(Clone::clone),
        runtime,
    });
    let why = match frame {
        Ok(frame) if frame.len() - PREFIX <= MAX_OUTPUT => return Ok(frame),
        Err(FrameError::Io(e)) => format!("its output cannot be encoded: {e}"),
        _ => wire::too_large(result.as_ref().map_err(String::as_str)),
    };
    wire::frame(&WorkerResult::<J::Out>::Job {
        id,
        result: Err(why),
        runtime,
    })
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::*;

    /// An output postcard cannot encode: a sequence of unknown length.
    #[derive(Debug)]
    struct Unsized;

    impl Serialize for Unsized {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            s.serialize_seq(None)?.end()
        }
    }

    impl<'de> Deserialize<'de> for Unsized {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Unsized, D::Error> {
            <()>::deserialize(d).map(|()| Unsized)
        }
    }

    struct Echo;

    impl Job for Echo {
        type In = usize;
        type Out = String;

        fn name(&self, _: &usize) -> &'static str {
            "echo"
        }

        fn run(&self, n: usize) -> Result<String, String> {
            Ok("x".repeat(n))
        }
    }

    struct Broken;

    impl Job for Broken {
        type In = ();
        type Out = Unsized;

        fn name(&self, _: &()) -> &'static str {
            "broken"
        }

        fn run(&self, (): ()) -> Result<Unsized, String> {
            Ok(Unsized)
        }
    }

    fn result_of(frame: &[u8]) -> Result<String, String> {
        match wire::decode::<WorkerResult<String>>(&frame[PREFIX..]) {
            Some(WorkerResult::Job { id: 9, result, .. }) => result,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_result_too_large_or_not_encodable_becomes_a_failure_that_says_so() {
        assert_eq!(result_of(&run_job(&Echo, 9, 3).unwrap()), Ok("xxx".into()));
        assert_eq!(
            result_of(&run_job(&Echo, 9, MAX_OUTPUT + 1).unwrap()),
            Err(format!("output too large: {} bytes", MAX_OUTPUT + 1 + 4)),
            "the string after its length (a 4-byte varint)"
        );
        let broken = run_job(&Broken, 9, ()).unwrap();
        let Some(WorkerResult::<()>::Job {
            result: Err(why), ..
        }) = wire::decode(&broken[PREFIX..])
        else {
            panic!("not a failure");
        };
        assert!(why.starts_with("its output cannot be encoded: "), "{why}");
    }
}
