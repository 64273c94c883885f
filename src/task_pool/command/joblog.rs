//! GNU parallel's joblog: where it goes (`--joblog FILE`, `+FILE` to append, `-` for standard
//! output), its lines, and what `--resume` / `--resume-failed` read back from it.
//!
//! Which jobs have a line: every attempt that ran and ended by itself or was ended by its
//! timeout or its worker's end — not a job the run's own interrupt ended, nor one lost with the
//! dispatcher: those never completed, and, as in GNU parallel (which writes no line for the
//! jobs a Ctrl+C kills), `--resume` runs them again.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, BufRead};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::time::Duration;

use ipc_sys::file::{Devices, writable};
use ipc_sys::linelog::LineLog;

use super::super::Error;

/// GNU parallel's joblog header, column for column.
pub const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// Where `--joblog` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A file, emptied first (or appended to, with `+FILE`).
    File { path: PathBuf, append: bool },
    /// `-`: standard output, each job's line after its output.
    Stdout,
}

impl Spec {
    pub fn parse(raw: &OsStr) -> Spec {
        let bytes = raw.as_bytes();
        if bytes == b"-" {
            return Spec::Stdout;
        }
        match bytes.strip_prefix(b"+") {
            Some(rest) if !rest.is_empty() => Spec::File {
                path: PathBuf::from(OsStr::from_bytes(rest)),
                append: true,
            },
            _ => Spec::File {
                path: PathBuf::from(raw),
                append: false,
            },
        }
    }
}

/// `--resume` (skip every job the joblog has a line for) or `--resume-failed` (skip those that
/// succeeded: Exitval 0 and Signal 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    No,
    All,
    Failed,
}

