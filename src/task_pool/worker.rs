//! A task-pool worker: reads one task at a time from its own pipe, runs the job, writes the
//! result back, until its pipe closes. A panic or abort inside a job ends the process, which the
//! dispatcher reports as `Crashed` for that task only.

use std::fs::File;

use super::Registry;
use super::wire::{self, Fields, FrameBuffer, FrameBuilder};
use crate::process;

pub fn run(registry: &Registry, mut tasks: File, mut results: File) -> i32 {
    // The dispatcher's interrupt flag handler was inherited; a worker told to stop (SIGTERM on
    // timeout) must die at once instead.
    if process::restore_default_interrupts().is_err() {
        return 1;
    }
    process::one_line_panics("worker");
    let mut buf = FrameBuffer::default();
    loop {
        let payload = match buf.read_frame(&mut tasks) {
            Ok(Some(payload)) => payload,
            Ok(None) => return 0,
            Err(_) => return 1,
        };
        let Some((id, job, args)) = decode_task(&payload) else {
            return 1;
        };
        let result = match registry.get(&job) {
            Some(job) => job.run(&args),
            None => Err(format!("unknown job '{job}'")),
        };
        let (ok, text) = match result {
            Ok(out) => (1, out),
            Err(msg) => (0, msg),
        };
        let frame = FrameBuilder::default().u64(id).u64(ok).str(&text).finish();
        if wire::write_frame(&mut results, &frame).is_err() {
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
    Some((id, job, args))
}

/// The frame the dispatcher sends for one task.
pub fn encode_task(id: u64, job: &str, args: &[String]) -> Vec<u8> {
    let mut frame = FrameBuilder::default()
        .u64(id)
        .str(job)
        .u64(args.len() as u64);
    for arg in args {
        frame = frame.str(arg);
    }
    frame.finish()
}
