//! parallel: sequential and parallel runs agree; hashes equal sha256sum's; scan counts equal
//! grep -c's; ports on 127.0.0.1 are reported correctly; a missing directory is exit 2.

mod common;

use common::stdout;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_parallel");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// A small tree: nested directories, an empty file, files of several sizes and extensions.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    let mut seed = 0x1234_5678_u64;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    std::fs::write(root.join("empty.txt"), b"").unwrap();
    std::fs::write(root.join("a/one.log"), bytes(1)).unwrap();
    std::fs::write(root.join("a/b/big.txt"), bytes(3 << 20)).unwrap();
    std::fs::write(root.join("a/b/c/mid.py"), bytes(70_000)).unwrap();
    std::fs::write(root.join("a/b/c/skip.bin"), bytes(10)).unwrap();
    std::fs::write(
        root.join("z.log"),
        b"ERROR one\nall good\nWARNING two\nERROR and WARNING\n",
    )
    .unwrap();
    dir
}

fn hash_lines(text: &str) -> HashMap<String, (String, u64)> {
    text.lines()
        .filter(|l| l.len() > 64 && l.as_bytes()[64] == b' ')
        .map(|l| {
            let mut parts = l.split("  ");
            let hash = parts.next().unwrap().to_string();
            let size = parts.next().unwrap().parse().unwrap();
            let path = parts.next().unwrap().to_string();
            (path, (hash, size))
        })
        .collect()
}

#[test]
fn hash_output_equals_sha256sum_and_jobs_1_for_every_file() {
    let dir = tree();
    let out = run(&["hash", dir.path().to_str().unwrap(), "--jobs", "3"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let ours = hash_lines(&text);
    assert_eq!(ours.len(), 6);
    for (path, (hash, size)) in &ours {
        let sum = Command::new("sha256sum").arg(path).output().unwrap();
        let expected = String::from_utf8_lossy(&sum.stdout)
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(hash, &expected, "{path}");
        assert_eq!(*size, std::fs::metadata(path).unwrap().len(), "{path}");
    }
    let sizes: Vec<u64> = text
        .lines()
        .filter(|l| l.len() > 64 && l.as_bytes()[64] == b' ')
        .map(|l| l.split("  ").nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] <= w[1]),
        "sorted by size: {sizes:?}"
    );
    assert!(
        text.contains("results identical to --jobs 1: yes"),
        "{text}"
    );
    assert!(text.contains("speed-up"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("total 3215788 bytes in 6 files")),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("worker ") && l.contains("peak RSS"))
            .count(),
        3
    );
}

#[test]
fn hash_filters_by_extension() {
    let dir = tree();
    let out = run(&[
        "hash",
        dir.path().to_str().unwrap(),
        "--ext",
        ".txt",
        ".py",
        "--no-baseline",
        "--jobs",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let mut names: Vec<String> = hash_lines(&stdout(&out))
        .keys()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["big.txt", "empty.txt", "mid.py"]);
}

fn scan_rows(text: &str) -> HashMap<String, (u64, u64)> {
    text.lines()
        .skip(1)
        .filter(|l| {
            !l.contains("total over") && !l.starts_with("worker ") && !l.starts_with("unreadable")
        })
        .map(|l| {
            let mut parts = l.split_whitespace();
            let e = parts.next().unwrap().parse().unwrap();
            let w = parts.next().unwrap().parse().unwrap();
            (parts.next().unwrap().to_string(), (e, w))
        })
        .collect()
}

#[test]
fn scan_counts_equal_grep_c_and_do_not_depend_on_jobs() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..12 {
        let sub = dir.path().join(format!("d{}", i % 3));
        std::fs::create_dir_all(&sub).unwrap();
        let mut text = String::new();
        for j in 0..(i * 37 + 5) {
            text.push_str(match (i + j) % 5 {
                0 => "2026 ERROR disk full\n",
                1 => "2026 WARNING slow\n",
                2 => "ERROR WARNING both\n",
                _ => "info fine\n",
            });
        }
        std::fs::write(sub.join(format!("f{i}.log")), text).unwrap();
    }
    std::fs::write(dir.path().join("ignored.txt"), "ERROR\n").unwrap();
    let one = run(&["scan-logs", dir.path().to_str().unwrap(), "--jobs", "1"]);
    let four = run(&["scan-logs", dir.path().to_str().unwrap(), "--jobs", "4"]);
    assert_eq!(one.status.code(), Some(0));
    let (rows1, rows4) = (scan_rows(&stdout(&one)), scan_rows(&stdout(&four)));
    assert_eq!(rows1.len(), 12);
    assert_eq!(rows1, rows4, "sequential and parallel scans agree");
    for (path, (e, w)) in &rows1 {
        let grep = |pattern: &str| -> u64 {
            let out = Command::new("grep")
                .args(["-c", pattern, path])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        assert_eq!((*e, *w), (grep("ERROR"), grep("WARNING")), "{path}");
    }
    let counts: Vec<u64> = stdout(&one)
        .lines()
        .skip(1)
        .take(12)
        .map(|l| {
            l.split_whitespace()
                .take(2)
                .map(|n| n.parse::<u64>().unwrap())
                .sum()
        })
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "sorted by count: {counts:?}"
    );
}

#[test]
fn cpu_sequential_and_parallel_results_are_identical() {
    let out = run(&["cpu", "--tasks", "3,1,2", "--jobs", "2"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("results identical: yes"), "{text}");
    assert!(text.contains("speed-up ") && text.contains("efficiency "));
    let n: u128 = 9_000_000;
    let expected = ((n - 1) * n * (2 * n - 1) / 6) as u64;
    assert!(
        text.contains(&expected.to_string()),
        "sum of squares below 9e6 must be {expected}:\n{text}"
    );
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
fn a_missing_directory_exits_2_with_a_clear_message() {
    for sub in ["hash", "scan-logs"] {
        let out = run(&[sub, "/nonexistent/parallel"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sub}: {err}");
        assert_eq!(err.lines().count(), 1);
        assert!(
            err.contains("/nonexistent/parallel") && err.contains("No such file"),
            "{err}"
        );
    }
    let out = run(&["cpu", "--jobs", "0"]);
    assert_eq!(out.status.code(), Some(2));
}
