//! The test harness itself: every program a test starts runs under a deadline
//! (`tests/common/deadline.rs`). A hang fails the test, naming the command and what the test
//! waited for, and leaves no process behind; no test file starts a program any other way.
//! And `pool_api`'s own harness (`harness = false`) takes libtest's command line.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Bounded, Proc, Started};

/// A program that sleeps beside a child that leads a process group of its own.
const LONER: &str = "perl -e 'setpgrp(0, 0); sleep 1000' & sleep 1000";

/// Waits until both sleepers of `LONER` run, the perl one in a group of its own (not the
/// program's); returns every pid of the run.
fn wait_for_the_loner(run: &Started) -> Vec<i32> {
    let leader = run.pid();
    let mut pids = Vec::new();
    common::wait_until(
        "the loner in a group of its own",
        Duration::from_secs(60),
        || {
            let members = run.members();
            pids = members.iter().map(|p| p.pid).collect();
            members.iter().any(|p| p.comm == "sleep")
                && members
                    .iter()
                    .any(|p| p.comm == "perl" && p.pgid == p.pid && p.pgid != leader)
        },
    );
    pids
}

/// Those of `pids` still running (a zombie is not running).
fn running(pids: &[i32]) -> Vec<Proc> {
    common::deadline::processes()
        .into_iter()
        .filter(|p| pids.contains(&p.pid) && p.state != 'Z')
        .collect()
}

