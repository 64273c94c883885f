//! task_pool running real commands (`task_pool [OPTIONS] -- CMD … [::: INPUT…]`): every input
//! runs once (or retried), `{}` is substituted, output arrives whole and byte-exact, in input
//! order with --keep-order, the joblog is GNU parallel's, exit codes say what happened.

use crate::common;

use common::{Bounded, text};

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use crate::common::TASK_POOL as BIN;

/// `task_pool args…` with `input` on stdin (none: /dev/null), to completion.
fn run_in(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    common::output_of(cmd, input)
}

fn run(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), args, None)
}

/// One parsed joblog line, every column typed.
#[derive(Debug)]
struct Row {
    seq: u64,
    host: String,
    start: f64,
    runtime: f64,
    send: u64,
    receive: u64,
    exitval: i64,
    signal: i32,
    command: String,
}

/// Parses a joblog, checking the header and the exact shape of every column: start time with
/// exactly three decimals, runtime as GNU parallel's `%10.3f`.
fn joblog(path: &Path) -> Vec<Row> {
    let log = std::fs::read_to_string(path).unwrap();
    let mut lines = log.lines();
    assert_eq!(
        lines.next(),
        Some("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand")
    );
    lines
        .map(|l| {
            let c: Vec<&str> = l.splitn(9, '\t').collect();
            assert_eq!(c.len(), 9, "{l:?}");
            let (secs, millis) = c[2].split_once('.').unwrap();
            assert!(
                millis.len() == 3 && secs.chars().all(|d| d.is_ascii_digit()),
                "{l:?}"
            );
            assert_eq!(c[3].len(), 10, "runtime is %10.3f: {l:?}");
            assert_eq!(c[3].trim().split_once('.').unwrap().1.len(), 3, "{l:?}");
            Row {
                seq: c[0].parse().unwrap(),
                host: c[1].into(),
                start: c[2].parse().unwrap(),
                runtime: c[3].trim().parse().unwrap(),
                send: c[4].parse().unwrap(),
                receive: c[5].parse().unwrap(),
                exitval: c[6].parse().unwrap(),
                signal: c[7].parse().unwrap(),
                command: c[8].into(),
            }
        })
        .collect()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_thousand_true_commands_all_run_and_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<u8> = (1..=1000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let out = run_in(
        dir.path(),
        &["-j", "4", "--joblog", "jobs.tsv", "--", "true"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let rows = joblog(&dir.path().join("jobs.tsv"));
    let mut seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
    assert!(rows.iter().all(|r| r.exitval == 0 && r.signal == 0));
    let by_seq: HashMap<u64, &Row> = rows.iter().map(|r| (r.seq, r)).collect();
    assert_eq!(by_seq[&7].command, "true 7", "the input is appended");
}

#[test]
fn ten_megabytes_of_output_arrive_byte_exact_and_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, n) in [(1u8, 10_000_000usize), (2, 123_457), (3, 0), (4, 4_096)] {
        // Bytes of every value, newlines included, in an irregular pattern.
        let data: Vec<u8> = (0..n)
            .map(|k| (k.wrapping_mul(2_654_435_761) >> 7) as u8 ^ i)
            .collect();
        std::fs::write(dir.path().join(format!("f{i}")), &data).unwrap();
        files.push(data);
    }
    let out = run_in(
        dir.path(),
        &[
            "-j", "4", "-k", "--joblog", "jobs.tsv", "--", "cat", ":::", "f1", "f2", "f3", "f4",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout == files.concat(), "every byte, in input order");
    let rows = joblog(&dir.path().join("jobs.tsv"));
    let receive: HashMap<u64, u64> = rows.iter().map(|r| (r.seq, r.receive)).collect();
    assert_eq!(receive[&1], 10_000_000, "Receive counts stdout bytes");
    assert_eq!(receive[&3], 0);
}

#[test]
fn the_outputs_of_jobs_running_at_once_never_interleave() {
    let script = "i=0; while [ $i -lt 300 ]; do echo \"$1 line $i\"; echo \"$1 err $i\" >&2; i=$((i+1)); done";
    let out = run(&[
        "-j", "4", "--", "sh", "-c", script, "sh", ":::", "a", "b", "c", "d", "e", "f",
    ]);
    assert_eq!(out.status.code(), Some(0));
    for (stream, word) in [(&out.stdout, "line"), (&out.stderr, "err")] {
        let lines: Vec<String> = text(stream).lines().map(String::from).collect();
        assert_eq!(lines.len(), 6 * 300);
        // Each job's 300 lines come in one block, in order.
        for block in lines.chunks(300) {
            let job = block[0].split(' ').next().unwrap();
            for (i, line) in block.iter().enumerate() {
                assert_eq!(line, &format!("{job} {word} {i}"));
            }
        }
    }
}

#[test]
fn keep_order_prints_in_input_order_whatever_order_jobs_end_in() {
    let out = run(&[
        "-j",
        "4",
        "--keep-order",
        "--",
        "sh",
        "-c",
        "sleep $1; echo $1",
        "sh",
        ":::",
        "0.4",
        "0.3",
        "0.2",
        "0",
        "0.1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "0.4\n0.3\n0.2\n0\n0.1\n");
}

#[test]
fn the_placeholder_is_replaced_everywhere_or_the_input_appended() {
    let out = run(&[
        "-j", "1", "--", "echo", "<{}>", "x{}y{}z", ":::", "a b", "", "*",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "<a b> xa bya bz\n<> xyz\n<*> x*y*z\n");
    let out = run(&["-j", "1", "--", "printf", "[%s]", ":::", "one", "two"]);
    assert_eq!(text(&out.stdout), "[one][two]", "without {{}}: appended");
}

#[test]
fn lines_of_stdin_are_the_inputs_bytes_and_all() {
    let dir = tempfile::tempdir().unwrap();
    let input = b"plain\n\nwith space\n\xff\xfe not utf-8\nno newline at the end";
    let out = run_in(
        dir.path(),
        &["-j", "2", "-k", "--", "printf", "%s|"],
        Some(input),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        out.stdout,
        b"plain||with space|\xff\xfe not utf-8|no newline at the end|".to_vec()
    );
}

#[test]
fn a_failing_command_is_retried_and_every_attempt_is_in_the_joblog() {
    let dir = tempfile::tempdir().unwrap();
    // Fails twice, then succeeds (a counter in a file).
    let flaky = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo attempt $n; [ $n -ge 3 ]";
    let out = run_in(
        dir.path(),
        &[
            "--retries",
            "3",
            "--joblog",
            "flaky.tsv",
            "--",
            "sh",
            "-c",
            flaky,
            ":::",
            "x",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "attempt 3\n",
        "only the last attempt's output"
    );
    let rows = joblog(&dir.path().join("flaky.tsv"));
    let exits: Vec<(u64, i64)> = rows.iter().map(|r| (r.seq, r.exitval)).collect();
    assert_eq!(exits, [(1, 1), (1, 1), (1, 0)], "three attempts of job 1");

    let out = run_in(
        dir.path(),
        &[
            "--retries",
            "2",
            "--joblog",
            "fail.tsv",
            "--",
            "sh",
            "-c",
            "exit 3",
            ":::",
            "y",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "task_pool: 1 job: 0 succeeded, 1 failed; 2 retries\n"
    );
    let rows = joblog(&dir.path().join("fail.tsv"));
    assert_eq!(
        rows.iter().map(|r| r.exitval).collect::<Vec<_>>(),
        [3, 3, 3],
        "1 + 2 retries"
    );
}

#[test]
fn the_joblog_reads_back_column_by_column() {
    let dir = tempfile::tempdir().unwrap();
    let before = now();
    let out = run_in(
        dir.path(),
        &[
            "-j",
            "3",
            "--timeout",
            "5s",
            "--joblog",
            "jobs.tsv",
            "--",
            "sh",
            "-c",
            "printf %s \"$1\"; sleep 0.2; exit $2",
            "sh",
            "{}",
            "0",
            ":::",
            "hello",
            "it's",
        ],
        None,
    );
    let after = now();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut rows = joblog(&dir.path().join("jobs.tsv"));
    rows.sort_by_key(|r| r.seq);
    assert_eq!(rows.len(), 2);
    for (r, input) in rows.iter().zip(["hello", "it's"]) {
        assert_eq!(r.host, ":");
        assert!(
            r.start >= before - 0.001 && r.start <= after,
            "{} not within the run",
            r.start
        );
        assert!(
            r.runtime >= 0.2 && r.start + r.runtime <= after + 0.001,
            "{r:?}"
        );
        assert_eq!((r.send, r.receive), (0, input.len() as u64));
        assert_eq!((r.exitval, r.signal), (0, 0));
    }
    assert_eq!(
        rows[0].command,
        "sh -c 'printf %s \"$1\"; sleep 0.2; exit $2' sh hello 0"
    );
    assert_eq!(
        rows[1].command, "sh -c 'printf %s \"$1\"; sleep 0.2; exit $2' sh 'it'\"'\"'s' 0",
        "quoted as GNU parallel quotes it"
    );
}

#[test]
fn exit_status_and_joblog_say_how_each_job_ended() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "-j",
            "4",
            "-k",
            "--joblog",
            "jobs.tsv",
            "--",
            "sh",
            "-c",
            "case $1 in ok) ;; three) exit 3 ;; segv) kill -SEGV $$ ;; esac",
            "sh",
            ":::",
            "ok",
            "three",
            "segv",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "two jobs failed: GNU parallel's count"
    );
    assert_eq!(
        text(&out.stderr),
        "task_pool: 3 jobs: 1 succeeded, 2 failed\n"
    );
    let mut rows = joblog(&dir.path().join("jobs.tsv"));
    rows.sort_by_key(|r| r.seq);
    let ends: Vec<(i64, i32)> = rows.iter().map(|r| (r.exitval, r.signal)).collect();
    assert_eq!(
        ends,
        [(0, 0), (3, 0), (0, 11)],
        "a job killed by a signal: Exitval 0 and the signal, as GNU parallel writes it"
    );

    let out = run_in(
        dir.path(),
        &[
            "--joblog",
            "nf.tsv",
            "--",
            "no-such-command-here",
            ":::",
            "x",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .starts_with("task_pool: no-such-command-here: No such file or directory\n"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(joblog(&dir.path().join("nf.tsv"))[0].exitval, 127);

    let out = run(&["--", "true", ":::"]);
    assert_eq!(out.status.code(), Some(0), "no input, nothing to do");
}

#[test]
fn bad_input_for_every_command_flag_is_one_error_line_exit_2_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let huge = "18446744073709551615";
    for (args, mention) in [
        (vec!["-j", "-1000"], "--jobs"),
        (vec!["-j", "0%"], "--jobs"),
        (vec!["-j", "x%"], "--jobs"),
        (vec!["-j", "1.5"], "--jobs"),
        (vec!["-j", "+"], "--jobs"),
        (vec!["--jobs", huge], "--jobs"),
        (vec!["-j", "1e20"], "--jobs"),
        (vec!["-j", ""], "--jobs"),
        (vec!["-j", "257"], "--jobs"),
        (vec!["--timeout", "abc"], "--timeout"),
        (vec!["--timeout", "0"], "--timeout"),
        (vec!["--timeout", "-1s"], "--timeout"),
        (vec!["--timeout", "1e20"], "--timeout"),
        (vec!["--timeout", huge], "--timeout"),
        (vec!["--timeout", ""], "--timeout"),
        (vec!["--timeout", "5x"], "--timeout"),
        (vec!["--grace", "nan"], "--grace"),
        (vec!["--grace", "2h"], "--grace"),
        (vec!["--retries", "-1"], "--retries"),
        (vec!["--retries", huge], "--retries"),
        (vec!["--retries", "x"], "--retries"),
        (vec!["--joblog", "/dev/full"], "No space left on device"),
        (
            vec!["--joblog", fifo.to_str().unwrap()],
            "not a regular file",
        ),
        (
            vec!["--joblog", dir.path().to_str().unwrap()],
            "is a directory",
        ),
        (
            vec!["--joblog", &format!("{}/", dir.path().display())],
            "is a directory",
        ),
        (vec!["--joblog", "/nonexistent/dir/j.tsv"], "--joblog"),
        (vec!["--bogus"], "--bogus"),
    ] {
        let mut args = args.clone();
        args.extend(["--", "touch", "ran"]);
        let out = run_in(dir.path(), &args, Some(b"x\n"));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(mention),
            "{args:?}: {err}"
        );
        assert!(!dir.path().join("ran").exists(), "{args:?}: nothing ran");
    }
    let out = run_in(dir.path(), &["--joblog", "j.tsv", "--"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no command"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.path().join("j.tsv").exists(),
        "no joblog for a bad command line"
    );
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["-j", "2", "--", "echo"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start();
    // An endless input: only the closed output can end this run.
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || while stdin.write_all(b"line\n").is_ok() {});
    let (first, code, err) = common::first_line_then_close(&mut child, Duration::from_secs(20));
    assert_eq!(first, "line\n");
    assert_eq!(
        (code, err.as_str()),
        (141, ""),
        "no error line, 128 + SIGPIPE"
    );

    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(BIN)
        .args(["--", "echo", ":::", "a", "b", "c"])
        .run_with_stdout(full);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: cannot write standard output: No space left on device (os error 28)\n"
    );

    // A job's stderr that cannot be written is lost output too: exit 1 (the error line itself
    // cannot be written anywhere).
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(BIN)
        .args(["--", "sh", "-c", "echo err >&2", ":::", "a"])
        .run_with_stderr(full);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_command_holds_only_stdin_stdout_and_stderr_whatever_the_caller_has_open() {
    let dir = tempfile::tempdir().unwrap();
    let extra = std::fs::File::create(dir.path().join("caller-only")).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&extra);
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--",
        "sh",
        "-c",
        "ls /proc/$$/fd; readlink /proc/$$/fd/0",
        ":::",
        "x",
    ])
    .current_dir(dir.path());
    // SAFETY: dup2 is async-signal-safe; descriptor 7 is left open without close-on-exec, as a
    // careless caller might.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(raw, 7);
            Ok(())
        });
    }
    let out = cmd.run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let mut lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.pop(), Some("/dev/null"), "stdin is /dev/null");
    // `ls` opens the directory it lists: one more descriptor, its own.
    assert!(
        lines == ["0", "1", "2"] || lines == ["0", "1", "2", "3"],
        "{listing}"
    );
}

