//! `parallel cpu`: the tutorial's CPU-bound task — task n sums i² for 0 ≤ i < n·10⁶, over the
//! list 100, 200, 300, 400, 500 — run sequentially in this process and then on N worker
//! processes, with both wall times, the speed-up, the efficiency and a check that both runs
//! computed the same exact sums (u128: the tutorial's Python integers never wrap, so neither do
//! these; task 100 is 333333328333333350000000).

use std::hint::black_box;
use std::time::Instant;

use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED};
use ipc_sys::signal::interrupted;

use super::cli::CpuArgs;
use super::error::Result;
use super::output::{Out, note};
use super::runner::{End, PoolRun, describe_workers, efficiency, processes, run_pool};
use crate::task_pool::{Job, Outcome, Stopped, Task};

/// Terms per unit of `--tasks` and `--chunk`: the tutorial's `n * 10**6`.
const TERMS_PER_UNIT: u64 = 1_000_000;

/// Σ i² for start ≤ i < end, exactly. Every i² fits in 64 bits (`--tasks` is bounded so that
/// i < 2³²); the sum is kept in 128. `black_box` keeps the compiler from replacing the loop by
/// its closed form — the point is to burn CPU the way the tutorial's loop does.
#[inline(never)] // one copy of the machine code for both runs, so the comparison is fair
fn sum_of_squares_in(start: u64, end: u64) -> u128 {
    let mut acc = 0u128;
    for i in start..end {
        let i = black_box(i);
        acc += u128::from(i * i);
    }
    acc
}

/// One piece of work: part of task `task`, terms `start..end`.
#[derive(Debug, Clone, Copy)]
pub struct Piece {
    pub task: usize,
    pub start: u64,
    pub end: u64,
}

/// Each task cut into pieces of at most `chunk` million terms: partial sums add up, and many
/// equal pieces keep every worker busy to the end, where five unequal tasks on two workers could
/// not do better than 1.875x.
pub fn pieces(args: &CpuArgs) -> Vec<Piece> {
    let chunk = args.chunk * TERMS_PER_UNIT;
    args.tasks
        .iter()
        .enumerate()
        .flat_map(|(task, &n)| {
            let terms = n * TERMS_PER_UNIT;
            (0..terms.div_ceil(chunk)).map(move |c| Piece {
                task,
                start: c * chunk,
                end: ((c + 1) * chunk).min(terms),
            })
        })
        .collect()
}

pub struct SumOfSquares;

/// Σ i² over the terms `start..end` of its input.
impl Job for SumOfSquares {
    type In = (u64, u64);
    type Out = u128;

    fn name(&self, _: &(u64, u64)) -> &'static str {
        "sum-of-squares"
    }

    fn run(&self, (start, end): (u64, u64)) -> Result<u128, String> {
        Ok(sum_of_squares_in(start, end))
    }
}

pub fn tasks(pieces: &[Piece]) -> impl Iterator<Item = Task<(u64, u64)>> + '_ {
    pieces
        .iter()
        .map(|p| Task::new(super::runner::NO_TIMEOUT, (p.start, p.end)))
}

/// Per task, the sum of its pieces' results; `None` for a task that lost a piece. Every lost
/// piece is reported on standard error as lost, with the worker's fate.
pub fn assemble(args: &CpuArgs, pieces: &[Piece], stopped: &Stopped<u128>) -> Vec<Option<u128>> {
    let mut sums: Vec<Option<u128>> = vec![Some(0); args.tasks.len()];
    for report in &stopped.reports {
        let Some(piece) = usize::try_from(report.id - 1)
            .ok()
            .and_then(|i| pieces.get(i))
        else {
            continue;
        };
        let part = match &report.outcome {
            Outcome::Ok(v) => Some(*v),
            _ => None,
        };
        if part.is_none() {
            note(&format!(
                "error: task {}: the piece of terms {}..{} was lost: {}",
                args.tasks[piece.task],
                piece.start,
                piece.end,
                super::runner::lost_reason(report)
            ));
        }
        sums[piece.task] = sums[piece.task].zip(part).map(|(a, b)| a + b);
    }
    sums
}

/// The sequential run, piece by piece so that an interrupt is seen within one piece.
fn sequential(args: &CpuArgs, pieces: &[Piece]) -> std::result::Result<Vec<u128>, usize> {
    let mut sums = vec![0u128; args.tasks.len()];
    for (done, p) in pieces.iter().enumerate() {
        if interrupted().is_some() {
            return Err(done);
        }
        sums[p.task] += sum_of_squares_in(p.start, p.end);
    }
    Ok(sums)
}

