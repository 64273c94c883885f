//! `cargo bench --bench parallel`: `parallel` against the shell pipelines a user would type
//! instead, on the same trees, side by side in one run.
//!
//! It generates four trees in a temporary directory — 20,000 files of 4 KiB in 100 folders,
//! 1 GiB in 64 files, ~540 MB of logs in 40 files, and the same logs as one 540 MB file — then
//! times, in alternating order, round after round (medians of `--runs`, at least 5), each
//! against its anchor (issue 21):
//!
//! - `parallel hash DIR` on the small files vs `find DIR -type f -print0 | xargs -0 -P2
//!   sha256sum` (target ≤ 0.40×);
//! - `parallel hash DIR` on the 1 GiB tree vs the SHA-NI limit: 1 GiB / (`openssl speed -evp
//!   sha256` single-core figure × the cores in use), measured in the same rounds (target ≤ 1.10×;
//!   the CPU time of the whole run over 1 GiB / the single-core figure is printed too: on a
//!   loaded machine two cores are not two cores, but CPU time is still CPU time);
//! - `parallel scan-logs` (the 40 files, the one file, and the 40 files with `--first-match`) vs
//!   `rg -c ERROR` on the same path (target ≤ 1.0×; ripgrep counts one word, scan-logs two);
//! - `parallel cpu --jobs 2`: its own sequential-then-parallel speed-up, and the machine's
//!   ceiling (two copies of the loop at once).
//!
//! Every output goes to a file — GNU grep stops at the first match when its output is
//! /dev/null — and every result is checked: each digest equals sha256sum's (and every `--algo`
//! passes its coreutils `-c` check), each count `grep -c`'s on every file. ripgrep and openssl
//! are optional: "not installed" is printed instead of their rows.
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

/// CPU time (user + system) of every child reaped so far, and of their reaped descendants.
fn children_cpu() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let tv =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(usage.user_time()) + tv(usage.system_time())
}

