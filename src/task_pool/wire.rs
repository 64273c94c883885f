//! The frames of the pool's pipes that carry work and its results: caller → dispatcher (a task),
//! dispatcher → worker (the same, with the grace a command needs), worker → dispatcher (a result),
//! and the command report that travels on to the caller. Every decoder refuses a frame with bytes
//! left over, so a frame of another kind can never be half-read as this one.

use std::time::Duration;

use ipc_sys::ExitStatus;
use ipc_sys::frame::{Fields, FrameBuilder, FrameError};

use super::MAX_FRAME;

/// What a task asks a worker to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Work {
    /// Run a job of the registry with these arguments, inside the worker.
    Job { job: String, args: Vec<String> },
    /// Run a program (`argv[0]`, looked up in PATH) in a process group of its own.
    Command { argv: Vec<Vec<u8>> },
}

const WORK_JOB: u64 = 0;
const WORK_COMMAND: u64 = 1;

/// A timeout on the wire: whole milliseconds, `u64::MAX` for none.
fn timeout_ms(timeout: Option<Duration>) -> u64 {
    timeout.map_or(u64::MAX, super::millis)
}

fn timeout_from(ms: u64) -> Option<Duration> {
    (ms != u64::MAX).then(|| Duration::from_millis(ms))
}

fn put_work(mut b: FrameBuilder, work: &Work) -> FrameBuilder {
    match work {
        Work::Job { job, args } => {
            b = b.u64(WORK_JOB).str(job).u64(args.len() as u64);
            for arg in args {
                b = b.str(arg);
            }
        }
        Work::Command { argv } => {
            b = b.u64(WORK_COMMAND).u64(argv.len() as u64);
            for arg in argv {
                b = b.bytes(arg);
            }
        }
    }
    b
}

fn get_work(f: &mut Fields<'_>) -> Option<Work> {
    match f.u64()? {
        WORK_JOB => {
            let job = f.str()?;
            let n = f.u64()?;
            let args = (0..n).map(|_| f.str()).collect::<Option<Vec<_>>>()?;
            Some(Work::Job { job, args })
        }
        WORK_COMMAND => {
            let n = f.u64()?;
            let argv = (0..n)
                .map(|_| f.bytes().map(<[u8]>::to_vec))
                .collect::<Option<Vec<_>>>()?;
            Some(Work::Command { argv })
        }
        _ => None,
    }
}

/// A task as the caller sends it to the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskFrame {
    pub id: u64,
    pub timeout: Option<Duration>,
    pub work: Work,
}

impl TaskFrame {
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        put_work(
            FrameBuilder::new()
                .u64(self.id)
                .u64(timeout_ms(self.timeout)),
            &self.work,
        )
        .finish(MAX_FRAME)
    }

    pub fn decode(payload: &[u8]) -> Option<TaskFrame> {
        let mut f = Fields::new(payload);
        let id = f.u64()?;
        let timeout = timeout_from(f.u64()?);
        let work = get_work(&mut f)?;
        f.is_empty().then_some(TaskFrame { id, timeout, work })
    }
}

/// A task as the dispatcher hands it to a worker: a command also needs its timeout and grace,
/// which its worker enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerTask {
    pub id: u64,
    pub timeout: Option<Duration>,
    pub grace: Duration,
    pub work: Work,
}

impl WorkerTask {
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        put_work(
            FrameBuilder::new()
                .u64(self.id)
                .u64(timeout_ms(self.timeout))
                .u64(super::millis(self.grace)),
            &self.work,
        )
        .finish(MAX_FRAME)
    }

    pub fn decode(payload: &[u8]) -> Option<WorkerTask> {
        let mut f = Fields::new(payload);
        let id = f.u64()?;
        let timeout = timeout_from(f.u64()?);
        let grace = Duration::from_millis(f.u64()?);
        let work = get_work(&mut f)?;
        f.is_empty().then_some(WorkerTask {
            id,
            timeout,
            grace,
            work,
        })
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    Exited(i32),
    Signaled(i32),
    /// It never ran: the reason (no temporary file, fork failed, the pool was interrupted…).
    NotStarted(String),
    /// Its worker died while it ran (the command was killed with it).
    WorkerDied(ExitStatus),
}

