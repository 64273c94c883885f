//! parallel: the tutorial's results, exactly (cpu sums equal the closed form in u128); hash
//! output that md5sum -c / sha256sum -c accept, byte for byte what sha256sum prints, whatever
//! the file names; scan counts equal grep's for both rules; bad input is one error line and
//! exit 2; a reader that goes away ends the run quietly; monitor and shared state.

use crate::common;

use common::{Bounded, stderr, stdout};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::PARALLEL as BIN;

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).run()
}

fn run_os(args: &[&OsStr]) -> Output {
    Command::new(BIN).args(args).run()
}

fn bytes(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

/// A small tree: nested directories, an empty file, files of several sizes and extensions,
/// and names sha256sum must escape or that are not UTF-8.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    let mut seed = 0x1234_5678_u64;
    let mut put = |name: &[u8], n: usize| {
        std::fs::write(root.join(OsStr::from_bytes(name)), bytes(&mut seed, n)).unwrap();
    };
    put(b"empty.txt", 0);
    put(b"a/one.log", 1);
    put(b"a/b/big.txt", 3 << 20);
    put(b"a/b/c/mid.py", 70_000);
    put(b"a/b/c/skip.bin", 10);
    put(b"new\nline.txt", 100);
    put(b"back\\slash.txt", 200);
    put(b"carriage\rreturn.txt", 300);
    put(b"latin1-\xe9t\xe9.txt", 400);
    put(b"tab\tand space.txt", 500);
    std::fs::write(
        root.join("z.log"),
        b"ERROR one\nall good\nWARNING two\nERROR and WARNING\n",
    )
    .unwrap();
    dir
}

/// Every regular file under `root`, in `Path` order (component by component): the order
/// `parallel hash` streams in.
fn files_in_path_order(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                stack.push(e.path());
            } else if kind.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn hash_output_is_byte_for_byte_what_the_coreutils_tool_prints_for_every_algorithm() {
    let dir = tree();
    let files = files_in_path_order(dir.path());
    assert_eq!(files.len(), 11);
    for (algo, tool) in [
        ("md5", "md5sum"),
        ("sha1", "sha1sum"),
        ("sha256", "sha256sum"),
        ("sha512", "sha512sum"),
    ] {
        let ours = run_os(&[
            OsStr::new("hash"),
            dir.path().as_os_str(),
            OsStr::new("--algo"),
            OsStr::new(algo),
            OsStr::new("--jobs"),
            OsStr::new("3"),
        ]);
        assert_eq!(ours.status.code(), Some(0), "{algo}: {}", stderr(&ours));
        let theirs = Command::new(tool).args(&files).run();
        assert!(theirs.status.success());
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{algo}: same lines, same escapes, same order"
        );
        let total: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        let summary = format!("hashed 11 files, {total} bytes");
        assert!(stderr(&ours).contains(&summary), "{}", stderr(&ours));
    }
}

#[test]
fn md5sum_c_and_sha256sum_c_accept_the_output_including_a_newline_and_a_non_utf8_name() {
    let dir = tree();
    let elsewhere = tempfile::tempdir().unwrap();
    for (algo, tool) in [("md5", "md5sum"), ("sha256", "sha256sum")] {
        let sums = elsewhere.path().join(format!("sums.{algo}"));
        let out = Command::new(BIN)
            .arg("hash")
            .arg(dir.path())
            .args(["--algo", algo])
            .run();
        assert_eq!(out.status.code(), Some(0));
        std::fs::write(&sums, &out.stdout).unwrap();
        let check = Command::new(tool).arg("-c").arg(&sums).run();
        assert!(check.status.success(), "{tool} -c: {}", stderr(&check));
        let ok = check
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| l.ends_with(b": OK"));
        assert_eq!(ok.count(), 11, "{}", stdout(&check));
        let text = &out.stdout;
        assert!(
            text.windows(b"new\\nline".len())
                .any(|w| w == b"new\\nline")
        );
        assert!(
            text.windows(b"latin1-\xe9t\xe9".len())
                .any(|w| w == b"latin1-\xe9t\xe9")
        );
    }
}

