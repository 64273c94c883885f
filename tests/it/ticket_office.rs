//! ticket_office: with the lock exactly N tickets are sold, every run; without it the race is
//! provoked and reported; a buyer killed while holding the lock stops nobody; the state file is
//! never seen half-written; the state path is never anything but a regular file, and no temp
//! file outlives a run; a thousand buyers, and a reader that goes away, end cleanly.

use crate::common;

use common::Bounded;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::TICKET_OFFICE as BIN;

fn office(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--state").arg(dir.join("state.json")).args(args);
    cmd
}

fn summary(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn state(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("state.json")).unwrap()
}

#[test]
fn with_the_lock_ten_buyers_and_three_tickets_sell_exactly_three_every_run() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        let out = office(
            dir.path(),
            &["--buyers", "10", "--tickets", "3", "--delay-ms", "5"],
        )
        .run();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(summary(&out), "tickets 3, sold 3, refused 7, oversold 0");
        assert_eq!(state(dir.path()), "{\"ticket_num\": 0}\n");
    }
}

#[test]
fn without_the_lock_the_race_is_provoked_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = office(
        dir.path(),
        &[
            "--no-lock",
            "--buyers",
            "10",
            "--tickets",
            "1",
            "--delay-ms",
            "300",
        ],
    )
    .run();
    assert_eq!(out.status.code(), Some(1), "overselling is a failed run");
    let line = summary(&out);
    let oversold: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(oversold >= 1, "the race did not happen: {line}");
    assert!(line.starts_with("tickets 1, sold "), "{line}");
}

#[test]
fn a_buyer_sigkilled_while_holding_the_lock_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = office(
        dir.path(),
        &["--buyers", "4", "--tickets", "4", "--delay-ms", "700"],
    )
    .stdout(Stdio::piped())
    .start();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let holder: i32 = loop {
        let line = lines.next().expect("output ended").unwrap();
        if line.ends_with("holding the lock") {
            break line
                .split('(')
                .nth(1)
                .unwrap()
                .split(')')
                .next()
                .unwrap()
                .parse()
                .unwrap();
        }
    };
    kill(Pid::from_raw(holder), Signal::SIGKILL).unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert_eq!(
        child.wait().code(),
        Some(1),
        "a killed buyer makes the run fail"
    );
    assert!(
        rest.iter()
            .any(|l| l.ends_with(&format!("({holder}) killed by SIGKILL"))),
        "{rest:?}"
    );
    assert_eq!(
        rest.last().unwrap(),
        "tickets 4, sold 3, refused 0, oversold 0, unserved 1"
    );
    assert_eq!(
        state(dir.path()),
        "{\"ticket_num\": 1}\n",
        "the killed buyer's half-done purchase left no trace"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "only the state and its lock file remain: {leftovers:?}"
    );
}

#[test]
fn readers_never_see_a_half_written_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut child = office(
        dir.path(),
        &["--buyers", "40", "--tickets", "40", "--delay-ms", "0"],
    )
    .stdout(Stdio::null())
    .start();
    let mut reads = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let ok = text.starts_with("{\"ticket_num\": ") && text.ends_with("}\n");
            assert!(ok, "a reader saw {text:?}");
            reads += 1;
        }
    }
    assert!(reads > 0);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"ticket_num\": 0}\n"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for (args, mention) in [
        (vec!["--buyers", "0"], "buyer count"),
        (vec!["--tickets", "-1"], "negative"),
        (
            vec!["--state", "/nonexistent/dir/s.json"],
            "--state /nonexistent/dir/s.json",
        ),
        (vec!["--buyers", "1001"], "buyer count"),
        (vec!["--buyers", "18446744073709551615"], "buyer count"),
        (vec!["--tickets", "1e20"], "ticket count"),
        (vec!["--tickets", "18446744073709551616"], "too large"),
        (vec!["--delay-ms", "abc"], "delay"),
        (vec!["--delay-ms", ""], "delay"),
    ] {
        let out = Command::new(BIN).args(&args).run();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(mention), "{args:?}: {err}");
    }
}

