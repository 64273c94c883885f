//! task_pool against GNU parallel: the features issue 20 asked for (items 22–28), each with the
//! behaviour GNU parallel has, and a differential table — command lines whose stdout, exit
//! status and joblog (its stable columns: Seq Host Send Receive Exitval Signal Command) were
//! recorded from GNU parallel 20221122 and are kept here as literals, so that `cargo test`
//! needs no GNU parallel.
//!
//! `TASK_POOL_DIFF=1 cargo test --test it task_pool_gnu` also runs every case through the
//! `parallel` installed (if any) and checks it still gives the recorded values;
//! `TASK_POOL_DIFF=record` prints the table as GNU parallel gives it, to paste here.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Bounded, Started, output_of, text};

use crate::common::TASK_POOL as BIN;
const DEADLINE: Duration = Duration::from_secs(60);

fn task_pool(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    cmd
}

/// The scripts and files the cases use, in `dir`.
fn fixtures(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (name, body) in [
        ("code.sh", "#!/bin/sh\nexit $1\n"),
        ("sig.sh", "#!/bin/sh\nkill -$1 $$\n"),
        ("hello.sh", "#!/bin/sh\necho hello $1\necho note $1 >&2\n"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(dir.join("list"), "l1\nl2\n").unwrap();
}

/// A joblog's stable columns (Seq Host Send Receive Exitval Signal Command), in Seq order.
fn stable_columns(joblog: &str) -> Vec<String> {
    let mut rows: Vec<(u64, String)> = joblog
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.splitn(9, '\t').collect();
            assert_eq!(c.len(), 9, "not a joblog line: {l:?}");
            let row = [c[0], c[1], c[4], c[5], c[6], c[7], c[8]].join("\t");
            (c[0].parse().unwrap(), row)
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|(_, r)| r).collect()
}

/// One command line of the differential table: `options` before the command (`--` is put in
/// between for task_pool), the command and its input sources, standard input, and what GNU
/// parallel 20221122 gave: its stdout, its exit status and its joblog's stable columns.
struct Case {
    options: &'static [&'static str],
    command: &'static [&'static str],
    stdin: Option<&'static str>,
    stdout: &'static str,
    code: i32,
    joblog: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        options: &["-k"],
        command: &["echo", "{}", ":::", "a", "b", "c"],
        stdin: None,
        stdout: "a\nb\nc\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t2\t0\t0\techo a",
            "2\t:\t0\t2\t0\t0\techo b",
            "3\t:\t0\t2\t0\t0\techo c",
        ],
    },
    Case {
        options: &["-k"],
        command: &["echo", ":::", "a", "b", ":::", "1", "2"],
        stdin: None,
        stdout: "a 1\na 2\nb 1\nb 2\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t4\t0\t0\techo a 1",
            "2\t:\t0\t4\t0\t0\techo a 2",
            "3\t:\t0\t4\t0\t0\techo b 1",
            "4\t:\t0\t4\t0\t0\techo b 2",
        ],
    },
    Case {
        options: &["-k"],
        command: &["echo", "{2}-{1}", ":::", "a", "b", ":::", "1", "2", "3"],
        stdin: None,
        stdout: "1-a\n2-a\n3-a\n1-b\n2-b\n3-b\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t4\t0\t0\techo 1-a",
            "2\t:\t0\t4\t0\t0\techo 2-a",
            "3\t:\t0\t4\t0\t0\techo 3-a",
            "4\t:\t0\t4\t0\t0\techo 1-b",
            "5\t:\t0\t4\t0\t0\techo 2-b",
            "6\t:\t0\t4\t0\t0\techo 3-b",
        ],
    },
    Case {
        options: &["-k"],
        command: &[
            "echo",
            "{.}",
            "{/}",
            "{//}",
            "{/.}",
            ":::",
            "a.txt",
            "dir/b.tar.gz",
            "/c",
            ".d",
            "sub.dir/f",
        ],
        stdin: None,
        stdout: "a a.txt . a\ndir/b.tar b.tar.gz dir b.tar\n/c c / c\n .d . \nsub.dir/f f sub.dir f\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t12\t0\t0\techo a a.txt . a",
            "2\t:\t0\t29\t0\t0\techo dir/b.tar b.tar.gz dir b.tar",
            "3\t:\t0\t9\t0\t0\techo /c c / c",
            "4\t:\t0\t7\t0\t0\techo '' .d . ''",
            "5\t:\t0\t22\t0\t0\techo sub.dir/f f sub.dir f",
        ],
    },
    Case {
        options: &["-k"],
        command: &["echo", "{1/}", "{2.}", ":::", "dir/a.b", ":::", "x.y"],
        stdin: None,
        stdout: "a.b x\n",
        code: 0,
        joblog: &["1\t:\t0\t6\t0\t0\techo a.b x"],
    },
    Case {
        options: &["-k"],
        command: &["echo", "{#}", "{}", ":::", "a", "b", "c"],
        stdin: None,
        stdout: "1 a\n2 b\n3 c\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t4\t0\t0\techo 1 a",
            "2\t:\t0\t4\t0\t0\techo 2 b",
            "3\t:\t0\t4\t0\t0\techo 3 c",
        ],
    },
    Case {
        options: &["-j1", "-k"],
        command: &["echo", "{%}", "{}", ":::", "a", "b"],
        stdin: None,
        stdout: "1 a\n1 b\n",
        code: 0,
        joblog: &["1\t:\t0\t4\t0\t0\techo 1 a", "2\t:\t0\t4\t0\t0\techo 1 b"],
    },
    Case {
        options: &["-k"],
        command: &["echo", "::::", "list"],
        stdin: None,
        stdout: "l1\nl2\n",
        code: 0,
        joblog: &["1\t:\t0\t3\t0\t0\techo l1", "2\t:\t0\t3\t0\t0\techo l2"],
    },
    Case {
        options: &["-k"],
        command: &["echo", "::::", "list", ":::", "x", "y"],
        stdin: None,
        stdout: "l1 x\nl1 y\nl2 x\nl2 y\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t5\t0\t0\techo l1 x",
            "2\t:\t0\t5\t0\t0\techo l1 y",
            "3\t:\t0\t5\t0\t0\techo l2 x",
            "4\t:\t0\t5\t0\t0\techo l2 y",
        ],
    },
    Case {
        options: &["-k"],
        command: &["echo", ":::", "a", "b", ":::+", "1", "2", "3"],
        stdin: None,
        stdout: "a 1\nb 2\n",
        code: 0,
        joblog: &["1\t:\t0\t4\t0\t0\techo a 1", "2\t:\t0\t4\t0\t0\techo b 2"],
    },
    Case {
        options: &["-k"],
        command: &["printf", "%s-", "x{}y", ":::", "a", "b", ":::", "1", "2"],
        stdin: None,
        stdout: "xa-1y-xa-2y-xb-1y-xb-2y-",
        code: 0,
        joblog: &[
            "1\t:\t0\t6\t0\t0\tprintf %s- xa 1y",
            "2\t:\t0\t6\t0\t0\tprintf %s- xa 2y",
            "3\t:\t0\t6\t0\t0\tprintf %s- xb 1y",
            "4\t:\t0\t6\t0\t0\tprintf %s- xb 2y",
        ],
    },
    Case {
        options: &["-k"],
        command: &["./code.sh", ":::", "0", "1", "3", "0", "7"],
        stdin: None,
        stdout: "",
        code: 3,
        joblog: &[
            "1\t:\t0\t0\t0\t0\t./code.sh 0",
            "2\t:\t0\t0\t1\t0\t./code.sh 1",
            "3\t:\t0\t0\t3\t0\t./code.sh 3",
            "4\t:\t0\t0\t0\t0\t./code.sh 0",
            "5\t:\t0\t0\t7\t0\t./code.sh 7",
        ],
    },
    Case {
        options: &["-k"],
        command: &["./sig.sh", ":::", "TERM", "SEGV", "KILL"],
        stdin: None,
        stdout: "",
        code: 3,
        joblog: &[
            "1\t:\t0\t0\t0\t15\t./sig.sh TERM",
            "2\t:\t0\t0\t0\t11\t./sig.sh SEGV",
            "3\t:\t0\t0\t0\t9\t./sig.sh KILL",
        ],
    },
    Case {
        options: &["-k"],
        command: &["echo", ":::", "a b", "it's", "x=y", ""],
        stdin: None,
        stdout: "a b\nit's\nx=y\n\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t4\t0\t0\techo 'a b'",
            "2\t:\t0\t5\t0\t0\techo 'it'\"'\"'s'",
            "3\t:\t0\t4\t0\t0\techo 'x=y'",
            "4\t:\t0\t1\t0\t0\techo ''",
        ],
    },
    Case {
        options: &["-k"],
        command: &["echo", "x{}y", ":::", "a", ""],
        stdin: None,
        stdout: "xay\nxy\n",
        code: 0,
        joblog: &["1\t:\t0\t4\t0\t0\techo xay", "2\t:\t0\t3\t0\t0\techo x''y"],
    },
    Case {
        options: &["-k"],
        command: &["echo", "{x}", ":::", "a"],
        stdin: None,
        stdout: "{x} a\n",
        code: 0,
        joblog: &["1\t:\t0\t6\t0\t0\techo {x} a"],
    },
    Case {
        options: &["-j0", "-k"],
        command: &["echo", ":::", "a", "b", "c"],
        stdin: None,
        stdout: "a\nb\nc\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t2\t0\t0\techo a",
            "2\t:\t0\t2\t0\t0\techo b",
            "3\t:\t0\t2\t0\t0\techo c",
        ],
    },
    Case {
        options: &["-j+1", "-k"],
        command: &["echo", ":::", "a", "b", "c"],
        stdin: None,
        stdout: "a\nb\nc\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t2\t0\t0\techo a",
            "2\t:\t0\t2\t0\t0\techo b",
            "3\t:\t0\t2\t0\t0\techo c",
        ],
    },
    Case {
        options: &["-j-1", "-k"],
        command: &["echo", ":::", "a", "b", "c"],
        stdin: None,
        stdout: "a\nb\nc\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t2\t0\t0\techo a",
            "2\t:\t0\t2\t0\t0\techo b",
            "3\t:\t0\t2\t0\t0\techo c",
        ],
    },
    Case {
        options: &["-j50%", "-k"],
        command: &["echo", ":::", "a", "b", "c"],
        stdin: None,
        stdout: "a\nb\nc\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t2\t0\t0\techo a",
            "2\t:\t0\t2\t0\t0\techo b",
            "3\t:\t0\t2\t0\t0\techo c",
        ],
    },
    Case {
        options: &["--timeout", "1"],
        command: &["sleep", ":::", "5", "0.1"],
        stdin: None,
        stdout: "",
        code: 1,
        joblog: &["1\t:\t0\t0\t-1\t15\tsleep 5", "2\t:\t0\t0\t0\t0\tsleep 0.1"],
    },
    Case {
        options: &["-k"],
        command: &["echo"],
        stdin: Some("a\n\nb\n"),
        stdout: "a\n\nb\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t2\t0\t0\techo a",
            "2\t:\t0\t1\t0\t0\techo ''",
            "3\t:\t0\t2\t0\t0\techo b",
        ],
    },
    Case {
        options: &["-k"],
        command: &["echo", ":::"],
        stdin: None,
        stdout: "",
        code: 0,
        joblog: &[],
    },
    Case {
        options: &["-k"],
        command: &["./hello.sh", ":::", "a", "b"],
        stdin: None,
        stdout: "hello a\nhello b\n",
        code: 0,
        joblog: &[
            "1\t:\t0\t8\t0\t0\t./hello.sh a",
            "2\t:\t0\t8\t0\t0\t./hello.sh b",
        ],
    },
    Case {
        options: &["-k", "-j2"],
        command: &["echo", "-n", "{}", ":::", "a", "b"],
        stdin: None,
        stdout: "ab",
        code: 0,
        joblog: &["1\t:\t0\t1\t0\t0\techo -n a", "2\t:\t0\t1\t0\t0\techo -n b"],
    },
];

