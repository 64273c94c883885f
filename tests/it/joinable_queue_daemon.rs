//! joinable_queue under signals, and the daemon demo: SIGKILL of main leaves no consumer or
//! producer alive; Ctrl+C and SIGTERM wind a run down with a summary and exit 130; a producer
//! killed from outside fails the run without a hang; the daemon dies with its parent while the
//! non-daemon lives on and is reaped. The test process is a child subreaper, so every orphan
//! comes to it: each test checks that every process it saw is gone (and reaps it).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::common;

use common::{Bounded, Started};

use crate::common::JOINABLE_QUEUE as BIN;
/// Detects a hang; never a speed requirement.
const HANG: Duration = Duration::from_secs(30);

/// A run in a session of its own (ended on drop, also when a test fails midway), its output
/// lines arriving on a channel.
struct Run {
    child: Started,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Run {
    fn start(args: &[&str]) -> Run {
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        let mut child = Command::new(BIN).args(args).stdout(Stdio::piped()).start();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Run {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for a line containing `needle`; returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + HANG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; seen:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Like `wait_for`, but returns at once if a line already seen contains `needle`.
    fn wait_seen(&mut self, needle: &str) {
        if !self.seen.iter().any(|l| l.contains(needle)) {
            self.wait_for(needle);
        }
    }

    /// Waits for the end of main and of its output (every process that held stdout is gone or
    /// closed it); returns main's exit code and every line.
    fn finish(&mut self) -> (i32, Vec<String>) {
        let code = common::wait_with_deadline(&mut self.child, HANG);
        let deadline = Instant::now() + HANG;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        (code, std::mem::take(&mut self.seen))
    }
}

/// Every pid written in the lines: `(1234)`, `consumer 1234 ` or `child 1234`.
fn pids_in(lines: &[String]) -> Vec<i32> {
    let mut pids = Vec::new();
    for l in lines {
        for marker in ["(", "consumer ", "child "] {
            for (at, _) in l.match_indices(marker) {
                let digits: String = l[at + marker.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let rest = &l[at + marker.len() + digits.len()..];
                let closed = marker != "(" || rest.starts_with(')');
                if let Ok(pid) = digits.parse::<i32>()
                    && closed
                    && pid > 1
                    && !pids.contains(&pid)
                {
                    pids.push(pid);
                }
            }
        }
    }
    pids
}

#[test]
fn sigkill_of_main_leaves_no_daemon_consumer_alive() {
    for (args, moment) in [
        (
            ["--producers", "2", "--items", "100000", "--pause-ms", "1"].as_slice(),
            "producer 2 (",
        ),
        // Producers blocked waiting for a slot of a full bounded queue die too.
        (
            &[
                "--producers",
                "3",
                "--items",
                "100000",
                "--capacity",
                "2",
                "--work-ms",
                "50",
            ],
            "blocks: the queue is full",
        ),
    ] {
        let mut run = Run::start(args);
        run.wait_for(moment);
        // Every process has said its pid before main dies: the test looks for each of them.
        run.wait_seen("producer 1 (");
        run.wait_seen("producer 2 (");
        kill(run.pid(), Signal::SIGKILL).unwrap();
        let (code, lines) = run.finish();
        assert_eq!(code, -1);
        let pids = pids_in(&lines);
        assert!(pids.len() >= 3, "{lines:#?}");
        common::wait_gone(&pids, HANG);
    }
}

#[test]
fn ctrl_c_to_the_group_winds_down_with_a_summary_and_exit_130() {
    let mut run = Run::start(&["--producers", "3", "--items", "100000", "--pause-ms", "1"]);
    run.wait_for(": done ");
    killpg(run.pid(), Signal::SIGINT).unwrap();
    let (code, lines) = run.finish();
    assert_eq!(code, 130, "{lines:#?}");
    let summary = lines.last().unwrap();
    assert!(
        summary.starts_with("main: interrupted by SIGINT before join() returned: "),
        "{summary}"
    );
    // The summary is true: every item put is done or still counted as never done.
    let n: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(n[0], n[1] + n[2], "{summary}");
    common::wait_gone(&pids_in(&lines), HANG);
}

#[test]
fn sigterm_to_main_alone_stops_producers_blocked_on_a_full_queue() {
    let mut run = Run::start(&[
        "--producers",
        "4",
        "--items",
        "100000",
        "--capacity",
        "2",
        "--work-ms",
        "30",
    ]);
    run.wait_for("blocks: the queue is full");
    kill(run.pid(), Signal::SIGTERM).unwrap();
    let (code, lines) = run.finish();
    assert_eq!(code, 130, "{lines:#?}");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("main: interrupted by SIGTERM before join() returned: "),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("SIGKILLed")),
        "all stopped when asked"
    );
    common::wait_gone(&pids_in(&lines), HANG);
}

#[test]
fn a_producer_killed_from_outside_fails_the_run_without_a_hang() {
    let mut run = Run::start(&["--producers", "3", "--items", "100000", "--pause-ms", "1"]);
    let line = run.wait_for("producer 2 (");
    let pid: i32 = line
        .split('(')
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let (code, lines) = run.finish();
    assert_eq!(code, 1, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "main: producer 2 ({pid}) killed by SIGKILL after putting"
        ))),
        "{lines:#?}"
    );
    assert!(
        lines.last().unwrap().starts_with("main: join() returned: "),
        "what was queued is settled: {lines:#?}"
    );
    common::wait_gone(&pids_in(&lines), HANG);
}

#[test]
fn the_daemon_dies_with_its_parent_and_the_non_daemon_lives_on_and_is_reaped() {
    let mut run = Run::start(&["daemon"]);
    let (code, lines) = run.finish();
    assert_eq!(code, 0, "{lines:#?}");
    let find = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {lines:#?}"))
    };
    find("daemon (");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("daemon (") && l.ends_with("is running"))
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("daemon (") && l.ends_with("is over")),
        "the daemon died with its parent: {lines:#?}"
    );
    let parent_gone = find("exited with code 0 after");
    let proc_view = find("/proc after the parent's exit");
    let over = lines
        .iter()
        .position(|l| l.starts_with("non-daemon (") && l.ends_with("is over"))
        .expect("the non-daemon finishes");
    assert!(parent_gone < proc_view && proc_view < over, "{lines:#?}");
    let view = &lines[proc_view];
    assert!(
        view.contains(": gone, no /proc entry (killed by SIGTERM"),
        "{view}"
    );
    assert!(view.contains("(this top process: adopted)"), "{view}");
    assert!(
        lines
            .last()
            .unwrap()
            .ends_with("every child of the demo reaped")
    );
    common::wait_gone(&pids_in(&lines), HANG);
}

#[test]
fn sigkill_of_the_daemon_demo_leaves_nothing_behind() {
    let mut run = Run::start(&["daemon"]);
    run.wait_for("/proc while the parent lives");
    kill(run.pid(), Signal::SIGKILL).unwrap();
    let (_, lines) = run.finish();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("the demo's top process is gone; leaving early")),
        "the non-daemon sees its lifeline close: {lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.ends_with("is over")), "{lines:#?}");
    common::wait_gone(&pids_in(&lines), HANG);
}

#[test]
fn ctrl_c_during_the_daemon_demo_ends_it_with_130_and_reaps_every_child() {
    let mut run = Run::start(&["daemon"]);
    run.wait_for("exiting in 0.5 s");
    killpg(run.pid(), Signal::SIGINT).unwrap();
    let (code, lines) = run.finish();
    assert_eq!(code, 130, "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("interrupted by SIGINT")));
    common::wait_gone(&pids_in(&lines), HANG);
}
