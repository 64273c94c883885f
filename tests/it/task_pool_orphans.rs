//! Killing the caller leaves no dispatcher and no worker behind. The test makes itself a child
//! subreaper so the orphaned dispatcher is re-parented to it and can be reaped (no zombie).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

#[test]
fn killing_the_caller_leaves_no_dispatcher_or_worker() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let mut caller = Command::new(env!("CARGO_BIN_EXE_task_pool"))
        .args([
            "--workers",
            "3",
            "--task",
            "sleep:20000",
            "--task",
            "stubborn:20000",
            "--task",
            "sleep:20000",
            "--timeout",
            "60000",
        ])
        .stdout(Stdio::piped())
        .start();
    let mut lines = BufReader::new(caller.stdout.take().unwrap()).lines();
    let mut dispatcher = 0;
    let mut workers = Vec::new();
    while workers.len() < 3 {
        let line = lines.next().expect("output ended").unwrap();
        if let Some(rest) = line.strip_prefix("pool: dispatcher ") {
            dispatcher = rest.split(',').next().unwrap().parse().unwrap();
        } else if line.starts_with("started task ") {
            workers.push(line.rsplit(' ').next().unwrap().parse::<i32>().unwrap());
        }
    }
    kill(Pid::from_raw(caller.id() as i32), Signal::SIGKILL).unwrap();
    caller.wait();

    let deadline = Instant::now() + common::default_deadline();
    let proc_entry = |pid: i32| Path::new(&format!("/proc/{pid}")).exists();
    // Until it is gone for good: reparented to this subreaper, it is reaped here (a zombie
    // keeps its /proc entry until then).
    while proc_entry(dispatcher) {
        assert!(
            Instant::now() < deadline,
            "the dispatcher outlived its caller by a deadline"
        );
        let _ = waitpid(Pid::from_raw(dispatcher), Some(WaitPidFlag::WNOHANG));
        sleep(Duration::from_millis(10));
    }
    while workers.iter().any(|w| proc_entry(*w)) {
        assert!(
            Instant::now() < deadline,
            "workers {workers:?} outlived the dispatcher"
        );
        sleep(Duration::from_millis(10));
    }
}

use crate::common;

use common::{Bounded, Proc, Started, session_members, wait_session, wait_session_gone};

const BIN: &str = env!("CARGO_BIN_EXE_task_pool");
const DEADLINE: Duration = Duration::from_secs(20);

/// Starts task_pool in a session of its own, output captured.
fn start(args: &[&str], dir: &Path) -> Started {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start_in_session()
}

/// Waits for the run to end (it must, within the deadline); its code (128 + N for a signal),
/// stdout and stderr.
fn finish(child: Started) -> (i32, String, String) {
    let out = child.finish();
    let code = out.status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap()
    });
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn signal(pid: i32, signal: Signal) {
    nix::sys::signal::kill(Pid::from_raw(pid), signal).unwrap();
}

fn children_of<'a>(members: &'a [Proc], parent: i32) -> impl Iterator<Item = &'a Proc> + 'a {
    members
        .iter()
        .filter(move |p| p.ppid == parent && p.state != 'Z')
}

/// The roles of a command run: (dispatcher, workers, commands).
fn roles(sid: i32) -> (i32, Vec<i32>, Vec<i32>) {
    let members = session_members(sid);
    let dispatcher = children_of(&members, sid)
        .map(|p| p.pid)
        .next()
        .unwrap_or(0);
    let workers: Vec<i32> = children_of(&members, dispatcher).map(|p| p.pid).collect();
    let commands: Vec<i32> = members
        .iter()
        .filter(|p| workers.contains(&p.ppid) && p.comm == "sh")
        .map(|p| p.pid)
        .collect();
    (dispatcher, workers, commands)
}

fn sleeping(members: &[Proc], n: usize) -> bool {
    members
        .iter()
        .filter(|p| p.comm == "sleep" && p.state != 'Z')
        .count()
        >= n
}

const STUBBORN: [&str; 3] = ["sh", "-c", "trap '' TERM; sleep 30"];

