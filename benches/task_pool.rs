//! `cargo bench --bench task_pool`: `task_pool` against `xargs -P` and GNU parallel, side by
//! side, in alternating order, in one run (medians of several rounds):
//!
//! - `task_pool -j 2 -- true` over N inputs (the numbers 1–N on stdin), against
//!   `xargs -P 2 -n 1 true` and `parallel -j 2 true` over the same inputs (issue 21's targets:
//!   ≤ 0.90× xargs and ≤ 0.30× GNU parallel, with task_pool's output still grouped per job);
//! - 20 jobs each writing 10 MB to standard output (`yes N | head -c 10000000`), all of it into a
//!   file: task_pool (grouped: each job's 10 MB in one piece — checked) against xargs (whose jobs
//!   write straight to the file, mixed) and GNU parallel (grouped). Target: ≤ 1.0× xargs.
//!
//! GNU parallel is optional: "not installed" is printed instead of its column. Options:
//! `-- --runs N --inputs N --jobs N`, `--only true|output`.

mod common;

use common::{arg, median, text_arg};

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_task_pool");
/// Bytes each job of the output workload writes.
const JOB_BYTES: usize = 10_000_000;
const OUTPUT_JOBS: usize = 20;

/// Runs `cmd` with `input` on its stdin and its stdout into `out` (or /dev/null); its wall time.
fn timed(cmd: &mut Command, input: &[u8], out: Option<&Path>) -> Duration {
    let stdout = match out {
        Some(path) => Stdio::from(std::fs::File::create(path).expect("output file")),
        None => Stdio::null(),
    };
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write inputs");
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "{cmd:?} failed: {status}");
    start.elapsed()
}

/// GNU parallel's path, if it is installed (our own binary is also called `parallel`).
fn gnu_parallel() -> Option<&'static str> {
    let path = "/usr/bin/parallel";
    let out = Command::new(path).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .contains("GNU parallel")
        .then_some(path)
}

/// The commands of one workload, timed in alternating order, round after round.
struct Contest<'a> {
    names: Vec<&'a str>,
    runs: Vec<Box<dyn FnMut() -> Duration + 'a>>,
    times: Vec<Vec<Duration>>,
}

impl<'a> Contest<'a> {
    fn new() -> Self {
        Contest {
            names: Vec::new(),
            runs: Vec::new(),
            times: Vec::new(),
        }
    }

    fn add(&mut self, name: &'a str, run: impl FnMut() -> Duration + 'a) {
        self.names.push(name);
        self.runs.push(Box::new(run));
        self.times.push(Vec::new());
    }

    fn run(&mut self, rounds: usize) {
        // One unmeasured round: binaries and page cache warm for every side alike.
        for r in &mut self.runs {
            r();
        }
        let n = self.runs.len();
        for round in 0..rounds {
            // Who goes first rotates every round.
            for k in 0..n {
                let i = (round + k) % n;
                let t = (self.runs[i])();
                self.times[i].push(t);
            }
        }
    }

    fn median(&self, i: usize) -> f64 {
        median(self.times[i].clone()).as_secs_f64()
    }
}

/// Each job's 10 MB is in one piece, and every job is there once.
fn check_grouped(path: &Path) {
    let data = std::fs::read(path).expect("read output");
    assert_eq!(data.len(), OUTPUT_JOBS * JOB_BYTES, "total output bytes");
    let mut seen = Vec::new();
    for piece in data.chunks(JOB_BYTES) {
        let line_end = piece.iter().position(|&b| b == b'\n').expect("a line");
        let line = &piece[..=line_end];
        let expected: Vec<u8> = line.iter().copied().cycle().take(JOB_BYTES).collect();
        assert!(piece == &expected[..], "a job's output was split or mixed");
        seen.push(String::from_utf8_lossy(&line[..line_end]).into_owned());
    }
    seen.sort_by_key(|s| s.parse::<u32>().unwrap_or(0));
    let all: Vec<String> = (1..=OUTPUT_JOBS).map(|i| i.to_string()).collect();
    assert_eq!(seen, all, "every job's output, once");
}