fn run_case(case: &Case, dir: &Path, gnu: bool) -> (String, i32, Vec<String>) {
    let joblog = dir.join("jobs.tsv");
    let _ = std::fs::remove_file(&joblog);
    let mut args: Vec<&str> = vec!["--joblog", joblog.to_str().unwrap()];
    args.extend(case.options);
    let cmd = if gnu {
        args.insert(0, "--will-cite");
        args.extend(case.command);
        let mut cmd = Command::new("parallel");
        cmd.args(&args).current_dir(dir);
        cmd
    } else {
        args.push("--");
        args.extend(case.command);
        task_pool(dir, &args)
    };
    let out = output_of(cmd, case.stdin.map(str::as_bytes));
    let log = std::fs::read_to_string(&joblog).unwrap_or_default();
    (
        text(&out.stdout),
        out.status.code().unwrap_or(-1),
        stable_columns(&log),
    )
}

fn describe(case: &Case) -> String {
    format!("{:?} {:?}", case.options, case.command)
}

/// Whether the live comparison is asked for (`TASK_POOL_DIFF`) and GNU parallel is installed.
fn gnu_parallel() -> bool {
    std::env::var("TASK_POOL_DIFF").is_ok_and(|m| !m.is_empty())
        && Command::new("parallel")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .try_run()
            .is_ok_and(|o| o.status.success())
}

