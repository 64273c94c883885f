//! `cargo bench --bench parallel`: the targets of `parallel` — CPU speed-up with `--jobs 2`, and
//! hashing 1 GiB of files against `sha256sum` run sequentially over the same files. Medians of
//! several runs; options `-- --runs N --mib N`.

mod common;

use common::{arg, median};

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_parallel");

fn timed(cmd: &mut Command) -> (Duration, String) {
    let start = Instant::now();
    let out = cmd.stderr(Stdio::inherit()).output().expect("run");
    assert!(out.status.success(), "{cmd:?} failed");
    (
        start.elapsed(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn main() {
    let runs = arg("--runs", 5).max(1) as usize;
    let mib = arg("--mib", 1024).max(16);
    println!(
        "parallel benchmark: {runs} runs per scenario, medians; {} CPUs\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let mut speedups = Vec::new();
    let mut seq = Vec::new();
    let mut par = Vec::new();
    for _ in 0..runs {
        let (_, text) = timed(Command::new(BIN).args(["cpu", "--jobs", "2"]));
        let num = |prefix: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|r| r.trim_start().split([' ', 'x']).next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        seq.push(num("sequential (1 process):"));
        par.push(num("parallel (2 processes):"));
        speedups.push(num("speed-up"));
    }
    println!("| scenario | median |");
    println!("|---|---|");
    println!(
        "| `parallel cpu` sequential (4.5 G terms) | {:.3} s |",
        median(seq)
    );
    println!("| `parallel cpu --jobs 2` | {:.3} s |", median(par));
    println!("| speed-up with `--jobs 2` | {:.2}x |", median(speedups));

    // The machine's own ceiling: the same loop in one process alone, then in two processes at
    // once (each times its in-process sequential part). 2 × alone / together is the best any
    // two-process split can reach here.
    let solo_time = |text: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix("sequential (1 process):"))
            .and_then(|r| r.trim().trim_end_matches(" s").parse().ok())
            .unwrap_or(f64::NAN)
    };
    let mut ceilings = Vec::new();
    for _ in 0..runs {
        let (_, alone) = timed(Command::new(BIN).args(["cpu", "--tasks", "300", "--jobs", "1"]));
        let other = Command::new(BIN)
            .args(["cpu", "--tasks", "300", "--jobs", "1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let (_, mine) = timed(Command::new(BIN).args(["cpu", "--tasks", "300", "--jobs", "1"]));
        let theirs = other.wait_with_output().expect("wait");
        let together =
            (solo_time(&mine) + solo_time(&String::from_utf8_lossy(&theirs.stdout))) / 2.0;
        ceilings.push(2.0 * solo_time(&alone) / together);
    }
    println!(
        "| machine ceiling: 2 × (one process alone) / (two at once) | {:.2}x |",
        median(ceilings)
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let files = (mib / 16) as usize;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut chunk = vec![0u8; 16 << 20];
    let mut paths = Vec::new();
    for i in 0..files {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let path = dir.path().join(format!("f{i:03}.bin"));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&chunk))
            .expect("write");
        paths.push(path);
    }
    let d = dir.path().to_str().expect("utf-8 temp path");
    let ours2: Vec<Duration> = (0..runs)
        .map(|_| timed(Command::new(BIN).args(["hash", d, "--jobs", "2", "--no-baseline"])).0)
        .collect();
    let ours1: Vec<Duration> = (0..runs)
        .map(|_| timed(Command::new(BIN).args(["hash", d, "--jobs", "1", "--no-baseline"])).0)
        .collect();
    let theirs: Vec<Duration> = (0..runs)
        .map(|_| timed(Command::new("sha256sum").args(&paths)).0)
        .collect();
    let rate = |t: Duration| mib as f64 / t.as_secs_f64();
    let (o2, o1, s) = (median(ours2), median(ours1), median(theirs));
    println!(
        "| `parallel hash --jobs 2`, {mib} MiB in {files} files | {:.3} s ({:.0} MiB/s) |",
        o2.as_secs_f64(),
        rate(o2)
    );
    println!(
        "| `parallel hash --jobs 1`, same files | {:.3} s ({:.0} MiB/s) |",
        o1.as_secs_f64(),
        rate(o1)
    );
    println!(
        "| `sha256sum` over the same files, sequential | {:.3} s ({:.0} MiB/s) |",
        s.as_secs_f64(),
        rate(s)
    );
    println!(
        "\nhash speed-up --jobs 2 vs --jobs 1: {:.2}x; vs sha256sum: {:.2}x",
        o1.as_secs_f64() / o2.as_secs_f64(),
        s.as_secs_f64() / o2.as_secs_f64()
    );
}
