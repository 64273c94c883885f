//! `cargo bench --bench parallel`: `parallel` against the shell pipelines a user would type
//! instead, on the same trees, side by side in one run.
//!
//! It generates three trees in a temporary directory — 20,000 files of 4 KiB in 100 folders,
//! 1 GiB in 64 files, ~540 MB of logs in 40 files — then times, in alternating order, round
//! after round (medians of `--runs`, at least 5):
//!
//! - `parallel hash DIR` vs `find DIR -type f -print0 | xargs -0 -P2 sha256sum`, on both hash trees;
//! - `parallel scan-logs DIR` (and `--first-match`) vs `find DIR -name '*.log' -print0 | xargs -0
//!   -P2 grep -c ERROR`;
//! - `parallel cpu --jobs 2`: its own sequential-then-parallel speed-up, and the machine's
//!   ceiling (two copies of the loop at once).
//!
//! Every output goes to a file — GNU grep stops at the first match when its output is
//! /dev/null — and every result is checked: each digest equals sha256sum's, each count grep's.
//! Options: `-- --runs N`, `--only hash|scan|cpu`, `--dir PATH` (where to build the trees),
//! `--against PATH` (another build of `parallel`, timed in the same rounds: before/after).

mod common;

use common::{arg, median, text_arg};

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_parallel");

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for word in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            word.copy_from_slice(&v[..word.len()]);
        }
    }
}

fn write(path: &Path, data: &[u8]) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(data))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// 20,000 files of 4 KiB in 100 folders.
fn small_files(root: &Path) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 4096];
    for d in 0..100 {
        let dir = root.join(format!("dir{d:03}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for f in 0..200 {
            rng.fill(&mut buf);
            write(&dir.join(format!("file{f:03}.dat")), &buf);
        }
    }
}

/// 1 GiB in 64 files of 16 MiB.
fn big_files(root: &Path) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut buf = vec![0u8; 16 << 20];
    std::fs::create_dir_all(root).expect("mkdir");
    for f in 0..64 {
        rng.fill(&mut buf);
        write(&root.join(format!("big{f:02}.bin")), &buf);
    }
}

/// About 540 MB of logs in 40 files: one line in 50 holds ERROR, one in 20 WARNING, one in 200
/// both, the rest are ordinary lines of about 100 bytes.
fn logs(root: &Path) {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    std::fs::create_dir_all(root).expect("mkdir");
    let services = ["api", "db", "cache", "auth", "billing", "search"];
    for f in 0..40 {
        let mut text = Vec::with_capacity(14 << 20);
        let mut line = 0u64;
        while text.len() < 13_500_000 {
            line += 1;
            let r = rng.next();
            let level = match r % 200 {
                0..=3 => "ERROR",
                4..=14 => "WARNING",
                _ => "INFO",
            };
            let extra = if r.is_multiple_of(200) {
                " after WARNING threshold"
            } else {
                ""
            };
            let _ = writeln!(
                text,
                "2026-03-{:02}T{:02}:{:02}:{:02}.{:03}Z {level:<7} {}[{}] request {} handled in {} ms, \
                 user={} status={}{extra}",
                1 + (line / 100_000) % 28,
                (line / 3600) % 24,
                (line / 60) % 60,
                line % 60,
                r % 1000,
                services[(r >> 10) as usize % services.len()],
                1000 + (r >> 20) % 9000,
                r >> 32,
                (r >> 8) % 2000,
                (r >> 40) % 100_000,
                [200, 200, 200, 404, 500][(r >> 4) as usize % 5],
            );
        }
        write(&root.join(format!("service{f:02}.log")), &text);
    }
}

/// Runs a shell command line, its stdout into `out`; returns the wall time.
fn timed_shell(script: &str, out: &Path) -> Duration {
    let file = std::fs::File::create(out).expect("output file");
    let start = Instant::now();
    let status = Command::new("sh")
        .args(["-c", script])
        .stdout(file)
        .stderr(Stdio::inherit())
        .status()
        .expect("sh");
    let wall = start.elapsed();
    assert!(status.success(), "{script} failed");
    wall
}