#[test]
fn hash_hashes_each_file_once_and_compares_with_one_process_only_when_asked() {
    let dir = tree();
    let d = dir.path().to_str().unwrap();
    let plain = run(&["hash", d]);
    assert_eq!(plain.status.code(), Some(0));
    let err = stderr(&plain);
    assert!(
        !err.contains("--jobs 1") && !err.contains("speed-up"),
        "{err}"
    );
    let tasks: u64 = err
        .lines()
        .filter_map(|l| l.strip_prefix("worker "))
        .map(|l| l.split(": ").nth(1).unwrap().split(' ').next().unwrap())
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert!(
        tasks <= 4,
        "11 files, small: a few batches, not one task each: {err}"
    );

    let base = run(&["hash", d, "--baseline", "--jobs", "2"]);
    assert_eq!(base.status.code(), Some(0), "{}", stderr(&base));
    assert_eq!(base.stdout, plain.stdout, "the listing does not change");
    let err = stderr(&base);
    assert!(err.contains("results identical to --jobs 1: yes"), "{err}");
    let efficiency: f64 = err
        .split("efficiency ")
        .nth(1)
        .unwrap()
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(efficiency <= 100.0, "{err}");
}

#[test]
fn hash_sorts_by_size_largest_first_and_prints_the_tutorial_layout() {
    let dir = tree();
    let out = Command::new(BIN)
        .arg("hash")
        .arg(dir.path())
        .args(["--algo", "md5", "--sort", "size", "--format", "tutorial"])
        .args(["--ext", ".txt", ".log", ".py"])
        .run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10 + 1, "{text}");
    let sizes: Vec<u64> = lines[..10]
        .iter()
        .map(|l| {
            l.rsplit(" (")
                .next()
                .unwrap()
                .trim_end_matches(" bytes)")
                .parse()
                .unwrap()
        })
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    assert_eq!(sizes[0], 3 << 20);
    assert!(lines[0].ends_with(&format!(
        "a/b/big.txt: {} (3145728 bytes)",
        md5_of(&dir.path().join("a/b/big.txt"))
    )));
    let total = 3145728.0 + 70_000.0 + 1.0 + 100.0 + 200.0 + 300.0 + 400.0 + 500.0 + 48.0;
    assert_eq!(
        lines[10],
        format!("Total size: {:.2} MB", total / 1048576.0)
    );
    assert!(!text.contains("skip.bin"));
}

