//! `parallel cpu`: the classic sum-of-squares task list, run sequentially in this process and
//! then on N worker processes, with wall times, speed-up, efficiency and a check that both runs
//! computed the same results.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use super::{CpuArgs, print_workers, run_pool};
use crate::error::{EXIT_FAILURE, Result};
use crate::task_pool::{Job, Outcome, Registry, Task};

/// Terms per unit of `--tasks`: a task of size 100 sums 100 million squares.
const TERMS_PER_UNIT: u64 = 1_000_000;

/// Σ i² for i < terms, wrapping at 2^64. `black_box` keeps the compiler from replacing the loop
/// by its closed form — the point is to burn CPU the way the classic exercise does.
#[inline(never)] // one copy of the machine code for both runs, so the comparison is fair
pub fn sum_of_squares(terms: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..terms {
        let i = black_box(i);
        acc = acc.wrapping_add(i.wrapping_mul(i));
    }
    acc
}

struct SumOfSquares;

impl Job for SumOfSquares {
    fn run(&self, args: &[String]) -> Result<String, String> {
        let terms: u64 = args
            .first()
            .and_then(|a| a.parse().ok())
            .ok_or("need a number of terms")?;
        Ok(sum_of_squares(terms).to_string())
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
    // Largest first: the pool hands tasks out in order, and longest-first balances the workers.
    let mut order: Vec<usize> = (0..terms.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(terms[i]));
    let tasks = order.iter().map(|&i| {
        Task::new(
            "sum-of-squares",
            Duration::from_secs(3600),
            [terms[i].to_string()],
        )
    });
    let (stopped, par_wall) = run_pool(
        jobs,
        registry,
        "tasks done",
        Some(terms.len() as u64),
        tasks,
    )?;
    let mut parallel = vec![None; terms.len()];
    for report in &stopped.reports {
        let index = order[report.id as usize - 1];
        parallel[index] = match &report.outcome {
            Outcome::Ok(v) => v.parse::<u64>().ok(),
            _ => None,
        };
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
        "parallel ({jobs} processes): {:.3} s",
        par_wall.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "speed-up {speedup:.2}x, efficiency {:.0}%",
        100.0 * speedup / jobs as f64
    );
    print_workers(&mut out, "", &stopped);
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
