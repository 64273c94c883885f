//! Killing the caller leaves no dispatcher and no worker behind. The test makes itself a child
//! subreaper so the orphaned dispatcher is re-parented to it and can be reaped (no zombie).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::common::{
    self, Bounded, Proc, Started, TASK_POOL as BIN, session_members, text, wait_session,
    wait_session_gone,
};

const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn killing_the_caller_leaves_no_dispatcher_or_worker() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let mut caller = Command::new(BIN)
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

/// Starts task_pool in a session of its own, output captured.
fn start(args: &[&str], dir: &Path) -> Started {
    start_with(args, dir, &[])
}

/// Waits for the run to end (it must, within the deadline); its code (128 + N for a signal),
/// stdout and stderr.
fn finish(child: Started) -> (i32, String, String) {
    let out = child.finish();
    let code = out.status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap()
    });
    (code, text(&out.stdout), text(&out.stderr))
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
                // Killed by a signal: Exitval 0 and the signal, as GNU parallel writes it.
                assert!(log.lines().nth(1).unwrap().contains("\t0\t9\t"), "{log}");
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
                "task_pool: interrupted by {name}: 3 jobs: 0 succeeded, 0 failed, 2 interrupted, 1 not started\n"
            )
        );
        // Ended by the interrupt (they ignore SIGTERM: killed after the grace), they never
        // completed: no joblog line, so that --resume runs them again, as in GNU parallel.
        let log = std::fs::read_to_string(&joblog).unwrap();
        assert_eq!(
            log,
            "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"
        );
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
        "task_pool: interrupted (the dispatcher was told to stop): 4 jobs: 0 succeeded, 0 failed, 2 interrupted, 2 not started\n"
    );
    wait_session_gone(sid, DEADLINE);
}

/// A job waiting for its retry when the run is interrupted failed (its attempt did); the retry
/// that never ran is neither "not started" nor counted as a retry. The job the interrupt ended
/// is "interrupted", and has no joblog line.
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
            "if [ $1 = a ]; then exit 1; fi; sleep 30",
            "sh",
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
    let summary =
        "task_pool: interrupted by SIGINT: 2 jobs: 0 succeeded, 1 failed, 1 interrupted\n";
    let note = "task_pool: job 1: failed; its retry was not started: the run was stopped\n";
    assert!(err == summary || err == format!("{note}{summary}"), "{err}");
    let log = std::fs::read_to_string(&joblog).unwrap();
    assert_eq!(log.lines().count(), 2, "a's attempt only: {log}");
    wait_session_gone(sid, DEADLINE);
}

// Issue 24: races made to happen at the exact moment by the test hooks (src/task_pool/hooks.rs).

/// `start`, with environment variables (the test hooks).
fn start_with(args: &[&str], dir: &Path, env: &[(&str, String)]) -> Started {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start_in_session()
}

/// The counts of a summary line: `N jobs: S succeeded, F failed, …, I interrupted, L lost with
/// the dispatcher, K not started; R retries`, each 0 when absent.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    jobs: u64,
    succeeded: u64,
    failed: u64,
    interrupted: u64,
    lost: u64,
    not_started: u64,
    retries: u64,
}

fn summary(stderr: &str) -> Summary {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("task_pool: ") && l.contains(" job"))
        .unwrap_or_else(|| panic!("no summary in {stderr:?}"));
    let after = |word: &str| -> u64 {
        line.split([',', ';', ':'])
            .map(str::trim)
            .find_map(|part| {
                let (n, rest) = part.split_once(' ')?;
                rest.starts_with(word).then(|| n.parse().ok()).flatten()
            })
            .unwrap_or(0)
    };
    Summary {
        jobs: after("job"),
        succeeded: after("succeeded"),
        failed: after("failed"),
        interrupted: after("interrupted"),
        lost: after("lost"),
        not_started: after("not started"),
        retries: after("retr"),
    }
}

/// The joblog's (Seq, Exitval, Signal) rows.
fn joblog_rows(path: &Path) -> Vec<(u64, i64, i32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (
                c[0].parse().unwrap(),
                c[6].parse().unwrap(),
                c[7].parse().unwrap(),
            )
        })
        .collect()
}