/// Every entry of a directory, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_state_path_that_is_not_a_regular_file_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("a_dir")).unwrap();
    nix::unistd::mkfifo(
        &d.join("a_fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::fs::write(d.join("a_file.json"), "{\"ticket_num\": 5}\n").unwrap();
    let before = listing(d);
    for (state, why) in [
        ("/dev/null", "not a regular file"),
        ("/dev/full", "not a regular file"),
        ("a_fifo", "not a regular file"),
        ("a_dir", "is a directory"),
        // A trailing slash on a directory is the same error as without it.
        ("a_dir/", "is a directory"),
        ("a_file.json/", "--state a_file.json/"),
        ("new.json/", "names a directory, not a file"),
        ("missing_dir/s.json", "its directory"),
        ("", "--state"),
    ] {
        let out = Command::new(BIN)
            .current_dir(d)
            .args(["--state", state, "--buyers", "2"])
            .run();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{state}: {err}");
        assert_eq!(err.lines().count(), 1, "{state}: {err}");
        assert!(err.contains(why), "{state}: {err}");
        assert!(out.stdout.is_empty(), "{state}: nothing started");
        assert_eq!(listing(d), before, "{state}: nothing created or destroyed");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_eq!(
        std::fs::read_to_string(d.join("a_file.json")).unwrap(),
        "{\"ticket_num\": 5}\n"
    );
}

#[test]
fn a_thousand_buyers_sell_exactly_the_tickets_and_leave_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = office(
        dir.path(),
        &["--buyers", "1000", "--tickets", "10", "--delay-ms", "0"],
    )
    .run();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        summary(&out),
        "tickets 10, sold 10, refused 990, oversold 0"
    );
    assert_eq!(state(dir.path()), "{\"ticket_num\": 0}\n");
    assert_eq!(listing(dir.path()), ["state.json", "state.json.lock"]);
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = office(
        dir.path(),
        &["--buyers", "50", "--tickets", "5", "--delay-ms", "1"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .start();
    let (_, code, err) = common::first_line_then_close(&mut child, Duration::from_secs(30));
    assert_eq!(err, "", "no error lines");
    assert_eq!(code, 0);
    assert_eq!(state(dir.path()), "{\"ticket_num\": 0}\n");
}

#[test]
fn a_summary_that_cannot_be_written_is_one_error_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = office(
        dir.path(),
        &["--buyers", "5", "--tickets", "2", "--delay-ms", "0"],
    )
    .run_with_stdout(full);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "error: cannot write the summary to stdout: No space left on device (os error 28)\n"
    );
}

/// The state file is rewritten at start, so a file that is not a ticket state (a typo'd
/// path to some other file) is refused, untouched: one error line, exit 2.
#[test]
fn a_state_path_naming_some_other_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "precious\n").unwrap();
    let out = std::process::Command::new(crate::common::TICKET_OFFICE)
        .args(["--buyers", "2", "--delay-ms", "0", "--state"])
        .arg(&other)
        .run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a ticket state file"), "{err}");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "precious\n");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["notes.txt"], "nothing created");
}

/// Starts a run in `dir` that stays live a while (each purchase pauses), and waits until it
/// is selling: its first buyer holds the lock. Returns it with its stdout lines still to read.
fn live_run(
    dir: &std::path::Path,
    state: &str,
) -> (
    common::deadline::Started,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args([
            "--buyers",
            "10",
            "--tickets",
            "5",
            "--delay-ms",
            "200",
            "--state",
            state,
        ])
        .stdout(Stdio::piped())
        .start();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the first run's output ended").unwrap();
        if line.ends_with("holding the lock") {
            break;
        }
    }
    (child, lines)
}

#[test]
fn a_second_run_on_a_live_runs_state_file_is_refused_naming_it_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, lines) = live_run(dir.path(), "r.json");
    let before = listing(dir.path());
    let second = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "--buyers",
            "1",
            "--tickets",
            "100",
            "--delay-ms",
            "0",
            "--state",
            "r.json",
        ])
        .run();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: --state r.json: another ticket_office run (pid {}) is selling from this state file; one state file, one run: try again once it ends\n",
            first.id()
        )
    );
    assert!(second.stdout.is_empty(), "nothing started");
    assert_eq!(listing(dir.path()), before, "nothing created or removed");
    // The first run sells its five tickets, undisturbed, and leaves no pid file behind.
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert_eq!(
        common::wait_with_deadline(&mut first, Duration::from_secs(60)),
        0
    );
    assert_eq!(
        rest.last().unwrap(),
        "tickets 5, sold 5, refused 5, oversold 0"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("r.json")).unwrap(),
        "{\"ticket_num\": 0}\n"
    );
    assert_eq!(listing(dir.path()), ["r.json", "r.json.lock"]);
    // Once it has ended, the state file is free again.
    let third = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "--buyers",
            "1",
            "--tickets",
            "1",
            "--delay-ms",
            "0",
            "--state",
            "r.json",
        ])
        .run();
    assert_eq!(third.status.code(), Some(0));
}

