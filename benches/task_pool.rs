//! `cargo bench --bench task_pool`: `task_pool -j 2 -- true` over N inputs against
//! `xargs -P 2 -n 1 true` over the same inputs, side by side, alternating, in one run. Medians of
//! several runs; the ratio says whether the pool keeps up with xargs (target: ≥ 1.00).
//! Options: `-- --runs N --inputs N --jobs N`.

mod common;

use common::{arg, median};

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_task_pool");

/// Runs `cmd` with `input` on its stdin to completion; its wall time.
fn timed(cmd: &mut Command, input: &[u8]) -> Duration {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
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

fn main() {
    let runs = arg("--runs", 7).max(1) as usize;
    let inputs = arg("--inputs", 2000).max(1);
    let jobs = arg("--jobs", 2).max(1).to_string();
    let input: Vec<u8> = (1..=inputs)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    println!(
        "task_pool benchmark: {inputs} × `true`, -j {jobs}, {runs} runs each (alternating), medians; {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for run in 0..runs {
        // Alternate which goes first, so neither always runs on a warmer (or busier) machine.
        let pool = || timed(Command::new(BIN).args(["-j", &jobs, "--", "true"]), &input);
        let xargs = || {
            timed(
                Command::new("xargs").args(["-P", &jobs, "-n", "1", "true"]),
                &input,
            )
        };
        let (a, b) = if run % 2 == 0 {
            let a = pool();
            (a, xargs())
        } else {
            let b = xargs();
            (pool(), b)
        };
        println!(
            "  run {}: task_pool {:.3} s, xargs {:.3} s",
            run + 1,
            a.as_secs_f64(),
            b.as_secs_f64()
        );
        ours.push(a.as_secs_f64());
        theirs.push(b.as_secs_f64());
    }
    let (a, b) = (median(ours), median(theirs));
    println!(
        "\nmedian: task_pool {a:.3} s ({:.0} jobs/s), xargs {b:.3} s ({:.0} jobs/s)",
        inputs as f64 / a,
        inputs as f64 / b
    );
    println!(
        "ratio xargs/task_pool = {:.2} ({} than xargs; target ≥ 1.00)",
        b / a,
        if a <= b { "faster" } else { "slower" }
    );
}