fn main() {
    let runs = arg("--runs", 7).max(1) as usize;
    let inputs = arg("--inputs", 2000).max(1);
    let jobs = arg("--jobs", 2).max(1).to_string();
    let only = text_arg("--only");
    let wanted = |what: &str| only.as_deref().is_none_or(|o| o == what);
    let gnu = gnu_parallel();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "task_pool benchmark: -j {jobs}, {runs} rounds (alternating order, one warm-up), medians; \
         {} CPUs; load average at the start: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if gnu.is_none() {
        println!("GNU parallel: not installed (its column is left empty)");
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let mut rows = Vec::new();

    if wanted("true") {
        let input: Vec<u8> = (1..=inputs)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let mut contest = Contest::new();
        let input = &input;
        let jobs = &jobs;
        contest.add("task_pool", move || {
            timed(
                Command::new(BIN).args(["-j", jobs, "--", "true"]),
                input,
                None,
            )
        });
        contest.add("xargs", move || {
            timed(
                Command::new("xargs").args(["-P", jobs, "-n", "1", "true"]),
                input,
                None,
            )
        });
        if let Some(gnu) = gnu {
            contest.add("GNU parallel", move || {
                timed(Command::new(gnu).args(["-j", jobs, "true"]), input, None)
            });
        }
        contest.run(runs);
        rows.push(row(
            &format!("`-- true` × {inputs}"),
            &contest,
            "≤ 0.90× xargs, ≤ 0.30× GNU parallel",
        ));
    }

    if wanted("output") {
        let input: Vec<u8> = (1..=OUTPUT_JOBS)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let script = format!("yes \"$1\" | head -c {JOB_BYTES}");
        let (ours_out, xargs_out, gnu_out) = (
            temp.path().join("task_pool.out"),
            temp.path().join("xargs.out"),
            temp.path().join("parallel.out"),
        );
        let gnu_script = format!("yes {{}} | head -c {JOB_BYTES}");
        let gnu_script = &gnu_script;
        let mut contest = Contest::new();
        let (input, jobs, script) = (&input, &jobs, &script);
        let ours_path = &ours_out;
        contest.add("task_pool", move || {
            timed(
                Command::new(BIN).args(["-j", jobs, "--", "sh", "-c", script, "sh"]),
                input,
                Some(ours_path),
            )
        });
        let xargs_path = &xargs_out;
        contest.add("xargs", move || {
            timed(
                Command::new("xargs").args(["-P", jobs, "-n", "1", "sh", "-c", script, "sh"]),
                input,
                Some(xargs_path),
            )
        });
        let gnu_path = &gnu_out;
        if let Some(gnu) = gnu {
            contest.add("GNU parallel", move || {
                timed(
                    Command::new(gnu).args(["-j", jobs, gnu_script]),
                    input,
                    Some(gnu_path),
                )
            });
        }
        contest.run(runs);
        check_grouped(&ours_out);
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        assert_eq!(size(&xargs_out), (OUTPUT_JOBS * JOB_BYTES) as u64, "xargs");
        if gnu.is_some() {
            check_grouped(&gnu_out);
        }
        println!(
            "  output: task_pool's {OUTPUT_JOBS} × {JOB_BYTES} bytes checked, each job's in one piece"
        );
        rows.push(row(
            &format!("{OUTPUT_JOBS} jobs × 10 MB of output, into a file"),
            &contest,
            "≤ 1.0× xargs",
        ));
    }

    println!(
        "\n| workload (medians) | task_pool | xargs -P | GNU parallel | task_pool / xargs | task_pool / GNU parallel | target |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}

fn row(name: &str, c: &Contest<'_>, target: &str) -> String {
    let ours = c.median(0);
    let xargs = c.median(1);
    let (gnu, gnu_ratio) = if c.names.len() > 2 {
        let g = c.median(2);
        (format!("{g:.3} s"), format!("{:.2}", ours / g))
    } else {
        ("not installed".to_string(), "–".to_string())
    };
    format!(
        "| {name} | {ours:.3} s | {xargs:.3} s | {gnu} | {:.2} | {gnu_ratio} | {target} |",
        ours / xargs
    )
}