pub fn run(args: &CpuArgs) -> Result<u8> {
    let jobs = args.jobs.get();
    let pieces = pieces(args);
    let mut out = Out::default();

    let start = Instant::now();
    let seq = sequential(args, &pieces);
    let seq_wall = start.elapsed();
    let seq = match seq {
        Ok(sums) => sums,
        Err(done) => {
            let signal = interrupted().map_or("a signal", |s| s.as_str());
            out.line(&format!(
                "interrupted by {signal} during the sequential run: {done} of {} pieces done; \
                 no results",
                pieces.len()
            ));
            return Ok(out.finish(EXIT_INTERRUPTED));
        }
    };
    out.line(&format!(
        "{:>6} {:>14} {:>32}",
        "task", "terms", "sum of squares"
    ));
    for (&n, s) in args.tasks.iter().zip(&seq) {
        out.line(&format!("{n:>6} {:>14} {s:>32}", n * TERMS_PER_UNIT));
    }
    out.line(&format!(
        "sequential (1 process):  {:.3} s",
        seq_wall.as_secs_f64()
    ));

    let PoolRun { end, wall, .. } = run_pool(
        jobs,
        SumOfSquares,
        "pieces done",
        Some(pieces.len() as u64),
        tasks(&pieces),
        None,
    )?;
    let stopped = match end {
        End::Completed(stopped) => stopped,
        End::Interrupted(signal) => {
            out.line(&format!(
                "interrupted by {} during the parallel run: no parallel results",
                signal.as_str()
            ));
            return Ok(out.finish(EXIT_INTERRUPTED));
        }
        End::OutputFailed(e) => {
            out.fail(e);
            return Ok(out.finish(EXIT_FAILURE));
        }
        End::Failed(e) => return Err(e),
    };
    let parallel = assemble(args, &pieces, &stopped);
    let lost = parallel.iter().filter(|p| p.is_none()).count();
    out.line(&format!(
        "parallel ({}): {:.3} s ({} pieces)",
        processes(jobs),
        wall.as_secs_f64(),
        pieces.len()
    ));
    if lost > 0 {
        // A run that lost work did less of it: its time says nothing about the speed-up.
        out.line("speed-up not measured: the parallel run is incomplete");
    } else {
        let speedup = seq_wall.as_secs_f64() / wall.as_secs_f64().max(1e-9);
        out.line(&format!(
            "speed-up {speedup:.2}x, {}",
            efficiency(speedup, jobs)
        ));
    }
    for line in describe_workers(&stopped) {
        out.line(&line);
    }
    let differ = parallel
        .iter()
        .zip(&seq)
        .filter(|(p, s)| p.is_some_and(|p| p != **s))
        .count();
    out.line(&match (lost, differ) {
        (0, 0) => "results identical: yes".to_string(),
        (0, d) => format!("results identical: NO ({d} task(s) differ)"),
        (l, 0) => format!(
            "results identical: yes for the {} complete task(s); {l} task(s) incomplete (a \
             piece was lost, see above)",
            seq.len() - l
        ),
        (l, d) => format!("results identical: NO ({d} task(s) differ, {l} incomplete)"),
    });
    Ok(out.finish(if lost + differ == 0 { 0 } else { EXIT_FAILURE }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed form of Σ i² for 0 ≤ i < n: (n−1)·n·(2n−1)/6.
    fn closed_form(n: u64) -> u128 {
        let n = u128::from(n);
        if n == 0 {
            return 0;
        }
        (n - 1) * n * (2 * n - 1) / 6
    }

    #[test]
    fn the_loop_matches_the_closed_form() {
        for n in [0u64, 1, 2, 10, 1000, 123_457] {
            assert_eq!(sum_of_squares_in(0, n), closed_form(n), "n = {n}");
        }
        assert_eq!(
            closed_form(100 * TERMS_PER_UNIT),
            333_333_328_333_333_350_000_000
        );
        // The largest task allowed still fits, with room to spare.
        assert!(closed_form(4000 * TERMS_PER_UNIT) < u128::MAX / 1000);
    }

    #[test]
    fn pieces_cover_every_term_once() {
        let args = CpuArgs {
            tasks: vec![3, 1, 7],
            chunk: 2,
            jobs: super::super::cli::Jobs { jobs: Some(1) },
        };
        let ps = pieces(&args);
        for (task, &n) in args.tasks.iter().enumerate() {
            let mut covered: Vec<(u64, u64)> = ps
                .iter()
                .filter(|p| p.task == task)
                .map(|p| (p.start, p.end))
                .collect();
            covered.sort();
            assert_eq!(covered.first().map(|c| c.0), Some(0));
            assert!(covered.windows(2).all(|w| w[0].1 == w[1].0));
            assert_eq!(covered.last().map(|c| c.1), Some(n * TERMS_PER_UNIT));
        }
    }
}