#[test]
fn a_symlinked_state_is_written_through_and_shares_the_files_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("real")).unwrap();
    std::fs::write(d.join("real/state.json"), "{\"ticket_num\": 0}\n").unwrap();
    std::os::unix::fs::symlink("real/state.json", d.join("link.json")).unwrap();
    let out = Command::new(BIN)
        .current_dir(d)
        .args([
            "--buyers",
            "3",
            "--tickets",
            "2",
            "--delay-ms",
            "0",
            "--state",
            "link.json",
        ])
        .run();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert_eq!(summary(&out), "tickets 2, sold 2, refused 1, oversold 0");
    let link = std::fs::symlink_metadata(d.join("link.json")).unwrap();
    assert!(link.file_type().is_symlink(), "the link is still a link");
    assert_eq!(
        std::fs::read_to_string(d.join("real/state.json")).unwrap(),
        "{\"ticket_num\": 0}\n"
    );
    assert_eq!(listing(d), ["link.json", "real"], "no lock beside the link");
    assert_eq!(listing(&d.join("real")), ["state.json", "state.json.lock"]);
    // A run through the link and a run on the file itself are one state, one lock: the
    // second is refused.
    let (mut first, _lines) = live_run(d, "link.json");
    let second = Command::new(BIN)
        .current_dir(d)
        .args(["--buyers", "1", "--state", "real/state.json"])
        .run();
    assert_eq!(second.status.code(), Some(2), "{}", common::stderr(&second));
    assert!(common::stderr(&second).contains("another ticket_office run"));
    assert_eq!(
        common::wait_with_deadline(&mut first, Duration::from_secs(60)),
        0
    );
}

#[test]
fn the_state_file_keeps_its_mode_and_owner_and_a_new_one_follows_the_umask() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, "{\"ticket_num\": 0}\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = office(
        dir.path(),
        &["--buyers", "2", "--tickets", "1", "--delay-ms", "0"],
    )
    .run();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o644);
    // Someone else's file (as root: owner and group are kept too).
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    // SAFETY: geteuid cannot fail and touches no memory.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    }
    let out = office(
        dir.path(),
        &["--buyers", "2", "--tickets", "1", "--delay-ms", "0"],
    )
    .run();
    assert_eq!(out.status.code(), Some(0));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    if root {
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }
    // A new state file: 0666 less the umask, as any file a program creates.
    std::fs::remove_file(&path).unwrap();
    let mut cmd = office(dir.path(), &["--buyers", "1", "--delay-ms", "0"]);
    // SAFETY: umask is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o027);
            Ok(())
        });
    }
    assert_eq!(cmd.run().status.code(), Some(0));
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
}

#[test]
fn a_disk_full_at_the_first_write_is_exit_1_naming_the_state_file_and_nothing_is_left() {
    use std::os::unix::process::CommandExt;
    // The file size limit stands for a full disk (mounting a small file system needs
    // privileges a test may not have): writing past it fails with EFBIG, as past the end of
    // a full disk with ENOSPC. The pid file (a few bytes) fits; the state does not.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = office(dir.path(), &["--buyers", "2", "--delay-ms", "0"]);
    // SAFETY: setrlimit and signal are async-signal-safe; SIGXFSZ ignored makes the write
    // fail with EFBIG instead of killing the process, and the ignoring survives exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 12,
                rlim_max: 12,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "error: cannot write the ticket state {}: ",
            dir.path().join("state.json").display()
        )),
        "{err}"
    );
    assert!(err.ends_with("File too large (os error 27)\n"), "{err}");
    assert!(
        !err.contains(".state.json."),
        "the temp file means nothing to the user: {err}"
    );
    assert!(out.stdout.is_empty(), "nothing started");
    assert_eq!(listing(dir.path()), Vec::<String>::new(), "nothing left");
}

#[test]
fn a_pid_file_that_is_a_symbolic_link_is_refused_and_what_it_points_to_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "important\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("state.json.pid")).unwrap();
    let out = office(dir.path(), &["--buyers", "2", "--delay-ms", "0"]).run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: --state ") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "important\n");
    assert!(!dir.path().join("state.json").exists(), "nothing created");
}
