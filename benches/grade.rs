//! `cargo bench --bench grade`: how long `ipc_desafio grade` takes.
//!
//! 1. One submission whose own run lasts about 1 s (tests/submissions/py_correct with 80 ms
//!    between values), graded with `--times 3` (3 normal runs, the contention run and the two
//!    kill runs): median of `--runs` gradings. Target: ≤ 15 s.
//! 2. A class of `--class` submissions (default 40: the test submissions of tests/submissions,
//!    cycled), graded with `--class --times 3 --jobs 2`: one wall time. Target: ≤ 5 min on 2 cores.
//!
//! `python3` is run as the interpreter itself: when `python3` on PATH is a launcher (pyenv's
//! shim is a bash script that starts some forty processes before Python, all of them traced),
//! the interpreter's own directory is put first on PATH. `--shim` keeps PATH as it is.
//!
//! Options: `-- --runs N --class N --only one|class --shim`.

mod common;

use common::{arg, median, text_arg};

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ipc_desafio");

/// PATH with the real Python interpreter's directory first (unless `--shim`).
fn path_env() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    if std::env::args().any(|a| a == "--shim") {
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

fn timed(args: &[&str], dir: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(BIN)
        .env("PATH", path_env())
        .arg("grade")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run grade");
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

fn main() {
    let runs = arg("--runs", 3).max(1) as usize;
    let class_size = arg("--class", 40).max(1) as usize;
    let only = text_arg("--only");
    let subs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/submissions");
    let tmp = tempfile::tempdir().expect("tempdir");
    println!(
        "grade benchmark: {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if only.as_deref() != Some("class") {
        let one = tmp.path().join("one");
        copy_dir(&subs.join("py_correct"), &one);
        let program = fs::read_to_string(one.join("ipc.py")).unwrap();
        fs::write(
            one.join("ipc.py"),
            program.replace("time.sleep(0.02)", "time.sleep(0.08)"),
        )
        .unwrap();
        let own = {
            let start = Instant::now();
            let ok = Command::new("python3")
                .env("PATH", path_env())
                .arg("ipc.py")
                .current_dir(&one)
                .status()
                .unwrap();
            assert!(ok.success());
            start.elapsed()
        };
        let times: Vec<f64> = (0..runs)
            .map(|_| timed(&["--times", "3"], &one).as_secs_f64())
            .collect();
        println!();
        println!("| submission | its own run | `grade --times 3` (median of {runs}) | target |");
        println!("|---|---|---|---|");
        println!(
            "| py_correct, 80 ms between values | {:.2} s | {:.1} s (min {:.1}, max {:.1}) | ≤ 15 s |",
            own.as_secs_f64(),
            median(times.clone()),
            times.iter().cloned().fold(f64::MAX, f64::min),
            times.iter().cloned().fold(0.0, f64::max)
        );
    }
    if only.as_deref() != Some("one") {
        let class = tmp.path().join("class");
        let out = tmp.path().join("out");
        fs::create_dir_all(&out).unwrap();
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
        );
        println!();
        println!("| class | `grade --class --times 3 --jobs 2` | per submission | target |");
        println!("|---|---|---|---|");
        println!(
            "| {class_size} submissions ({} kinds, Python and C) | {:.0} s | {:.1} s | ≤ 300 s |",
            kinds.len(),
            wall.as_secs_f64(),
            wall.as_secs_f64() / class_size as f64
        );
    }
}