fn stubborn_run(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["-j", "2", "--grace", "300ms"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--".into());
    args.extend(STUBBORN.iter().map(|s| s.to_string()));
    args.extend([":::", "1", "2", "3"].iter().map(|s| s.to_string()));
    args
}

#[test]
fn sigkill_of_the_dispatcher_leaves_no_worker_even_one_that_blocks_sigterm() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = start(
        &[
            "--workers",
            "2",
            "--timeout",
            "60000",
            "--task",
            "fail",
            "--task",
            "stubborn:30000",
            "--task",
            "sleep:30000",
        ],
        dir.path(),
    );
    let sid = child.id() as i32;
    wait_session(sid, "two workers busy", DEADLINE, |m| {
        let dispatcher = children_of(m, sid).next().map_or(0, |p| p.pid);
        children_of(m, dispatcher).count() == 2
    });
    // Task 1 (fail) has settled once a third task is running on its worker.
    std::thread::sleep(Duration::from_millis(300));
    let (dispatcher, _, _) = roles(sid);
    signal(dispatcher, Signal::SIGKILL);
    let (code, out, err) = finish(child);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("error: the dispatcher was killed by SIGKILL (2 of 3 tasks have no outcome)"),
        "{err}"
    );
    assert!(
        out.contains("failing on purpose"),
        "outcomes received are shown: {out}"
    );
    let took = wait_session_gone(sid, DEADLINE);
    eprintln!("everything gone {took:?} after main");
}

#[test]
fn ctrl_c_to_the_demo_group_settles_every_task_prints_the_summary_and_exits_130() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--workers",
        "2",
        "--timeout",
        "60000",
        "--grace-ms",
        "300",
        "--task",
        "sleep:30000",
        "--task",
        "stubborn:30000",
        "--task",
        "sleep:10",
        "--task",
        "sleep:10",
    ];
    for (to_group, signal, name) in [
        (true, Signal::SIGINT, "SIGINT"),
        (false, Signal::SIGTERM, "SIGTERM"),
    ] {
        let child = start(&args, dir.path());
        let sid = child.id() as i32;
        wait_session(sid, "two workers busy", DEADLINE, |m| {
            let dispatcher = children_of(m, sid).next().map_or(0, |p| p.pid);
            children_of(m, dispatcher).count() == 2
        });
        std::thread::sleep(Duration::from_millis(200));
        if to_group {
            nix::sys::signal::killpg(Pid::from_raw(sid), signal).unwrap();
        } else {
            self::signal(sid, signal);
        }
        let (code, out, err) = finish(child);
        assert_eq!(code, 130, "{name}: {out}{err}");
        let summary = out
            .lines()
            .find(|l| l.contains("tasks 4:"))
            .unwrap_or_else(|| panic!("{name}: no summary: {out}"));
        assert_eq!(
            summary,
            format!(
                "interrupted by {name}: tasks 4: ok 0, failed 0, timed out 0, crashed 2, not started 2; callbacks 4 (0 panicked)"
            ),
            "{out}"
        );
        wait_session_gone(sid, DEADLINE);
    }
}