/// The invariants of a run of always-failing jobs with `--retries 1`: every input counted once;
/// every job with a joblog line failed (all its attempts did); a retry is counted only if it
/// ran (has its own line).
fn assert_accounted(inputs: u64, s: &Summary, rows: &[(u64, i64, i32)], what: &str) {
    let mut seqs: Vec<u64> = rows.iter().map(|r| r.0).collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(s.jobs, inputs, "{what}: every input counted: {s:?}");
    assert_eq!(
        s.succeeded + s.failed + s.interrupted + s.lost + s.not_started,
        s.jobs,
        "{what}: {s:?}"
    );
    assert_eq!(
        s.failed,
        seqs.len() as u64,
        "{what}: the jobs whose attempt failed: {s:?} {rows:?}"
    );
    assert_eq!(
        s.retries,
        (rows.len() - seqs.len()) as u64,
        "{what}: retries that ran: {s:?} {rows:?}"
    );
}

// Defect 1: jobs waiting for a retry vanished from the summary when the dispatcher died, and
// their retries were counted though they never ran.
#[test]
fn jobs_waiting_for_a_retry_count_as_failed_however_the_dispatcher_ends() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for signal in ["KILL", "TERM"] {
        let joblog = dir.path().join(format!("{signal}.tsv"));
        let inputs: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
        let mut args = vec![
            "-j",
            "1",
            "--retries",
            "1",
            "--joblog",
            joblog.to_str().unwrap(),
        ];
        args.extend(["--", "sh", "-c", "exit 1", "sh", ":::"]);
        args.extend(inputs.iter().map(String::as_str));
        // The dispatcher signals itself once it has settled two tasks: two failed attempts whose
        // retries the caller has queued or pushed.
        let hook = ("TASK_POOL_TEST_DISPATCHER_SIGNAL", format!("SIG{signal}@2"));
        let child = start_with(&args, dir.path(), &[hook]);
        let sid = child.id() as i32;
        let (code, _, err) = finish(child);
        if signal == "KILL" {
            assert_eq!(code, 1, "{err}");
            assert!(
                err.contains("error: the dispatcher was killed by SIGKILL"),
                "{err}"
            );
        } else {
            assert_eq!(code, 130, "{err}");
            assert!(
                err.contains("interrupted (the dispatcher was told to stop)"),
                "{err}"
            );
        }
        let rows = joblog_rows(&joblog);
        assert!(rows.len() >= 2, "{signal}: {rows:?}");
        assert_accounted(10, &summary(&err), &rows, signal);
        wait_session_gone(sid, DEADLINE);
    }
}

// Defect 2: an interrupt that came while a retry was being pushed dropped that job and kept
// its retry count.
#[test]
fn an_interrupt_that_lands_on_a_push_loses_no_job() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("j.tsv");
    let args = [
        "-j",
        "1",
        "--retries",
        "1",
        "--joblog",
        joblog.to_str().unwrap(),
        "--",
        "false",
        ":::",
        "1",
        "2",
        "3",
    ];
    // Pushes 1-3 are the three inputs; push 4 is the retry of job 1.
    let hook = ("TASK_POOL_TEST_INTERRUPT_BEFORE_PUSH", "4".to_string());
    let child = start_with(&args, dir.path(), &[hook]);
    let sid = child.id() as i32;
    let (code, _, err) = finish(child);
    assert_eq!(code, 130, "{err}");
    let rows = joblog_rows(&joblog);
    assert!(
        rows.iter().any(|r| r.0 == 1),
        "job 1's attempt is logged: {rows:?}"
    );
    assert_accounted(3, &summary(&err), &rows, "interrupt on a push");
    wait_session_gone(sid, DEADLINE);
}