/// Whether `tool` runs (`tool ARG`, ARG `--version` or openssl's `version`).
fn installed(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `openssl speed -evp sha256` on 16 KiB blocks, one core, one second: bytes per second.
fn openssl_sha256() -> f64 {
    let out = Command::new("openssl")
        .args([
            "speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "1",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("openssl speed");
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rfind(|l| l.starts_with("sha256"))
        .and_then(|l| l.split_whitespace().last())
        .expect("openssl speed's sha256 line");
    1000.0 * last.trim_end_matches('k').parse::<f64>().expect("a rate")
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

    /// `| workload | ours | anchor | ours / anchor | target |`.
    fn row(&self, ours_label: &str, theirs_label: &str, target: &str) -> String {
        let (o, t) = (median(self.ours.clone()), median(self.theirs.clone()));
        // A `|` inside a table cell, even in code, must be escaped.
        let theirs_label = theirs_label.replace('|', "\\|");
        format!(
            "| {} | `{ours_label}`: {:.3} s | {theirs_label}: {:.3} s | {:.2}× | {target} |",
            self.name,
            o.as_secs_f64(),
            t.as_secs_f64(),
            o.as_secs_f64() / t.as_secs_f64(),
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

/// What a hash row is measured against.
enum HashAnchor {
    /// `find … -print0 | xargs -0 -P2 sha256sum`, timed.
    Sha256sum,
    /// 1 GiB / (openssl's single-core SHA-256 rate × cores in use), measured each round.
    ShaNiLimit { bytes: u64, cores: usize },
}

fn hash_pair(
    name: &str,
    tree: &Path,
    work: &Path,
    runs: usize,
    anchor: &HashAnchor,
    against: Option<&str>,
) -> (Pair, Vec<f64>) {
    let ours_out = work.join("ours.sha256");
    let theirs_out = work.join("theirs.sha256");
    let previous_out = work.join("previous.sha256");
    let t = tree.to_str().expect("utf-8 temp path");
    let pipeline = format!("find '{t}' -type f -print0 | xargs -0 -P2 sha256sum");
    // Older builds ran a --jobs 1 comparison pass unless told not to.
    let mut previous =
        against.map(|bin| move || timed_bin(bin, &["hash", t, "--no-baseline"], &previous_out));
    // CPU time of each of our runs, over what one core at openssl's rate would need.
    let cpu_ratios = std::cell::RefCell::new(Vec::new());
    let pair = compare(
        name,
        runs,
        || {
            let before = children_cpu();
            let wall = timed_ours(&["hash", t], &ours_out);
            if let HashAnchor::ShaNiLimit { bytes, .. } = anchor {
                let cpu = (children_cpu() - before).as_secs_f64();
                let rate = openssl_sha256();
                cpu_ratios.borrow_mut().push(cpu / (*bytes as f64 / rate));
            }
            wall
        },
        || match anchor {
            HashAnchor::Sha256sum => timed_shell(&pipeline, &theirs_out),
            HashAnchor::ShaNiLimit { bytes, cores } => {
                Duration::from_secs_f64(*bytes as f64 / (openssl_sha256() * *cores as f64))
            }
        },
        previous.as_mut().map(|p| p as &mut dyn FnMut() -> Duration),
    );
    if let HashAnchor::ShaNiLimit { .. } = anchor {
        // The digests are still checked against sha256sum's (once, untimed).
        timed_shell(&pipeline, &theirs_out);
    }
    let (o, s) = (lines_sorted(&ours_out), lines_sorted(&theirs_out));
    assert_eq!(o.len(), s.len(), "{name}: the same number of files");
    assert!(o == s, "{name}: every digest equals sha256sum's");
    println!(
        "  {name}: {} digests, every one equal to sha256sum's",
        o.len()
    );
    (pair, cpu_ratios.into_inner())
}

/// Every `--algo`'s output passes its coreutils tool's `-c` check.
fn check_algorithms(tree: &Path, work: &Path) {
    let t = tree.to_str().expect("utf-8 temp path");
    for (algo, tool) in [
        ("md5", "md5sum"),
        ("sha1", "sha1sum"),
        ("sha224", "sha224sum"),
        ("sha256", "sha256sum"),
        ("sha384", "sha384sum"),
        ("sha512", "sha512sum"),
    ] {
        let sums = work.join(format!("sums.{algo}"));
        timed_ours(&["hash", t, "--algo", algo], &sums);
        let ok = Command::new(tool)
            .args(["-c", "--quiet"])
            .arg(&sums)
            .status()
            .expect(tool);
        assert!(
            ok.success(),
            "{tool} -c rejects parallel hash --algo {algo}"
        );
    }
    println!(
        "  every --algo (md5, sha1, sha224, sha256, sha384, sha512) passes its tool's -c check"
    );
}

/// `path:count` lines from `grep -c`, and (path, ERROR, WARNING) rows from scan-logs.
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

/// `parallel scan-logs` against `rg -c ERROR` on the same tree; then every count is checked
/// against `grep -c` on every file.
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
    let theirs_out = work.join("theirs.rg");
    let t = tree.to_str().expect("utf-8 temp path");
    let mut args = vec!["scan-logs", t];
    if first_match {
        args.push("--first-match");
    }
    let previous_out = work.join("previous.scan");
    let mut previous =
        against.map(|bin| move || timed_bin(bin, &args_of(t, first_match), &previous_out));
    let pair = compare(
        name,
        runs,
        || timed_ours(&args, &ours_out),
        || timed_shell(&format!("rg -c ERROR '{t}'"), &theirs_out),
        previous.as_mut().map(|p| p as &mut dyn FnMut() -> Duration),
    );
    let ours = scan_counts(&ours_out);
    let errors = count_with(&format!("grep -c ERROR '{t}'/*.log /dev/null"));
    let warnings = if first_match {
        count_with(&format!(
            "for f in '{t}'/*.log; do printf '%s:' \"$f\"; grep WARNING \"$f\" | grep -vc ERROR; done"
        ))
    } else {
        count_with(&format!("grep -c WARNING '{t}'/*.log /dev/null"))
    };
    let files: Vec<&String> = errors.keys().filter(|p| *p != "/dev/null").collect();
    assert_eq!(ours.len(), files.len(), "{name}: the same files");
    for (path, (e, w)) in &ours {
        assert_eq!(Some(e), errors.get(path), "{name}: ERROR lines of {path}");
        assert_eq!(
            Some(w),
            warnings.get(path),
            "{name}: WARNING lines of {path}"
        );
    }
    println!(
        "  {name}: {} file(s), every ERROR and WARNING count equal to grep's",
        ours.len()
    );
    pair
}

fn args_of(t: &str, first_match: bool) -> Vec<&str> {
    let mut args = vec!["scan-logs", t];
    if first_match {
        args.push("--first-match");
    }
    args
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "parallel benchmark: {runs} rounds per pair (alternating order, one warm-up), medians; \
         {cores} CPUs; load average at the start: {}; trees in {}\n",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        base.display()
    );
    let mut rows = Vec::new();
    let mut notes = Vec::new();
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
        let (pair, _) = hash_pair(
            "hash 20,000 files of 4 KiB in 100 folders",
            &small,
            &work,
            runs,
            &HashAnchor::Sha256sum,
            against,
        );
        rows.push(pair.row(
            "parallel hash DIR",
            "`find … -print0 | xargs -0 -P2 sha256sum`",
            "≤ 0.40×",
        ));
        pairs.push(pair);
        if installed("openssl", "version") {
            // The cores the run uses: parallel's default --jobs is every available core.
            let anchor = HashAnchor::ShaNiLimit {
                bytes: 1 << 30,
                cores,
            };
            let (pair, cpu) = hash_pair(
                "hash 1 GiB in 64 files",
                &big,
                &work,
                runs,
                &anchor,
                against,
            );
            rows.push(pair.row(
                "parallel hash DIR",
                &format!("SHA-NI limit (1 GiB / ({cores} × `openssl speed -evp sha256`))"),
                "≤ 1.10×",
            ));
            notes.push(format!(
                "hash 1 GiB: CPU time of the whole run / (1 GiB at openssl's single-core rate) = {:.2} (median; 1.00 is every cycle spent in SHA-256 at openssl's speed)",
                median(cpu)
            ));
            pairs.push(pair);
        } else {
            println!("  hash 1 GiB: openssl not installed: no SHA-NI limit to measure against");
        }
        check_algorithms(&small.join("dir000"), &work);
    }
    if wanted("scan") {
        let tree = base.join("logs");
        if !tree.exists() {
            logs(&tree);
        }
        let one = base.join("one");
        if !one.exists() {
            // The same 540 MB as one file.
            std::fs::create_dir_all(&one).expect("mkdir");
            let mut all = std::fs::File::create(one.join("all.log")).expect("one file");
            for f in 0..40 {
                let mut part =
                    std::fs::File::open(tree.join(format!("service{f:02}.log"))).expect("a log");
                std::io::copy(&mut part, &mut all).expect("copy");
            }
        }
        if installed("rg", "--version") {
            for (name, dir, first_match, label) in [
                (
                    "scan-logs 540 MB in 40 files",
                    &tree,
                    false,
                    "parallel scan-logs DIR",
                ),
                (
                    "scan-logs, the same 540 MB as one file",
                    &one,
                    false,
                    "parallel scan-logs DIR",
                ),
                (
                    "scan-logs --first-match, 40 files",
                    &tree,
                    true,
                    "parallel scan-logs DIR --first-match",
                ),
            ] {
                let pair = scan_pair(name, dir, &work, runs, first_match, against);
                rows.push(pair.row(label, "`rg -c ERROR DIR`", "≤ 1.0×"));
                pairs.push(pair);
            }
        } else {
            println!("  scan-logs: ripgrep (rg) not installed: no anchor to measure against");
        }
    }
    println!("\n| workload (medians) | this project | anchor | ratio | target |");
    println!("|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    for note in &notes {
        println!("\n{note}");
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