#[test]
fn sigkill_of_any_process_of_a_command_run_leaves_nothing_running() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for victim in ["main", "dispatcher", "worker", "command"] {
        let joblog = dir.path().join(format!("{victim}.tsv"));
        let args = stubborn_run(&["--joblog", joblog.to_str().unwrap()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = start(&args, dir.path());
        let sid = child.id() as i32;
        wait_session(sid, "two commands running", DEADLINE, |m| sleeping(m, 2));
        let (dispatcher, workers, commands) = roles(sid);
        match victim {
            "main" => signal(sid, Signal::SIGKILL),
            "dispatcher" => signal(dispatcher, Signal::SIGKILL),
            "worker" => signal(workers[0], Signal::SIGKILL),
            _ => signal(commands[0], Signal::SIGKILL),
        }
        if matches!(victim, "worker" | "command") {
            // The run goes on with the other job: wait until the victim's job is logged, then
            // stop the run.
            wait_session(sid, "the victim's job settled", DEADLINE, |_| {
                std::fs::read_to_string(&joblog).is_ok_and(|l| l.lines().count() == 2)
            });
            nix::sys::signal::killpg(Pid::from_raw(sid), Signal::SIGINT).unwrap();
        }
        let (code, _out, err) = finish(child);
        let log = std::fs::read_to_string(&joblog).unwrap();
        match victim {
            "main" => assert_eq!(code, 128 + 9),
            "dispatcher" => {
                assert_eq!(code, 1, "{err}");
                assert!(
                    err.contains("error: the dispatcher was killed by SIGKILL"),
                    "{err}"
                );
                assert!(
                    err.contains("2 lost with the dispatcher, 1 not started"),
                    "{err}"
                );
            }
            "worker" => {
                assert_eq!(code, 130, "{err}");
                assert!(
                    err.contains(&format!(
                        "its worker {} was killed by SIGKILL; the command was killed",
                        workers[0]
                    )),
                    "{err}"
                );
                assert!(log.lines().nth(1).unwrap().contains("\t-1\t9\t"), "{log}");
            }
            _ => {
                assert_eq!(code, 130, "{err}");
                assert!(log.lines().nth(1).unwrap().contains("\t137\t9\t"), "{log}");
            }
        }
        let took = wait_session_gone(sid, DEADLINE);
        eprintln!("{victim}: everything gone {took:?} after main ended");
    }
}

#[test]
fn ctrl_c_or_sigterm_to_main_ends_the_running_commands_and_reports_them() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (to_group, signal, name) in [
        (true, Signal::SIGINT, "SIGINT"),
        (false, Signal::SIGTERM, "SIGTERM"),
    ] {
        let joblog = dir.path().join(format!("{name}.tsv"));
        let args = stubborn_run(&["--joblog", joblog.to_str().unwrap()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = start(&args, dir.path());
        let sid = child.id() as i32;
        wait_session(sid, "two commands running", DEADLINE, |m| sleeping(m, 2));
        if to_group {
            nix::sys::signal::killpg(Pid::from_raw(sid), signal).unwrap();
        } else {
            self::signal(sid, signal);
        }
        let (code, _out, err) = finish(child);
        assert_eq!(code, 130, "{name}: {err}");
        assert_eq!(
            err,
            format!(
                "task_pool: interrupted by {name}: 3 jobs: 0 succeeded, 2 failed, 1 not started\n"
            )
        );
        let log = std::fs::read_to_string(&joblog).unwrap();
        let rows: Vec<&str> = log.lines().skip(1).collect();
        assert_eq!(rows.len(), 2, "{log}");
        // They ignore SIGTERM: killed after the grace.
        assert!(rows.iter().all(|r| r.contains("\t-1\t9\t")), "{log}");
        wait_session_gone(sid, DEADLINE);
    }
}

#[test]
fn a_command_that_ignores_sigterm_is_killed_after_the_grace_and_reported_timed_out() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("jobs.tsv");
    let child = start(
        &[
            "--timeout",
            "300ms",
            "--grace",
            "300ms",
            "--joblog",
            joblog.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "trap '' TERM; echo started; sleep 30",
            ":::",
            "1",
        ],
        dir.path(),
    );
    let sid = child.id() as i32;
    let (code, out, err) = finish(child);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "started\n", "its output so far is printed");
    assert_eq!(
        err,
        "task_pool: 1 job: 0 succeeded, 1 failed (1 timed out)\n"
    );
    let log = std::fs::read_to_string(&joblog).unwrap();
    let row: Vec<&str> = log.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!((row[6], row[7]), ("-1", "9"), "killed by SIGKILL: {log}");
    let runtime: f64 = row[3].trim().parse().unwrap();
    assert!(
        runtime >= 0.6,
        "SIGKILL only after timeout + grace: {runtime}"
    );
    // Its `sleep 30` was in its group: gone with it.
    wait_session_gone(sid, DEADLINE);
}

#[test]
fn what_a_job_leaves_running_in_its_group_is_killed_when_it_ends() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = start(
        &["--", "sh", "-c", "sleep 30 & echo left {}", ":::", "a", "b"],
        dir.path(),
    );
    let sid = child.id() as i32;
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["left a", "left b"]);
    wait_session_gone(sid, DEADLINE);
}

