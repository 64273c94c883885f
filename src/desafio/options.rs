//! Typed, validated run options: what `cli` parses becomes a `RunOptions` only if every
//! cross-flag rule holds, so no child is ever forked for a run that cannot succeed.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use ipc_cli::{name_of, named, names, parse_unsigned};

use super::cli::RunArgs;
use super::error::{Error, Result};
use super::lang::Lang;

/// Longest pause accepted by `--pace`: one minute per value is already a demonstration, not a run.
const MAX_PACE_MS: u64 = 60_000;

/// The pause the producer takes between two sends: fixed, or drawn uniformly from a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl Pace {
    fn is_fixed(&self) -> bool {
        self.min_ms == self.max_ms
    }
}

impl FromStr for Pace {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (min_ms, max_ms) = match s.split_once("..") {
            Some((a, b)) => (parse_ms(a)?, parse_ms(b)?),
            None => {
                let ms = parse_ms(s)?;
                (ms, ms)
            }
        };
        if min_ms > max_ms {
            return Err(format!("range {min_ms}..{max_ms} is empty (MIN > MAX)"));
        }
        Ok(Pace { min_ms, max_ms })
    }
}

fn parse_ms(s: &str) -> Result<u64, String> {
    let ms = parse_unsigned(s, "milliseconds")?;
    if ms > MAX_PACE_MS {
        return Err(format!("{ms} ms is longer than the {MAX_PACE_MS} ms limit"));
    }
    Ok(ms)
}

impl fmt::Display for Pace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_fixed() {
            write!(f, "{}", self.min_ms)
        } else {
            write!(f, "{}..{}", self.min_ms, self.max_ms)
        }
    }
}

/// Which side misbehaves under `--fault KIND@K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The consumer closes its end of the pipe and exits cleanly after K values.
    ConsumerExit,
    /// The producer exits without sending the end marker after K values.
    ProducerExit,
    /// The consumer SIGKILLs itself after K values.
    ConsumerKill,
    /// The producer SIGKILLs itself after K values.
    ProducerKill,
    /// Main SIGKILLs itself once the consumer has received K values.
    MainKill,
}

impl FaultKind {
    const ALL: [(FaultKind, &'static str); 5] = [
        (FaultKind::ConsumerExit, "consumer-exit"),
        (FaultKind::ProducerExit, "producer-exit"),
        (FaultKind::ConsumerKill, "consumer-kill"),
        (FaultKind::ProducerKill, "producer-kill"),
        (FaultKind::MainKill, "main-kill"),
    ];

    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// A classic mistake, made on purpose (`--bug`), to show what it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// Main keeps both pipe ends open, and each child keeps the end it does not use: end of
    /// file and EPIPE can never happen.
    ParentKeepsEnds,
    /// The execution log is opened once, before fork, and every process locks that shared
    /// descriptor: a flock belongs to the open file description, so it excludes nobody.
    LockBeforeFork,
    /// No lock at all around the log's writes.
    NoLock,
}

impl Bug {
    const ALL: [(Bug, &'static str); 3] = [
        (Bug::ParentKeepsEnds, "parent-keeps-ends"),
        (Bug::LockBeforeFork, "lock-before-fork"),
        (Bug::NoLock, "no-lock"),
    ];

    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

impl FromStr for Bug {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        named(&Self::ALL, s)
            .ok_or_else(|| format!("unknown bug '{s}' (expected one of {})", names(&Self::ALL)))
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An injected fault: `KIND@K`, triggered once K values have gone through the faulty role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub after: u64,
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let kinds = names(&FaultKind::ALL);
        let (kind, after) = s.split_once('@').ok_or_else(|| {
            format!("expected KIND@K, e.g. consumer-exit@3 (KIND is one of {kinds})")
        })?;
        let kind = named(&FaultKind::ALL, kind)
            .ok_or_else(|| format!("unknown fault kind '{kind}' (expected one of {kinds})"))?;
        let after = parse_unsigned(after, "K")?;
        Ok(Fault { kind, after })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.kind.name(), self.after)
    }
}

/// Parses a value bound (`--min`, `--max`): non-negative and small enough to travel as an i64.
pub fn parse_bound(s: &str) -> Result<i64, String> {
    let v = parse_unsigned(s, "the value")?;
    i64::try_from(v).map_err(|_| format!("the value must be at most {}, got {v}", i64::MAX))
}

/// Everything a run needs, already checked against every cross-flag rule.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub count: u64,
    pub min: i64,
    pub max: i64,
    pub seed: u64,
    pub pace: Option<Pace>,
    pub log_dir: PathBuf,
    pub quiet: bool,
    pub fault: Option<Fault>,
    pub bug: Option<Bug>,
    pub lang: Lang,
}

