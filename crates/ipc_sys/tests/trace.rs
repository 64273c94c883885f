//! The tracer on real commands. `harness = false`: the tracer forks, which `Fork` allows only
//! in a single-threaded process, so each case runs in turn from this `main`, and a failing
//! case panics (the test binary exits non-zero, naming it).

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use ipc_sys::trace::{
    self, Controller, Ctx, Decision, Detail, Entry, Event, Intervention, Object, Record, Status,
    Stdio, Sys, TraceConfig,
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
    assert_eq!(outcome.root, Some(Status::Exited(0)));
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
    assert_eq!(end, Status::Signaled(libc::SIGKILL));
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
    assert_eq!(outcome.root, Some(Status::Signaled(libc::SIGTERM)));
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
    assert_eq!(outcome.root, Some(Status::Exited(7)));
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
    assert_eq!(outcome.root, Some(Status::Exited(127)));
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

/// Keeps the entries of poll, select and epoll waits.
#[derive(Default)]
struct Waits {
    seen: Vec<Entry>,
}
impl Controller for Waits {
    fn on_enter(&mut self, _ctx: &mut Ctx<'_>, e: &Entry) -> Decision {
        if e.sys.waits_on_fds() {
            self.seen.push(e.clone());
        }
        Decision::Go
    }
}

fn poll_select_and_epoll_waits_name_each_descriptor_its_object_and_direction() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import os, select\n\
                  r, w = os.pipe()\n\
                  os.write(1, f'{r} {w}'.encode())\n\
                  select.select([r], [w], [], 0)\n\
                  p = select.poll(); p.register(r, select.POLLIN); p.register(w, select.POLLOUT); p.poll(0)\n\
                  e = select.epoll(); e.register(r, select.EPOLLIN); e.register(w, select.EPOLLOUT); e.poll(0)\n";
    let mut c = Waits::default();
    let (_, outcome) = trace_with(
        &["python3", "-c", script],
        dir.path(),
        Duration::from_secs(60),
        &mut c,
    );
    assert_eq!(outcome.root, Some(Status::Exited(0)));
    let fds = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    let (r, w) = fds.split_once(' ').unwrap();
    let (r, w): (i32, i32) = (r.parse().unwrap(), w.parse().unwrap());
    let families: [&[Sys]; 3] = [
        &[Sys::Select, Sys::Pselect6],
        &[Sys::Poll, Sys::Ppoll],
        &[Sys::EpollWait, Sys::EpollPwait, Sys::EpollPwait2],
    ];
    for family in families {
        let entry = c
            .seen
            .iter()
            .find(|e| family.contains(&e.sys))
            .unwrap_or_else(|| panic!("no {family:?} in {:?}", c.seen));
        let mut got: Vec<(i32, bool, bool)> = entry
            .waits
            .iter()
            .map(|w| (w.fd, w.read, w.write))
            .collect();
        got.sort_unstable();
        assert_eq!(got, [(r, true, false), (w, false, true)], "{entry:?}");
        assert!(
            entry
                .waits
                .iter()
                .all(|w| matches!(w.object, Object::Pipe(_)) && w.object == entry.waits[0].object),
            "{entry:?}"
        );
    }
}

fn a_process_that_stops_itself_stays_stopped_until_its_sigcont() {
    let dir = tempfile::tempdir().unwrap();
    // The child stops itself; its parent waits until it sees the stop, then continues it.
    let script = "import os, signal\n\
                  pid = os.fork()\n\
                  if pid == 0:\n    os.kill(os.getpid(), signal.SIGSTOP); os._exit(7)\n\
                  _, st = os.waitpid(pid, os.WUNTRACED)\n\
                  assert os.WIFSTOPPED(st), st\n\
                  os.kill(pid, signal.SIGCONT)\n\
                  _, st = os.waitpid(pid, 0)\n\
                  raise SystemExit(os.WEXITSTATUS(st))\n";
    let (records, outcome) = trace(&["python3", "-c", script], dir.path());
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert_eq!(outcome.root, Some(Status::Exited(7)), "{stderr}");
    // The child: the process other than the root that exited with 7 (python3 may be a
    // launcher that starts processes of its own first).
    let root = records
        .iter()
        .find(|r| matches!(r.event, Event::Started { .. }))
        .expect("the start")
        .pid;
    let child = records
        .iter()
        .find(|r| {
            r.pid != root
                && matches!(
                    r.event,
                    Event::Exited {
                        status: Status::Exited(7)
                    }
                )
        })
        .expect("the child's exit")
        .pid;
    let at = |what: &dyn Fn(&Record) -> bool| {
        records
            .iter()
            .find(|r| what(r))
            .map(|r| r.at_us)
            .unwrap_or_else(|| panic!("not found in {records:#?}"))
    };
    let stopped = at(&|r| {
        r.pid == child && matches!(r.event, Event::Stopped { signal } if signal == libc::SIGSTOP)
    });
    let cont = at(&|r| {
        matches!(&r.event, Event::Call(c) if matches!(c.detail, Detail::Kill { target, signal }
            if target == i64::from(child) && signal == libc::SIGCONT))
    });
    let continued = at(&|r| r.pid == child && matches!(r.event, Event::Continued));
    let exited = at(&|r| r.pid == child && matches!(r.event, Event::Exited { .. }));
    // The times are when the tracer saw each event. The child's own events come in their
    // order, and it can run on only after the tracer has let its parent's kill through; but the
    // child's stop and the parent's kill (which the parent makes as soon as its wait sees that
    // stop) can reach the tracer in either order, microseconds apart: one run under load saw
    // the kill 12 µs before the stop. So the stop is compared with the continuation, not
    // with the kill.
    assert!(
        stopped < continued && cont <= continued && continued <= exited,
        "stopped {stopped}, SIGCONT sent {cont}, continued {continued}, exited {exited}"
    );
}

/// Each case with its name.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        [$((stringify!($case), $case as fn())),*]
    };
}

fn main() {
    let cases = cases![
        a_process_that_stops_itself_stays_stopped_until_its_sigcont,
        poll_select_and_epoll_waits_name_each_descriptor_its_object_and_direction,
        a_pipe_between_two_processes_is_seen_from_both_ends_with_its_bytes,
        a_held_call_runs_only_after_its_hold,
        a_daemonized_grandchild_is_traced_and_killed_when_the_trace_ends,
        threads_belong_to_their_process_and_signals_are_passed_on,
        a_thread_that_executes_becomes_the_process_leader,
        a_command_that_cannot_start_ends_with_127_and_no_exec,
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