// Defect 3: a worker SIGTERMed while busy ended its job, then was handed another task just
// before it left: that task was reported killed ("its worker exited with code 0").
#[test]
fn sigterm_to_a_busy_worker_costs_only_its_own_job_even_when_it_is_handed_another() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("j.tsv");
    let args = [
        "-j",
        "2",
        "--joblog",
        joblog.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "if [ $1 = long ]; then sleep 30; fi; echo $1",
        "sh",
        ":::",
        "long",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
    ];
    // The signalled worker lingers after its last report: the dispatcher, which still has
    // tasks queued, hands it one before it leaves.
    let hook = ("TASK_POOL_TEST_WORKER_LINGER_MS", "300".to_string());
    let child = start_with(&args, dir.path(), &[hook]);
    let sid = child.id() as i32;
    wait_session(sid, "the long job running", DEADLINE, |m| sleeping(m, 1));
    let members = session_members(sid);
    let sh = members.iter().find(|p| p.comm == "sleep").unwrap().ppid;
    let busy = members.iter().find(|p| p.pid == sh).unwrap().ppid;
    signal(busy, Signal::SIGTERM);
    let (code, out, err) = finish(child);
    let mut got: Vec<&str> = out.lines().collect();
    got.sort();
    assert_eq!(got, ["1", "2", "3", "4", "5", "6", "7", "8"], "{err}");
    assert_eq!(code, 1, "only the long job failed: {err}");
    assert_eq!(err, "task_pool: 9 jobs: 8 succeeded, 1 failed\n");
    let rows = joblog_rows(&joblog);
    assert_eq!(rows.len(), 9, "{rows:?}");
    let failed: Vec<_> = rows.iter().filter(|r| (r.1, r.2) != (0, 0)).collect();
    assert_eq!(
        failed,
        [&(1, -1, 15)],
        "killed by its worker's SIGTERM: {rows:?}"
    );
    wait_session_gone(sid, DEADLINE);
}

// Defect 4: a worker SIGKILLed right after it started its command (before it could tell the
// caller the command's process group) left the command and its children running.
#[test]
fn a_worker_killed_right_after_it_starts_a_command_leaves_nothing_running() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-j",
        "1",
        "--grace",
        "200ms",
        "--",
        "sh",
        "-c",
        "sleep 30 & sleep 30",
        ":::",
        "a",
    ];
    let hook = (
        "TASK_POOL_TEST_WORKER_KILL_AFTER_SPAWN",
        dir.path().join("hook").display().to_string(),
    );
    let child = start_with(&args, dir.path(), &[hook]);
    let sid = child.id() as i32;
    let (code, _, err) = finish(child);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("was killed by SIGKILL; the command was killed"),
        "{err}"
    );
    // Within the grace and a second, as the manual says: here 20 s would mean never.
    let took = wait_session_gone(sid, DEADLINE);
    assert!(
        took < Duration::from_secs(5),
        "the orphans lived {took:?} after main"
    );
}

// Undecided 1, decided: an interrupted run counts every input it knows, not only those it had
// admitted; inputs it never read (standard input still open) are said to be unread.
#[test]
fn an_interrupted_run_counts_every_input_it_knows() {
    use std::io::Write;
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let mut args = vec!["-j", "2", "--grace", "200ms", "--", "sleep", ":::"];
    args.extend(inputs.iter().map(String::as_str));
    let child = start(&args, dir.path());
    let sid = child.id() as i32;
    wait_session(sid, "two jobs running", DEADLINE, |m| sleeping(m, 2));
    nix::sys::signal::killpg(Pid::from_raw(sid), Signal::SIGINT).unwrap();
    let (code, _, err) = finish(child);
    assert_eq!(code, 130);
    assert_eq!(
        err,
        "task_pool: interrupted by SIGINT: 100 jobs: 0 succeeded, 0 failed, 2 interrupted, 98 not started\n"
    );
    wait_session_gone(sid, DEADLINE);

    let mut child = Command::new(BIN)
        .args(["-j", "2", "--grace", "200ms", "--", "sleep"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start_in_session();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"30\n30\n30\n30\n30\n").unwrap();
    let sid = child.id() as i32;
    wait_session(sid, "two jobs running", DEADLINE, |m| sleeping(m, 2));
    nix::sys::signal::killpg(Pid::from_raw(sid), Signal::SIGINT).unwrap();
    let (code, _, err) = finish(child);
    drop(stdin);
    assert_eq!(code, 130);
    assert_eq!(
        err,
        "task_pool: interrupted by SIGINT: 5 jobs: 0 succeeded, 0 failed, 2 interrupted, 3 not started (and the rest of the input, not read)\n"
    );
    wait_session_gone(sid, DEADLINE);
}

// Undecided 2, decided: a job that ends by itself during a wind-down (before its worker ends
// it) is logged with its own exit status, so --resume-failed runs it again only if it failed.
#[test]
fn a_job_that_ends_by_itself_during_a_wind_down_is_logged_with_its_own_status() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("j.tsv");
    let args = [
        "-j",
        "1",
        "--grace",
        "5s",
        "--joblog",
        joblog.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 1; exit 3",
        ":::",
        "a",
    ];
    // The worker, told to stop, waits 2 s before it acts: the job has ended by then.
    let hook = ("TASK_POOL_TEST_WORKER_STOP_DELAY_MS", "2000".to_string());
    let child = start_with(&args, dir.path(), &[hook]);
    let sid = child.id() as i32;
    wait_session(sid, "the job running", DEADLINE, |m| sleeping(m, 1));
    nix::sys::signal::killpg(Pid::from_raw(sid), Signal::SIGINT).unwrap();
    let (code, _, err) = finish(child);
    assert_eq!(code, 130, "{err}");
    assert_eq!(
        err,
        "task_pool: interrupted by SIGINT: 1 job: 0 succeeded, 1 failed\n"
    );
    assert_eq!(joblog_rows(&joblog), [(1, 3, 0)]);
    wait_session_gone(sid, DEADLINE);
}