fn md5_of(path: &Path) -> String {
    let out = Command::new("md5sum").arg(path).run();
    String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

/// Creates `dir/<long>/<long>/…/file` whose full path is longer than PATH_MAX, through
/// directory descriptors (no single path given to the kernel is too long).
fn too_long_path(dir: &Path) -> usize {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::{Mode, mkdirat};
    let long = "d".repeat(250);
    let mut fd = nix::fcntl::open(dir, OFlag::O_DIRECTORY, Mode::empty()).unwrap();
    let mut depth = dir.as_os_str().len();
    while depth < 4200 {
        mkdirat(&fd, long.as_str(), Mode::from_bits_truncate(0o755)).unwrap();
        fd = openat(&fd, long.as_str(), OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        depth += long.len() + 1;
    }
    let file = openat(
        &fd,
        "deep.txt",
        OFlag::O_CREAT | OFlag::O_WRONLY,
        Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    drop(file);
    depth
}

#[test]
fn a_file_that_cannot_be_reached_is_named_and_makes_the_exit_status_1() {
    let dir = tree();
    too_long_path(dir.path());
    let out = Command::new(BIN).arg("hash").arg(dir.path()).run();
    assert_eq!(out.status.code(), Some(1), "something was skipped");
    let err = stderr(&out);
    assert!(err.contains("File name too long"), "{err}");
    assert!(err.contains("NOT hashed"), "{err}");
    assert_eq!(
        out.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        11,
        "every other file is still hashed"
    );
}

/// `grep -c PATTERN path` (and `grep PATTERN path | grep -vc ERROR` for the first-match rule).
fn grep_count(path: &Path, pattern: &str, without_error: bool) -> u64 {
    let script = if without_error {
        "grep -- \"$1\" \"$2\" | grep -vc ERROR"
    } else {
        "grep -c -- \"$1\" \"$2\""
    };
    let out = Command::new("sh")
        .args(["-c", script, "sh", pattern])
        .arg(path)
        .run();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn scan_rows(text: &str) -> Vec<(u64, u64, String)> {
    text.lines()
        .skip(1)
        .filter(|l| !l.contains("total over") && !l.starts_with("worker "))
        .map(|l| {
            // `{errors:>8} {warnings:>8}  {name}`
            let mut it = l.split_whitespace();
            let e = it.next().unwrap().parse().unwrap();
            let w = it.next().unwrap().parse().unwrap();
            (e, w, l[19..].to_string())
        })
        .collect()
}

fn log_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..12 {
        let sub = dir.path().join(format!("d{}", i % 3));
        std::fs::create_dir_all(&sub).unwrap();
        let mut text = String::new();
        for j in 0..(i * 537 + 5) {
            text.push_str(match (i + j) % 7 {
                0 => "2026 ERROR disk full\n",
                1 => "2026 WARNING slow\n",
                2 => "ERROR WARNING both\n",
                3 => "WARNING ERROR WARNING ERROR\n",
                _ => "info fine, no problem here\n",
            });
        }
        if i % 2 == 0 {
            text.push_str("a last line ERROR without its newline");
        }
        std::fs::write(sub.join(format!("f{i}.log")), text).unwrap();
    }
    std::fs::write(
        dir.path().join("top.log"),
        "WARNING\nERROR\nboth ERROR WARNING\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("quiet.log"), "nothing\n").unwrap();
    std::fs::write(dir.path().join("ignored.txt"), "ERROR\n").unwrap();
    dir
}

#[test]
fn scan_counts_equal_grep_for_both_rules_whatever_the_job_count() {
    let dir = log_tree();
    let d = dir.path().to_str().unwrap();
    for first_match in [false, true] {
        let mut args = vec!["scan-logs", d, "--jobs"];
        if first_match {
            args.push("3");
            args.push("--first-match");
        } else {
            args.push("1");
        }
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let rows = scan_rows(&stdout(&out));
        assert_eq!(rows.len(), 13, "every file with a count, not quiet.log");
        for (e, w, path) in &rows {
            let path = Path::new(path);
            assert_eq!(*e, grep_count(path, "ERROR", false), "{path:?}");
            assert_eq!(*w, grep_count(path, "WARNING", first_match), "{path:?}");
        }
        let names: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| Path::new(a).cmp(Path::new(b)));
        assert_eq!(names, sorted, "rows stream in path order");
        let total = stdout(&out);
        let total = total.lines().find(|l| l.contains("total over")).unwrap();
        assert!(total.contains("total over 14 files"), "{total}");
    }
}

#[test]
fn scan_no_recurse_reads_only_the_top_directory_and_sort_count_puts_the_most_first() {
    let dir = log_tree();
    let d = dir.path().to_str().unwrap();
    let out = run(&["scan-logs", d, "--no-recurse", "--first-match"]);
    assert_eq!(out.status.code(), Some(0));
    let rows = scan_rows(&stdout(&out));
    assert_eq!(rows.len(), 1, "{}", stdout(&out));
    assert_eq!((rows[0].0, rows[0].1), (2, 1), "{}", stdout(&out));

    let out = run(&["scan-logs", d, "--sort", "count"]);
    let totals: Vec<u64> = scan_rows(&stdout(&out)).iter().map(|r| r.0 + r.1).collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");
}

#[test]
fn cpu_sums_equal_the_closed_form_in_u128_and_both_runs_agree() {
    let out = run(&["cpu", "--tasks", "3,1,2", "--chunk", "1", "--jobs", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("results identical: yes"), "{text}");
    for n in [1u128, 2, 3] {
        let n = n * 1_000_000;
        let closed = (n - 1) * n * (2 * n - 1) / 6;
        let row = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(&n.to_string()))
            .unwrap();
        assert_eq!(
            row.split_whitespace().nth(2),
            Some(&*closed.to_string()),
            "{text}"
        );
    }
    let efficiency: f64 = text
        .split("efficiency ")
        .nth(1)
        .unwrap()
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(efficiency <= 100.0, "{text}");
}

#[test]
fn ports_reports_a_listening_and_a_closed_port_on_loopback() {
    let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = listening.local_addr().unwrap().to_string();
    let down = {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        closed.local_addr().unwrap().to_string()
    };
    let out = run(&["ports", &up, &down, "--timeout-ms", "2000"]);
    assert_eq!(out.status.code(), Some(1), "one endpoint is down");
    let text = stdout(&out);
    let line = |endpoint: &str| {
        text.lines()
            .find(|l| l.starts_with(endpoint))
            .unwrap()
            .to_string()
    };
    assert!(
        line(&up).contains(" UP ") && line(&up).ends_with(" ms"),
        "{text}"
    );
    assert!(line(&down).contains(" DOWN "), "{text}");
    drop(listening);
}

#[test]
fn bad_input_is_one_error_line_naming_the_flag_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let f = file.to_str().unwrap();
    let f_slash = format!("{f}/");
    let missing_slash = format!("{d}/missing/");
    let huge = "18446744073709551615";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["cpu", "--jobs", "0"], "--jobs"),
        (vec!["cpu", "--jobs", "-1"], "--jobs"),
        (vec!["cpu", "--jobs", "1e20"], "--jobs"),
        (vec!["cpu", "--jobs", huge], "--jobs"),
        (vec!["cpu", "--jobs", ""], "--jobs"),
        (vec!["cpu", "--jobs", "abc"], "--jobs"),
        (vec!["cpu", "--jobs", "257"], "--jobs"),
        (vec!["cpu", "--tasks", "0"], "--tasks"),
        (vec!["cpu", "--tasks", "4001"], "--tasks"),
        (vec!["cpu", "--tasks", "-5"], "--tasks"),
        (vec!["cpu", "--tasks", huge], "--tasks"),
        (vec!["cpu", "--tasks", "1,,2"], "--tasks"),
        (vec!["cpu", "--tasks", ""], "--tasks"),
        (vec!["cpu", "--chunk", "0"], "--chunk"),
        (vec!["cpu", "--chunk", "1e20"], "--chunk"),
        (
            vec!["hash", "/nonexistent/parallel"],
            "/nonexistent/parallel",
        ),
        (vec!["hash", &missing_slash], "missing"),
        (vec!["hash", f], "not a directory"),
        (vec!["hash", &f_slash], "not a directory"),
        (vec!["hash", "/dev/null"], "not a directory"),
        (vec!["hash", d, "--ext", ""], "--ext"),
        (vec!["hash", d, "--ext", "a/b"], "--ext"),
        (vec!["hash", d, "--algo", "crc32"], "--algo"),
        (vec!["hash", d, "--sort", "random"], "--sort"),
        (vec!["hash", d, "--format", ""], "--format"),
        (vec!["hash", d, "--jobs", "0"], "--jobs"),
        (
            vec!["scan-logs", "/nonexistent/parallel"],
            "/nonexistent/parallel",
        ),
        (vec!["scan-logs", d, "--ext", ""], "--ext"),
        (vec!["scan-logs", d, "--sort", "size"], "--sort"),
        (vec!["ports", "localhost"], "HOST:PORT"),
        (vec!["ports", ":80"], "HOST:PORT"),
        (vec!["ports", "localhost:0"], "HOST:PORT"),
        (vec!["ports", "localhost:65536"], "HOST:PORT"),
        (vec!["ports", "localhost:-1"], "HOST:PORT"),
        (
            vec!["ports", "localhost:22", "--timeout-ms", "0"],
            "--timeout-ms",
        ),
        (
            vec!["ports", "localhost:22", "--timeout-ms", huge],
            "--timeout-ms",
        ),
        (vec!["monitor", "--interval", "0"], "--interval"),
        (vec!["monitor", "--interval", "1e20"], "--interval"),
        (vec!["monitor", "--interval", "abc"], "--interval"),
        (vec!["monitor", "--tasks", "0"], "--tasks"),
        (vec!["shared", "--workers", "0"], "--workers"),
        (vec!["shared", "--workers", "65"], "--workers"),
        (vec!["shared", "--updates", "-1"], "--updates"),
        (vec!["shared", "--updates", huge], "--updates"),
        (
            vec!["shared", "--workers", "64", "--updates", "1000000"],
            "--workers × --updates",
        ),
    ];
    for (args, needle) in cases {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no file created");
}

/// A tree whose listing (about 100 KiB) is larger than a pipe's buffer.
fn many_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in 0..4 {
        let sub = dir.path().join(format!("a-directory-with-a-long-name-{d}"));
        std::fs::create_dir(&sub).unwrap();
        for f in 0..150 {
            let name =
                format!("a-file-with-a-long-name-so-that-the-listing-fills-a-pipe-{f:04}.txt");
            std::fs::write(sub.join(name), [d, 1]).unwrap();
        }
    }
    dir
}

