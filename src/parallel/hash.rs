//! `parallel hash`: a digest of every matching file, one task per file, each streamed in 1 MiB
//! chunks; output sorted by size like `hash  size  path`, then the speed-up against `--jobs 1`.

use std::fs::File;
use std::io::{Read, Write};
use std::time::Duration;

use sha2::Digest;

use super::error::Result;
use super::walk::{Walk, file_tasks};
use super::{HashArgs, check_dir, print_workers, run_pool};
use crate::task_pool::{Job, Outcome, Registry, Stopped};
use ipc_sys::cli::EXIT_FAILURE;

const CHUNK: usize = 1 << 20;

fn digest_file<D: Digest>(path: &str) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, size))
}

/// The hex digest and size of one file, streamed.
pub fn hash_file(algo: &str, path: &str) -> std::io::Result<(String, u64)> {
    match algo {
        "sha224" => digest_file::<sha2::Sha224>(path),
        "sha384" => digest_file::<sha2::Sha384>(path),
        "sha512" => digest_file::<sha2::Sha512>(path),
        _ => digest_file::<sha2::Sha256>(path),
    }
}

struct Hash;

impl Job for Hash {
    fn run(&self, args: &[String]) -> Result<String, String> {
        let [algo, path] = args else {
            return Err("need an algorithm and a path".into());
        };
        let (hex, size) = hash_file(algo, path).map_err(|e| e.to_string())?;
        Ok(format!("{hex} {size}"))
    }
}

/// One hashed file: hex digest, size, path.
type Row = (String, u64, String);

/// What one pass over the tree found.
struct Pass {
    rows: Vec<Row>,
    problems: Vec<String>,
    stopped: Stopped,
    wall: Duration,
}

/// One pass over the tree: rows sorted by size, and unreadable entries.
fn pass(args: &HashArgs, jobs: usize) -> Result<Pass> {
    let mut registry = Registry::default();
    registry.register("hash", Hash);
    let mut problems = Vec::new();
    let mut paths = Vec::new();
    let leading = [args.algo.clone()];
    let tasks = file_tasks(
        Walk::new(&args.dir, &args.ext),
        "hash",
        &leading,
        &mut paths,
        &mut problems,
    );
    let (stopped, wall) = run_pool(jobs, registry, "files hashed", None, tasks)?;
    let mut rows = Vec::new();
    for r in &stopped.reports {
        let path = paths[r.id as usize - 1].clone();
        match &r.outcome {
            Outcome::Ok(text) => {
                if let Some((hex, size)) = text.split_once(' ')
                    && let Ok(size) = size.parse::<u64>()
                {
                    rows.push((hex.to_string(), size, path));
                }
            }
            other => problems.push(format!("{path}: {other}")),
        }
    }
    rows.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.2.cmp(&b.2)));
    Ok(Pass {
        rows,
        problems,
        stopped,
        wall,
    })
}

pub fn run(args: &HashArgs) -> Result<u8> {
    check_dir(&args.dir)?;
    let jobs = args.jobs.get();
    let Pass {
        rows,
        problems,
        stopped,
        wall,
    } = pass(args, jobs)?;
    let mut out = std::io::stdout().lock();
    for (hex, size, path) in &rows {
        let _ = writeln!(out, "{hex}  {size}  {path}");
    }
    let total: u64 = rows.iter().map(|r| r.1).sum();
    let mib = total as f64 / (1 << 20) as f64;
    let _ = writeln!(
        out,
        "total {total} bytes in {} files, {:.3} s on {jobs} processes ({:.0} MiB/s)",
        rows.len(),
        wall.as_secs_f64(),
        mib / wall.as_secs_f64().max(1e-9)
    );
    for p in &problems {
        let _ = writeln!(out, "unreadable: {p}");
    }
    print_workers(&mut out, &stopped);
    if args.no_baseline {
        return Ok(0);
    }
    let Pass {
        rows: base_rows,
        wall: base_wall,
        ..
    } = pass(args, 1)?;
    let speedup = base_wall.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "--jobs 1: {:.3} s; speed-up {speedup:.2}x, efficiency {:.0}%",
        base_wall.as_secs_f64(),
        100.0 * speedup / jobs as f64
    );
    let identical = base_rows == rows;
    let _ = writeln!(
        out,
        "results identical to --jobs 1: {}",
        if identical { "yes" } else { "NO" }
    );
    Ok(if identical { 0 } else { EXIT_FAILURE })
}
