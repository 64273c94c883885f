//! Bad input: one clear line on stderr naming the problem, exit code 2, no panic, no child
//! started and no log touched.

use crate::common;

use common::{Bounded, Run, code, stderr, stdout};

const SENTINEL: &str = "log from an earlier run\n";

fn assert_rejected(args: &[&str], mention: &str) {
    let run = Run::new();
    std::fs::write(run.exec_path(), SENTINEL).unwrap();
    std::fs::write(run.consumer_path(), SENTINEL).unwrap();
    let out = common::desafio().args(args).current_dir(run.path()).run();
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{args:?} must exit 2, stderr: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "{args:?} must give one line, got:\n{err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(mention),
        "{args:?}: {err:?} does not mention {mention:?}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(
        std::fs::read_to_string(run.exec_path()).unwrap(),
        SENTINEL,
        "{args:?} touched the log"
    );
    assert_eq!(
        std::fs::read_to_string(run.consumer_path()).unwrap(),
        SENTINEL,
        "{args:?} touched the log"
    );
}

#[test]
fn unknown_flags_are_rejected() {
    assert_rejected(&["--bogus"], "--bogus");
    assert_rejected(&["extra"], "extra");
}

#[test]
fn count_must_be_a_positive_whole_number() {
    assert_rejected(&["--count", "0"], "--count");
    assert_rejected(&["-n", "abc"], "--count");
    assert_rejected(&["-n", "-3"], "negative");
    assert_rejected(&["-n", "1.5"], "--count");
}

#[test]
fn range_bounds_must_be_non_negative_and_ordered() {
    assert_rejected(&["--min", "-1"], "--min");
    assert_rejected(&["--max", "ten"], "--max");
    assert_rejected(
        &["--min", "50", "--max", "10"],
        "--min 50 is greater than --max 10",
    );
    assert_rejected(&["--max", "99999999999999999999"], "--max");
}

#[test]
fn count_larger_than_the_range_is_a_usage_error() {
    assert_rejected(&["-n", "11", "--min", "1", "--max", "10"], "--count 11");
    assert_rejected(&["-n", "101"], "--count 101");
}

#[test]
fn log_dir_must_be_an_existing_directory() {
    assert_rejected(
        &["--log-dir", "/nonexistent/ipc_desafio"],
        "--log-dir /nonexistent/ipc_desafio",
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    assert_rejected(
        &["--log-dir", file.path().to_str().unwrap()],
        "not a directory",
    );
}

#[test]
fn malformed_fault_and_pace_are_rejected() {
    assert_rejected(&["--fault", "consumer-exit"], "--fault");
    assert_rejected(&["--fault", "consumer-nap@3"], "unknown fault kind");
    assert_rejected(&["--fault", "producer-kill@x"], "--fault");
    assert_rejected(&["--fault", "producer-kill@13"], "--fault producer-kill@13");
    assert_rejected(&["--pace", "fast"], "--pace");
    assert_rejected(&["--pace", "9..3"], "--pace");
    assert_rejected(&["--pace", "-5"], "negative");
    assert_rejected(&["--pace", "100000"], "--pace");
    assert_rejected(&["--seed", "x"], "--seed");
}

#[test]
fn verify_of_a_missing_directory_is_a_usage_error() {
    let out = common::desafio()
        .args(["verify", "--log-dir", "/nonexistent/ipc_desafio"])
        .run();
    assert_eq!(code(&out), 2);
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(stderr(&out).contains("--log-dir /nonexistent/ipc_desafio"));
}

/// A missing log is bad input, like one that is not a regular file: one line naming it, exit 2.
#[test]
fn verify_of_a_directory_without_logs_fails_naming_the_file() {
    let run = Run::new();
    let out = run.verify();
    assert_eq!(code(&out), 2);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("execution_log.txt"),
        "{}",
        stderr(&out)
    );
}

/// A FIFO or a directory where a log should be: one error line, exit 2, at once — opening a
/// FIFO for writing would wait for a reader forever, and no signal ends that wait — and
/// nothing created: the other log does not appear. (A character device such as /dev/full
/// stays allowed: that is the full-disk experiment.)
#[test]
fn a_log_that_is_a_fifo_or_a_directory_is_refused_and_nothing_is_created() {
    for (name, make) in [
        ("consumer_log.txt", "fifo"),
        ("execution_log.txt", "fifo"),
        ("consumer_log.txt", "dir"),
        ("execution_log.txt", "socket"),
    ] {
        let run = Run::new();
        let path = run.path().join(name);
        let _listener = match make {
            "fifo" => {
                nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
                None
            }
            "dir" => {
                std::fs::create_dir(&path).unwrap();
                None
            }
            _ => Some(std::os::unix::net::UnixListener::bind(&path).unwrap()),
        };
        let out = run.command(&["-q"]).run();
        assert_eq!(code(&out), 2, "{name} as a {make}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        let why = match make {
            "fifo" => "not a regular file (a FIFO): a log must be one",
            "dir" => "not a regular file (a directory): a log must be one",
            _ => "not a regular file: a log must be one",
        };
        assert!(
            err.starts_with("error: --log-dir ")
                && err.contains(name)
                && err.ends_with(&format!("{why}\n")),
            "{err}"
        );
        let entries: Vec<_> = std::fs::read_dir(run.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "{name} as a {make}: a file was created");
    }
}

/// Two names for one file as the two logs (a link): refused before anything is forked or
/// written, since the logs would overwrite each other and main and verify would disagree.
#[test]
fn two_logs_that_are_one_file_are_refused_before_the_run() {
    let run = Run::new();
    std::fs::write(run.exec_path(), SENTINEL).unwrap();
    std::os::unix::fs::symlink("execution_log.txt", run.consumer_path()).unwrap();
    let out = run.command(&["-q"]).run();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("same file"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(run.exec_path()).unwrap(), SENTINEL);
}

/// `report -o` naming one of the run's logs is refused: the picture never replaces the run.
#[test]
fn report_never_writes_over_the_logs_it_reads() {
    let run = Run::new();
    assert_eq!(code(&run.command(&["-q", "--seed", "1"]).run()), 0);
    let before = std::fs::read_to_string(run.exec_path()).unwrap();
    for target in ["execution_log.txt", "./consumer_log.txt"] {
        let out = common::desafio()
            .args(["report", "--log-dir", ".", "-o", target])
            .current_dir(run.path())
            .run();
        assert_eq!(code(&out), 2, "{target}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is one of the run's logs"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read_to_string(run.exec_path()).unwrap(), before);
}

/// A verdict or a picture that cannot be written (a full disk) is an error and exit 1, never a
/// silent success.
#[test]
fn verify_and_report_into_a_full_disk_fail_with_one_error_line() {
    let run = Run::new();
    assert_eq!(code(&run.command(&["-q", "--seed", "1"]).run()), 0);
    for sub in ["verify", "report"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = common::desafio()
            .args([sub, "--log-dir", "."])
            .current_dir(run.path())
            .run_with_stdout(full);
        assert_eq!(code(&out), 1, "{sub}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "error: cannot write standard output: No space left on device (os error 28)\n",
            "{sub}"
        );
    }
}