/// Refuses what cannot be a joblog: a directory, a FIFO or a socket (either would block or
/// fail the run); a regular file, a new path or a character device (`/dev/null`) will do.
pub fn check(spec: &Spec) -> Result<(), Error> {
    let Spec::File { path, .. } = spec else {
        return Ok(());
    };
    writable(path, Devices::Allowed).map_err(|e| Error::joblog(path, e))?;
    if std::fs::metadata(path).is_err() {
        // A new file: its directory must exist.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        match dir.map(std::fs::metadata) {
            Some(Err(e)) => return Err(Error::joblog(path, e)),
            Some(Ok(m)) if !m.is_dir() => {
                return Err(Error::joblog(
                    path,
                    io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The sequence numbers `--resume` / `--resume-failed` skip, read from the joblog as GNU
/// parallel reads it: every line but the header must be a joblog line. (GNU parallel takes the
/// first line for the header whatever it holds; here a first line that is a job's, as in a
/// `+FILE` joblog, counts.) A joblog that does not exist yet skips nothing, nor does a
/// character device (`/dev/null` is empty; `/dev/zero` would be read until memory ran out).
pub fn done(spec: &Spec, resume: Resume) -> Result<HashSet<u64>, Error> {
    let mut done = HashSet::new();
    let Spec::File { path, .. } = spec else {
        return Ok(done);
    };
    if resume == Resume::No {
        return Ok(done);
    }
    let file = match ipc_sys::file::open_regular(path) {
        Ok((f, _)) => f,
        // `check` let through only a regular file, a new path or a character device.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
            ) =>
        {
            return Ok(done);
        }
        Err(e) => return Err(Error::joblog(path, e)),
    };
    for (n, line) in io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| Error::joblog(path, e))?;
        if line.is_empty() || n == 0 && line == HEADER.trim_end().as_bytes() {
            continue;
        }
        let fields: Vec<&[u8]> = line.splitn(9, |&b| b == b'\t').collect();
        let number = |f: &[u8]| -> Option<f64> { std::str::from_utf8(f).ok()?.trim().parse().ok() };
        let seq = std::str::from_utf8(fields[0])
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        let well_formed = fields.len() == 9 && fields[2..8].iter().all(|f| number(f).is_some());
        let (Some(seq), true) = (seq, well_formed) else {
            return Err(Error::Usage(format!(
                "--joblog {}: line {} is not a joblog line (Seq Host Starttime JobRuntime Send Receive Exitval Signal Command): {}",
                path.display(),
                n + 1,
                String::from_utf8_lossy(&line)
            )));
        };
        let succeeded = fields[6] == b"0" && fields[7] == b"0";
        if resume == Resume::All || succeeded {
            done.insert(seq);
        }
    }
    Ok(done)
}

/// An open joblog.
pub enum Joblog {
    File(LineLog),
    /// Lines go to standard output, after the job's output (the caller prints them).
    Stdout,
}

impl Joblog {
    /// Opens the joblog (after `check` and `done`, once nothing else can refuse the run).
    /// `FILE`: emptied and given its header; `+FILE`: appended to, no header (as GNU parallel
    /// does); resuming: appended to, with the header if it is new or empty. A device is written
    /// as it is. `-` returns `Stdout`: the caller prints the header.
    pub fn open(spec: &Spec, resume: Resume) -> Result<Joblog, Error> {
        let (path, plus) = match spec {
            Spec::Stdout => return Ok(Joblog::Stdout),
            Spec::File { path, append } => (path, *append),
        };
        let as_error = |e| Error::joblog_sys(path, e);
        let meta = std::fs::metadata(path).ok();
        let device = meta
            .as_ref()
            .is_some_and(|m| m.file_type().is_char_device());
        let empty = meta.as_ref().is_none_or(|m| m.len() == 0);
        let append = plus || resume != Resume::No;
        // Emptied first if it is not appended to, then always written in append mode: every
        // line lands whole at the end, even if another run writes the same file.
        if !device && !append {
            drop(LineLog::create(path).map_err(as_error)?);
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::joblog(path, e))?;
        let mut log = LineLog::append(path).map_err(as_error)?;
        // Resuming, a header only where there was none.
        if !plus && (resume == Resume::No || empty && !device) {
            log.write(HEADER).map_err(as_error)?;
        }
        Ok(Joblog::File(log))
    }
}

/// One joblog line, as GNU parallel writes it: `Seq Host Starttime JobRuntime Send Receive
/// Exitval Signal Command`, the start in seconds since the epoch with 3 decimals, the runtime
/// as `%10.3f`.
pub fn line(
    seq: u64,
    start_us: u64,
    runtime: Duration,
    receive: u64,
    (exitval, signal): (i64, i32),
    command: &[u8],
) -> Vec<u8> {
    let ms = (start_us + 500) / 1000;
    let mut line = format!(
        "{seq}\t:\t{}.{:03}\t{:10.3}\t0\t{receive}\t{exitval}\t{signal}\t",
        ms / 1000,
        ms % 1000,
        runtime.as_secs_f64()
    )
    .into_bytes();
    line.extend_from_slice(command);
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_says_file_append_or_stdout() {
        let file = |p: &str, append| Spec::File {
            path: p.into(),
            append,
        };
        assert_eq!(Spec::parse(OsStr::new("-")), Spec::Stdout);
        assert_eq!(Spec::parse(OsStr::new("+j.tsv")), file("j.tsv", true));
        assert_eq!(Spec::parse(OsStr::new("j.tsv")), file("j.tsv", false));
        assert_eq!(Spec::parse(OsStr::new("+")), file("+", false));
    }

    #[test]
    fn resume_reads_what_gnu_parallel_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.tsv");
        std::fs::write(
            &path,
            format!(
                "{HEADER}1\t:\t1.000\t     0.001\t0\t0\t0\t0\ttrue\n\
                 2\t:\t1.000\t     0.001\t0\t0\t1\t0\tfalse\n\
                 3\t:\t1.000\t     0.001\t0\t0\t0\t15\tsh -c 'kill $$'\n\
                 5\t:\t1.000\t     0.001\t0\t0\t-1\t15\tsleep 9\n"
            ),
        )
        .unwrap();
        let spec = Spec::File {
            path: path.clone(),
            append: false,
        };
        let sorted = |s: HashSet<u64>| {
            let mut v: Vec<u64> = s.into_iter().collect();
            v.sort();
            v
        };
        assert_eq!(sorted(done(&spec, Resume::All).unwrap()), [1, 2, 3, 5]);
        assert_eq!(sorted(done(&spec, Resume::Failed).unwrap()), [1]);
        std::fs::write(&path, format!("{HEADER}not a line\n")).unwrap();
        let err = done(&spec, Resume::All).unwrap_err().to_string();
        assert!(err.contains("line 2 is not a joblog line"), "{err}");
        std::fs::remove_file(&path).unwrap();
        assert!(done(&spec, Resume::All).unwrap().is_empty());
    }

    #[test]
    fn a_line_has_gnu_parallels_columns() {
        let l = line(
            3,
            1_700_000_000_123_600,
            Duration::from_millis(1500),
            12,
            (0, 15),
            b"sleep 9",
        );
        assert_eq!(
            String::from_utf8(l).unwrap(),
            "3\t:\t1700000000.124\t     1.500\t0\t12\t0\t15\tsleep 9\n"
        );
    }
}