impl RunOptions {
    /// Applies the rules no single flag can check on its own to the flags as parsed. `lang` is
    /// the language chosen before parsing (the locale's), for when `--lang` is absent; `entropy`
    /// supplies a seed when `--seed` is absent, so tests can make that path deterministic too.
    pub fn validate(raw: RunArgs, lang: Lang, entropy: impl FnOnce() -> u64) -> Result<Self> {
        if raw.count == 0 {
            return Err(Error::Usage("--count must be at least 1".into()));
        }
        if raw.min > raw.max {
            return Err(Error::Usage(format!(
                "--min {} is greater than --max {}",
                raw.min, raw.max
            )));
        }
        let span = range_len(raw.min, raw.max);
        if raw.count > span {
            return Err(Error::Usage(format!(
                "--count {} asks for more distinct values than {}..={} holds ({span})",
                raw.count, raw.min, raw.max
            )));
        }
        if let Some(fault) = raw.fault
            && fault.after > raw.count
        {
            return Err(Error::Usage(format!(
                "--fault {fault}: K must be at most --count ({})",
                raw.count
            )));
        }
        Ok(RunOptions {
            count: raw.count,
            min: raw.min,
            max: raw.max,
            seed: raw.seed.unwrap_or_else(entropy),
            pace: raw.pace,
            log_dir: raw.log_dir,
            quiet: raw.quiet,
            fault: raw.fault,
            bug: raw.bug,
            lang: raw.lang.unwrap_or(lang),
        })
    }
}

/// Number of integers in `min..=max` (both non-negative, so it always fits in a u64).
pub fn range_len(min: i64, max: i64) -> u64 {
    (max as i128 - min as i128 + 1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RunArgs {
        RunArgs {
            count: 12,
            min: 1,
            max: 100,
            seed: None,
            pace: None,
            log_dir: ".".into(),
            quiet: false,
            fault: None,
            bug: None,
            lang: None,
        }
    }

    /// The defaults with one change, validated (`entropy` gives 42).
    fn with(change: impl FnOnce(&mut RunArgs)) -> Result<RunOptions> {
        let mut args = raw();
        change(&mut args);
        RunOptions::validate(args, Lang::En, || 42)
    }

    #[test]
    fn pace_accepts_a_fixed_value_and_a_range() {
        let ms = |s: &str| s.parse::<Pace>().map(|p| (p.min_ms, p.max_ms));
        assert_eq!(ms("250"), Ok((250, 250)));
        assert_eq!(ms("500..1500"), Ok((500, 1500)));
        assert_eq!(
            "500..1500".parse::<Pace>().map(|p| p.to_string()),
            Ok("500..1500".into())
        );
    }

    #[test]
    fn pace_rejects_empty_negative_and_huge_ranges() {
        assert!("9..3".parse::<Pace>().unwrap_err().contains("empty"));
        assert!("-5".parse::<Pace>().unwrap_err().contains("negative"));
        assert!("fast".parse::<Pace>().is_err());
        assert!("1..".parse::<Pace>().is_err());
        assert!("600000".parse::<Pace>().unwrap_err().contains("limit"));
    }

    #[test]
    fn fault_round_trips_every_kind() {
        for (_, name) in FaultKind::ALL {
            let text = format!("{name}@7");
            let fault: Fault = text.parse().unwrap();
            assert_eq!(fault.after, 7);
            assert_eq!(fault.to_string(), text);
        }
    }

    #[test]
    fn fault_rejects_malformed_specs() {
        let why = |s: &str| s.parse::<Fault>().unwrap_err();
        assert!(why("consumer-exit").contains("KIND@K"));
        assert!(why("consumer-nap@3").contains("unknown fault kind"));
        assert!("producer-kill@x".parse::<Fault>().is_err());
        assert!(why("producer-kill@-1").contains("negative"));
    }

    #[test]
    fn validation_rejects_more_values_than_the_range_holds() {
        let err = with(|a| (a.count, a.min, a.max) = (11, 1, 10)).unwrap_err();
        assert!(err.to_string().contains("--count 11"), "{err}");
        assert!(with(|a| (a.count, a.min, a.max) = (10, 1, 10)).is_ok());
    }

    #[test]
    fn validation_rejects_inverted_range_zero_count_and_late_fault() {
        assert!(with(|a| (a.min, a.max) = (9, 3)).is_err());
        assert!(with(|a| a.count = 0).is_err());
        assert!(with(|a| a.fault = Some("producer-exit@13".parse().unwrap())).is_err());
        assert!(with(|a| a.fault = Some("producer-exit@12".parse().unwrap())).is_ok());
    }

    #[test]
    fn missing_seed_is_drawn_once_and_remembered() {
        assert_eq!(with(|_| {}).unwrap().seed, 42);
        assert_eq!(with(|a| a.seed = Some(7)).unwrap().seed, 7);
    }

    #[test]
    fn range_len_covers_the_full_i64_span() {
        assert_eq!(range_len(1, 100), 100);
        assert_eq!(range_len(0, i64::MAX), 1 << 63);
    }
}