fn timed_ours(args: &[&str], out: &Path) -> Duration {
    timed_bin(BIN, args, out)
}

fn timed_bin(bin: &str, args: &[&str], out: &Path) -> Duration {
    let file = std::fs::File::create(out).expect("output file");
    let err = std::fs::File::create(out.with_extension("err")).expect("stderr file");
    let start = Instant::now();
    let status = Command::new(bin)
        .args(args)
        .stdout(file)
        .stderr(err)
        .status()
        .expect("parallel");
    let wall = start.elapsed();
    assert!(status.success(), "parallel {args:?} failed");
    wall
}

fn lines_sorted(path: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// One comparison: ours and theirs alternately (who goes first swaps every round), medians.
struct Pair {
    name: String,
    ours: Vec<Duration>,
    theirs: Vec<Duration>,
    /// The `--against` build, when given.
    previous: Vec<Duration>,
}

impl Pair {
    /// `| workload | this build | the other build | ratio |`, if the other build was timed.
    fn before_after(&self) -> Option<String> {
        if self.previous.is_empty() {
            return None;
        }
        let (o, p) = (median(self.ours.clone()), median(self.previous.clone()));
        Some(format!(
            "| {} | {:.3} s | {:.3} s | {:.2}× |",
            self.name,
            o.as_secs_f64(),
            p.as_secs_f64(),
            p.as_secs_f64() / o.as_secs_f64()
        ))
    }

    fn row(&self, ours_label: &str, theirs_label: &str) -> String {
        let (o, t) = (median(self.ours.clone()), median(self.theirs.clone()));
        // A `|` inside a table cell, even in code, must be escaped.
        let theirs_label = theirs_label.replace('|', "\\|");
        format!(
            "| {} | `{ours_label}`: {:.3} s | `{theirs_label}`: {:.3} s | {:.2}× {} |",
            self.name,
            o.as_secs_f64(),
            t.as_secs_f64(),
            if o <= t {
                t.as_secs_f64() / o.as_secs_f64()
            } else {
                o.as_secs_f64() / t.as_secs_f64()
            },
            if o <= t { "faster" } else { "slower" }
        )
    }
}

fn compare(
    name: &str,
    runs: usize,
    mut ours: impl FnMut() -> Duration,
    mut theirs: impl FnMut() -> Duration,
    mut previous: Option<&mut dyn FnMut() -> Duration>,
) -> Pair {
    let mut pair = Pair {
        name: name.to_string(),
        ours: Vec::new(),
        theirs: Vec::new(),
        previous: Vec::new(),
    };
    // One unmeasured round first: page cache and binaries warm for every side alike.
    ours();
    theirs();
    if let Some(p) = previous.as_mut() {
        p();
    }
    for round in 0..runs {
        if round % 2 == 0 {
            pair.ours.push(ours());
            pair.theirs.push(theirs());
        } else {
            pair.theirs.push(theirs());
            pair.ours.push(ours());
        }
        if let Some(p) = previous.as_mut() {
            pair.previous.push(p());
        }
    }
    pair
}

fn hash_pair(name: &str, tree: &Path, work: &Path, runs: usize, against: Option<&str>) -> Pair {
    let ours_out = work.join("ours.sha256");
    let theirs_out = work.join("theirs.sha256");
    let previous_out = work.join("previous.sha256");
    let t = tree.to_str().expect("utf-8 temp path");
    // Older builds ran a --jobs 1 comparison pass unless told not to.
    let mut previous =
        against.map(|bin| move || timed_bin(bin, &["hash", t, "--no-baseline"], &previous_out));
    let pair = compare(
        name,
        runs,
        || timed_ours(&["hash", t], &ours_out),
        || {
            timed_shell(
                &format!("find '{t}' -type f -print0 | xargs -0 -P2 sha256sum"),
                &theirs_out,
            )
        },
        previous.as_mut().map(|p| p as &mut dyn FnMut() -> Duration),
    );
    let (o, s) = (lines_sorted(&ours_out), lines_sorted(&theirs_out));
    assert_eq!(o.len(), s.len(), "{name}: the same number of files");
    assert!(o == s, "{name}: every digest equals sha256sum's");
    println!(
        "  {name}: {} digests, every one equal to sha256sum's",
        o.len()
    );
    pair
}

/// `path:count` lines from `grep -c`, and (path, ERROR, WARNING) rows from scan-logs.
fn grep_counts(path: &Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .filter_map(|l| {
            let (p, n) = l.rsplit_once(':')?;
            Some((p.to_string(), n.parse().ok()?))
        })
        .collect()
}

fn scan_counts(path: &Path) -> BTreeMap<String, (u64, u64)> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .skip(1)
        .filter(|l| !l.contains("total over") && !l.starts_with("worker "))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let e = it.next()?.parse().ok()?;
            let w = it.next()?.parse().ok()?;
            Some((l.get(19..)?.to_string(), (e, w)))
        })
        .collect()
}