#[test]
fn task_pool_gives_gnu_parallels_stdout_exit_status_and_joblog() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let mode = std::env::var("TASK_POOL_DIFF").unwrap_or_default();
    let gnu = gnu_parallel();
    let mut failures = Vec::new();
    for case in CASES {
        let (stdout, code, joblog) = run_case(case, dir.path(), false);
        let want: Vec<String> = case.joblog.iter().map(|s| s.to_string()).collect();
        if (stdout.as_str(), code, &joblog) != (case.stdout, case.code, &want) {
            failures.push(format!(
                "task_pool {}:\n  stdout {stdout:?}, want {:?}\n  exit {code}, want {}\n  joblog {joblog:?}\n  want   {want:?}",
                describe(case),
                case.stdout,
                case.code
            ));
        }
        if gnu {
            let (stdout, code, joblog) = run_case(case, dir.path(), true);
            if mode == "record" {
                println!(
                    "    Case {{\n        options: &{:?},\n        command: &{:?},\n        stdin: {:?},\n        stdout: {:?},\n        code: {code},\n        joblog: &{joblog:?},\n    }},",
                    case.options, case.command, case.stdin, stdout
                );
            } else if (stdout.as_str(), code, &joblog) != (case.stdout, case.code, &want) {
                failures.push(format!(
                    "GNU parallel {} no longer gives what was recorded:\n  stdout {stdout:?}\n  exit {code}\n  joblog {joblog:?}",
                    describe(case)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The oracle of a run: (stdout, exit code, stderr).
fn run(dir: &Path, args: &[&str], input: Option<&[u8]>) -> (String, i32, String) {
    let out = output_of(task_pool(dir, args), input);
    (
        text(&out.stdout),
        out.status.code().unwrap_or(-1),
        text(&out.stderr),
    )
}

// Item 22.
#[test]
fn replacement_strings_are_replaced_as_gnu_parallel_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "A").unwrap();
    std::fs::write(dir.path().join("b.txt"), "B").unwrap();
    // The repro: one `{.}.bak` holding b.txt's content.
    let (_, code, err) = run(
        dir.path(),
        &["-j1", "--", "cp", "{}", "{.}.bak", ":::", "a.txt", "b.txt"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.bak")).unwrap(),
        "A"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("b.bak")).unwrap(),
        "B"
    );
    assert!(!dir.path().join("{.}.bak").exists());
    let (out, code, _) = run(
        dir.path(),
        &[
            "-j1",
            "-k",
            "--",
            "echo",
            "{/}",
            "{//}",
            "{/.}",
            "{#}",
            "{%}",
            ":::",
            "d/x.tar.gz",
            "y",
        ],
        None,
    );
    assert_eq!(code, 0);
    assert_eq!(out, "x.tar.gz d x.tar 1 1\ny . y 2 1\n");
    // Refused rather than run wrong: a position with no input source, a Perl expression.
    for (template, mention) in [("{2}", "only 1 input source"), ("{= uc =}", "Perl")] {
        let (out, code, err) = run(dir.path(), &["--", "echo", template, ":::", "a"], None);
        assert_eq!((out.as_str(), code), ("", 2), "{template}: {err}");
        assert!(err.starts_with("error: ") && err.contains(mention), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

// Item 22: {%} is a slot no two running jobs share, from 1 to -j.
#[test]
fn no_two_jobs_running_at_once_share_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    // Each job holds its slot's lock file while it runs: a second holder at once would find it.
    let script = "if ! mkdir lock$1 2>/dev/null; then echo clash $1; exit 1; fi; sleep 0.05; rmdir lock$1; echo $1";
    let inputs: Vec<String> = (1..=24).map(|i| i.to_string()).collect();
    let mut args = vec!["-j", "3", "--", "sh", "-c", script, "sh", "{%}", ":::"];
    args.extend(inputs.iter().map(String::as_str));
    let (out, code, err) = run(dir.path(), &args, None);
    assert_eq!(code, 0, "{out}{err}");
    let mut slots: Vec<&str> = out.lines().collect();
    slots.sort();
    slots.dedup();
    assert_eq!(slots, ["1", "2", "3"], "{out}");
}

// Item 23.
#[test]
fn argument_files_and_several_input_sources_are_taken_as_gnu_parallel_takes_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("list"), "l1\nl2\n").unwrap();
    // The repro: `:::: list` with an empty standard input printed nothing.
    let (out, code, _) = run(dir.path(), &["-k", "--", "echo", "::::", "list"], None);
    assert_eq!((out.as_str(), code), ("l1\nl2\n", 0));
    let (out, _, _) = run(
        dir.path(),
        &["-k", "--", "echo", ":::", "a", "b", ":::", "1", "2"],
        None,
    );
    assert_eq!(
        out, "a 1\na 2\nb 1\nb 2\n",
        "four combinations, no ':::' job"
    );
    let (out, _, _) = run(
        dir.path(),
        &["-k", "--", "echo", "::::", "-", ":::+", "x", "y", "z"],
        Some(b"1\n2\n"),
    );
    assert_eq!(out, "1 x\n2 y\n", ":::+ pairs a source with the one before");
    for (args, mention) in [
        (vec!["--", "echo", "::::", "missing"], "missing"),
        (vec!["--", "echo", "::::", "."], ":::: .: Is a directory"),
        (vec!["--", "echo", "::::"], "followed by a file"),
        (
            vec!["--", "echo", ":::", "a", ":::"],
            "input source 2 is empty",
        ),
    ] {
        let (out, code, err) = run(dir.path(), &args, None);
        assert_eq!((out.as_str(), code), ("", 2), "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(mention), "{err}");
    }
}

/// The CPU threads, as task_pool and GNU parallel count them.
fn threads() -> usize {
    std::thread::available_parallelism().unwrap().get()
}

// Item 24.
#[test]
fn jobs_plus_minus_and_percent_count_from_the_cpu_threads() {
    let dir = tempfile::tempdir().unwrap();
    let n = threads();
    // Every slot from 1 to -j is given out, the first -j jobs at once: the largest slot seen
    // is the number of jobs that run at once.
    let inputs: Vec<String> = (1..=3 * (n + 1)).map(|i| i.to_string()).collect();
    for (jobs, want) in [
        ("+1".to_string(), n + 1),
        ("-1".to_string(), (n - 1).max(1)),
        ("150%".to_string(), (3 * n).div_ceil(2)),
        (n.to_string(), n),
    ] {
        if jobs == "-1" && n == 1 {
            continue;
        }
        let mut args = vec!["-j", &jobs, "--", "echo", "{%}", ":::"];
        args.extend(inputs.iter().map(String::as_str));
        let (out, code, err) = run(dir.path(), &args, None);
        assert_eq!(code, 0, "-j{jobs}: {err}");
        let most = out.lines().map(|l| l.parse::<usize>().unwrap()).max();
        assert_eq!(most, Some(want), "-j{jobs} on {n} threads: {out}");
    }
    let minus = format!("-{n}");
    let (_, code, err) = run(dir.path(), &["-j", &minus, "--", "true", ":::", "a"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("leaves no job to run"), "{err}");
}

// Item 25.
#[test]
fn a_low_descriptor_limit_lowers_the_jobs_with_one_warning_and_finishes_every_job() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<u8> = (1..=2000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    for (jobs, warned) in [("8", false), ("32", true)] {
        let mut cmd = task_pool(dir.path(), &["-j", jobs, "-k", "--", "echo"]);
        // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, 64, 64)
                    .map_err(std::io::Error::from)
            });
        }
        let out = output_of(cmd, Some(&input));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "-j{jobs}: {err}");
        assert_eq!(out.stdout, input, "-j{jobs}: every job, in order");
        if warned {
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.starts_with("task_pool: warning: only enough file descriptors (ulimit -n 64)"),
                "{err}"
            );
        } else {
            assert_eq!(err, "", "-j{jobs}");
        }
    }
}

