//! How many jobs run at once: `-j` as GNU parallel reads it (`N`, `0` for as many as possible,
//! `+N` / `-N` more or fewer than the CPU threads, `N%` of them), and the descriptor budget
//! that may lower it — as GNU parallel does, with one warning rather than a run that fails
//! halfway.

/// The most jobs at once (worker processes): what `-j 0` means here.
pub const MAX_JOBS: u64 = 256;
/// Read-ahead: tasks the caller keeps pushed per job slot beyond the running one (the
/// dispatcher's queue holds up to this many per worker).
const AHEAD: usize = super::super::dispatcher::MAX_QUEUED_PER_WORKER;
/// Descriptors a process of the pool holds besides the ones per job: standard streams, the
/// pool's pipes and queue, the joblog, an input file, the pipes of a worker being started.
const BASE_DESCRIPTORS: u64 = 16;
/// Most finished jobs whose output waits for an earlier one under `--keep-order`.
const MAX_HELD: usize = 4096;

/// `-j` as given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jobs {
    /// `N`; `0` for as many as possible.
    Count(u64),
    /// `+N`: the CPU threads plus N.
    Plus(u64),
    /// `-N`: the CPU threads minus N.
    Minus(u64),
    /// `N%`: that share of the CPU threads, rounded up.
    Percent(f64),
}

/// Parses `-j`.
pub fn parse(s: &str) -> Result<Jobs, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "--jobs must be a number of jobs (0 for as many as possible, at most {MAX_JOBS}), \
             +N or -N (CPU threads plus or minus N) or N% (a share of them), got '{t}'"
        )
    };
    if let Some(p) = t.strip_suffix('%') {
        let p: f64 = p.parse().map_err(|_| bad())?;
        if !p.is_finite() || p < 0.0 {
            return Err(bad());
        }
        return Ok(Jobs::Percent(p));
    }
    let digits = |d: &str| {
        if d.is_empty() || !d.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        d.parse::<u64>()
            .map_err(|_| format!("--jobs is too large, got '{t}'"))
    };
    if let Some(n) = t.strip_prefix('+') {
        return Ok(Jobs::Plus(digits(n)?));
    }
    if let Some(n) = t.strip_prefix('-') {
        return Ok(Jobs::Minus(digits(n)?));
    }
    match digits(t)? {
        n if n <= MAX_JOBS => Ok(Jobs::Count(n)),
        n => Err(format!(
            "--jobs must be between 0 and {MAX_JOBS} (0: as many as possible), got {n}"
        )),
    }
}

impl Jobs {
    /// The number of jobs on a machine with `threads` CPU threads, at most `MAX_JOBS`.
    pub fn resolve(self, threads: u64) -> Result<usize, String> {
        let n = match self {
            Jobs::Count(0) => MAX_JOBS,
            Jobs::Count(n) => n,
            Jobs::Plus(n) => threads.saturating_add(n),
            Jobs::Minus(n) if n >= threads => {
                return Err(format!(
                    "--jobs -{n}: {threads} CPU thread{} minus {n} leaves no job to run",
                    if threads == 1 { "" } else { "s" }
                ));
            }
            Jobs::Minus(n) => threads - n,
            Jobs::Percent(p) => {
                let n = (threads as f64 * p / 100.0).ceil();
                if n < 1.0 {
                    return Err(format!(
                        "--jobs {p}%: {p}% of {threads} CPU thread{} leaves no job to run",
                        if threads == 1 { "" } else { "s" }
                    ));
                }
                n.min(MAX_JOBS as f64) as u64
            }
        };
        Ok(n.clamp(1, MAX_JOBS) as usize)
    }
}

/// How a run uses the descriptors it may open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Jobs at once.
    pub jobs: usize,
    /// Tasks pushed and not settled, at most (each may hold its two output files in the caller).
    pub window: usize,
    /// Jobs admitted and not printed yet, at most, under `--keep-order`.
    pub held: usize,
    /// Set when the limit lowered the number of jobs: the one warning to print.
    pub warning: Option<String>,
}

/// Fits `jobs` into `limit` descriptors per process (`ulimit -n`). The dispatcher holds two
/// pipe ends per worker; the caller holds two output files per job it has pushed and not
/// printed (in flight, or waiting for its turn under `--keep-order`). Too few descriptors lower
/// the number of jobs (one warning) and the read-ahead; too few for one job is an error.
pub fn budget(jobs: usize, slot_bound: bool, limit: u64) -> Result<Budget, String> {
    let per_two = usize::try_from(limit.saturating_sub(BASE_DESCRIPTORS) / 2).unwrap_or(usize::MAX);
    if per_two < 1 {
        return Err(format!(
            "the descriptor limit (ulimit -n {limit}) leaves none for a job: task_pool needs at least {}",
            BASE_DESCRIPTORS + 2
        ));
    }
    let fitted = jobs.min(per_two);
    let warning = (fitted < jobs).then(|| {
        format!(
            "task_pool: warning: only enough file descriptors (ulimit -n {limit}) to run {fitted} job{} at once, not {jobs}; raise the limit to run more",
            if fitted == 1 { "" } else { "s" }
        )
    });
    let window = if slot_bound {
        fitted
    } else {
        (fitted * (1 + AHEAD)).min(per_two)
    };
    Ok(Budget {
        jobs: fitted,
        window,
        held: per_two.clamp(fitted, MAX_HELD),
        warning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_read_as_gnu_parallel_reads_them() {
        let on_two = |s: &str| parse(s).and_then(|j| j.resolve(2));
        assert_eq!(on_two("3"), Ok(3));
        assert_eq!(on_two("0"), Ok(256));
        assert_eq!(on_two("+1"), Ok(3));
        assert_eq!(on_two("-1"), Ok(1));
        assert_eq!(on_two("150%"), Ok(3));
        assert_eq!(on_two("10.5%"), Ok(1));
        assert_eq!(on_two("+1000"), Ok(256));
        assert!(on_two("-2").unwrap_err().contains("leaves no job"));
        assert!(on_two("0%").unwrap_err().contains("leaves no job"));
        for bad in [
            "",
            "x",
            "1.5",
            "+",
            "-",
            "%",
            "-5%",
            "1e20",
            "257",
            "18446744073709551616",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_low_descriptor_limit_lowers_the_jobs_with_one_warning() {
        let plenty = budget(8, false, 65536).unwrap();
        assert_eq!((plenty.jobs, plenty.window, plenty.held), (8, 40, 4096));
        assert!(plenty.warning.is_none());
        let low = budget(32, false, 64).unwrap();
        assert_eq!((low.jobs, low.window, low.held), (24, 24, 24));
        assert!(
            low.warning
                .unwrap()
                .contains("to run 24 jobs at once, not 32")
        );
        let slots = budget(4, true, 65536).unwrap();
        assert_eq!(slots.window, 4);
        assert!(budget(1, false, 17).is_err());
        assert_eq!(budget(4, false, 18).unwrap().jobs, 1);
    }
}
