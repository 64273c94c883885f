//! `cargo bench`: the throughput and memory targets, measured. Runs each scenario several times
//! on the release build, prints the median wall time, values/s and peak RSS (kernel accounting,
//! `wait4`), and a raw-pipe baseline (same frames, same batching, no logging) so the cost of
//! the logs is visible. Options: `cargo bench --bench throughput -- --runs N --count N`, and
//! `--against PATH` to time another build of `ipc_desafio` (say the previous commit's) side by
//! side with this one, runs interleaved, and print the ratios.
//!
//! The default 12-value run is also timed against `benches/naive_desafio.c` — the same lesson as
//! a student would write it in C — compiled here with `cc -O2` and run interleaved with ours
//! (issue 21's target: ≤ 1.25×); without a C compiler the row says "cc not installed".

mod common;

use common::{arg, median, text_arg};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use std::os::fd::AsFd;

use ipc_desafio::desafio::producer::MAX_BATCH;
use ipc_desafio::desafio::wire::{FRAME_LEN, Message, Receiver, Sender};
use ipc_sys::pipe::Pipe;
use ipc_sys::{Children, Event, Fork};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_ipc_desafio");

struct Measured {
    wall: Duration,
    /// CPU time of the process and of the children it reaped.
    cpu: Duration,
    max_rss_kib: u64,
    code: i32,
}

/// Runs a command and reaps it with `wait4` (`ipc_sys::child::reap`), for its exact peak RSS.
#[allow(clippy::zombie_processes)] // reaped by ipc_sys::child::reap below, not by Child::wait
fn measure(cmd: &mut Command) -> Measured {
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let reaped = ipc_sys::child::reap(Pid::from_raw(child.id() as i32)).expect("wait4");
    Measured {
        wall: start.elapsed(),
        cpu: reaped.usage.cpu(),
        max_rss_kib: reaped.usage.max_rss_kib,
        code: reaped.status.code().unwrap_or(-1),
    }
}