// Item 26.
#[test]
fn jobs_killed_by_a_signal_have_exitval_0_and_the_signal_as_in_gnu_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let (_, code, err) = run(
        dir.path(),
        &[
            "-k",
            "--joblog",
            "j.tsv",
            "--",
            "sh",
            "-c",
            "kill -$1 $$",
            "sh",
            ":::",
            "TERM",
            "SEGV",
        ],
        None,
    );
    assert_eq!(code, 2, "two failed: {err}");
    let log = std::fs::read_to_string(dir.path().join("j.tsv")).unwrap();
    let ends: Vec<String> = stable_columns(&log)
        .iter()
        .map(|r| r.split('\t').skip(4).take(2).collect::<Vec<_>>().join("/"))
        .collect();
    assert_eq!(ends, ["0/15", "0/11"]);
}

/// Starts `task_pool args` in a session of its own (so that a Ctrl+C to its group reaches
/// nothing else), stdout and stderr to files in `dir`.
fn start(dir: &Path, args: &[&str]) -> Started {
    task_pool(dir, args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("out")).unwrap())
        .stderr(std::fs::File::create(dir.join("err")).unwrap())
        .start_in_session()
}

/// Waits for `child` under the deadline: its exit code (-1 for a signal).
fn finish(mut child: Started) -> i32 {
    child.code()
}