/// Link targets of the descriptors of `pid` (number → target), from /proc.
fn descriptors(pid: i32) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut fds: Vec<(u32, String)> = dir
        .filter_map(|e| {
            let e = e.ok()?;
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect();
    fds.sort();
    fds
}

/// Above stderr: (pipes, sockets, unlinked files, anything else).
fn kinds(fds: &[(u32, String)]) -> (usize, usize, usize, usize) {
    let above: Vec<&String> = fds.iter().filter(|(n, _)| *n > 2).map(|(_, t)| t).collect();
    let pipes = above.iter().filter(|t| t.starts_with("pipe:")).count();
    let sockets = above.iter().filter(|t| t.starts_with("socket:")).count();
    let deleted = above.iter().filter(|t| t.ends_with("(deleted)")).count();
    (
        pipes,
        sockets,
        deleted,
        above.len() - pipes - sockets - deleted,
    )
}

#[test]
fn every_process_of_a_command_run_holds_only_its_own_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "-j", "2", "--grace", "100ms", "--", "sleep", ":::", "20", "20",
    ])
    .current_dir(dir.path());
    // SAFETY: close_range is async-signal-safe: whatever the test harness left open (cargo's
    // jobserver pipe) is not main's.
    unsafe {
        cmd.pre_exec(|| {
            libc::close_range(3, libc::c_uint::MAX, 0);
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .start_in_session();
    let main = child.id() as i32;
    let start = std::time::Instant::now();
    let mut last = String::new();
    let settled = loop {
        let members = common::session_members(main);
        let alive = |p: &&common::Proc| p.state != 'Z';
        let dispatcher: Vec<i32> = members
            .iter()
            .filter(alive)
            .filter(|p| p.ppid == main)
            .map(|p| p.pid)
            .collect();
        let workers: Vec<i32> = members
            .iter()
            .filter(alive)
            .filter(|p| dispatcher.contains(&p.ppid))
            .map(|p| p.pid)
            .collect();
        let commands: Vec<i32> = members
            .iter()
            .filter(alive)
            .filter(|p| workers.contains(&p.ppid) && p.comm == "sleep")
            .map(|p| p.pid)
            .collect();
        let ok = dispatcher.len() == 1
            && workers.len() == 2
            && commands.len() == 2
            // main: task pipe, outcome pipe, the output queue's receiving end. The output files
            // of the two running jobs wait in that queue (in flight, the kernel's): with this
            // few jobs in flight main takes them in only when a job's report comes.
            && kinds(&descriptors(main)) == (2, 1, 0, 0)
            // dispatcher: its two pipes, two per worker, the queue's sending end for its workers.
            && kinds(&descriptors(dispatcher[0])) == (2 + 2 * 2, 1, 0, 0)
            // worker: its two pipes, the queue, the running command's two output files.
            && workers.iter().all(|w| kinds(&descriptors(*w)) == (2, 1, 2, 0))
            // command: stdin, stdout, stderr only.
            && commands.iter().all(|c| {
                let fds = descriptors(*c);
                fds.len() == 3
                    && fds[0].1 == "/dev/null"
                    && fds[1].1.ends_with("(deleted)")
                    && fds[2].1.ends_with("(deleted)")
            });
        if ok {
            break true;
        }
        last = format!(
            "main {:?}\ndispatcher {:?}\nworkers {:?}\ncommands {:?}",
            descriptors(main),
            dispatcher
                .iter()
                .map(|p| descriptors(*p))
                .collect::<Vec<_>>(),
            workers.iter().map(|p| descriptors(*p)).collect::<Vec<_>>(),
            commands.iter().map(|p| descriptors(*p)).collect::<Vec<_>>(),
        );
        if start.elapsed() > Duration::from_secs(20) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(main), nix::sys::signal::SIGINT).unwrap();
    assert_eq!(
        common::wait_with_deadline(&mut child, Duration::from_secs(20)),
        130
    );
    assert!(settled, "descriptors:\n{last}");
}

#[test]
fn a_job_starts_with_the_signals_a_shell_would_give_it() {
    // The Rust runtime ignores SIGPIPE, and an ignored signal survives exec: `yes` would then
    // loop on EPIPE and complain. With SIGPIPE at its default, it dies quietly, as under a shell.
    let out = run(&["--", "sh", "-c", "yes | head -1", ":::", "x"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        (text(&out.stdout).as_str(), text(&out.stderr).as_str()),
        ("y\n", "")
    );
}

#[test]
fn a_signal_ignored_where_the_pool_was_started_stays_ignored_in_its_jobs() {
    // As under `nohup`: SIGHUP (1) ignored from the start; SIGPIPE (13), which the Rust runtime
    // ignores, back at its default. Each worker resets every other signal without asking glibc
    // for its action, from the set it made at its start: the ignored ones must stay out of it.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    let script = "exec grep ^SigIgn /proc/self/status";
    cmd.args(["-j", "2", "--", "sh", "-c", script, "sh", ":::", "1", "2"])
        .current_dir(dir.path());
    // SAFETY: signal(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = common::output_of(cmd, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for line in text(&out.stdout).lines() {
        let mask = u64::from_str_radix(line.trim_start_matches("SigIgn:").trim(), 16).unwrap();
        assert_eq!(mask & 1, 1, "SIGHUP still ignored: {line}");
        assert_eq!(mask & (1 << 12), 0, "SIGPIPE at its default: {line}");
    }
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

#[test]
fn a_command_that_moved_is_looked_up_again_in_path() {
    // A worker remembers where it found a program; the first `prog` (in `a/`) deletes itself, so
    // the next jobs must find the one in `b/`, as a fresh PATH search would.
    let dir = tempfile::tempdir().unwrap();
    for (sub, body) in [("a", "echo a; rm -f \"$0\""), ("b", "echo b")] {
        let d = dir.path().join(sub);
        std::fs::create_dir(&d).unwrap();
        let prog = d.join("prog");
        std::fs::write(&prog, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let path = format!(
        "{}:{}:{}",
        dir.path().join("a").display(),
        dir.path().join("b").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(BIN);
    cmd.args(["-j", "1", "--", "prog", ":::", "1", "2", "3"])
        .env("PATH", path)
        .current_dir(dir.path());
    let out = common::output_of(cmd, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "a\nb\nb\n");
}

#[test]
fn jobs_too_long_to_share_one_write_each_run_once_in_order() {
    // Tasks go to the dispatcher several per write, at most PIPE_BUF (4096) bytes: these
    // command lines (1,500 to 6,000 bytes) fill a write with one or two, or need one alone.
    let inputs: Vec<String> = (1..=12)
        .map(|i| format!("{i}-{}", "x".repeat(1500 * (1 + i % 4))))
        .collect();
    let mut args = vec!["-j", "2", "-k", "--", "echo", ":::"];
    args.extend(inputs.iter().map(String::as_str));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected: String = inputs.iter().map(|i| format!("{i}\n")).collect();
    assert!(text(&out.stdout) == expected, "every job once, in order");
}

#[test]
fn a_report_read_while_the_next_job_is_pushed_is_settled_without_waiting_for_another() {
    // With `{%}` and one job at once the pool holds one task at a time: the caller pushes the
    // next as soon as the previous one settles. A job that ends before that push returns has
    // its report read by the push itself (the hook makes it so), and nothing else will wake the
    // caller for it: it must be settled at once, not waited for (once about one run in 50).
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["-j", "1", "--", "true", "{%}", ":::", "1", "2", "3"])
        .env("TASK_POOL_TEST_PAUSE_AFTER_PUSH_MS", "300")
        .current_dir(dir.path());
    let out = common::output_of(cmd, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_job_block_holds_only_that_jobs_bytes_even_when_its_worker_reuses_the_file() {
    // The inputs arrive once both workers are up: worker A runs job 1 (half a second), worker
    // B runs job 2, which writes nothing, then job 3 in job 2's files, then job 4 — while job 2's
    // (empty) block still waits behind job 1 under --keep-order. It must stay empty.
    let dir = tempfile::tempdir().unwrap();
    let script =
        "case $1 in 1) sleep 0.5; echo one ;; 3) echo three ;; 4) echo four; echo err >&2 ;; esac";
    let mut pool = Command::new(BIN)
        .args(["-j", "2", "-k", "--", "sh", "-c", script, "sh"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start();
    let mut stdin = pool.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"1\n2\n3\n4\n").unwrap();
    drop(stdin);
    let out = pool.finish();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\nthree\nfour\n");
    assert_eq!(text(&out.stderr), "err\n");
}

/// Two runs given the same joblog (a script started twice): each line either writes lands
/// whole at the end — the joblog is appended to once emptied — never over another's.
#[test]
fn two_runs_writing_one_joblog_leave_only_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    // Lines of different lengths, so that one written over another cannot look whole.
    let short: Vec<String> = (1..=300).map(|i| i.to_string()).collect();
    let long: Vec<String> = (1..=300)
        .map(|i| format!("{i}-{}", "x".repeat(i % 50)))
        .collect();
    let args = |inputs: &[String]| -> Vec<String> {
        let mut v: Vec<String> = ["-j", "2", "--joblog", "j.tsv", "--", "echo", ":::"]
            .map(String::from)
            .to_vec();
        v.extend(inputs.iter().cloned());
        v
    };
    let start = |args: Vec<String>| {
        Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .start()
    };
    let (mut a, mut b) = (start(args(&short)), start(args(&long)));
    assert_eq!(
        common::wait_with_deadline(&mut a, Duration::from_secs(60)),
        0
    );
    assert_eq!(
        common::wait_with_deadline(&mut b, Duration::from_secs(60)),
        0
    );
    let log = std::fs::read_to_string(dir.path().join("j.tsv")).unwrap();
    for line in log.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let whole = line.starts_with("Seq\tHost\t")
            || (c.len() == 9
                && c[0].parse::<u64>().is_ok()
                && c[6] == "0"
                && (c[8] == format!("echo {}", c[0])
                    || c[8]
                        == format!(
                            "echo {}-{}",
                            c[0],
                            "x".repeat(c[0].parse::<usize>().unwrap() % 50)
                        )));
        assert!(whole, "a broken line {line:?} in\n{log}");
    }
}

/// The joblog of a fixed run, written out (only the start time and the runtime, which no run
/// repeats, are redacted): one command per way to end — success, a failure, a timed-out one
/// that honours SIGTERM, a timed-out one that ignores it — each failed one retried once, in
/// this order with one job at a time.
#[test]
fn the_joblog_of_a_fixed_run_is_exactly_this() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"case $1 in ok) echo fine;; fail) exit 3;; polite) sleep 3600;; deaf) trap "" TERM; sleep 3600;; esac"#;
    let out = run_in(
        dir.path(),
        &[
            "-j",
            "1",
            "--timeout",
            "300ms",
            "--grace",
            "200ms",
            "--retries",
            "1",
            "--joblog",
            "jobs.tsv",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            ":::",
            "ok",
            "fail",
            "polite",
            "deaf",
        ],
        None,
    );
    // Item 27: the exit status is the number of failed jobs, as in GNU parallel.
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "fine\n");
    assert_eq!(
        text(&out.stderr),
        "task_pool: 4 jobs: 1 succeeded, 3 failed (2 timed out); 3 retries\n"
    );
    let log = std::fs::read_to_string(dir.path().join("jobs.tsv")).unwrap();
    let times = regex::Regex::new(r"(?m)^(\d+\t:\t)\d+\.\d{3}\t +\d+\.\d{3}\t").unwrap();
    let cmd = format!("sh -c '{script}' sh");
    assert_eq!(
        times.replace_all(&log, "${1}[START]\t[RUNTIME]\t"),
        format!(
            "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand
1\t:\t[START]\t[RUNTIME]\t0\t5\t0\t0\t{cmd} ok
2\t:\t[START]\t[RUNTIME]\t0\t0\t3\t0\t{cmd} fail
3\t:\t[START]\t[RUNTIME]\t0\t0\t-1\t15\t{cmd} polite
4\t:\t[START]\t[RUNTIME]\t0\t0\t-1\t9\t{cmd} deaf
2\t:\t[START]\t[RUNTIME]\t0\t0\t3\t0\t{cmd} fail
3\t:\t[START]\t[RUNTIME]\t0\t0\t-1\t15\t{cmd} polite
4\t:\t[START]\t[RUNTIME]\t0\t0\t-1\t9\t{cmd} deaf
"
        )
    );
}

/// docs/task_pool.md: a job past its timeout is *timed out* even if it ends during the grace.
/// This command honours SIGTERM — it exits 0, cleanly, at once — and is still a timed-out,
/// failed job (Exitval -1, no signal: it was not killed), retried, and the run fails.
#[test]
fn a_timed_out_command_that_honours_sigterm_is_still_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "-j",
            "1",
            "--timeout",
            "300ms",
            "--grace",
            "1h",
            "--retries",
            "1",
            "--joblog",
            "jobs.tsv",
            "--",
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; sleep 3600 & wait",
            ":::",
            "x",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "bye\n", "the last attempt's output");
    assert_eq!(
        text(&out.stderr),
        "task_pool: 1 job: 0 succeeded, 1 failed (1 timed out); 1 retry\n"
    );
    let rows = joblog(&dir.path().join("jobs.tsv"));
    assert_eq!(rows.len(), 2, "one line per attempt");
    for row in &rows {
        assert_eq!((row.seq, row.exitval, row.signal), (1, -1, 0), "{row:?}");
        assert_eq!(
            row.receive, 4,
            "each attempt saw the SIGTERM (bye): {row:?}"
        );
        assert!(row.runtime >= 0.3, "not before its timeout: {row:?}");
    }
}

/// Each job's output files reach the caller as descriptors in flight in a socket, and the kernel
/// caps how many one user may have in flight at its open-file limit (root is exempt). Pools of
/// one ordinary user running at once pass that cap: a worker that cannot hand a job's files over
/// now tries again; it must never drop them (before: `ETOOMANYREFS` taken as sent, jobs' output
/// silently lost, every job reported a success, exit 0).
#[test]
fn no_jobs_output_is_lost_when_the_user_has_too_many_descriptors_in_flight() {
    use std::os::unix::fs::PermissionsExt;
    // A copy of the binary that uid 65534 can run, wherever the checkout is.
    let dir = tempfile::Builder::new()
        .prefix("task-pool-in-flight")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("task_pool");
    std::fs::copy(BIN, &bin).unwrap();
    let jobs: Vec<String> = (1..=48).map(|i| i.to_string()).collect();
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..3)
            .map(|_| {
                let (bin, jobs, dir) = (&bin, &jobs, dir.path());
                s.spawn(move || {
                    let mut cmd = Command::new(bin);
                    cmd.args(["-j", "24", "--", "sh", "-c", "sleep 0.5; echo hi", ":::"])
                        .args(jobs)
                        .current_dir(dir)
                        .env("TMPDIR", "/tmp");
                    // SAFETY: setrlimit, setgroups, setgid and setuid are plain system calls,
                    // async-signal-safe, touching no memory of the parent.
                    unsafe {
                        cmd.pre_exec(|| {
                            use nix::sys::resource::{Resource, setrlimit};
                            use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
                            setrlimit(Resource::RLIMIT_NOFILE, 64, 64)?;
                            setgroups(&[])?;
                            setgid(Gid::from_raw(65534))?;
                            setuid(Uid::from_raw(65534))?;
                            Ok(())
                        });
                    }
                    cmd.run()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for out in &outputs {
        let his = text(&out.stdout).lines().filter(|l| *l == "hi").count();
        assert_eq!(
            (out.status.code(), his),
            (Some(0), 48),
            "stderr: {}",
            text(&out.stderr)
        );
    }
}

/// A blocked signal mask is inherited through exec (a Python thread, a careless parent): the
/// pool's waits must still hear its children end and a Ctrl+C. Before: started with SIGCHLD
/// blocked, `task_pool -j2 -- true ::: 1 2 3` waited for ever.
#[test]
fn a_pool_started_with_its_signals_blocked_still_ends_and_hears_an_interrupt() {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
    let blocked = |cmd: &mut Command| {
        // SAFETY: sigprocmask is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                let mut set = SigSet::empty();
                for sig in [Signal::SIGCHLD, Signal::SIGINT, Signal::SIGTERM] {
                    set.add(sig);
                }
                sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
                Ok(())
            });
        }
    };
    let mut cmd = Command::new(BIN);
    cmd.args(["-j2", "--", "true", ":::", "1", "2", "3"]);
    blocked(&mut cmd);
    let out = cmd.run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let mut cmd = Command::new(BIN);
    cmd.args(["-j1", "--", "sleep", "30", ":::", "1", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    blocked(&mut cmd);
    let run = cmd.start();
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.pid()), Signal::SIGINT).unwrap();
    let out = run.finish();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
}