/// Peak RSS of producer and consumer, from main's summary line.
fn children_rss_mib(dir: &Path) -> (f64, f64) {
    // Only the tail: reading a 150 MB log into this process would inflate the peak RSS that
    // the next spawned child inherits until exec (posix_spawn shares our memory until then).
    use std::io::{Read, Seek, SeekFrom};
    let mut tail = String::new();
    if let Ok(mut f) = std::fs::File::open(dir.join("execution_log.txt")) {
        let _ = f
            .seek(SeekFrom::End(-4096))
            .or_else(|_| f.seek(SeekFrom::Start(0)));
        let _ = f.read_to_string(&mut tail);
    }
    let summary = tail.lines().last().unwrap_or_default();
    let rss = |role: &str| {
        summary
            .split(&format!("{role} peak RSS "))
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (rss("producer"), rss("consumer"))
}

/// The same number of frames through a pipe between two forked processes, in the same
/// batches, with no logging at all: the floor the logged run is compared against.
fn raw_pipe(count: u64) -> Duration {
    let start = Instant::now();
    let pipe = Pipe::new().expect("pipe");
    let writer = Fork::new("writer").spawn([pipe.write.as_fd()], |[w]| {
        let mut tx = Sender::new(ipc_sys::pipe::PipeEnd::new(w).expect("pipe end"));
        let mut frames = Vec::with_capacity(MAX_BATCH * FRAME_LEN);
        let mut v = 0i64;
        while (v as u64) < count {
            frames.clear();
            for _ in 0..MAX_BATCH.min((count - v as u64) as usize) {
                frames.extend_from_slice(&Message::Value(v).encode());
                v += 1;
            }
            if tx.send_all(&frames).1.is_err() {
                return 3;
            }
        }
        i32::from(tx.send(Message::End { sent: count }).is_err())
    });
    let reader = Fork::new("reader").spawn([pipe.read.as_fd()], |[r]| {
        let mut rx = Receiver::new(ipc_sys::pipe::PipeEnd::new(r).expect("pipe end"));
        let mut n = 0u64;
        loop {
            match rx.recv() {
                Ok(Some(Message::Value(_))) => n += 1,
                Ok(Some(Message::End { sent })) => return i32::from(sent != n),
                _ => return 4,
            }
        }
    });
    drop(pipe);
    let mut children = Children::new();
    children.push(writer.expect("fork"));
    children.push(reader.expect("fork"));
    while let Ok(Event::Exited(r)) = children.wait(&mut [], None, false) {
        assert!(r.status.success(), "raw pipe child failed: {:?}", r.status);
    }
    start.elapsed()
}

fn main() {
    let runs = arg("--runs", 7).max(1) as usize;
    let count = arg("--count", 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let log_dir = dir.path().to_str().expect("utf-8 temp path");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "ipc_desafio benchmark: {runs} runs per scenario, medians; {} CPUs; load average at the \
         start: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!("| scenario | wall (median) | values/s | peak RSS |");
    println!("|---|---|---|---|");

    let small: Vec<Measured> = (0..runs * 3)
        .map(|_| measure(Command::new(BIN).args(["--quiet", "--log-dir", log_dir])))
        .collect();
    assert!(small.iter().all(|m| m.code == 0), "12-value run failed");
    let wall = median(small.iter().map(|m| m.wall).collect());
    let rss = median(small.iter().map(|m| m.max_rss_kib).collect());
    let (p, c) = children_rss_mib(dir.path());
    println!(
        "| default 12-value run | {:.2} ms | - | main {:.1} / producer {p:.1} / consumer {c:.1} MiB |",
        wall.as_secs_f64() * 1e3,
        rss as f64 / 1024.0
    );

    let mut walls = Vec::new();
    let mut rss_main = Vec::new();
    let mut rss_children = Vec::new();
    let mut verify_walls = Vec::new();
    let mut verify_rss = Vec::new();
    let n = count.to_string();
    for _ in 0..runs {
        let m = measure(Command::new(BIN).args(large_run(&n, log_dir)));
        assert_eq!(m.code, 0, "{count}-value run failed");
        walls.push(m.wall);
        rss_main.push(m.max_rss_kib);
        rss_children.push(children_rss_mib(dir.path()));
        let v = measure(
            Command::new(BIN)
                .args(["verify", "--log-dir", log_dir])
                .stdout(std::process::Stdio::null()),
        );
        assert_eq!(v.code, 0, "verify failed on the {count}-value run");
        verify_walls.push(v.wall);
        verify_rss.push(v.max_rss_kib);
    }
    let wall = median(walls);
    let (p, c) = (
        median(rss_children.iter().map(|r| r.0).collect()),
        median(rss_children.iter().map(|r| r.1).collect()),
    );
    println!(
        "| `-n {count} --max 1000000000 --quiet` | {:.3} s | {:.0} | main {:.1} / producer {p:.1} / consumer {c:.1} MiB |",
        wall.as_secs_f64(),
        count as f64 / wall.as_secs_f64(),
        median(rss_main) as f64 / 1024.0
    );
    let vw = median(verify_walls);
    println!(
        "| `verify` of that run | {:.3} s | {:.0} lines/s | {:.1} MiB |",
        vw.as_secs_f64(),
        (3 * count) as f64 / vw.as_secs_f64(),
        median(verify_rss) as f64 / 1024.0
    );
    let raw = median((0..runs).map(|_| raw_pipe(count)).collect());
    println!(
        "| raw pipe baseline, {count} frames, no logging | {:.3} s | {:.0} | - |",
        raw.as_secs_f64(),
        count as f64 / raw.as_secs_f64()
    );
    println!();
    println!(
        "logging overhead: {:.1}x the raw pipe's wall time",
        wall.as_secs_f64() / raw.as_secs_f64()
    );
    against_c(runs, dir.path(), text_arg("--against").as_deref());
    if let Some(other) = text_arg("--against") {
        side_by_side(&other, runs, count, log_dir);
    }
}

/// The default run against the naive C program (and the `--against` build, if given),
/// interleaved, 20 rounds per `--runs`.
fn against_c(runs: usize, dir: &Path, other: Option<&str>) {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/naive_desafio.c");
    let exe = dir.join("naive_desafio");
    let built = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(source)
        .status();
    println!();
    if !built.is_ok_and(|s| s.success()) {
        println!("default run against naive C: cc not installed (or {source} did not build)");
        return;
    }
    let (ours_dir, c_dir, other_dir) = (dir.join("ours"), dir.join("c"), dir.join("other"));
    for d in [&ours_dir, &c_dir, &other_dir] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let ours_dir = ours_dir.to_str().expect("utf-8 temp path");
    let other_dir = other_dir.to_str().expect("utf-8 temp path");
    // Who goes first rotates every round.
    let mut sides: Vec<(Command, Vec<Measured>)> = Vec::new();
    let mut cmd = Command::new(BIN);
    cmd.args(["--quiet", "--log-dir", ours_dir]);
    sides.push((cmd, Vec::new()));
    let mut cmd = Command::new(&exe);
    cmd.arg(&c_dir);
    sides.push((cmd, Vec::new()));
    if let Some(other) = other {
        let mut cmd = Command::new(other);
        cmd.args(["--quiet", "--log-dir", other_dir]);
        sides.push((cmd, Vec::new()));
    }
    let n = sides.len();
    for round in 0..runs * 20 {
        for k in 0..n {
            let (cmd, times) = &mut sides[(round + k) % n];
            let m = measure(cmd);
            assert_eq!(m.code, 0, "12-value run failed: {cmd:?}");
            times.push(m);
        }
    }
    let c = sides.remove(1).1;
    let ours = sides.remove(0).1;
    let other_times = sides.pop().map(|s| s.1);
    // The C program did the lesson's work: 12 values sent, received and classified.
    let lines = std::fs::read_to_string(c_dir.join("consumer_log.txt")).unwrap_or_default();
    assert_eq!(lines.lines().count(), 12, "the C program's consumer log");
    let med = |v: &[Measured], f: fn(&Measured) -> Duration| median(v.iter().map(f).collect());
    let (ow, cw) = (med(&ours, |m| m.wall), med(&c, |m| m.wall));
    let (oc, cc) = (med(&ours, |m| m.cpu), med(&c, |m| m.cpu));
    println!(
        "default 12-value run against benches/naive_desafio.c ({} interleaved rounds, medians):",
        runs * 20
    );
    println!();
    println!("| default 12-value run | ipc_desafio | naive C | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| wall | {:.2} ms | {:.2} ms | {:.2}× | ≤ 1.25× |",
        ow.as_secs_f64() * 1e3,
        cw.as_secs_f64() * 1e3,
        ow.as_secs_f64() / cw.as_secs_f64()
    );
    println!(
        "| CPU, all three processes | {:.2} ms | {:.2} ms | {:.2}× | |",
        oc.as_secs_f64() * 1e3,
        cc.as_secs_f64() * 1e3,
        oc.as_secs_f64() / cc.as_secs_f64()
    );
    if let (Some(t), Some(other)) = (other_times, other) {
        let (w, u) = (med(&t, |m| m.wall), med(&t, |m| m.cpu));
        println!(
            "| `--against` build ({other}): wall, CPU | {:.2} ms, {:.2} ms | | {:.2}×, {:.2}× | |",
            w.as_secs_f64() * 1e3,
            u.as_secs_f64() * 1e3,
            w.as_secs_f64() / cw.as_secs_f64(),
            u.as_secs_f64() / cc.as_secs_f64()
        );
    }
}

/// The arguments of the large run: `n` values drawn from a range wide enough for them, quiet,
/// logs in `log_dir`.
fn large_run<'a>(n: &'a str, log_dir: &'a str) -> [&'a str; 7] {
    [
        "-n",
        n,
        "--max",
        "1000000000",
        "--quiet",
        "--log-dir",
        log_dir,
    ]
}

/// This build and `other`, interleaved run by run so that both see the same machine load:
/// the default 12-value run and the `count`-value run, medians and ratios. Each build writes
/// its own directory's logs: emptying logs another build left (their blocks already written
/// back, or about to be) would charge one build for the other's disk traffic.
fn side_by_side(other: &str, runs: usize, count: u64, log_dir: &str) {
    let n = count.to_string();
    let dirs = [format!("{log_dir}/this"), format!("{log_dir}/other")];
    for d in &dirs {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let mut times: [[Vec<Duration>; 2]; 2] = Default::default();
    for round in 0..runs {
        // Who goes first alternates: a run pays for the write-back of the logs the run before
        // it left (a million-value run leaves 200 MB).
        for b in [round % 2, 1 - round % 2] {
            let bin = [BIN, other][b];
            let small = ["--quiet", "--log-dir", &dirs[b]];
            let large = large_run(&n, &dirs[b]);
            for _ in 0..3 {
                let m = measure(Command::new(bin).args(small));
                assert_eq!(m.code, 0, "{bin}: 12-value run failed");
                times[0][b].push(m.wall);
            }
            let m = measure(Command::new(bin).args(large));
            assert_eq!(m.code, 0, "{bin}: {count}-value run failed");
            times[1][b].push(m.wall);
        }
    }
    println!();
    println!("side by side with {other} ({runs} interleaved rounds, medians):");
    println!();
    println!("| scenario | this build | {other} | ratio |");
    println!("|---|---|---|---|");
    for (name, t) in [
        ("default 12-value run", &times[0]),
        ("count-value run", &times[1]),
    ] {
        let (a, b) = (median(t[0].clone()), median(t[1].clone()));
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.3} |",
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
}