// Item 26: the jobs a Ctrl+C ends have no joblog line, so --resume runs them again, and
// --resume-failed runs the failed ones again too — as GNU parallel's --resume does with its
// joblog.
#[test]
fn resume_runs_again_exactly_the_jobs_an_interrupt_ended_or_that_failed() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Jobs 1 and 2 end at once (2 fails), 3 and 4 run until the Ctrl+C — unless `go` exists.
    let script =
        "echo $1; case $1 in 1) ;; 2) [ -e go ] || exit 1 ;; *) [ -e go ] || sleep 30 ;; esac";
    let args = [
        "-j", "2", "--joblog", "j.tsv", "--", "sh", "-c", script, "sh", ":::", "1", "2", "3", "4",
    ];
    let child = start(dir.path(), &args);
    let sid = child.id() as i32;
    let joblog = dir.path().join("j.tsv");
    common::wait_session(sid, "jobs 1 and 2 logged, 3 and 4 running", DEADLINE, |m| {
        let logged = std::fs::read_to_string(&joblog).map_or(0, |t| t.lines().count());
        logged == 3 && m.iter().filter(|p| p.comm == "sleep").count() == 2
    });
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(sid),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(finish(child), 130);
    common::wait_session_gone(sid, DEADLINE);
    let seqs = |text: &str| -> Vec<String> {
        stable_columns(text)
            .iter()
            .map(|r| {
                let c: Vec<&str> = r.split('\t').collect();
                format!("{}:{}", c[0], c[4])
            })
            .collect()
    };
    assert_eq!(
        seqs(&std::fs::read_to_string(&joblog).unwrap()),
        ["1:0", "2:1"]
    );
    std::fs::write(dir.path().join("go"), "").unwrap();
    // With TASK_POOL_DIFF=1 and GNU parallel installed: parallel's own --resume, reading this
    // joblog, runs the same two jobs (a script, since parallel hands its command to a shell).
    if gnu_parallel() {
        std::fs::copy(&joblog, dir.path().join("gnu.tsv")).unwrap();
        std::fs::write(dir.path().join("job.sh"), format!("#!/bin/sh\n{script}\n")).unwrap();
        let mut cmd = Command::new("parallel");
        cmd.args([
            "--will-cite",
            "-j",
            "2",
            "--resume",
            "--joblog",
            "gnu.tsv",
            "sh",
            "job.sh",
        ])
        .args([":::", "1", "2", "3", "4"])
        .current_dir(dir.path());
        let out = output_of(cmd, None);
        let mut ran: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
        ran.sort();
        assert_eq!(ran, ["3", "4"], "GNU parallel --resume on this joblog");
    }
    let mut resumed = args.to_vec();
    resumed.insert(0, "--resume");
    let (out, code, err) = run(dir.path(), &resumed, None);
    assert_eq!(code, 0, "{err}");
    let mut ran: Vec<&str> = out.lines().collect();
    ran.sort();
    assert_eq!(ran, ["3", "4"], "--resume runs the interrupted jobs only");
    let mut failed = args.to_vec();
    failed.insert(0, "--resume-failed");
    let (out, code, err) = run(dir.path(), &failed, None);
    assert_eq!(
        (out.as_str(), code),
        ("2\n", 0),
        "--resume-failed runs job 2: {err}"
    );
    let log = std::fs::read_to_string(&joblog).unwrap();
    assert_eq!(seqs(&log), ["1:0", "2:0", "2:1", "3:0", "4:0"]);
    assert_eq!(log.matches("Seq\tHost").count(), 1, "one header: {log}");
}