// Undecided 3, decided: a task that reaches a worker just as it is told to stop is not lost as
// "not started": it runs on another worker.
#[test]
fn a_task_that_reaches_a_worker_told_to_stop_runs_on_another_worker() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("j.tsv");
    let args = [
        "-j",
        "2",
        "-k",
        "--joblog",
        joblog.to_str().unwrap(),
        "--",
        "echo",
        ":::",
        "a",
        "b",
        "c",
        "d",
    ];
    let hook = (
        "TASK_POOL_TEST_WORKER_SIGTERM_ON_TASK",
        dir.path().join("hook").display().to_string(),
    );
    let child = start_with(&args, dir.path(), &[hook]);
    let sid = child.id() as i32;
    let (code, out, err) = finish(child);
    assert!(dir.path().join("hook").exists(), "the hook fired");
    assert_eq!((code, out.as_str(), err.as_str()), (0, "a\nb\nc\nd\n", ""));
    let rows = joblog_rows(&joblog);
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().all(|r| (r.1, r.2) == (0, 0)), "{rows:?}");
    wait_session_gone(sid, DEADLINE);
}

// Undecided 4, decided: a SIGTERM that comes while the program starts ends it the way a later
// one would — exit 130 and a summary — and nothing runs or is created.
#[test]
fn a_signal_while_the_program_starts_ends_it_with_its_summary() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--joblog", "j.tsv", "--", "touch", ":::", "x", "y", "z"];
    let hook = ("TASK_POOL_TEST_PAUSE_AT_START_MS", "30000".to_string());
    let mut child = start_with(&args, dir.path(), &[hook]);
    let sid = child.id() as i32;
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line, "task_pool: test hook: paused\n");
    signal(sid, Signal::SIGTERM);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert_eq!(
        rest,
        "task_pool: interrupted by SIGTERM: 3 jobs: 0 succeeded, 0 failed, 3 not started\n"
    );
    for name in ["x", "y", "z", "j.tsv"] {
        assert!(!dir.path().join(name).exists(), "{name}");
    }
    wait_session_gone(sid, DEADLINE);
}

/// Found by the chaos campaign: a dispatcher SIGSTOPped by someone kept an interrupted run
/// waiting for ever. The caller now wakes it (SIGTERM, then SIGCONT, as a shell's `kill` does
/// for a stopped job), and one stopped again and again is SIGKILLed after the grace and 5 s:
/// either way the run ends with its summary and exit 130, and nothing is left.
#[test]
fn a_stopped_dispatcher_does_not_keep_an_interrupted_run_from_ending() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for keep_stopping in [false, true] {
        let child = start(
            &[
                "-j", "2", "--grace", "200ms", "--", "sleep", ":::", "30", "30", "30",
            ],
            dir.path(),
        );
        let sid = child.id() as i32;
        wait_session(sid, "two jobs running", DEADLINE, |m| sleeping(m, 2));
        let (dispatcher, _, _) = roles(sid);
        signal(dispatcher, Signal::SIGSTOP);
        wait_session(sid, "the dispatcher stopped", DEADLINE, |m| {
            m.iter().any(|p| p.pid == dispatcher && p.state == 'T')
        });
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(keep_stopping));
        let stopper = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(dispatcher), Signal::SIGSTOP);
                    sleep(Duration::from_millis(1));
                }
            })
        };
        nix::sys::signal::killpg(Pid::from_raw(sid), Signal::SIGINT).unwrap();
        let (code, _, err) = finish(child);
        stop.store(false, std::sync::atomic::Ordering::SeqCst);
        stopper.join().unwrap();
        assert_eq!(code, 130, "{err}");
        assert!(
            err.starts_with("task_pool: interrupted by SIGINT: 3 jobs: "),
            "{err}"
        );
        wait_session_gone(sid, DEADLINE);
    }
}

