//! `ipc_desafio report`: a picture of a run, drawn from its two logs — a self-contained SVG (or
//! an HTML page embedding it). One lane per process, each value an arrow from its `sent` to its
//! `received`, coloured by parity; starts, exits, faults, errors and interruptions marked; the
//! summary in a caption. A run of more than `ARROWS_UP_TO` values gets a throughput-over-time
//! and a latency chart instead of one arrow per value.
//!
//! The logs are read as `verify` reads them, with its reader and `record`'s parser: regular files
//! only, lines capped at `MAX_LINE` bytes, memory bounded by the values in flight, so any file
//! can be handed to `report`.

mod svg;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};

use crate::desafio::error::{Error, Result};
use crate::desafio::lang::Lang;
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG, invalid};
use crate::desafio::record::{ChildStatus, Event, LogLine, Parity, Role, TimeCache};
use crate::desafio::verify::MAX_LINE;
use crate::desafio::verify::reader::{Line, LogReader, OpenError};

/// Up to this many values, one arrow each; above it, charts.
pub const ARROWS_UP_TO: usize = 200;
/// Time buckets of the charts.
const BUCKETS: usize = 60;

/// One value's trip, in milliseconds from the run's first line.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    pub value: i64,
    pub index: u64,
    pub sent_ms: f64,
    /// The line numbers of its `sent` and `received` lines: its place in the order of events.
    pub sent_line: usize,
    pub received_line: Option<usize>,
    /// `None`: sent, never received (lost, or still in the pipe when a process died).
    pub received_ms: Option<f64>,
    pub parity: Parity,
    /// Logged as sent, but its write failed with EPIPE: it never entered the pipe.
    pub unsent: bool,
}

/// Something that happened to one process, drawn as a mark on its lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub role: Role,
    pub at_ms: f64,
    /// The line of the log it comes from.
    pub line: usize,
    pub kind: MarkKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    Start,
    Spawn,
    Exit,
    Fault,
    Error,
    Interrupt,
    End,
}

/// Per-bucket counts and latencies, for runs too large for arrows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Charts {
    pub bucket_ms: f64,
    pub sent: Vec<u64>,
    pub received: Vec<u64>,
    /// (median, max) latency in ms of the values received in each bucket.
    pub latency: Vec<Option<(f64, f64)>>,
}

/// Everything the picture shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    pub pids: [Option<i32>; 3],
    pub span_ms: f64,
    pub trips: Vec<Trip>,
    pub charts: Option<Charts>,
    pub marks: Vec<Mark>,
    pub values: u64,
    pub summary: Option<String>,
    pub started: Option<String>,
    pub exec_lines: usize,
    /// The language of the picture's words.
    pub lang: Lang,
}

impl Run {
    pub fn lane(role: Role) -> usize {
        match role {
            Role::Main => 0,
            Role::Producer => 1,
            Role::Consumer => 2,
        }
    }
}

/// Opens a log with `verify`'s reader: a regular file only (a FIFO would block, a device could
/// be endless), lines capped at `MAX_LINE` bytes.
fn open(dir: &Path, name: &'static str) -> Result<LogReader> {
    LogReader::open(&dir.join(name)).map_err(|e| match e {
        OpenError::NotRegular(path, _) => Error::log_dir(&path, invalid("not a regular file")),
        OpenError::Io(path, source) => Error::log_dir(&path, source),
    })
}

