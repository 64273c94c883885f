//! `parallel cpu`: the classic sum-of-squares task list, run sequentially in this process and
//! then on N worker processes, with wall times, speed-up, efficiency and a check that both runs
//! computed the same results.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use super::error::Result;
use super::{CpuArgs, print_workers, run_pool};
use crate::task_pool::{Job, Outcome, Registry, Task};
use ipc_sys::cli::EXIT_FAILURE;

/// Terms per unit of `--tasks`: a task of size 100 sums 300 million squares (about 0.1 s of one
/// core here), so the default list is long enough for a stable speed-up measurement.
const TERMS_PER_UNIT: u64 = 3_000_000;

/// Σ i² for i < terms, wrapping at 2^64.
pub fn sum_of_squares(terms: u64) -> u64 {
    sum_of_squares_in(0, terms)
}

/// Σ i² for start ≤ i < end, wrapping at 2^64. `black_box` keeps the compiler from replacing the
/// loop by its closed form — the point is to burn CPU the way the classic exercise does.
#[inline(never)] // one copy of the machine code for both runs, so the comparison is fair
pub fn sum_of_squares_in(start: u64, end: u64) -> u64 {
    let mut acc = 0u64;
    for i in start..end {
        let i = black_box(i);
        acc = acc.wrapping_add(i.wrapping_mul(i));
    }
    acc
}

struct SumOfSquares;

impl Job for SumOfSquares {
    fn run(&self, args: &[String]) -> Result<String, String> {
        let range: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
        let [start, end] = range[..] else {
            return Err("need a start and an end".into());
        };
        Ok(sum_of_squares_in(start, end).to_string())
    }

    fn error_callback(&self, task: u64, outcome: &Outcome) {
        let _ = writeln!(std::io::stderr(), "error: task {task}: {outcome}");
    }
}

pub fn run(args: &CpuArgs) -> Result<u8> {
    let jobs = args.jobs.get();
    let terms: Vec<u64> = args
        .tasks
        .iter()
        .map(|t| t.saturating_mul(TERMS_PER_UNIT))
        .collect();
    let mut out = std::io::stdout().lock();

    let start = Instant::now();
    let sequential: Vec<u64> = terms.iter().map(|&n| sum_of_squares(n)).collect();
    let seq_wall = start.elapsed();

    let mut registry = Registry::default();
    registry.register("sum-of-squares", SumOfSquares);
    // Each task is cut into chunks of at most `--chunk` million terms: partial sums add up
    // (wrapping addition is associative), and many equal chunks keep every worker busy to the
    // end, where five unequal tasks on two workers could not do better than 1.875x.
    let chunk = args.chunk.max(1).saturating_mul(TERMS_PER_UNIT);
    let pieces: Vec<(usize, u64, u64)> = terms
        .iter()
        .enumerate()
        .flat_map(|(i, &n)| {
            (0..n.div_ceil(chunk)).map(move |c| (i, c * chunk, ((c + 1) * chunk).min(n)))
        })
        .collect();
    let tasks = pieces.iter().map(|&(_, start, end)| {
        Task::new(
            "sum-of-squares",
            Duration::from_secs(3600),
            [start.to_string(), end.to_string()],
        )
    });
    let (stopped, par_wall) = run_pool(
        jobs,
        registry,
        "chunks done",
        Some(pieces.len() as u64),
        tasks,
    )?;
    let mut parallel: Vec<Option<u64>> = vec![Some(0); terms.len()];
    for report in &stopped.reports {
        let task = pieces[report.id as usize - 1].0;
        let part = match &report.outcome {
            Outcome::Ok(v) => v.parse::<u64>().ok(),
            _ => None,
        };
        parallel[task] = parallel[task].zip(part).map(|(a, b)| a.wrapping_add(b));
    }
    let _ = writeln!(
        out,
        "{:>6} {:>14} {:>22}",
        "task", "terms", "sum of squares mod 2^64"
    );
    for (i, (&n, &v)) in terms.iter().zip(&sequential).enumerate() {
        let _ = writeln!(out, "{:>6} {:>14} {:>22}", args.tasks[i], n, v);
    }
    let speedup = seq_wall.as_secs_f64() / par_wall.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "sequential (1 process):  {:.3} s",
        seq_wall.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "parallel ({jobs} processes): {:.3} s ({} chunks)",
        par_wall.as_secs_f64(),
        pieces.len()
    );
    let _ = writeln!(
        out,
        "speed-up {speedup:.2}x, efficiency {:.0}%",
        100.0 * speedup / jobs as f64
    );
    print_workers(&mut out, &stopped);
    let identical = parallel
        .iter()
        .zip(&sequential)
        .all(|(p, s)| *p == Some(*s));
    let _ = writeln!(
        out,
        "results identical: {}",
        if identical { "yes" } else { "NO" }
    );
    Ok(if identical { 0 } else { EXIT_FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_of_squares_matches_the_closed_form() {
        for n in [0u64, 1, 2, 10, 1000] {
            let closed =
                (n.saturating_sub(1) as u128 * n as u128 * (2 * n as u128).saturating_sub(1) / 6)
                    as u64;
            assert_eq!(sum_of_squares(n), closed, "n = {n}");
        }
    }
}
