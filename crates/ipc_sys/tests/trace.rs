//! The tracer on real commands. `harness = false`: the tracer forks, which `Fork` allows only
//! in a single-threaded process, so each case runs in turn from this `main`, and a failing
//! case panics (the test binary exits non-zero, naming it).

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use ipc_sys::trace::{
    self, Controller, Ctx, Decision, Detail, Entry, Event, Intervention, Object, Record, Status,
    Stdio, TraceConfig,
};

fn trace_with(
    argv: &[&str],
    dir: &Path,
    deadline: Duration,
    controller: &mut dyn Controller,
) -> (Vec<Record>, trace::Outcome) {
    let mut config = TraceConfig::new(
        argv.iter().map(|s| s.to_string()).collect(),
        dir.to_path_buf(),
    );
    config.deadline = deadline;
    let stdio = Stdio {
        stdout: File::create(dir.join("stdout")).unwrap().into(),
        stderr: File::create(dir.join("stderr")).unwrap().into(),
    };
    let mut records: Vec<Record> = Vec::new();
    let outcome = trace::run(&config, stdio, &|| Ok(()), controller, &mut records).unwrap();
    (records, outcome)
}

fn trace(argv: &[&str], dir: &Path) -> (Vec<Record>, trace::Outcome) {
    trace_with(argv, dir, Duration::from_secs(60), &mut trace::Observe)
}

fn io(records: &[Record], write: bool) -> Vec<(&Record, &Object, &[u8])> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Call(c) if (write && c.sys.writes()) || (!write && c.sys.reads()) => {
                match &c.detail {
                    Detail::Io { object, data, .. } => Some((r, object, data.as_slice())),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

fn a_pipe_between_two_processes_is_seen_from_both_ends_with_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (records, outcome) = trace(&["sh", "-c", "echo 7 | cat > out.txt"], dir.path());
    assert_eq!(outcome.root, Some(Status::Code(0)));
    let pipe = records
        .iter()
        .find_map(|r| match &r.event {
            Event::Call(c) => match &c.detail {
                Detail::Pair { objects, .. } => Some(objects[0].clone()),
                _ => None,
            },
            _ => None,
        })
        .expect("the pipe's creation");
    assert!(matches!(pipe, Object::Pipe(_)));
    let writes = io(&records, true);
    let reads = io(&records, false);
    let w = writes
        .iter()
        .find(|(_, o, _)| **o == pipe)
        .expect("a write into the pipe");
    let r = reads
        .iter()
        .find(|(_, o, d)| **o == pipe && !d.is_empty())
        .expect("a read from the pipe");
    assert_eq!((w.2, r.2), (&b"7\n"[..], &b"7\n"[..]));
    assert_ne!(w.0.pid, r.0.pid, "writer and reader are two processes");
    let file = writes
        .iter()
        .find(|(_, o, _)| matches!(o, Object::File(p) if p.ends_with("/out.txt")))
        .expect("the write to out.txt");
    assert_eq!(file.0.pid, r.0.pid);
    let spawned = records
        .iter()
        .filter(|r| matches!(r.event, Event::Spawned { thread: false, .. }))
        .count();
    assert!(spawned >= 1, "{spawned}");
}

/// Holds every write of `echo` for 300 ms.
struct SlowWrites {
    held: u32,
}
impl Controller for SlowWrites {
    fn on_enter(&mut self, _ctx: &mut Ctx<'_>, e: &Entry) -> Decision {
        if e.sys.writes() && matches!(e.object, Some(Object::File(_))) {
            self.held += 1;
            return Decision::HoldFor(Duration::from_millis(300));
        }
        Decision::Go
    }
}

fn a_held_call_runs_only_after_its_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = SlowWrites { held: 0 };
    let (records, _) = trace_with(
        &["sh", "-c", "echo a > f; echo b >> f"],
        dir.path(),
        Duration::from_secs(60),
        &mut c,
    );
    assert_eq!(c.held, 2);
    let writes = io(&records, true);
    assert_eq!(writes.len(), 2);
    for (r, _, _) in writes {
        let Event::Call(call) = &r.event else {
            unreachable!()
        };
        assert!(r.at_us - call.entered_us >= 300_000, "{r:?}");
    }
    let held = records
        .iter()
        .filter(|r| matches!(r.event, Event::Intervention(Intervention::Held { .. })))
        .count();
    assert_eq!(held, 2);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("f")).unwrap(),
        "a\nb\n"
    );
}