// Item 27.
#[test]
fn the_joblog_appends_with_a_plus_goes_to_stdout_with_a_dash_and_accepts_dev_null() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("j.tsv"), "kept\n").unwrap();
    let (_, code, err) = run(
        dir.path(),
        &["--joblog", "+j.tsv", "--", "true", ":::", "a"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let log = std::fs::read_to_string(dir.path().join("j.tsv")).unwrap();
    assert!(
        log.starts_with("kept\n1\t:\t") && log.ends_with("\ttrue a\n"),
        "{log}"
    );
    assert!(!dir.path().join("+j.tsv").exists());
    let (out, code, _) = run(
        dir.path(),
        &["-k", "--joblog", "-", "--", "echo", ":::", "a", "b"],
        None,
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(
        lines[0],
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"
    );
    assert_eq!(lines[1], "a");
    assert!(
        lines[2].starts_with("1\t:\t") && lines[2].ends_with("\t0\t2\t0\t0\techo a"),
        "{out}"
    );
    assert_eq!(lines[3], "b");
    assert!(
        lines[4].starts_with("2\t:\t") && lines[4].ends_with("\techo b"),
        "{out}"
    );
    assert!(!dir.path().join("-").exists());
    let (_, code, err) = run(
        dir.path(),
        &["--joblog", "/dev/null", "--", "true", ":::", "a"],
        None,
    );
    assert_eq!((code, err.as_str()), (0, ""));
}

// A character device holds no earlier run: resuming from /dev/zero reads nothing from it (it
// used to read it until memory ran out; the test caps the run's address space at 1 GiB so that
// a regression aborts instead of eating the machine's memory).
#[test]
fn resuming_from_a_joblog_that_is_an_endless_device_reads_nothing_from_it() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    for resume in ["--resume", "--resume-failed"] {
        let mut cmd = task_pool(
            dir.path(),
            &[resume, "--joblog", "/dev/zero", "--", "echo", ":::", "a"],
        );
        // SAFETY: setrlimit is async-signal-safe; the child calls nothing else before exec.
        unsafe {
            cmd.pre_exec(|| {
                let gib = 1 << 30;
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_AS, gib, gib)
                    .map_err(std::io::Error::from)
            })
        };
        let out = output_of(cmd, None);
        assert_eq!(
            (
                out.status.code(),
                text(&out.stdout).as_str(),
                text(&out.stderr).as_str()
            ),
            (Some(0), "a\n", ""),
            "{resume}"
        );
    }
}