/// Everything known about one run of a command: measured by the worker that ran it (start,
/// runtime, status, output size), or by the dispatcher when that worker died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandReport {
    pub id: u64,
    /// The worker's pid; 0 if the command never reached a worker.
    pub worker: i32,
    /// Start time, microseconds since the Unix epoch (0 if it never started).
    pub start_us: u64,
    pub runtime: Duration,
    pub ended: Ended,
    /// It overran its timeout (it was sent SIGTERM), however it ended afterwards.
    pub timed_out: bool,
    /// Its worker was told to stop (SIGINT/SIGTERM) and ended it, or, if it never started,
    /// refused it.
    pub interrupted: bool,
    /// The pool was winding down (the run was interrupted): set by the dispatcher on the tasks
    /// its wind-down ended or left unstarted.
    pub winding: bool,
    /// Bytes it wrote to stdout and stderr (0 if unknown: its worker died).
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

impl CommandReport {
    pub fn not_started(id: u64, why: &str, interrupted: bool) -> CommandReport {
        CommandReport {
            id,
            worker: 0,
            start_us: 0,
            runtime: Duration::ZERO,
            ended: Ended::NotStarted(why.to_string()),
            timed_out: false,
            interrupted,
            winding: false,
            stdout_bytes: 0,
            stderr_bytes: 0,
        }
    }

    pub fn put(&self, b: FrameBuilder) -> FrameBuilder {
        let (kind, code, text) = match &self.ended {
            Ended::Exited(c) => (0, i64::from(*c), ""),
            Ended::Signaled(s) => (1, i64::from(*s), ""),
            Ended::NotStarted(why) => (2, 0, why.as_str()),
            Ended::WorkerDied(ExitStatus::Exited(c)) => (3, i64::from(*c), ""),
            Ended::WorkerDied(ExitStatus::Signaled(s)) => (4, i64::from(*s), ""),
        };
        b.u64(self.id)
            .i64(i64::from(self.worker))
            .u64(self.start_us)
            .u64(super::micros(self.runtime))
            .u64(kind)
            .i64(code)
            .str(text)
            .u64(
                u64::from(self.timed_out)
                    | u64::from(self.interrupted) << 1
                    | u64::from(self.winding) << 2,
            )
            .u64(self.stdout_bytes)
            .u64(self.stderr_bytes)
    }

    pub fn get(f: &mut Fields<'_>) -> Option<CommandReport> {
        let id = f.u64()?;
        let worker = i32::try_from(f.i64()?).ok()?;
        let start_us = f.u64()?;
        let runtime = Duration::from_micros(f.u64()?);
        let (kind, code, text) = (f.u64()?, f.i64()?, f.str()?);
        let code = i32::try_from(code).ok()?;
        let ended = match kind {
            0 => Ended::Exited(code),
            1 => Ended::Signaled(code),
            2 => Ended::NotStarted(text),
            3 => Ended::WorkerDied(ExitStatus::Exited(code)),
            4 => Ended::WorkerDied(ExitStatus::Signaled(code)),
            _ => return None,
        };
        let flags = f.u64()?;
        let stdout_bytes = f.u64()?;
        let stderr_bytes = f.u64()?;
        Some(CommandReport {
            id,
            worker,
            start_us,
            runtime,
            ended,
            timed_out: flags & 1 != 0,
            interrupted: flags & 2 != 0,
            winding: flags & 4 != 0,
            stdout_bytes,
            stderr_bytes,
        })
    }
}

/// What a worker sends back: that it is up (once, first), then one result per task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WorkerResult {
    /// The worker is set up and reading tasks: its first task's clock starts only now, so a
    /// worker slow to be scheduled after its fork does not eat into that task's timeout.
    Ready,
    /// A job's result: its output or error text, and how long `run` took in the worker.
    Job {
        id: u64,
        ok: bool,
        text: String,
        runtime: Duration,
    },
    Command(CommandReport),
    /// A command worker told to stop (SIGINT/SIGTERM) is leaving: it reads no task after this
    /// message, so a task the dispatcher sent it meanwhile never started and goes to another.
    Leaving,
}

const RESULT_JOB: u64 = 0;
const RESULT_COMMAND: u64 = 1;
const RESULT_READY: u64 = 2;
const RESULT_LEAVING: u64 = 3;