fn count_with(script: &str) -> BTreeMap<String, u64> {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("sh");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (p, n) = l.rsplit_once(':')?;
            Some((p.to_string(), n.parse().ok()?))
        })
        .collect()
}

fn scan_pair(
    name: &str,
    tree: &Path,
    work: &Path,
    runs: usize,
    first_match: bool,
    against: Option<&str>,
) -> Pair {
    let ours_out = work.join(if first_match {
        "ours-first.scan"
    } else {
        "ours.scan"
    });
    let theirs_out = work.join("theirs.grep");
    let t = tree.to_str().expect("utf-8 temp path");
    let mut args = vec!["scan-logs", t];
    if first_match {
        args.push("--first-match");
    }
    let previous_out = work.join("previous.scan");
    // Older builds have no --first-match: only the default rule is compared.
    let mut previous = against
        .filter(|_| !first_match)
        .map(|bin| move || timed_bin(bin, &["scan-logs", t], &previous_out));
    let pair = compare(
        name,
        runs,
        || timed_ours(&args, &ours_out),
        || {
            timed_shell(
                &format!("find '{t}' -name '*.log' -print0 | xargs -0 -P2 grep -c ERROR"),
                &theirs_out,
            )
        },
        previous.as_mut().map(|p| p as &mut dyn FnMut() -> Duration),
    );
    let ours = scan_counts(&ours_out);
    let errors = grep_counts(&theirs_out);
    let warnings = if first_match {
        count_with(&format!(
            "for f in '{t}'/*.log; do printf '%s:' \"$f\"; grep WARNING \"$f\" | grep -vc ERROR; done"
        ))
    } else {
        count_with(&format!("grep -c WARNING '{t}'/*.log"))
    };
    assert_eq!(ours.len(), errors.len(), "{name}: the same files");
    for (path, (e, w)) in &ours {
        assert_eq!(Some(e), errors.get(path), "{name}: ERROR lines of {path}");
        assert_eq!(
            Some(w),
            warnings.get(path),
            "{name}: WARNING lines of {path}"
        );
    }
    println!(
        "  {name}: {} files, every ERROR and WARNING count equal to grep's",
        ours.len()
    );
    pair
}