// Item 27: the exit status is the number of failed jobs, at most 101.
#[test]
fn the_exit_status_counts_the_failed_jobs_up_to_101() {
    let dir = tempfile::tempdir().unwrap();
    for (failing, want) in [(0, 0), (1, 1), (3, 3), (100, 100), (150, 101)] {
        let inputs: Vec<String> = (0..failing + 2)
            .map(|i| if i < failing { "1" } else { "0" }.to_string())
            .collect();
        let mut args = vec!["-j", "4", "--", "sh", "-c", "exit $1", "sh", ":::"];
        args.extend(inputs.iter().map(String::as_str));
        let (_, code, err) = run(dir.path(), &args, None);
        assert_eq!(code, want, "{failing} failing: {err}");
    }
}

// Item 28.
#[test]
fn a_command_line_without_dashes_says_what_is_missing_in_one_line_with_the_usage() {
    let dir = tempfile::tempdir().unwrap();
    for (args, mention) in [
        (
            vec!["-k", "touch", "ran", ":::", "a"],
            "a command must follow '--' (task_pool -k -- touch ran ::: a)",
        ),
        (
            vec!["touch", "ran"],
            "a command must follow '--' (task_pool -- touch ran)",
        ),
        (
            vec!["-j", "2", "touch", "ran"],
            "(task_pool -j 2 -- touch ran)",
        ),
        (
            vec!["-k"],
            "-k is an option for running a command, which must follow '--'",
        ),
        (vec!["--bogus"], "--bogus"),
    ] {
        let (out, code, err) = run(dir.path(), &args, None);
        assert_eq!((out.as_str(), code), ("", 2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(mention),
            "{args:?}: {err}"
        );
        assert!(err.contains("usage: task_pool [OPTIONS] -- CMD"), "{err}");
        assert!(!dir.path().join("ran").exists(), "{args:?}: nothing ran");
    }
}
