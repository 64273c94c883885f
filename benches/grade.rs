//! `cargo bench --bench grade`: how long `ipc_desafio grade` takes.
//!
//! 1. One submission whose own run lasts about 1 s (80 ms between values), graded with
//!    `--times 3` (3 normal runs, the contention run and the two kill runs): median of `--runs`
//!    gradings, for three submissions: tests/submissions/py_correct run by `python3` as found on
//!    PATH (on the project machine, pyenv's shim: a bash script that starts some forty processes
//!    before Python, every one of them traced), the same run by the interpreter itself (its
//!    directory first on PATH), and tests/submissions/c_correct (compiled in every run).
//!    Target: ≤ 15 s.
//! 2. A class of `--class` submissions (default 40: the test submissions of tests/submissions,
//!    cycled), graded with `--class --times 3 --jobs 2`, `python3` as found on PATH: one wall
//!    time. Target: ≤ 5 min on 2 cores.
//!
//! `--compare` also times every case with `IPC_DESAFIO_TRACE_ALL=1` (no seccomp filter: every
//! call of every process stops), interleaved with the filtered gradings.
//!
//! Options: `-- --runs N --class N --only one|class --compare`.

mod common;

use common::{arg, median, text_arg};

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ipc_desafio");

/// PATH as it is, or with the real Python interpreter's directory first.
fn path_env(interpreter_first: bool) -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    if !interpreter_first {
        return path;
    }
    let exe = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    match Path::new(&exe).parent() {
        Some(dir) if !exe.is_empty() => format!("{}:{path}", dir.display()),
        _ => path,
    }
}

fn timed(args: &[&str], dir: &Path, path: &str, all: bool) -> Duration {
    let start = Instant::now();
    let mut cmd = Command::new(BIN);
    cmd.env("PATH", path)
        .arg("grade")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if all {
        cmd.env("IPC_DESAFIO_TRACE_ALL", "1");
    } else {
        cmd.env_remove("IPC_DESAFIO_TRACE_ALL");
    }
    let status = cmd.status().expect("run grade");
    assert!(
        status.code().is_some_and(|c| c <= 1),
        "grade {args:?}: {status}"
    );
    start.elapsed()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A copy of a test submission with its pause between values replaced.
fn slowed(subs: &Path, to: &Path, kind: &str, file: &str, from: &str, into: &str) {
    copy_dir(&subs.join(kind), to);
    let program = fs::read_to_string(to.join(file)).unwrap();
    assert!(program.contains(from), "{kind}/{file} has no {from}");
    fs::write(to.join(file), program.replace(from, into)).unwrap();
}

fn stats(xs: &[f64]) -> String {
    format!(
        "{:.1} s ({:.1}–{:.1})",
        median(xs.to_vec()),
        xs.iter().cloned().fold(f64::MAX, f64::min),
        xs.iter().cloned().fold(0.0, f64::max)
    )
}

fn main() {
    let runs = arg("--runs", 3).max(1) as usize;
    let class_size = arg("--class", 40).max(1) as usize;
    let only = text_arg("--only");
    let compare = std::env::args().any(|a| a == "--compare");
    let subs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/submissions");
    let tmp = tempfile::tempdir().expect("tempdir");
    println!(
        "grade benchmark: {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let modes: &[bool] = if compare { &[false, true] } else { &[false] };
    let header = |what: &str| {
        if compare {
            println!("| {what} | filtered | every call stops | target |");
            println!("|---|---|---|---|");
        } else {
            println!("| {what} | wall | target |");
            println!("|---|---|---|");
        }
    };
    if only.as_deref() != Some("class") {
        let py = tmp.path().join("py");
        slowed(
            &subs,
            &py,
            "py_correct",
            "ipc.py",
            "time.sleep(0.02)",
            "time.sleep(0.08)",
        );
        let c = tmp.path().join("c");
        slowed(
            &subs,
            &c,
            "c_correct",
            "main.c",
            "usleep(20000)",
            "usleep(80000)",
        );
        let cases: [(&str, &Path, bool, &[&str]); 3] = [
            (
                "py_correct, `python3` as on PATH",
                &py,
                false,
                &["--times", "3", "--", "python3", "ipc.py"],
            ),
            (
                "py_correct, the interpreter itself",
                &py,
                true,
                &["--times", "3", "--", "python3", "ipc.py"],
            ),
            (
                "c_correct (compiled in every run)",
                &c,
                false,
                &["--times", "3"],
            ),
        ];
        println!();
        header(&format!(
            "one 1-second submission, `grade --times 3` (median of {runs}, min–max)"
        ));
        for (name, dir, interpreter, args) in cases {
            let path = path_env(interpreter);
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
            for _ in 0..runs {
                for (i, all) in modes.iter().enumerate() {
                    times[i].push(timed(args, dir, &path, *all).as_secs_f64());
                }
            }
            let cells: Vec<String> = times.iter().map(|t| stats(t)).collect();
            println!("| {name} | {} | ≤ 15 s |", cells.join(" | "));
        }
    }
    if only.as_deref() != Some("one") {
        let class = tmp.path().join("class");
        let mut kinds: Vec<_> = fs::read_dir(&subs)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("expected.txt").exists())
            .collect();
        kinds.sort();
        for i in 0..class_size {
            let kind = &kinds[i % kinds.len()];
            let name = format!("{i:02}_{}", kind.file_name().unwrap().to_string_lossy());
            copy_dir(kind, &class.join(name));
        }
        let mut walls = Vec::new();
        for all in modes {
            let out = tmp.path().join(format!("out-{all}"));
            fs::create_dir_all(&out).unwrap();
            let wall = timed(
                &[
                    "--class",
                    class.to_str().unwrap(),
                    "-o",
                    out.to_str().unwrap(),
                    "--times",
                    "3",
                    "--jobs",
                    "2",
                ],
                tmp.path(),
                &path_env(false),
                *all,
            );
            walls.push(format!(
                "{:.0} s ({:.1} s per submission)",
                wall.as_secs_f64(),
                wall.as_secs_f64() / class_size as f64
            ));
        }
        println!();
        header("a class, `grade --class --times 3 --jobs 2`, `python3` as on PATH");
        println!(
            "| {class_size} submissions ({} kinds) | {} | ≤ 300 s |",
            kinds.len(),
            walls.join(" | ")
        );
    }
}