/// The message of the panic `f` ends with (it must panic).
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it was supposed to fail");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Every call that starts or waits for a program without a deadline, outside the harness:
/// `Command::output`, `Command::status`, `Command::spawn` (a `std::process::Child` has no
/// deadline) and `Child::wait_with_output`. `Started::wait`, `finish` and the like are the
/// bounded ones. A line after a `// deadline: exempt — why` comment is let through.
#[test]
fn no_test_starts_a_program_without_a_deadline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let banned = [".output()", ".status()", ".spawn()", ".wait_with_output()"];
    let mut found = Vec::new();
    let mut files = Vec::new();
    for dir in ["tests", "tests/it", "tests/common", "examples"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(
        files.len() > 30,
        "the test sources were not found: {files:?}"
    );
    for path in &files {
        if path.ends_with("tests/common/deadline.rs") || path.ends_with("tests/it/harness.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let mut exempt = false;
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if !exempt && banned.iter().any(|b| code.contains(b)) {
                found.push(format!(
                    "{}:{}: {}",
                    path.strip_prefix(root).unwrap().display(),
                    i + 1,
                    line.trim()
                ));
            }
            exempt = line.trim_start().starts_with("// deadline: exempt");
        }
    }
    assert!(
        found.is_empty(),
        "start programs with `common::Bounded` (`.run()`, `.start()`) so that a hang fails the \
         test instead of blocking it:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_run_past_its_deadline_fails_naming_the_command_and_what_it_waited_for() {
    // A grandchild in a process group of its own: killing the program's group alone would miss
    // it. Both ways to start a program.
    for in_session in [false, true] {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", LONER]);
        let mut run = if in_session {
            cmd.start_in_session()
        } else {
            cmd.start()
        }
        .within(Duration::from_millis(500));
        let pids = wait_for_the_loner(&run);
        let message = panic_message(|| {
            run.wait_for("the two sleeps to end");
        });
        assert!(message.starts_with("deadline: "), "{message}");
        assert!(
            message.contains(&format!(
                "for the two sleeps to end, in vain: `sh -c {LONER}`"
            )),
            "{message}"
        );
        assert!(
            message.contains("sleep state S") && message.contains("perl state S"),
            "what was running: {message}"
        );
        assert_eq!(running(&pids), vec![], "nothing of the run is left");
    }
}

#[test]
fn output_past_its_deadline_fails_and_kills_what_holds_the_pipes() {
    // The program exits at once; what it left behind keeps stdout open.
    let mut pids = Vec::new();
    let message = panic_message(|| {
        let run = Command::new("sh")
            .args(["-c", "sleep 1000 & exit 0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .start()
            .within(Duration::from_millis(500))
            .expecting("sh and the sleep it left behind");
        common::wait_until("the sleep", Duration::from_secs(60), || {
            pids = run.members().iter().map(|p| p.pid).collect();
            run.members().iter().any(|p| p.comm == "sleep")
        });
        run.finish();
    });
    assert!(
        message.contains(
            "for sh and the sleep it left behind and close its stdout and stderr, in vain"
        ),
        "{message}"
    );
    assert_eq!(running(&pids), vec![]);
}

/// A test blocked in its own read of the program's stdout (not in a wait of `Started`) is
/// freed by the watchdog: the run is killed, the read ends, and the test fails saying why.
#[test]
fn a_test_blocked_on_a_pipe_is_freed_and_failed_by_the_watchdog() {
    let mut pid = 0;
    let message = panic_message(|| {
        let mut run = Command::new("sh")
            .args(["-c", "sleep 1000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .start()
            .within(Duration::from_millis(200));
        pid = run.pid();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut run.stdout.take().unwrap(), &mut text).unwrap();
        assert_eq!(text, "", "the sleep wrote nothing");
    });
    assert!(
        message.starts_with("deadline: `sh -c sleep 1000`"),
        "{message}"
    );
    assert!(message.contains("the watchdog killed its run"), "{message}");
    assert_eq!(running(&[pid]), vec![]);
}

#[test]
fn run_collects_both_pipes_however_much_they_carry_and_the_exit_code() {
    let out = Command::new("sh")
        .args([
            "-c",
            "head -c 1000000 /dev/zero; head -c 300000 /dev/zero >&2; exit 7",
        ])
        .run();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout.len(), 1_000_000);
    assert_eq!(out.stderr.len(), 300_000);
}

#[test]
fn a_started_program_dropped_early_takes_its_run_with_it() {
    for in_session in [false, true] {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", LONER]);
        let run = if in_session {
            cmd.start_in_session()
        } else {
            cmd.start()
        };
        let pids = wait_for_the_loner(&run);
        drop(run);
        assert_eq!(running(&pids), vec![]);
    }
}

/// The `pool_api` test executable, as cargo builds it for this profile (a no-op when fresh).
fn pool_api() -> std::path::PathBuf {
    let bin = Path::new(common::BIN);
    let profile_dir = bin.parent().expect("binary in a profile dir");
    let target_dir = profile_dir.parent().expect("profile dir in a target dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("unexpected target layout: {}", profile_dir.display()),
    };
    let out = Command::new(env!("CARGO"))
        .args([
            "test",
            "--no-run",
            "--test",
            "pool_api",
            "--profile",
            profile,
        ])
        .args(["--message-format", "json"])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start()
        // A build on a busy machine, not a run of the program: a longer deadline.
        .within(Duration::from_secs(900))
        .expecting("cargo to build the pool_api test")
        .finish();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == "pool_api")
        .find_map(|m| m["executable"].as_str().map(std::path::PathBuf::from))
        .expect("cargo names the pool_api executable")
}

/// pool_api's `main` is a harness of its own: it must take what `cargo test` passes to any test
/// binary, run what it selects, and refuse what it does not know — never run nothing and pass.
#[test]
fn pool_apis_own_harness_takes_libtests_command_line_or_refuses_it() {
    let bin = pool_api();
    let run = |args: &[&str]| {
        let out = Command::new(&bin).args(args).run();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, listed, _) = run(&["--list"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        listed.lines().filter(|l| l.ends_with(": test")).count(),
        7,
        "{listed}"
    );
    for (args, ran) in [
        (
            &[
                "--test-threads",
                "2",
                "--exact",
                "pool_start_is_refused_while_another_thread_runs",
            ][..],
            1,
        ),
        (&["--test-threads=2", "a_result_over"][..], 1),
        (
            &[
                "--skip",
                "draw",
                "--skip",
                "malformed",
                "--skip",
                "dispatcher",
                "--skip",
                "a_pool",
                "--skip",
                "dropping",
                "--skip",
                "frame",
            ][..],
            1,
        ),
        (
            &[
                "--nocapture",
                "--exact",
                "pool_start_is_refused_while_another_thread_runs",
                "-q",
            ][..],
            1,
        ),
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {out}{err}");
        assert!(
            out.contains(&format!("{ran} passed; 0 failed")),
            "{args:?} ran something else:\n{out}"
        );
    }
    for args in [
        &["--bogus"][..],
        &["--test-threads"][..],
        &["--test-threads", "many"][..],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {out}{err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!out.contains("passed"), "{args:?} ran checks: {out}");
    }
}