#[test]
fn a_reader_that_stops_after_one_line_ends_the_run_quietly() {
    let dir = many_files();
    let mut child = Command::new(BIN)
        .arg("hash")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start();
    let (first, code, err) = common::first_line_then_close(&mut child, Duration::from_secs(30));
    assert!(first.ends_with(".txt\n"), "{first}");
    assert_eq!(err, "", "no message, no panic");
    assert_eq!(code, 141, "as a shell reports sha256sum killed by SIGPIPE");
}

#[test]
fn a_full_disk_is_one_error_line() {
    let dir = many_files();
    for sub in ["hash", "scan-logs"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(BIN)
            .arg(sub)
            .arg(dir.path())
            .args(["--ext", ".txt"])
            .run_with_stdout(full);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{sub}: {err}");
        assert_eq!(err.lines().count(), 1, "{sub}: {err}");
        assert!(err.contains("No space left on device"), "{sub}: {err}");
    }
}

#[test]
fn monitor_shows_every_worker_with_pid_rss_and_cpu_and_the_exact_sums() {
    let out = run(&[
        "monitor",
        "--tasks",
        "2,2",
        "--chunk",
        "1",
        "--jobs",
        "2",
        "--interval",
        "20ms",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 9)
        .collect();
    let workers: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "worker").collect();
    assert_eq!(workers.len(), 2, "{text}");
    assert_eq!(
        rows.iter().filter(|r| r[1] == "dispatcher").count(),
        1,
        "{text}"
    );
    for w in &workers {
        assert!(w[0].parse::<i32>().unwrap() > 1, "{text}");
        assert!(
            w[2].parse::<u64>().unwrap() >= 1,
            "sampled at least once: {text}"
        );
        assert!(w[3].parse::<f64>().unwrap() > 0.0, "RSS: {text}");
        assert!(
            w[5] == "-" || w[5].parse::<f64>().unwrap() <= 100.0,
            "CPU%: {text}"
        );
    }
    let n: u128 = 2_000_000;
    let closed = ((n - 1) * n * (2 * n - 1) / 6).to_string();
    assert_eq!(
        text.matches(&format!("task 2: {closed}")).count(),
        2,
        "{text}"
    );
}

