//! A task-pool worker: reads one task at a time from its own pipe, runs it, writes the result
//! back, until its pipe closes. A job runs inside the worker (a panic or abort ends the process,
//! which the dispatcher reports as `Crashed` for that task only); a command runs in a process of
//! its own, which the worker times (see `exec`).

use std::fs::File;
use std::time::{Duration, Instant};

use ipc_sys::frame::{self, FrameBuffer, FrameError, PREFIX};
use ipc_sys::queue::QueueEnd;

use super::wire::{self, CommandReport, Work, WorkerResult, WorkerTask};
use super::{Job, MAX_FRAME, MAX_OUTPUT, exec};

/// `queue` is the output queue to the caller: present in a pool that runs commands.
pub fn run<J: Job>(job: &J, mut tasks: File, mut results: File, queue: Option<QueueEnd>) -> i32 {
    let signals = if queue.is_some() {
        // A command worker runs only this crate's code, which winds its command down when told
        // to stop (SIGTERM from the dispatcher, or the dispatcher's death): a flag, not death.
        ipc_sys::signal::install_interrupt_handlers()
    } else {
        // The dispatcher's interrupt flag handler was inherited; a job worker told to stop
        // (SIGTERM on timeout) must die at once instead, whatever job code it is running.
        ipc_sys::signal::restore_default_interrupts()
    };
    if signals.is_err() {
        return 1;
    }
    ipc_sys::signal::one_line_panics("worker");
    let ready = wire::frame(&WorkerResult::<J::Out>::Ready).ok();
    if ready.is_none_or(|frame| frame::write_frame(&mut results, &frame).is_err()) {
        return 1;
    }
    let mut buf = FrameBuffer::new(MAX_FRAME);
    let mut spares = exec::Spares::default();
    loop {
        // A command worker told to stop (SIGINT/SIGTERM: from its dispatcher winding the run
        // down, or from anyone else) leaves once its command is settled and reported, and does
        // not wait idle for a task it would refuse: it says it is leaving and reads nothing
        // more, so a task the dispatcher sent it meanwhile goes to another worker (the
        // dispatcher replaces this one if the run goes on). A job worker dies of the signal.
        if queue.is_some() && buf.pending() == 0 {
            use std::os::fd::AsFd;
            match ipc_sys::signal::wait_unless_interrupted(Some(tasks.as_fd()), None) {
                Ok(ipc_sys::signal::Wake::Interrupted) => {
                    super::hooks::worker_leaving();
                    let leaving = wire::frame(&WorkerResult::<J::Out>::Leaving).ok();
                    let _ = leaving.map(|frame| frame::write_frame(&mut results, &frame));
                    return 0;
                }
                Ok(_) => {}
                Err(_) => return 1,
            }
        }
        let task = match buf.read_frame(&mut tasks) {
            Ok(Some(payload)) => match wire::decode::<WorkerTask<J::In>>(payload) {
                Some(task) => task,
                None => return 1,
            },
            Ok(None) => return 0,
            Err(_) => return 1,
        };
        if queue.is_some() {
            super::hooks::worker_got_task();
        }
        let frame = match (task.work, &queue) {
            (Work::Job { input, .. }, _) => run_job(job, task.id, input),
            (Work::Command { argv }, Some(queue)) => wire::frame(&WorkerResult::<J::Out>::Command(
                exec::run(task.id, &argv, task.timeout, task.grace, queue, &mut spares),
            )),
            (Work::Command { .. }, None) => wire::frame(&WorkerResult::<J::Out>::Command(
                CommandReport::not_started(task.id, "this pool runs jobs, not commands", false),
            )),
        };
        let Ok(frame) = frame else {
            return 1;
        };
        if frame::write_frame(&mut results, &frame).is_err() {
            return 1;
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