/// Reads a log line by line; `f` gets (line number, text). A line longer than `MAX_LINE` bytes
/// or not UTF-8 is not a line of this program's: an error.
fn each_line(
    mut reader: LogReader,
    name: &str,
    lang: Lang,
    mut f: impl FnMut(usize, &str) -> Result<()>,
) -> Result<usize> {
    let read_error = |source| ipc_sys::Error::Read {
        path: PathBuf::from(name),
        source,
    };
    while let Some((number, line)) = reader.next_line().map_err(read_error)? {
        let text = match line {
            Line::Text(text) | Line::Unterminated(text) => text,
            Line::TooLong => {
                return Err(Error::BadLog(lang.pick(
                    format!(
                        "{name}:{number}: a line longer than {MAX_LINE} bytes: not a log of this program"
                    ),
                    format!(
                        "{name}:{number}: uma linha com mais de {MAX_LINE} bytes: não é um log deste programa"
                    ),
                )));
            }
            Line::NotUtf8 => {
                return Err(Error::BadLog(lang.pick(
                    format!("{name}:{number}: not valid UTF-8"),
                    format!("{name}:{number}: não é UTF-8 válido"),
                )));
            }
        };
        f(number, text)?;
    }
    Ok(reader.number)
}

/// Reads both logs in `dir` (written in either language) into the picture's model, whose
/// words are in `lang`.
pub fn read(dir: &Path, lang: Lang) -> Result<Run> {
    Error::check_log_dir(dir)?;
    let exec = open(dir, EXECUTION_LOG)?;
    let cons = open(dir, CONSUMER_LOG)?;
    // Another program's logs: one line and exit 2, as `verify` says it.
    crate::desafio::verify::foreign::check(&crate::desafio::log::LogPaths::in_dir(dir))?;
    let mut run = Run {
        lang,
        ..Run::default()
    };
    let mut times = TimeCache::default();
    let mut t0: Option<DateTime<FixedOffset>> = None;
    let mut in_flight: VecDeque<usize> = VecDeque::new();
    let mut sent_times: Vec<f64> = Vec::new();
    let mut received_times: Vec<f64> = Vec::new();
    let mut latencies: Vec<(f64, f64)> = Vec::new();
    let mut last_error_line: Option<usize> = None;
    run.exec_lines = each_line(exec, EXECUTION_LOG, lang, |number, text| {
        let line = match LogLine::parse_cached(text, &mut times) {
            Ok(line) => line,
            Err(e) => {
                // A killed writer may leave its last line unfinished; anything else is a log
                // this program did not write.
                if last_error_line.is_some() {
                    let why = crate::desafio::verify::unparsable(&e, lang);
                    return Err(Error::BadLog(format!("{EXECUTION_LOG}:{number}: {why}")));
                }
                last_error_line = Some(number);
                return Ok(());
            }
        };
        let start = *t0.get_or_insert(line.time);
        let at = (line.time - start).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        run.span_ms = run.span_ms.max(at);
        let lane = Run::lane(line.role);
        run.pids[lane].get_or_insert(line.pid);
        let mut mark = |kind: MarkKind, text: String| {
            run.marks.push(Mark {
                role: line.role,
                at_ms: at,
                line: number,
                kind,
                text,
            })
        };
        match line.event {
            Event::Started(params) => {
                if let Some(p) = &params {
                    let (values, seed, pace) = lang.pick(
                        ("values from", "seed", "pace"),
                        ("valores de", "semente", "pausa"),
                    );
                    let (fault, bug) = (lang.words().fault, lang.words().bug);
                    run.started = Some(format!(
                        "{} {values} {}..={}, {seed} {}{}{}{}",
                        p.count,
                        p.min,
                        p.max,
                        p.seed,
                        p.pace
                            .map(|p| format!(", {pace} {p} ms"))
                            .unwrap_or_default(),
                        p.fault
                            .map(|f| format!(", {fault} {f}"))
                            .unwrap_or_default(),
                        p.bug.map(|b| format!(", {bug} {b}")).unwrap_or_default()
                    ));
                }
                mark(
                    MarkKind::Start,
                    Event::Started(None).render(lang).to_string(),
                );
            }
            Event::Spawned { role, pid } => {
                run.pids[Run::lane(role)].get_or_insert(pid);
                mark(
                    MarkKind::Spawn,
                    Event::Spawned { role, pid }.render(lang).to_string(),
                );
            }
            Event::Sent { value, index, .. } => {
                run.values += 1;
                sent_times.push(at);
                if run.trips.len() <= ARROWS_UP_TO {
                    run.trips.push(Trip {
                        value,
                        index,
                        sent_ms: at,
                        sent_line: number,
                        received_line: None,
                        received_ms: None,
                        parity: Parity::of(value),
                        unsent: false,
                    });
                }
                in_flight.push_back(sent_times.len() - 1);
            }
            Event::Received { .. } => {
                received_times.push(at);
                // A pipe is first in, first out: the oldest value in flight is this one.
                if let Some(i) = in_flight.pop_front() {
                    latencies.push((at, at - sent_times[i]));
                    if let Some(trip) = run.trips.get_mut(i) {
                        trip.received_ms = Some(at);
                        trip.received_line = Some(number);
                    }
                }
            }
            Event::EndSent { sent } => mark(
                MarkKind::End,
                format!("{} ({sent})", lang.pick("end marker", "marcador de fim")),
            ),
            Event::EndReceived { .. } => mark(MarkKind::End, lang.words().end_received.into()),
            Event::Interrupted { signal, .. } => mark(MarkKind::Interrupt, signal),
            Event::Fault { fault, .. } => {
                mark(MarkKind::Fault, format!("{} {fault}", lang.words().fault))
            }
            Event::BrokenPipe { .. } | Event::GaveUp { total: Some(_), .. } => {
                let (sent, what) = match line.event {
                    Event::BrokenPipe { sent, .. } => (sent, "EPIPE".to_string()),
                    Event::GaveUp { count, .. } => {
                        (count, lang.pick("gave up", "desistiu").to_string())
                    }
                    _ => (0, String::new()),
                };
                mark(MarkKind::Error, what);
                // Values of the batch whose write failed were logged, never delivered.
                for trip in run.trips.iter_mut().filter(|t| t.index > sent) {
                    trip.unsent = true;
                }
                let delivered = usize::try_from(sent).unwrap_or(usize::MAX);
                while sent_times.len() > delivered
                    && in_flight.back() == Some(&(sent_times.len() - 1))
                {
                    in_flight.pop_back();
                    sent_times.pop();
                    run.values -= 1;
                }
            }
            Event::PipeClosed { .. } => mark(MarkKind::Error, "EOF".into()),
            Event::GaveUp { total: None, .. } => {
                mark(MarkKind::Error, lang.pick("gave up", "desistiu").into())
            }
            Event::Error(e) => mark(MarkKind::Error, short(&e)),
            Event::ChildExited { role, status, .. } => {
                let (r, exit) = (role.in_lang(lang), lang.pick("exit", "saída"));
                let text = match status {
                    ChildStatus::Code(c) => format!("{r} {exit} {c}"),
                    ChildStatus::Signal(s) => format!("{r} {s}"),
                };
                mark(MarkKind::Exit, text);
            }
            Event::Exiting { code } => mark(
                MarkKind::Exit,
                format!("{} {code}", lang.pick("exit", "saída")),
            ),
            Event::Summary {
                sent,
                received,
                lost,
                ..
            } => {
                let w = lang.words();
                run.summary = Some(format!(
                    "{} {sent}, {} {received}, {} {lost}",
                    w.sum_sent, w.sum_received, w.sum_lost
                ));
            }
        }
        Ok(())
    })?;
    if run.exec_lines == 0 {
        return Err(Error::BadLog(lang.pick(
            format!("{EXECUTION_LOG} is empty: no run has written it"),
            format!("{EXECUTION_LOG} está vazio: nenhuma execução o escreveu"),
        )));
    }
    // The consumer log must at least be this program's: a header first.
    each_line(cons, CONSUMER_LOG, lang, |number, text| {
        if number == 1 && !text.starts_with("# ") {
            return Err(Error::BadLog(lang.pick(
                format!("{CONSUMER_LOG}:1: not a consumer log (no '# ' header)"),
                format!("{CONSUMER_LOG}:1: não é um log do consumidor (sem cabeçalho '# ')"),
            )));
        }
        Ok(())
    })?;
    if run.values as usize > ARROWS_UP_TO {
        run.trips.clear();
        run.charts = Some(charts(
            run.span_ms,
            &sent_times,
            &received_times,
            &latencies,
        ));
    }
    Ok(run)
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        s.push('…');
    }
    s
}