fn cpu_rows(runs: usize) -> Vec<String> {
    let number = |text: &str, prefix: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|r| r.trim_start().split([' ', 'x']).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let run = |args: &[&str]| -> String {
        let out = Command::new(BIN).args(args).output().expect("run");
        assert!(out.status.success(), "parallel {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (mut seq, mut par, mut speedups, mut ceilings) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let text = run(&["cpu", "--jobs", "2"]);
        seq.push(number(&text, "sequential (1 process):"));
        par.push(number(&text, "parallel (2 processes):"));
        speedups.push(number(&text, "speed-up"));
        // The machine's own ceiling: the loop alone, then two copies at once (each timing its
        // in-process sequential part): 2 × alone / together is the best any split can reach.
        let solo = ["cpu", "--tasks", "300", "--jobs", "1"];
        let alone = number(&run(&solo), "sequential (1 process):");
        let other = Command::new(BIN)
            .args(solo)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mine = number(&run(&solo), "sequential (1 process):");
        let theirs = other.wait_with_output().expect("wait");
        let theirs = number(
            &String::from_utf8_lossy(&theirs.stdout),
            "sequential (1 process):",
        );
        ceilings.push(2.0 * alone / ((mine + theirs) / 2.0));
    }
    vec![
        format!(
            "| `parallel cpu`, the tutorial's tasks (1.5·10⁹ terms), sequential | {:.3} s | | |",
            median(seq)
        ),
        format!(
            "| `parallel cpu --jobs 2`, the same tasks | {:.3} s | | speed-up {:.2}× |",
            median(par),
            median(speedups)
        ),
        format!(
            "| machine ceiling: 2 × (one loop alone) / (two at once) | | | {:.2}× |",
            median(ceilings)
        ),
    ]
}

fn main() {
    let runs = arg("--runs", 5).max(5) as usize;
    let only = text_arg("--only");
    let against = text_arg("--against");
    let against = against.as_deref();
    let wanted = |what: &str| only.as_deref().is_none_or(|o| o == what);
    let temp = tempfile::tempdir().expect("temp dir");
    let base: PathBuf = text_arg("--dir").map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    let work = base.join("outputs");
    std::fs::create_dir_all(&work).expect("mkdir");
    println!(
        "parallel benchmark: {runs} rounds per pair (alternating order, one warm-up), medians; \
         {} CPUs; trees in {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        base.display()
    );
    let mut rows = Vec::new();
    let mut pairs = Vec::new();
    if wanted("hash") {
        let small = base.join("small");
        let big = base.join("big");
        if !small.exists() {
            small_files(&small);
        }
        if !big.exists() {
            big_files(&big);
        }
        let pipeline = "find … -print0 | xargs -0 -P2 sha256sum";
        for (name, tree) in [
            ("hash 20,000 files of 4 KiB in 100 folders", &small),
            ("hash 1 GiB in 64 files", &big),
        ] {
            let pair = hash_pair(name, tree, &work, runs, against);
            rows.push(pair.row("parallel hash DIR", pipeline));
            pairs.push(pair);
        }
    }
    if wanted("scan") {
        let tree = base.join("logs");
        if !tree.exists() {
            logs(&tree);
        }
        let grep = "find … -print0 | xargs -0 -P2 grep -c ERROR";
        let pair = scan_pair(
            "scan-logs 540 MB in 40 files",
            &tree,
            &work,
            runs,
            false,
            against,
        );
        rows.push(pair.row("parallel scan-logs DIR", grep));
        pairs.push(pair);
        let pair = scan_pair(
            "scan-logs --first-match, same files",
            &tree,
            &work,
            runs,
            true,
            against,
        );
        rows.push(pair.row("parallel scan-logs DIR --first-match", grep));
        pairs.push(pair);
    }
    println!("\n| workload (medians) | this project | what a user would type instead | ratio |");
    println!("|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    let before_after: Vec<String> = pairs.iter().filter_map(Pair::before_after).collect();
    if !before_after.is_empty() {
        println!(
            "\n| same rounds (medians) | this build | `--against` build | this build is faster by |"
        );
        println!("|---|---|---|---|");
        for row in before_after {
            println!("{row}");
        }
    }
    if wanted("cpu") {
        println!("\n| cpu (medians) | time | | |\n|---|---|---|---|");
        for row in cpu_rows(runs) {
            println!("{row}");
        }
    }
}
