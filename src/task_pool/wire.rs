//! The messages of the pool's pipes, typed and framed in one way: each is a serde record
//! (postcard) behind `ipc_sys::frame`'s `u32` length prefix. Caller → dispatcher (a task: a
//! header, then the job's input or the command line), dispatcher → worker (another header, then
//! that payload, passed on unread), worker → dispatcher (a result), dispatcher → caller (a report,
//! a worker's usage, a command's report, its last words), and the "command started" message on
//! the output queue. A decoder refuses a payload with bytes left over, so a message of another
//! kind is never half-read as this one.

use std::time::Duration;

use ipc_sys::ExitStatus;
use ipc_sys::frame::{self, FrameError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{MAX_FRAME, TaskReport, WorkerUsage};

/// Appends `message` to `buf` as one frame; on error `buf` is left as it was.
pub(crate) fn append_frame<T: Serialize>(buf: &mut Vec<u8>, message: &T) -> Result<(), FrameError> {
    frame::append(buf, message, &[], MAX_FRAME)
}

/// `message` as one frame, ready to write.
pub(crate) fn frame<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    frame::encode(message, MAX_FRAME)
}

/// The message at the start of a payload, and the bytes after it.
pub(crate) fn split<T: DeserializeOwned>(payload: &[u8]) -> Option<(T, &[u8])> {
    postcard::take_from_bytes(payload).ok()
}

/// Why a result too large to deliver was not: the size of its output once encoded (a
/// string's length and its bytes), or of its error text.
pub(crate) fn too_large<T: Serialize>(result: Result<&T, &str>) -> String {
    let len = match result {
        Ok(output) => postcard::experimental::serialized_size(output).unwrap_or(usize::MAX),
        Err(text) => text.len(),
    };
    format!("output too large: {len} bytes")
}

/// The message a whole payload holds; `None` for anything else (trailing bytes included).
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Option<T> {
    match postcard::take_from_bytes(payload) {
        Ok((message, [])) => Some(message),
        _ => None,
    }
}

/// What a task asks a worker to do; what it needs to do it follows the task's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    /// Run the pool's job (the task's name) on the input that follows, inside the worker.
    Job(String),
    /// Run the command line that follows (`argv[0]`, looked up in PATH) in a process group of
    /// its own.
    Command,
}

impl Kind {
    /// The task's name, as the announcements and the joblog show it.
    pub fn name(&self) -> &str {
        match self {
            Kind::Job(name) => name,
            Kind::Command => "command",
        }
    }
}

/// A task as the caller sends it to the dispatcher: this header, then the job's input or the
/// command line (postcard), which the dispatcher passes on to a worker without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TaskHeader {
    pub id: u64,
    pub timeout: Option<Duration>,
    pub kind: Kind,
}

/// A task as the dispatcher hands it to a worker: this header, then the payload the caller sent
/// (a job worker reads the job's input, a command worker the command line). A command also
/// needs its timeout and grace, which its worker enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WorkerHeader {
    pub id: u64,
    pub timeout: Option<Duration>,
    pub grace: Duration,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// What a worker sends back: that it is up (once, first), then one result per task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WorkerResult<O> {
    /// The worker is set up and reading tasks: its first task's clock starts only now, so a
    /// worker slow to be scheduled after its fork does not eat into that task's timeout.
    Ready,
    /// A job's result: its output or error text, and how long `run` took in the worker.
    Job {
        id: u64,
        result: Result<O, String>,
        runtime: Duration,
    },
    Command(CommandReport),
    /// A command worker told to stop (SIGINT/SIGTERM) is leaving: it reads no task after this
    /// message, so a task the dispatcher sent it meanwhile never started and goes to another.
    Leaving,
}

/// What the dispatcher sends the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ToCaller<O> {
    Report(TaskReport<O>),
    Usage(WorkerUsage),
    Command(CommandReport),
    /// The dispatcher failed; the message says why, so the caller reports it once.
    Fatal(String),
}

/// The message a worker sends the caller, straight over the output queue, as soon as a command
/// has started: which task, and the command's process group (its output files are attached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Started {
    pub id: u64,
    pub pgid: i32,
}

/// Largest `Started` message: postcard's varints take at most 10 bytes for a `u64` and 5 for
/// an `i32`.
pub(crate) const STARTED_LEN: usize = 16;