impl WorkerResult {
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        match self {
            WorkerResult::Job {
                id,
                ok,
                text,
                runtime,
            } => FrameBuilder::new()
                .u64(RESULT_JOB)
                .u64(*id)
                .u64(u64::from(*ok))
                .str(text)
                .u64(super::micros(*runtime)),
            WorkerResult::Command(report) => report.put(FrameBuilder::new().u64(RESULT_COMMAND)),
            WorkerResult::Ready => FrameBuilder::new().u64(RESULT_READY),
            WorkerResult::Leaving => FrameBuilder::new().u64(RESULT_LEAVING),
        }
        .finish(MAX_FRAME)
    }

    pub fn decode(payload: &[u8]) -> Option<WorkerResult> {
        let mut f = Fields::new(payload);
        let result = match f.u64()? {
            RESULT_JOB => WorkerResult::Job {
                id: f.u64()?,
                ok: f.u64()? != 0,
                text: f.str()?,
                runtime: Duration::from_micros(f.u64()?),
            },
            RESULT_COMMAND => WorkerResult::Command(CommandReport::get(&mut f)?),
            RESULT_READY => WorkerResult::Ready,
            RESULT_LEAVING => WorkerResult::Leaving,
            _ => return None,
        };
        f.is_empty().then_some(result)
    }

    pub fn id(&self) -> u64 {
        match self {
            WorkerResult::Job { id, .. } => *id,
            WorkerResult::Command(r) => r.id,
            WorkerResult::Ready | WorkerResult::Leaving => 0,
        }
    }
}

/// The message a worker sends the caller, straight over the output queue, as soon as a command
/// has started: which task, the command's process group, and (attached) its output files.
pub(crate) const STARTED_LEN: usize = 16;

pub(crate) fn encode_started(id: u64, pgid: i32) -> [u8; STARTED_LEN] {
    let mut m = [0u8; STARTED_LEN];
    m[..8].copy_from_slice(&id.to_le_bytes());
    m[8..].copy_from_slice(&i64::from(pgid).to_le_bytes());
    m
}

pub(crate) fn decode_started(m: &[u8]) -> Option<(u64, i32)> {
    let id = u64::from_le_bytes(m.get(..8)?.try_into().ok()?);
    let pgid = i64::from_le_bytes(m.get(8..STARTED_LEN)?.try_into().ok()?);
    Some((id, i32::try_from(pgid).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_round_trips() {
        let tasks = [
            TaskFrame {
                id: 7,
                timeout: Some(Duration::from_millis(250)),
                work: Work::Job {
                    job: "sleep".into(),
                    args: vec!["10".into()],
                },
            },
            TaskFrame {
                id: 8,
                timeout: None,
                work: Work::Command {
                    argv: vec![b"echo".to_vec(), vec![0xff, b'\n']],
                },
            },
        ];
        for t in tasks {
            let frame = t.encode().unwrap();
            assert_eq!(TaskFrame::decode(&frame[4..]), Some(t.clone()));
            assert_eq!(
                WorkerTask::decode(&frame[4..]),
                None,
                "a task frame is not a worker task"
            );
            let wt = WorkerTask {
                id: t.id,
                timeout: t.timeout,
                grace: Duration::from_millis(500),
                work: t.work,
            };
            let frame = wt.encode().unwrap();
            assert_eq!(WorkerTask::decode(&frame[4..]), Some(wt));
        }
        for ended in [
            Ended::Exited(3),
            Ended::Signaled(9),
            Ended::NotStarted("no".into()),
            Ended::WorkerDied(ExitStatus::Signaled(9)),
            Ended::WorkerDied(ExitStatus::Exited(1)),
        ] {
            let r = WorkerResult::Command(CommandReport {
                id: 1,
                worker: 42,
                start_us: 1_700_000_000_123_456,
                runtime: Duration::from_micros(1234),
                ended,
                timed_out: true,
                interrupted: false,
                winding: true,
                stdout_bytes: 10_000_000,
                stderr_bytes: 7,
            });
            let frame = r.encode().unwrap();
            assert_eq!(WorkerResult::decode(&frame[4..]), Some(r));
        }
        let job = WorkerResult::Job {
            id: 3,
            ok: false,
            text: "failing".into(),
            runtime: Duration::from_millis(3),
        };
        let frame = job.encode().unwrap();
        assert_eq!(WorkerResult::decode(&frame[4..]), Some(job));
        let frame = WorkerResult::Leaving.encode().unwrap();
        assert_eq!(
            WorkerResult::decode(&frame[4..]),
            Some(WorkerResult::Leaving)
        );
        assert_eq!(decode_started(&encode_started(9, 1234)), Some((9, 1234)));
    }
}
