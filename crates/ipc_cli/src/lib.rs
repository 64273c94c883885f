//! Command-line helpers shared by every binary: one `error: …` line and exit code 2 for bad
//! input (clap's own report is several lines of usage), number and duration parsers that name
//! what they parse, and the exit codes every program agrees on; `progress`, the progress bar.

pub mod progress;

use std::ffi::OsString;
use std::fmt::Display;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use clap::Parser;

/// A run that failed: a child failed, a value was lost, a file could not be written.
pub const EXIT_FAILURE: u8 = 1;
/// Bad input: an unknown flag, a malformed value, an unusable path.
pub const EXIT_USAGE: u8 = 2;
/// Ended by SIGINT or SIGTERM, as a shell reports a Ctrl+C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;
/// Standard output's reader went away (`| head -1`): 128 + SIGPIPE, what a shell shows for a
/// program SIGPIPE killed there, though ours end quietly instead.
pub const EXIT_OUTPUT_CLOSED: u8 = 141;

/// An error a binary can end with: its message and the exit code it stands for.
pub trait Failure: Display {
    fn exit_code(&self) -> u8;
}

/// What `main` should do after parsing.
pub enum Parsed<P> {
    Run(P),
    /// Help or version text was printed, or a usage error reported: exit with this code.
    Exit(u8),
}

/// Parses the arguments of any of the project's binaries. Help and version go to stdout with
/// exit 0; anything else clap rejects becomes one `error: ...` line on stderr and exit 2.
pub fn parse<P, I, T>(args: I) -> Parsed<P>
where
    P: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match P::try_parse_from(args) {
        Ok(parsed) => Parsed::Run(parsed),
        Err(e) if !e.use_stderr() => {
            let _ = write!(io::stdout(), "{e}");
            Parsed::Exit(0)
        }
        Err(e) => {
            report(&first_line(&e.to_string()));
            Parsed::Exit(EXIT_USAGE)
        }
    }
}

/// The whole `main` of a binary: parse `P`, run, print `error: …` and exit with the error's code.
pub fn main_with<P: Parser, E: Failure>(
    run: impl FnOnce(P) -> Result<u8, E>,
) -> std::process::ExitCode {
    let code = match parse::<P, _, _>(std::env::args_os()) {
        Parsed::Run(args) => run(args).unwrap_or_else(|e| {
            report(&e);
            e.exit_code()
        }),
        Parsed::Exit(code) => code,
    };
    std::process::ExitCode::from(code)
}

/// clap's message without its leading `error: ` and without the usage block and tips.
pub fn first_line(message: &str) -> String {
    let line = message
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    line.strip_prefix("error: ")
        .unwrap_or(line)
        .trim()
        .to_string()
}

/// Prints `error: <e>` on stderr, one line: control characters it quotes (a path, a value
/// from the command line) escaped, so that none splits the line or acts on the terminal. A
/// closed stderr is ignored rather than panicking.
pub fn report(e: &dyn Display) {
    let text = e.to_string();
    let _ = writeln!(io::stderr(), "error: {}", ipc_sys::escape::terminal(&text));
}

