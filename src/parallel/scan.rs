//! `parallel scan-logs`: counts lines containing ERROR and lines containing WARNING in every
//! matching file (as `grep -c` would), one task per file, streamed line by line.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};

use super::error::Result;
use super::walk::{Walk, file_tasks};
use super::{ScanArgs, check_dir, print_workers, run_pool};
use crate::task_pool::{Job, Outcome, Registry};

/// Counts (ERROR lines, WARNING lines) of one file without holding more than a line in memory.
pub fn count_levels(path: &str) -> std::io::Result<(u64, u64)> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path)?);
    let (mut errors, mut warnings) = (0, 0);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok((errors, warnings));
        }
        let has = |needle: &[u8]| line.windows(needle.len()).any(|w| w == needle);
        errors += u64::from(has(b"ERROR"));
        warnings += u64::from(has(b"WARNING"));
    }
}

struct Scan;

impl Job for Scan {
    fn run(&self, args: &[String]) -> Result<String, String> {
        let path = args.first().ok_or("need a path")?;
        let (e, w) = count_levels(path).map_err(|e| e.to_string())?;
        Ok(format!("{e} {w}"))
    }
}

pub fn run(args: &ScanArgs) -> Result<u8> {
    check_dir(&args.dir)?;
    let mut registry = Registry::default();
    registry.register("scan", Scan);
    let mut problems = Vec::new();
    let mut paths = Vec::new();
    let tasks = file_tasks(
        Walk::new(&args.dir, std::slice::from_ref(&args.ext)),
        "scan",
        &[],
        &mut paths,
        &mut problems,
    );
    let (stopped, wall) = run_pool(args.jobs.get(), registry, "files scanned", None, tasks)?;
    let mut rows = Vec::new();
    for r in &stopped.reports {
        let path = &paths[r.id as usize - 1];
        match &r.outcome {
            Outcome::Ok(counts) => {
                let mut it = counts.split(' ').filter_map(|n| n.parse::<u64>().ok());
                if let (Some(e), Some(w)) = (it.next(), it.next()) {
                    rows.push((e, w, path.clone()));
                }
            }
            other => problems.push(format!("{path}: {other}")),
        }
    }
    rows.sort_by(|a, b| (b.0 + b.1).cmp(&(a.0 + a.1)).then_with(|| a.2.cmp(&b.2)));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{:>8} {:>8}  file", "ERROR", "WARNING");
    for (e, w, path) in &rows {
        let _ = writeln!(out, "{e:>8} {w:>8}  {path}");
    }
    let (te, tw) = rows.iter().fold((0, 0), |(a, b), r| (a + r.0, b + r.1));
    let _ = writeln!(
        out,
        "{te:>8} {tw:>8}  total over {} files in {:.3} s on {} processes",
        rows.len(),
        wall.as_secs_f64(),
        args.jobs.get()
    );
    for p in &problems {
        let _ = writeln!(out, "unreadable: {p}");
    }
    print_workers(&mut out, &stopped);
    Ok(0)
}