fn charts(span: f64, sent: &[f64], received: &[f64], latencies: &[(f64, f64)]) -> Charts {
    // Timestamps have millisecond resolution: no bucket shorter than that.
    let buckets = (span.ceil() as usize).clamp(1, BUCKETS);
    let bucket_ms = (span / buckets as f64).max(1e-3);
    let bucket = |t: f64| ((t / bucket_ms) as usize).min(buckets - 1);
    let mut c = Charts {
        bucket_ms,
        sent: vec![0; buckets],
        received: vec![0; buckets],
        latency: vec![None; buckets],
    };
    for &t in sent {
        c.sent[bucket(t)] += 1;
    }
    for &t in received {
        c.received[bucket(t)] += 1;
    }
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); buckets];
    for &(t, l) in latencies {
        per[bucket(t)].push(l);
    }
    for (slot, mut ls) in c.latency.iter_mut().zip(per) {
        if ls.is_empty() {
            continue;
        }
        ls.sort_by(|a, b| a.total_cmp(b));
        *slot = Some((ls[ls.len() / 2], ls[ls.len() - 1]));
    }
    c
}

/// `report`: reads the run in `dir` and writes the picture to `output` (`.html` → a page, any
/// other name → the SVG; none → the SVG on stdout).
pub fn report(dir: &Path, output: Option<&Path>, lang: Lang) -> Result<()> {
    let kind = output
        .and_then(|out| out.extension()?.to_str())
        .map(str::to_ascii_lowercase);
    let html = matches!(kind.as_deref(), Some("html" | "htm"));
    if let Some(out) = output {
        ipc_sys::file::writable(out, ipc_sys::file::Devices::Refused).map_err(|source| {
            Error::Path {
                flag: "-o",
                path: out.into(),
                source,
            }
        })?;
        // The picture must never replace the run it shows.
        let logs = crate::desafio::log::LogPaths::in_dir(dir);
        if [&logs.execution, &logs.consumer]
            .iter()
            .any(|log| crate::desafio::log::same_file(out, log))
        {
            let why = "is one of the run's logs: the report would replace it";
            return Err(Error::Path {
                flag: "-o",
                path: out.into(),
                source: invalid(why),
            });
        }
        // The picture is SVG text: a name that promises another format (run.png) would hold
        // SVG under a lying extension. Rendering a PNG here would need a rasteriser and fonts
        // (resvg and its 60 crates: over 40 s of CPU added to a fresh build); a browser or
        // rsvg-convert does it from the SVG in one command.
        if kind.as_deref() != Some("svg") && !html {
            let stem = out.with_extension("svg");
            let stem = stem.display();
            return Err(Error::Path {
                flag: "-o",
                path: out.into(),
                source: invalid(lang.pick(
                    format!("report writes an .svg picture or an .html page; for a PNG, write {stem} and convert it: rsvg-convert {stem} -o picture.png (or scripts/render.sh, headless Chromium)"),
                    format!("o report grava uma figura .svg ou uma página .html; para um PNG, grave {stem} e converta: rsvg-convert {stem} -o figura.png (ou scripts/render.sh, Chromium sem janela)"),
                )),
            });
        }
    }
    let run = read(dir, lang)?;
    let picture = svg::draw(&run);
    let text = if html {
        svg::page(&run, &picture)
    } else {
        picture
    };
    match output {
        Some(out) => std::fs::write(out, text).map_err(|source| {
            Error::from(ipc_sys::Error::Write {
                path: out.into(),
                source,
            })
        }),
        None => {
            use std::io::Write;
            crate::desafio::written(std::io::stdout().write_all(text.as_bytes()))
        }
    }
}