/// A flag value's table of `(value, name)` pairs (Desafio's `FaultKind::ALL` and `Bug::ALL`,
/// task_pool's demo jobs): the value named `s`.
pub fn named<T: Copy>(table: &[(T, &'static str)], s: &str) -> Option<T> {
    table
        .iter()
        .find(|(_, name)| *name == s)
        .map(|(value, _)| *value)
}

/// The name of `value` in its table (empty if it has none).
pub fn name_of<T: PartialEq>(table: &[(T, &'static str)], value: T) -> &'static str {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or("", |(_, name)| name)
}

/// Every name of a table, as an error message lists them: `a, b, c`.
pub fn names<T>(table: &[(T, &'static str)]) -> String {
    let names: Vec<&str> = table.iter().map(|(_, name)| *name).collect();
    names.join(", ")
}

/// Parses a non-negative decimal integer, naming what it was meant to be on failure.
pub fn parse_unsigned(s: &str, what: &str) -> Result<u64, String> {
    let s = s.trim();
    if let Some(digits) = s.strip_prefix('-')
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return Err(format!("{what} must not be negative, got '{s}'"));
    }
    s.parse::<u64>().map_err(|_| {
        if s.is_empty() {
            format!("{what} must be a non-negative whole number, got an empty value")
        } else if s.chars().all(|c| c.is_ascii_digit()) {
            format!("{what} is too large, got '{s}'")
        } else {
            format!("{what} must be a non-negative whole number, got '{s}'")
        }
    })
}

/// `parse_unsigned`, then within `min..=max`.
pub fn parse_between(s: &str, what: &str, min: u64, max: u64) -> Result<u64, String> {
    match parse_unsigned(s, what)? {
        n if (min..=max).contains(&n) => Ok(n),
        n => Err(format!("{what} must be between {min} and {max}, got {n}")),
    }
}

/// Parses a duration: a number with a unit (`300ms`, `1.5s`, `2m`, `1h`; a bare number is in
/// seconds), non-negative, finite, at most `max`.
pub fn parse_duration(s: &str, what: &str, max: Duration) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let malformed = || format!("{what} must be a duration like 300ms, 1.5s, 2m or 1h, got '{t}'");
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ if t.starts_with('-') => return Err(format!("{what} must not be negative, got '{t}'")),
        _ => return Err(malformed()),
    };
    let value: f64 = number.parse().map_err(|_| malformed())?;
    let secs = value * scale;
    if !secs.is_finite() || secs > max.as_secs_f64() {
        return Err(format!(
            "{what} must be at most {}, got '{t}'",
            describe_duration(max)
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `1.5s`, `300ms`, `2h`: a duration as `parse_duration` reads it.
pub fn describe_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() != 0 {
        format!("{secs}s")
    } else if secs >= 3600.0 && d.as_secs().is_multiple_of(3600) {
        format!("{}h", d.as_secs() / 3600)
    } else {
        format!("{}s", d.as_secs())
    }
}

/// `Ok` if `dir` exists and is a directory; otherwise the reason, for the caller to wrap with
/// the flag it came from.
pub fn existing_dir(dir: &Path) -> io::Result<()> {
    if std::fs::metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_strips_clap_decoration() {
        let msg = "error: unexpected argument '--bogus' found\n\n  tip: ...\n\nUsage: x\n";
        assert_eq!(first_line(msg), "unexpected argument '--bogus' found");
    }

    #[test]
    fn unsigned_numbers_name_what_is_wrong() {
        assert_eq!(parse_unsigned(" 42 ", "n"), Ok(42));
        assert!(parse_unsigned("-3", "n").unwrap_err().contains("negative"));
        assert!(parse_unsigned("", "n").unwrap_err().contains("empty"));
        assert!(
            parse_unsigned("99999999999999999999", "n")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_unsigned("1e20", "n").unwrap_err().contains("'1e20'"));
        assert!(parse_unsigned("abc", "n").is_err());
        assert!(
            parse_between("0", "n", 1, 5)
                .unwrap_err()
                .contains("between 1 and 5")
        );
    }

    #[test]
    fn durations_take_units_and_refuse_nonsense() {
        let max = Duration::from_secs(3600);
        assert_eq!(
            parse_duration("300ms", "t", max),
            Ok(Duration::from_millis(300))
        );
        assert_eq!(
            parse_duration("1.5s", "t", max),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(parse_duration("2", "t", max), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("2m", "t", max), Ok(Duration::from_secs(120)));
        for bad in ["", "abc", "-1s", "1e20", "5x", "2h", "nan", "inf"] {
            assert!(parse_duration(bad, "t", max).is_err(), "accepted {bad:?}");
        }
        assert_eq!(describe_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(describe_duration(Duration::from_millis(300)), "300ms");
    }
}