/// A worker is an implementation detail: a SIGTERM or SIGINT sent to one of them (idle or busy)
/// costs at most the job it was running, never the rest of the run. The worker leaves, the
/// dispatcher replaces it, every other job runs; the summary and the exit code say what
/// happened.
#[test]
fn a_signal_to_one_worker_costs_at_most_its_own_job() {
    use std::io::Write;
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (busy, signal) in [
        (false, Signal::SIGTERM),
        (false, Signal::SIGINT),
        (true, Signal::SIGTERM),
    ] {
        // Job 2 sleeps, the others are instant; jobs 3-6 arrive only after the signal.
        let mut child = Command::new(BIN)
            .args(["-j", "2", "--grace", "300ms", "--", "sh", "-c"])
            .args(["if [ $1 = 2 ]; then sleep 2; fi; echo $1", "sh"])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .start_in_session();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"1\n2\n").unwrap();
        let sid = child.id() as i32;
        let (mut long, mut idle) = (0, 0);
        let start_at = Instant::now();
        while long == 0 || idle == 0 {
            assert!(
                start_at.elapsed() < DEADLINE,
                "job 2 never ran beside an idle worker"
            );
            let members = session_members(sid);
            let (_, workers, _) = roles(sid);
            let sh = members
                .iter()
                .find(|p| p.comm == "sleep" && p.state != 'Z')
                .map(|p| p.ppid);
            let busy_worker =
                sh.and_then(|sh| members.iter().find(|p| p.pid == sh).map(|p| p.ppid));
            if let (Some(b), 2) = (busy_worker, workers.len())
                && let Some(&i) = workers
                    .iter()
                    .find(|&&w| w != b && !members.iter().any(|p| p.ppid == w && p.state != 'Z'))
            {
                (long, idle) = (b, i);
            }
            sleep(Duration::from_millis(10));
        }
        let target = if busy { long } else { idle };
        self::signal(target, signal);
        // The worker leaves (once its command is settled); the rest of the input comes after.
        wait_session(sid, "the signalled worker gone", DEADLINE, |m| {
            !m.iter().any(|p| p.pid == target && p.state != 'Z')
        });
        stdin.write_all(b"3\n4\n5\n6\n").unwrap();
        drop(stdin);
        let (code, out, err) = finish(child);
        let mut got: Vec<&str> = out.lines().collect();
        got.sort();
        if busy {
            assert_eq!(got, ["1", "3", "4", "5", "6"], "{err}");
            assert_eq!(err, "task_pool: 6 jobs: 5 succeeded, 1 failed\n");
            assert_eq!(code, 1, "{err}");
        } else {
            assert_eq!(got, ["1", "2", "3", "4", "5", "6"], "{signal:?}: {err}");
            assert_eq!(err, "", "{signal:?}");
            assert_eq!(code, 0, "{signal:?}");
        }
        wait_session_gone(sid, DEADLINE);
    }
}

/// SIGTERM to the dispatcher alone winds the run down as a Ctrl+C would, and the caller says
/// so: exit 130, and a summary naming who was told to stop.
#[test]
fn sigterm_to_the_dispatcher_alone_is_an_interrupt_the_summary_names() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = start(
        &[
            "-j", "2", "--grace", "300ms", "--", "sh", "-c", "sleep 30", ":::", "a", "b", "c", "d",
        ],
        dir.path(),
    );
    let sid = child.id() as i32;
    wait_session(sid, "two commands running", DEADLINE, |m| sleeping(m, 2));
    let (dispatcher, _, _) = roles(sid);
    self::signal(dispatcher, Signal::SIGTERM);
    let (code, _out, err) = finish(child);
    assert_eq!(code, 130, "{err}");
    assert_eq!(
        err,
        "task_pool: interrupted (the dispatcher was told to stop): 4 jobs: 0 succeeded, 2 failed, 2 not started\n"
    );
    wait_session_gone(sid, DEADLINE);
}

/// A job waiting for its retry when the run is interrupted failed (its attempt did); the retry
/// that never ran is neither "not started" nor counted as a retry.
#[test]
fn a_retry_cut_short_by_ctrl_c_leaves_its_job_failed() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = start(
        &[
            "-j",
            "1",
            "--retries",
            "1",
            "--joblog",
            "j.tsv",
            "--",
            "sh",
            "-c",
            "sleep 1; exit 1",
            ":::",
            "a",
            "b",
        ],
        dir.path(),
    );
    let sid = child.id() as i32;
    // a's first attempt has failed (its joblog line is written) and b, queued before a's
    // retry, is running.
    let joblog = dir.path().join("j.tsv");
    wait_session(sid, "a's attempt logged, b running", DEADLINE, |m| {
        let logged = std::fs::read_to_string(&joblog).map_or(0, |t| t.lines().count());
        logged == 2 && sleeping(m, 1)
    });
    nix::sys::signal::killpg(Pid::from_raw(sid), Signal::SIGINT).unwrap();
    let (code, _out, err) = finish(child);
    assert_eq!(code, 130, "{err}");
    // The note on job 1 is printed when its retry comes back from the dispatcher before this
    // process has seen its own SIGINT (after that, output is no longer printed): either way the
    // summary is the same.
    let summary = "task_pool: interrupted by SIGINT: 2 jobs: 0 succeeded, 2 failed\n";
    let note = "task_pool: job 1: failed; its retry was not started: the run was stopped\n";
    assert!(err == summary || err == format!("{note}{summary}"), "{err}");
    wait_session_gone(sid, DEADLINE);
}