/// Found by the chaos campaign: at the end of a run the dispatcher waited for each worker to
/// exit — for ever, for a worker someone had stopped, even after a Ctrl+C. Told to stop, it now
/// wakes such a worker (SIGTERM, SIGCONT) and SIGKILLs it after the grace: the run ends, and
/// nothing is left.
#[test]
fn a_stopped_idle_worker_does_not_keep_an_interrupted_run_from_ending() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("j.tsv");
    let child = start(
        &[
            "-j",
            "2",
            "--grace",
            "200ms",
            "--joblog",
            joblog.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "until [ -e go ]; do sleep 0.05; done",
            ":::",
            "x",
        ],
        dir.path(),
    );
    let sid = child.id() as i32;
    // The job runs until the test creates `go` (a fixed sleep ended before the test had
    // stopped the idle worker on a loaded machine).
    wait_session(
        sid,
        "the job running, the other worker idle",
        DEADLINE,
        |_| roles(sid).2.len() == 1 && roles(sid).1.len() == 2,
    );
    let (_, workers, commands) = roles(sid);
    let members = session_members(sid);
    let busy = members
        .iter()
        .find(|p| commands.contains(&p.pid))
        .map(|p| p.ppid);
    let idle = *workers.iter().find(|w| Some(**w) != busy).unwrap();
    signal(idle, Signal::SIGSTOP);
    std::fs::write(dir.path().join("go"), "").unwrap();
    // The job ends, the run has nothing left to do: the dispatcher closes every worker's task
    // pipe (the idle one's too: it holds its write end no more) and waits for them to exit.
    let (dispatcher, _, _) = roles(sid);
    let task_pipe = std::fs::read_link(format!("/proc/{idle}/fd/3")).unwrap();
    wait_session(
        sid,
        "the dispatcher waiting for its workers",
        DEADLINE,
        |_| {
            let held = std::fs::read_dir(format!("/proc/{dispatcher}/fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == task_pipe))
            });
            !held && std::fs::read_to_string(&joblog).is_ok_and(|t| t.lines().count() == 2)
        },
    );
    nix::sys::signal::killpg(Pid::from_raw(sid), Signal::SIGINT).unwrap();
    let (code, _, err) = finish(child);
    assert_eq!(code, 130, "{err}");
    // Main reaps the dispatcher, which reaps its workers: once main has exited, nothing of the
    // run may be left (a worker orphaned by a killed dispatcher would be re-parented here).
    let left = session_members(sid);
    assert!(left.is_empty(), "main exited and left {left:?}");
    wait_session_gone(sid, DEADLINE);
}

/// Found by the chaos campaign: SIGTERM to the dispatcher alone, while the caller was writing
/// more tasks into a pipe the dispatcher had stopped reading, made the run fail as if the
/// dispatcher had died (`error: the dispatcher exited with code 130`, exit 1). Those tasks never
/// started: the run is an interrupt, as any SIGTERM to the dispatcher. (The hook holds the
/// dispatcher at that moment, after it has settled what it had queued.)
#[test]
fn tasks_a_winding_dispatcher_never_read_count_as_not_started() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<String> = (0..20).map(|_| "30".to_string()).collect();
    let mut args = vec!["-j", "2", "--grace", "200ms", "--", "sleep", ":::"];
    args.extend(inputs.iter().map(String::as_str));
    let hook = (
        "TASK_POOL_TEST_DISPATCHER_WINDING_PAUSE_MS",
        "500".to_string(),
    );
    let child = start_with(&args, dir.path(), &[hook]);
    let sid = child.id() as i32;
    wait_session(sid, "two jobs running", DEADLINE, |m| sleeping(m, 2));
    let (dispatcher, _, _) = roles(sid);
    signal(dispatcher, Signal::SIGTERM);
    let (code, _, err) = finish(child);
    assert_eq!(code, 130, "{err}");
    assert_eq!(
        err,
        "task_pool: interrupted (the dispatcher was told to stop): 20 jobs: 0 succeeded, 0 failed, 2 interrupted, 18 not started\n"
    );
    wait_session_gone(sid, DEADLINE);
}