fn a_daemonized_grandchild_is_traced_and_killed_when_the_trace_ends() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (records, outcome) = trace_with(
        &["sh", "-c", "(setsid sleep 300 &) ; exit 0"],
        dir.path(),
        Duration::from_secs(3),
        &mut trace::Observe,
    );
    assert_eq!(outcome.reason, "timeout");
    assert!(started.elapsed() < Duration::from_secs(300));
    let sleeper = records
        .iter()
        .find(|r| matches!(&r.event, Event::Exec { argv, .. } if argv.first().is_some_and(|a| a == "sleep")))
        .expect("the sleeper's exec")
        .pid;
    let end = records
        .iter()
        .find_map(|r| match r.event {
            Event::Exited { status } if r.pid == sleeper => Some(status),
            _ => None,
        })
        .expect("the sleeper's end");
    assert_eq!(end, Status::Signal(libc::SIGKILL));
    assert!(
        !Path::new(&format!("/proc/{sleeper}")).exists(),
        "sleeper {sleeper} left running"
    );
}

fn threads_belong_to_their_process_and_signals_are_passed_on() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import threading,os\n\
                  t=threading.Thread(target=lambda: os.write(1,b'from thread\\n'))\n\
                  t.start(); t.join()\n\
                  os.kill(os.getpid(), 15)\n";
    let (records, outcome) = trace(&["python3", "-c", script], dir.path());
    assert_eq!(outcome.root, Some(Status::Signal(libc::SIGTERM)));
    let thread = records
        .iter()
        .find_map(|r| match r.event {
            Event::Spawned {
                child,
                thread: true,
            } => Some((r.pid, child)),
            _ => None,
        })
        .expect("a thread");
    let write = io(&records, true)
        .into_iter()
        .find(|(_, _, d)| *d == b"from thread\n")
        .expect("the thread's write");
    assert_eq!(
        (write.0.pid, write.0.tid),
        thread,
        "pid is the process, tid the thread"
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(r.event, Event::Signal { signal: 15 }))
    );
}

fn a_thread_that_executes_becomes_the_process_leader() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import threading,os\n\
                  threading.Thread(target=lambda: os.execvp('sh',['sh','-c','exit 7'])).start()\n\
                  import time; time.sleep(30)\n";
    let (records, outcome) = trace(&["python3", "-c", script], dir.path());
    assert_eq!(outcome.root, Some(Status::Code(7)));
    let exec = records
        .iter()
        .find_map(|r| match &r.event {
            Event::Exec {
                former_tid, argv, ..
            } if argv.first().is_some_and(|a| a == "sh") => Some((r.pid, *former_tid)),
            _ => None,
        })
        .expect("the exec");
    assert_ne!(
        exec.0, exec.1,
        "execve was called by a thread other than the leader"
    );
}

fn a_command_that_cannot_start_ends_with_127_and_no_exec() {
    let dir = tempfile::tempdir().unwrap();
    let (records, outcome) = trace(&["no-such-command-here"], dir.path());
    assert_eq!(outcome.root, Some(Status::Code(127)));
    assert!(
        !records
            .iter()
            .any(|r| matches!(r.event, Event::Exec { .. }))
    );
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(
        stderr.contains("cannot run no-such-command-here"),
        "{stderr}"
    );
}

fn main() {
    let cases: [(&str, fn()); 6] = [
        (
            "a_pipe_between_two_processes_is_seen_from_both_ends_with_its_bytes",
            a_pipe_between_two_processes_is_seen_from_both_ends_with_its_bytes,
        ),
        (
            "a_held_call_runs_only_after_its_hold",
            a_held_call_runs_only_after_its_hold,
        ),
        (
            "a_daemonized_grandchild_is_traced_and_killed_when_the_trace_ends",
            a_daemonized_grandchild_is_traced_and_killed_when_the_trace_ends,
        ),
        (
            "threads_belong_to_their_process_and_signals_are_passed_on",
            threads_belong_to_their_process_and_signals_are_passed_on,
        ),
        (
            "a_thread_that_executes_becomes_the_process_leader",
            a_thread_that_executes_becomes_the_process_leader,
        ),
        (
            "a_command_that_cannot_start_ends_with_127_and_no_exec",
            a_command_that_cannot_start_ends_with_127_and_no_exec,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut ran = 0;
    for (name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        case();
        ran += 1;
        println!("test {name} ... ok");
    }
    println!("{ran} passed, 0 failed");
}