impl Started {
    pub fn encode(self) -> Vec<u8> {
        let mut buf = [0u8; STARTED_LEN];
        // Cannot fail: the message is at most 15 bytes (see `STARTED_LEN`).
        postcard::to_slice(&self, &mut buf).map_or_else(|_| Vec::new(), |used| used.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_sys::frame::PREFIX;

    /// Frames `message`, reads it back through a `FrameBuffer` as a reader would.
    fn round_trip<T: Serialize + DeserializeOwned>(message: &T) -> Option<T> {
        let frame = frame(message).unwrap();
        let mut reader = &frame[..];
        let mut buf = ipc_sys::frame::FrameBuffer::new(MAX_FRAME);
        let payload = buf.read_frame(&mut reader).unwrap().unwrap();
        decode(payload)
    }

    #[test]
    fn every_frame_round_trips() {
        let header = TaskHeader {
            id: 7,
            timeout: Some(Duration::from_millis(250)),
            kind: Kind::Job("sleep".into()),
        };
        let input = vec!["10".to_string()];
        // The caller's frame: the header, then the input; the dispatcher splits it unread.
        let task = frame(&(&header, &input)).unwrap();
        let (got, payload) = split::<TaskHeader>(&task[PREFIX..]).unwrap();
        assert_eq!(got, header);
        assert_eq!(decode::<Vec<String>>(payload), Some(input));
        // The worker's frame: another header, then the same payload, copied as it is.
        let worker = WorkerHeader {
            id: 8,
            timeout: None,
            grace: Duration::from_millis(500),
        };
        let argv = vec![b"echo".to_vec(), vec![0xff, b'\n']];
        let command = frame(&(
            TaskHeader {
                id: 8,
                timeout: None,
                kind: Kind::Command,
            },
            &argv,
        ))
        .unwrap();
        let (_, payload) = split::<TaskHeader>(&command[PREFIX..]).unwrap();
        let mut framed = Vec::new();
        frame::append(&mut framed, &worker, payload, MAX_FRAME).unwrap();
        let (got, payload) = split::<WorkerHeader>(&framed[PREFIX..]).unwrap();
        assert_eq!(got, worker);
        assert_eq!(decode::<Vec<Vec<u8>>>(payload), Some(argv));
        assert_eq!(round_trip(&worker), Some(worker));
        for ended in [
            Ended::Exited(3),
            Ended::Signaled(9),
            Ended::NotStarted("no".into()),
            Ended::WorkerDied(ExitStatus::Signaled(9)),
            Ended::WorkerDied(ExitStatus::Exited(1)),
        ] {
            let r = WorkerResult::<String>::Command(CommandReport {
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
            assert_eq!(round_trip(&r), Some(r.clone()));
        }
        let job = WorkerResult::<u64>::Job {
            id: 3,
            result: Err("failing".into()),
            runtime: Duration::from_millis(3),
        };
        assert_eq!(round_trip(&job), Some(job));
        let ok = WorkerResult::Job {
            id: 4,
            result: Ok(vec![(7u64, u128::MAX)]),
            runtime: Duration::from_millis(3),
        };
        assert_eq!(round_trip(&ok), Some(ok));
        assert_eq!(
            round_trip(&WorkerResult::<u64>::Leaving),
            Some(WorkerResult::Leaving)
        );
        let fatal = ToCaller::<u64>::Fatal("gone".into());
        assert_eq!(round_trip(&fatal), Some(fatal));
        for started in [
            Started { id: 9, pgid: 1234 },
            Started {
                id: u64::MAX,
                pgid: i32::MIN,
            },
        ] {
            let bytes = started.encode();
            assert!(!bytes.is_empty() && bytes.len() <= STARTED_LEN);
            assert_eq!(decode(&bytes), Some(started));
        }
    }

    #[test]
    fn a_payload_with_bytes_left_over_or_cut_short_is_refused() {
        let payload = postcard::to_stdvec(&WorkerResult::<String>::Leaving).unwrap();
        let mut longer = payload.clone();
        longer.push(0);
        assert_eq!(decode::<WorkerResult<String>>(&longer), None);
        let job = postcard::to_stdvec(&WorkerResult::<String>::Job {
            id: 3,
            result: Ok("out".into()),
            runtime: Duration::ZERO,
        })
        .unwrap();
        assert_eq!(decode::<WorkerResult<String>>(&job[..job.len() - 1]), None);
    }
}