#[test]
fn shared_state_is_exact_with_the_lock_and_loses_updates_without_it() {
    let out = run(&["shared", "--workers", "4", "--updates", "5000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("counter (every worker: read, then write back + 1): 20000 of 20000"),
        "{text}"
    );
    assert!(
        text.contains("20000 of 20000 entries — each exactly once"),
        "{text}"
    );
    assert!(
        text.contains("1: 5000, 2: 5000, 3: 5000, 4: 5000"),
        "{text}"
    );

    let out = run(&["shared", "--workers", "4", "--updates", "5000", "--no-lock"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("LOST"), "{text}");
    assert!(
        text.contains("1: 5000, 2: 5000, 3: 5000, 4: 5000"),
        "the dict needs no lock: {text}"
    );
}

#[test]
fn a_link_to_a_file_is_hashed_a_link_to_a_directory_is_named_and_a_dangling_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/real.txt"), "hello\n").unwrap();
    std::os::unix::fs::symlink("sub/real.txt", root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("sub", root.join("dirlink")).unwrap();
    let out = Command::new(BIN).arg("hash").arg(root).run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("/link.txt\n") && text.contains("/sub/real.txt\n"),
        "{text}"
    );
    assert!(stderr(&out).contains("dirlink: a symbolic link to a directory, not followed"));

    std::os::unix::fs::symlink("nowhere", root.join("dangling.txt")).unwrap();
    let out = Command::new(BIN).arg("hash").arg(root).run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("dangling.txt: No such file or directory"));
}

#[test]
fn a_log_without_newlines_is_scanned_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(dir.path().join("big.log")).unwrap();
    big.set_len(48 << 20).unwrap();
    std::fs::write(dir.path().join("a.log"), "ERROR x\n").unwrap();
    let out = Command::new(BIN)
        .arg("scan-logs")
        .arg(dir.path())
        .args(["--jobs", "1"])
        .run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rss: f64 = text
        .split("peak RSS ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rss < 24.0, "a 48 MiB line must not be held whole: {text}");
}
