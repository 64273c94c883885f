//! A task-pool worker: reads one task at a time from its own pipe, runs the job, writes the
//! result back, until its pipe closes. A panic or abort inside a job ends the process, which the
//! dispatcher reports as `Crashed` for that task only.

use std::fs::File;

use ipc_sys::frame::{self, Fields, FrameBuffer, FrameBuilder};

use super::{MAX_FRAME, MAX_OUTPUT, Registry};

pub fn run(registry: &Registry, mut tasks: File, mut results: File) -> i32 {
    // The dispatcher's interrupt flag handler was inherited; a worker told to stop (SIGTERM on
    // timeout) must die at once instead.
    if ipc_sys::signal::restore_default_interrupts().is_err() {
        return 1;
    }
    ipc_sys::signal::one_line_panics("worker");
    let mut buf = FrameBuffer::new(MAX_FRAME);
    loop {
        let (id, job, args) = match buf.read_frame(&mut tasks) {
            Ok(Some(payload)) => match decode_task(payload) {
                Some(task) => task,
                None => return 1,
            },
            Ok(None) => return 0,
            Err(_) => return 1,
        };
        let result = match registry.get(&job) {
            Some(job) => job.run(&args),
            None => Err(format!("unknown job '{job}'")),
        };
        let (ok, text) = match result {
            Ok(out) => (1, out),
            Err(msg) => (0, msg),
        };
        // Checked here, where the output is, so the dispatcher never has to cope with a frame
        // over its limit: the task fails at once and says why.
        let (ok, text) = if text.len() > MAX_OUTPUT {
            (0, format!("output too large: {} bytes", text.len()))
        } else {
            (ok, text)
        };
        let Ok(result) = FrameBuilder::new()
            .u64(id)
            .u64(ok)
            .str(&text)
            .finish(MAX_FRAME)
        else {
            return 1;
        };
        if frame::write_frame(&mut results, &result).is_err() {
            return 1;
        }
    }
}

fn decode_task(payload: &[u8]) -> Option<(u64, String, Vec<String>)> {
    let mut f = Fields::new(payload);
    let id = f.u64()?;
    let job = f.str()?;
    let n = f.u64()?;
    let args = (0..n).map(|_| f.str()).collect::<Option<Vec<_>>>()?;
    f.is_empty().then_some((id, job, args))
}

/// The frame the dispatcher sends for one task, if it fits.
pub fn encode_task(id: u64, job: &str, args: &[String]) -> Option<Vec<u8>> {
    let mut frame = FrameBuilder::new().u64(id).str(job).u64(args.len() as u64);
    for arg in args {
        frame = frame.str(arg);
    }
    frame.finish(MAX_FRAME).ok()
}
