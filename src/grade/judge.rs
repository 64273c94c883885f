//! The verdicts: each criterion judged pass / fail / unknown from what the runs showed, with
//! the evidence in words a student understands (pids, roles, file:line, calls, times).
//! `unknown` is said where the observation cannot decide; a cause is named only when it was
//! observed.

use std::collections::{BTreeMap, BTreeSet};

use ipc_sys::trace::{Detail, Event, FdTable, Intervention, LockOp, Object, Status, Sys};
use serde::Serialize;

use crate::desafio::lang::Lang;

use super::classify::{Class, read_line};
use super::model::{Conduit, Model, Roles};
use super::run::Outcome;
use super::scenario::{
    SNAP_EOF, SNAP_EOF_SIGNAL, SNAP_EPIPE_OVER, SNAP_EPIPE_WROTE, SNAP_LEFT, Scenario,
};

/// Every criterion, in the order of the report (and of the table).
pub const IDS: [&str; 10] = [
    "processes",
    "channel",
    "exchanges",
    "distinct",
    "classified",
    "shared_log",
    "lock",
    "eof",
    "epipe",
    "cleanup",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Unknown,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Criterion {
    pub id: &'static str,
    pub verdict: Verdict,
    pub evidence: String,
}

macro_rules! say {
    ($lang:expr, $en:literal, $pt:literal $(, $arg:expr)* $(,)?) => {
        match $lang {
            Lang::En => format!($en $(, $arg)*),
            Lang::Pt => format!($pt $(, $arg)*),
        }
    };
}

fn secs(us: u64) -> String {
    format!("+{:.2} s", us as f64 / 1e6)
}

fn dur(us: u64) -> String {
    format!("{:.2} s", us as f64 / 1e6)
}

/// The runs of one grading.
pub struct Runs<'a> {
    pub normal: &'a [Outcome],
    pub lock: Option<&'a Outcome>,
    pub eof: Option<&'a Outcome>,
    pub epipe: Option<&'a Outcome>,
    /// The shared log chosen in the reference run (relative path), if any file was written by
    /// two or more processes.
    pub log: Option<String>,
    pub k: u32,
}

/// Names processes as a student would: "main 101", "producer 102", "pid 105 (sleep 300)".
pub struct Namer<'a> {
    lang: Lang,
    model: &'a Model,
    /// (main, producer, consumer)
    roles: Option<(i32, i32, i32)>,
}

impl<'a> Namer<'a> {
    pub fn new(lang: Lang, model: &'a Model) -> Namer<'a> {
        Namer {
            lang,
            model,
            roles: model
                .roles
                .as_ref()
                .map(|r: &Roles| (r.main, r.producer, r.consumer)),
        }
    }

    /// Names the roles given (a fault run's, found by their place in the tree).
    pub fn with(lang: Lang, model: &'a Model, producer: i32, consumer: i32) -> Namer<'a> {
        let main = model.main_of(producer, consumer).unwrap_or(model.root);
        Namer {
            lang,
            model,
            roles: Some((main, producer, consumer)),
        }
    }

    pub fn name(&self, pid: i32) -> String {
        if let Some((main, producer, consumer)) = self.roles {
            let r = Roles3 {
                main,
                producer,
                consumer,
            };
            let role = if pid == r.main {
                Some("main")
            } else if pid == r.producer {
                Some(self.lang.pick("producer", "produtor"))
            } else if pid == r.consumer {
                Some(self.lang.pick("consumer", "consumidor"))
            } else {
                None
            };
            if let Some(role) = role {
                return format!("{role} {pid}");
            }
        }
        let proc = self.model.procs.get(&pid);
        if let Some(p) = proc.filter(|p| p.helper) {
            let joined = p.argv.join(" ");
            let kind = if joined.contains("forkserver") {
                "forkserver"
            } else {
                self.lang.pick("resource tracker", "rastreador de recursos")
            };
            return format!("{kind} {pid}");
        }
        let argv = proc.map(|p| short_argv(&p.argv)).unwrap_or_default();
        if argv.is_empty() {
            format!("pid {pid}")
        } else {
            format!("pid {pid} ({argv})")
        }
    }
}

struct Roles3 {
    main: i32,
    producer: i32,
    consumer: i32,
}

/// The first words of a command line, cut at 40 characters.
pub fn short_argv(argv: &[String]) -> String {
    let mut s = argv
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 {
                a.rsplit('/').next().unwrap_or(a).to_string()
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    if s.chars().count() > 40 {
        s = s.chars().take(39).collect::<String>() + "…";
    }
    s
}

fn status_text(lang: Lang, s: Status) -> String {
    match s {
        Status::Code(c) => say!(lang, "exit {}", "saída {}", c),
        Status::Signal(sig) => say!(
            lang,
            "killed by {}",
            "morto por {}",
            ipc_sys::signal::signal_name(sig)
        ),
    }
}

fn conduit_text(lang: Lang, c: &Conduit, model: &Model) -> String {
    match c {
        Conduit::Pipe(ino) => say!(
            lang,
            "anonymous pipe pipe:[{}]",
            "pipe anônimo pipe:[{}]",
            ino
        ),
        Conduit::Socket(ino) => {
            let peer = model.peers.get(ino).copied().unwrap_or(0);
            say!(
                lang,
                "socket pair socket:[{}]–socket:[{}]",
                "par de sockets socket:[{}]–socket:[{}]",
                ino,
                peer
            )
        }
        Conduit::Fifo(path) => say!(lang, "FIFO {}", "FIFO {}", base(path)),
    }
}

fn base(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn ordinal(lang: Lang, k: u32) -> String {
    match lang {
        Lang::En => match k {
            1 => "1st".into(),
            2 => "2nd".into(),
            3 => "3rd".into(),
            k => format!("{k}th"),
        },
        Lang::Pt => format!("{k}ª"),
    }
}

/// All ten verdicts.
pub fn judge(runs: &Runs<'_>, lang: Lang) -> Vec<Criterion> {
    let reference = runs
        .normal
        .iter()
        .find(|r| r.model.roles.is_some())
        .or(runs.normal.first());
    let Some(reference) = reference else {
        return IDS
            .iter()
            .map(|id| Criterion {
                id,
                verdict: Verdict::Unknown,
                evidence: say!(lang, "no run was made", "nenhuma execução foi feita"),
            })
            .collect();
    };
    if !reference.model.started() {
        let why = String::from_utf8_lossy(&reference.stderr)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        let evidence = say!(
            lang,
            "the command did not start: {}",
            "o comando não começou: {}",
            if why.is_empty() {
                status_or(lang, &reference.model)
            } else {
                why
            }
        );
        return IDS
            .iter()
            .map(|id| Criterion {
                id,
                verdict: Verdict::Fail,
                evidence: evidence.clone(),
            })
            .collect();
    }
    vec![
        processes(lang, reference),
        channel(lang, reference),
        exchanges(lang, runs.normal),
        distinct(lang, runs.normal),
        classified(lang, runs.normal),
        shared_log(lang, reference),
        lock(lang, runs),
        eof(lang, runs),
        epipe(lang, runs),
        cleanup(lang, runs.normal),
    ]
}

fn status_or(lang: Lang, model: &Model) -> String {
    model
        .root_exit()
        .map(|s| status_text(lang, s))
        .unwrap_or_else(|| say!(lang, "no exit seen", "nenhum fim observado"))
}

fn criterion(id: &'static str, verdict: Verdict, evidence: String) -> Criterion {
    Criterion {
        id,
        verdict,
        evidence,
    }
}

fn processes(lang: Lang, run: &Outcome) -> Criterion {
    let m = &run.model;
    let n = Namer::new(lang, m);
    // Main and what it started after it began running the submission's program (a launcher
    // such as pyenv's shim forks a few processes of its own before it executes python).
    let under = |top: i32| {
        let since = m.procs.get(&top).map_or(0, |p| p.exec_us);
        m.workers()
            .filter(|p| p.pid == top || (p.born_us >= since && m.ancestors(p.pid).contains(&top)))
            .count()
    };
    let workers = m
        .roles
        .as_ref()
        .map_or_else(|| m.workers().count(), |r| under(r.main));
    let helpers: Vec<String> = m
        .procs
        .values()
        .filter(|p| p.helper)
        .map(|p| n.name(p.pid))
        .collect();
    let helpers = if helpers.is_empty() {
        String::new()
    } else {
        say!(
            lang,
            "; Python helpers not counted: {}",
            "; auxiliares do Python não contados: {}",
            helpers.join(", ")
        )
    };
    let Some(r) = &m.roles else {
        return criterion(
            "processes",
            Verdict::Fail,
            say!(
                lang,
                "{} process(es) ran, but none sent data to another through a pipe, socket pair or FIFO: no producer and consumer{}",
                "{} processo(s) rodaram, mas nenhum enviou dados a outro por pipe, par de sockets ou FIFO: não há produtor e consumidor{}",
                workers,
                helpers
            ),
        );
    };
    let main_argv = m
        .procs
        .get(&r.main)
        .map(|p| short_argv(&p.argv))
        .unwrap_or_default();
    if r.producer == r.main || r.consumer == r.main {
        let role = if r.producer == r.main {
            lang.pick("producer", "produtor")
        } else {
            lang.pick("consumer", "consumidor")
        };
        return criterion(
            "processes",
            Verdict::Fail,
            say!(
                lang,
                "main {} ({}) is itself the {}: only one process besides main ({})",
                "o main {} ({}) é ele mesmo o {}: só um processo além do main ({})",
                r.main,
                main_argv,
                role,
                n.name(if r.producer == r.main {
                    r.consumer
                } else {
                    r.producer
                })
            ),
        );
    }
    criterion(
        "processes",
        Verdict::Pass,
        say!(
            lang,
            "main {} ({}) → producer {}, consumer {}; {} processes from main down{}",
            "main {} ({}) → produtor {}, consumidor {}; {} processos do main para baixo{}",
            r.main,
            main_argv,
            r.producer,
            r.consumer,
            workers,
            helpers
        ),
    )
}

/// Who created the channel, and how.
fn creation(lang: Lang, m: &Model, c: &Conduit) -> String {
    let n = Namer::new(lang, m);
    for r in &m.records {
        let Event::Call(call) = &r.event else {
            continue;
        };
        let hit = match (&call.detail, c) {
            (Detail::Pair { objects, .. }, Conduit::Pipe(ino)) => {
                objects.contains(&Object::Pipe(*ino))
            }
            (Detail::Pair { objects, .. }, Conduit::Socket(ino)) => {
                objects.contains(&Object::Socket(*ino))
            }
            (Detail::MakeFifo { path }, Conduit::Fifo(p)) => path == p,
            _ => false,
        };
        if hit {
            return say!(
                lang,
                " ({} in {} at {})",
                " ({} em {} em {})",
                call.sys.name(),
                n.name(r.pid),
                secs(r.at_us)
            );
        }
    }
    String::new()
}

fn channel(lang: Lang, run: &Outcome) -> Criterion {
    let m = &run.model;
    let Some(r) = &m.roles else {
        return criterion(
            "channel",
            Verdict::Fail,
            say!(
                lang,
                "no pipe, socket pair or FIFO carried data from one process to another",
                "nenhum pipe, par de sockets ou FIFO levou dados de um processo a outro"
            ),
        );
    };
    let f = &r.flow;
    criterion(
        "channel",
        Verdict::Pass,
        say!(
            lang,
            "{}{}: producer {} writes fd {} ({} writes), consumer {} reads fd {} ({} bytes)",
            "{}{}: produtor {} escreve no fd {} ({} escritas), consumidor {} lê o fd {} ({} bytes)",
            conduit_text(lang, &f.conduit, m),
            creation(lang, m, &f.conduit),
            r.producer,
            f.write_fd,
            f.writes,
            r.consumer,
            f.read_fd,
            f.read_bytes
        ),
    )
}

fn scheme_text(lang: Lang, scheme: &str) -> String {
    match scheme {
        "text" => lang.pick("integers as text", "inteiros em texto").into(),
        "pickle" => lang.pick("Python pickles", "pickles do Python").into(),
        "connection" => lang
            .pick(
                "pickles in multiprocessing.Connection frames",
                "pickles em quadros de multiprocessing.Connection",
            )
            .into(),
        "int32" => lang.pick("4-byte integers", "inteiros de 4 bytes").into(),
        "int64" => lang.pick("8-byte integers", "inteiros de 8 bytes").into(),
        _ => "?".into(),
    }
}

/// The values the consumer got in a run: from the channel, else from what it recorded.
fn values(run: &Outcome) -> Option<(Vec<i64>, String)> {
    let r = run.model.roles.as_ref()?;
    if !r.flow.decoded.values.is_empty() {
        return Some((
            r.flow.decoded.values.clone(),
            r.flow.decoded.scheme.to_string(),
        ));
    }
    let readings = consumer_readings(run);
    let vals: Vec<i64> = readings
        .files
        .values()
        .flat_map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.reading.as_ref().map(|r| r.value))
        })
        .collect();
    (!vals.is_empty()).then(|| (vals, "file".to_string()))
}

fn exchanges(lang: Lang, normal: &[Outcome]) -> Criterion {
    let mut counts = Vec::new();
    for (i, run) in normal.iter().enumerate() {
        match values(run) {
            Some((v, scheme)) => counts.push((i + 1, v.len(), scheme)),
            None => {
                if let Some(r) = &run.model.roles {
                    return criterion(
                        "exchanges",
                        Verdict::Unknown,
                        say!(
                            lang,
                            "run {}: {} bytes reached the consumer, but they are not integers as text, native integers or pickles, and the consumer recorded no value in a file",
                            "execução {}: {} bytes chegaram ao consumidor, mas não são inteiros em texto, inteiros nativos nem pickles, e o consumidor não registrou valores em arquivo",
                            i + 1,
                            r.flow.read_bytes
                        ),
                    );
                }
            }
        }
    }
    let Some(min) = counts.iter().min_by_key(|c| c.1) else {
        return criterion(
            "exchanges",
            Verdict::Fail,
            say!(
                lang,
                "no value reached a consumer: no channel between two processes was found",
                "nenhum valor chegou a um consumidor: não há canal entre dois processos"
            ),
        );
    };
    let how = if min.2 == "file" {
        lang.pick(
            "as recorded by the consumer",
            "segundo o que o consumidor registrou",
        )
        .to_string()
    } else {
        scheme_text(lang, &min.2)
    };
    if min.1 >= 10 {
        let all: Vec<String> = counts.iter().map(|c| c.1.to_string()).collect();
        criterion(
            "exchanges",
            Verdict::Pass,
            say!(
                lang,
                "values that reached the consumer, run by run: {} ({})",
                "valores que chegaram ao consumidor, execução a execução: {} ({})",
                all.join(", "),
                how
            ),
        )
    } else {
        criterion(
            "exchanges",
            Verdict::Fail,
            say!(
                lang,
                "run {}: only {} value(s) reached the consumer ({}); at least 10 are asked",
                "execução {}: só {} valor(es) chegaram ao consumidor ({}); pede-se pelo menos 10",
                min.0,
                min.1,
                how
            ),
        )
    }
}

fn first_values(v: &[i64]) -> String {
    let mut s: Vec<String> = v.iter().take(4).map(|x| x.to_string()).collect();
    if v.len() > 4 {
        s.push("…".into());
    }
    s.join(", ")
}

fn distinct(lang: Lang, normal: &[Outcome]) -> Criterion {
    let seqs: Vec<(usize, Vec<i64>)> = normal
        .iter()
        .enumerate()
        .filter_map(|(i, r)| values(r).map(|(v, _)| (i + 1, v)))
        .collect();
    if seqs.is_empty() {
        return criterion(
            "distinct",
            Verdict::Unknown,
            say!(lang, "no values were seen", "nenhum valor foi observado"),
        );
    }
    for (i, v) in &seqs {
        let mut seen = BTreeSet::new();
        let repeated: BTreeSet<i64> = v.iter().filter(|x| !seen.insert(**x)).copied().collect();
        if !repeated.is_empty() {
            let list: Vec<String> = repeated.iter().take(5).map(|x| x.to_string()).collect();
            return criterion(
                "distinct",
                Verdict::Fail,
                say!(
                    lang,
                    "run {}: value(s) sent more than once: {} (of {} values)",
                    "execução {}: valor(es) enviados mais de uma vez: {} (de {} valores)",
                    i,
                    list.join(", "),
                    v.len()
                ),
            );
        }
    }
    if seqs.len() < 2 {
        return criterion(
            "distinct",
            Verdict::Unknown,
            say!(
                lang,
                "no value repeated within the run; one run cannot show that values differ between runs (--times 2 or more)",
                "nenhum valor se repetiu na execução; uma execução só não mostra que os valores mudam entre execuções (--times 2 ou mais)"
            ),
        );
    }
    let first = &seqs[0].1;
    if seqs.iter().all(|(_, v)| v == first) {
        return criterion(
            "distinct",
            Verdict::Fail,
            say!(
                lang,
                "all {} runs sent the same values: {} (an unseeded random generator?)",
                "as {} execuções enviaram os mesmos valores: {} (gerador aleatório sem semente?)",
                seqs.len(),
                first_values(first)
            ),
        );
    }
    let starts: Vec<String> = seqs
        .iter()
        .take(3)
        .map(|(i, v)| say!(lang, "run {}: {}", "execução {}: {}", i, first_values(v)))
        .collect();
    criterion(
        "distinct",
        Verdict::Pass,
        say!(
            lang,
            "no value repeated within a run, and the {} runs differ ({})",
            "nenhum valor se repetiu numa execução, e as {} execuções diferem ({})",
            seqs.len(),
            starts.join("; ")
        ),
    )
}

/// One line the consumer wrote, where it is in the file, and what it says.
pub struct ConsumerLine {
    pub number: usize,
    pub text: String,
    pub reading: Option<super::classify::Reading>,
}

pub struct Readings {
    /// Relative path → lines the consumer wrote there.
    pub files: BTreeMap<String, Vec<ConsumerLine>>,
    /// Lines the consumer wrote on its standard output or error.
    pub printed: usize,
}

/// The lines the consumer wrote into files of the scratch copy, read tolerantly.
pub fn consumer_readings(run: &Outcome) -> Readings {
    let mut out = Readings {
        files: BTreeMap::new(),
        printed: 0,
    };
    let Some(r) = &run.model.roles else {
        return out;
    };
    let received = &r.flow.decoded.values;
    let scratch = run.scratch.to_string_lossy().into_owned();
    for ((pid, path), chunks) in run.model.file_writes() {
        if pid != r.consumer {
            continue;
        }
        let bytes: Vec<u8> = chunks.iter().flat_map(|(_, d)| d.iter().copied()).collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let Some(rel) = path
            .strip_prefix(&scratch)
            .map(|p| p.trim_start_matches('/'))
        else {
            // Its stdout/stderr (grade's capture files) or a file outside the scratch copy.
            out.printed += text.lines().count();
            continue;
        };
        let final_lines = run.files.get(rel).cloned().unwrap_or_default();
        let mut from = 0;
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let number = match final_lines[from.min(final_lines.len())..]
                .iter()
                .position(|l| l == line)
            {
                Some(p) => {
                    from += p + 1;
                    from
                }
                None => i + 1,
            };
            lines.push(ConsumerLine {
                number,
                text: line.to_string(),
                reading: read_line(line, received),
            });
        }
        out.files.insert(rel.to_string(), lines);
    }
    out
}

fn classified(lang: Lang, normal: &[Outcome]) -> Criterion {
    let mut pass_evidence = None;
    for (i, run) in normal.iter().enumerate() {
        if run.model.roles.is_none() {
            continue;
        }
        let readings = consumer_readings(run);
        if readings.files.is_empty() {
            let printed = if readings.printed > 0 {
                say!(
                    lang,
                    " (it printed {} line(s) on its standard output instead)",
                    " (imprimiu {} linha(s) na saída padrão em vez disso)",
                    readings.printed
                )
            } else {
                String::new()
            };
            return criterion(
                "classified",
                Verdict::Fail,
                say!(
                    lang,
                    "run {}: the consumer recorded nothing in a file{}",
                    "execução {}: o consumidor não registrou nada em arquivo{}",
                    i + 1,
                    printed
                ),
            );
        }
        let mut total = 0;
        let mut read = 0;
        let mut names = Vec::new();
        let any_readable = readings
            .files
            .values()
            .any(|lines| lines.iter().any(|l| l.reading.is_some()));
        for (file, lines) in &readings.files {
            if any_readable && lines.iter().all(|l| l.reading.is_none()) {
                continue;
            }
            names.push(file.clone());
            for l in lines {
                total += 1;
                let Some(reading) = &l.reading else {
                    continue;
                };
                read += 1;
                if Class::of(reading.value) != reading.class {
                    return criterion(
                        "classified",
                        Verdict::Fail,
                        say!(
                            lang,
                            "run {}: {}:{}: {} is recorded as '{}': «{}»",
                            "execução {}: {}:{}: {} está registrado como '{}': «{}»",
                            i + 1,
                            file,
                            l.number,
                            reading.value,
                            reading.word,
                            l.text.trim()
                        ),
                    );
                }
            }
        }
        if read == 0 {
            return criterion(
                "classified",
                Verdict::Fail,
                say!(
                    lang,
                    "run {}: the consumer wrote {} line(s) in {}, none pairing an integer with a class word (par, ímpar, even, odd)",
                    "execução {}: o consumidor escreveu {} linha(s) em {}, nenhuma com um inteiro e uma classe (par, ímpar, even, odd)",
                    i + 1,
                    total,
                    names.join(", ")
                ),
            );
        }
        if pass_evidence.is_none() {
            let of = if read < total {
                say!(
                    lang,
                    "; {} of {} lines could be read",
                    "; {} de {} linhas puderam ser lidas",
                    read,
                    total
                )
            } else {
                String::new()
            };
            pass_evidence = Some(say!(
                lang,
                "{}: every class right ({} values classified in run {}{})",
                "{}: todas as classes certas ({} valores classificados na execução {}{})",
                names.join(", "),
                read,
                i + 1,
                of
            ));
        }
    }
    match pass_evidence {
        Some(e) => criterion("classified", Verdict::Pass, e),
        None => criterion(
            "classified",
            Verdict::Unknown,
            say!(
                lang,
                "no consumer was found, so nothing it recorded can be read",
                "nenhum consumidor foi encontrado; não há registro dele para ler"
            ),
        ),
    }
}

/// The files of the scratch copy each role wrote: relative path → (role pid → writes).
fn role_files(run: &Outcome) -> BTreeMap<String, BTreeMap<i32, usize>> {
    let mut out: BTreeMap<String, BTreeMap<i32, usize>> = BTreeMap::new();
    let scratch = run.scratch.to_string_lossy().into_owned();
    for ((pid, path), chunks) in run.model.file_writes() {
        if let Some(rel) = path.strip_prefix(&scratch) {
            *out.entry(rel.trim_start_matches('/').to_string())
                .or_default()
                .entry(pid)
                .or_insert(0) += chunks.len();
        }
    }
    out
}

/// The shared log of a run: the file of the scratch copy written by the most processes (two
/// at least), then by the most writes.
pub fn shared_log_of(run: &Outcome) -> Option<String> {
    role_files(run)
        .into_iter()
        .filter(|(_, w)| w.len() >= 2)
        .max_by_key(|(_, w)| (w.len(), w.values().sum::<usize>()))
        .map(|(f, _)| f)
}

fn shared_log(lang: Lang, run: &Outcome) -> Criterion {
    let Some(r) = &run.model.roles else {
        return criterion(
            "shared_log",
            Verdict::Unknown,
            say!(lang, "no roles were found", "nenhum papel foi identificado"),
        );
    };
    let n = Namer::new(lang, &run.model);
    let files = role_files(run);
    let describe = |writers: &BTreeMap<i32, usize>| {
        writers
            .iter()
            .map(|(pid, k)| {
                let w = match (lang, *k == 1) {
                    (Lang::En, true) => "write",
                    (Lang::En, false) => "writes",
                    (Lang::Pt, true) => "escrita",
                    (Lang::Pt, false) => "escritas",
                };
                format!("{} ({k} {w})", n.name(*pid))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (file, writers) in &files {
        if [r.main, r.producer, r.consumer]
            .iter()
            .all(|p| writers.contains_key(p))
        {
            return criterion(
                "shared_log",
                Verdict::Pass,
                say!(lang, "{}: {}", "{}: {}", file, describe(writers)),
            );
        }
    }
    if files.is_empty() {
        return criterion(
            "shared_log",
            Verdict::Fail,
            say!(
                lang,
                "no process wrote a file in the submission's folder",
                "nenhum processo escreveu um arquivo na pasta da entrega"
            ),
        );
    }
    let list: Vec<String> = files
        .iter()
        .map(|(f, w)| format!("{f} ({})", describe(w)))
        .collect();
    criterion(
        "shared_log",
        Verdict::Fail,
        say!(
            lang,
            "no file was written by main, producer and consumer all three: {}",
            "nenhum arquivo foi escrito pelos três, main, produtor e consumidor: {}",
            list.join("; ")
        ),
    )
}

fn lock(lang: Lang, runs: &Runs<'_>) -> Criterion {
    let Some(log) = &runs.log else {
        return criterion(
            "lock",
            Verdict::Fail,
            say!(
                lang,
                "there is no log written by two or more processes, so there is nothing to lock",
                "não há log escrito por dois ou mais processos, então não há o que proteger"
            ),
        );
    };
    let Some(run) = runs.lock else {
        return criterion(
            "lock",
            Verdict::Unknown,
            say!(
                lang,
                "the contention run was not made",
                "a execução com disputa não foi feita"
            ),
        );
    };
    let m = &run.model;
    let n = Namer::new(lang, m);
    let log_path = run.scratch.join(log).to_string_lossy().into_owned();
    // Holds: (tid, pid, from, to).
    let mut holds = Vec::new();
    let mut open: BTreeMap<i32, (i32, u64)> = BTreeMap::new();
    for r in &m.records {
        match &r.event {
            Event::Intervention(Intervention::Held { .. }) => {
                open.insert(r.tid, (r.pid, r.at_us));
            }
            Event::Intervention(Intervention::Resumed) => {
                if let Some((pid, from)) = open.remove(&r.tid) {
                    holds.push((r.tid, pid, from, r.at_us));
                }
            }
            _ => {}
        }
    }
    let writes_log = |call: &ipc_sys::trace::Call| {
        call.sys.writes()
            && call.result >= 0
            && matches!(&call.detail, Detail::Io { object: Object::File(p), .. } if *p == log_path)
    };
    let mut blocked: Option<String> = None;
    for &(_, a, from, to) in &holds {
        for r in &m.records {
            let Event::Call(call) = &r.event else {
                continue;
            };
            if r.pid == a {
                continue;
            }
            if writes_log(call) && r.at_us > from && r.at_us < to {
                let held_lock = holds_lock(m, a, from);
                let lock_note = if held_lock {
                    say!(
                        lang,
                        " (the {} held its lock: the other process took the same lock without waiting — a lock taken through a descriptor shared across fork excludes nobody)",
                        " (o {} tinha a trava: o outro processo a pegou sem esperar — uma trava tomada num descritor herdado do fork não exclui ninguém)",
                        n.name(a)
                    )
                } else {
                    say!(
                        lang,
                        " ({} held no lock)",
                        " ({} não tinha trava)",
                        n.name(a)
                    )
                };
                return criterion(
                    "lock",
                    Verdict::Fail,
                    say!(
                        lang,
                        "while {} was held before its write to {} ({}, for {}), {} wrote to it at {}: the writes are not mutually exclusive{}",
                        "enquanto {} estava parado antes de escrever em {} ({}, por {}), {} escreveu nele em {}: as escritas não são mutuamente exclusivas{}",
                        n.name(a),
                        log,
                        secs(from),
                        dur(to - from),
                        n.name(r.pid),
                        secs(r.at_us),
                        lock_note
                    ),
                );
            }
            if blocked.is_none() && call.entered_us <= to && r.at_us > to && call.result >= 0 {
                let what = match &call.detail {
                    Detail::Lock {
                        op: LockOp::Exclusive | LockOp::Shared,
                        object,
                        ..
                    } => Some(format!(
                        "{}({})",
                        call.sys.name(),
                        base(&object.to_string())
                    )),
                    Detail::FutexWait { .. } => Some(say!(
                        lang,
                        "a futex wait: an in-memory lock",
                        "uma espera em futex: uma trava em memória"
                    )),
                    _ => None,
                };
                if let Some(what) = what {
                    blocked = Some(say!(
                        lang,
                        "{} waited {} in {} while {} was held before its write to {} ({}); it went on {} after the holder was let go",
                        "{} esperou {} em {} enquanto {} estava parado antes de escrever em {} ({}); seguiu {} depois que o dono da trava foi liberado",
                        n.name(r.pid),
                        dur(r.at_us - call.entered_us),
                        what,
                        n.name(a),
                        log,
                        secs(from),
                        dur(r.at_us - to)
                    ));
                }
            }
        }
    }
    match blocked {
        Some(e) => criterion("lock", Verdict::Pass, e),
        None => criterion(
            "lock",
            Verdict::Unknown,
            say!(
                lang,
                "no two processes wanted {} at once, even with {} writes held for a while",
                "nenhum par de processos quis {} ao mesmo tempo, mesmo com {} escritas retardadas",
                log,
                holds.len()
            ),
        ),
    }
}

/// Whether `pid` held an exclusive lock (flock/fcntl) at time `at`.
fn holds_lock(m: &Model, pid: i32, at: u64) -> bool {
    let mut held = false;
    for r in m.records.iter().filter(|r| r.pid == pid && r.at_us <= at) {
        if let Event::Call(call) = &r.event
            && let Detail::Lock { op, .. } = &call.detail
            && call.result >= 0
        {
            held = *op != LockOp::Unlock;
        }
    }
    held
}

/// The descriptors that hold a side of the channel at a snapshot: `write` for the side the
/// producer writes into, else the side the consumer reads from.
fn holders(
    lang: Lang,
    n: &Namer<'_>,
    m: &Model,
    tables: &[FdTable],
    c: &Conduit,
    write: bool,
) -> String {
    let mut out = Vec::new();
    for t in tables {
        let fds: Vec<String> = t
            .fds
            .iter()
            .filter(|h| match (c, &h.object) {
                (Conduit::Pipe(ino), Object::Pipe(i)) => {
                    i == ino && if write { h.writable() } else { h.readable() }
                }
                (Conduit::Fifo(p), Object::Fifo(q)) => {
                    p == q && if write { h.writable() } else { h.readable() }
                }
                (Conduit::Socket(ino), Object::Socket(i)) => {
                    if write {
                        i == ino
                    } else {
                        m.peers.get(ino) == Some(i)
                    }
                }
                _ => false,
            })
            .map(|h| h.fd.to_string())
            .collect();
        if !fds.is_empty() {
            out.push(say!(
                lang,
                "{} (fd {})",
                "{} (fd {})",
                n.name(t.pid),
                fds.join(", ")
            ));
        }
    }
    if out.is_empty() {
        lang.pick("nobody", "ninguém").to_string()
    } else {
        out.join(", ")
    }
}

fn snapshot<'m>(m: &'m Model, label: &str) -> Option<(u64, &'m [FdTable])> {
    m.records.iter().find_map(|r| match &r.event {
        Event::Snapshot { label: l, tables } if l == label => Some((r.at_us, tables.as_slice())),
        _ => None,
    })
}

/// The fault run's roles (by lineage from the reference run) and the moment grade acted.
struct Fault<'a> {
    m: &'a Model,
    producer: i32,
    consumer: i32,
    conduit: Conduit,
    read_fd: i32,
    /// When the producer was held at its k-th write.
    held_at: u64,
    k: u32,
}

fn fault<'a>(run: &'a Outcome) -> Option<Fault<'a>> {
    let m = &run.model;
    let (producer, consumer, read_fd, k) = match &run.scenario {
        Scenario::Eof {
            producer,
            consumer,
            k,
            ..
        }
        | Scenario::Epipe {
            producer,
            consumer,
            k,
            ..
        } => {
            let find = |l: &[u32]| m.procs.values().find(|p| p.lineage == l).map(|p| p.pid);
            (
                find(&producer.lineage)?,
                find(&consumer.lineage)?,
                consumer.fd,
                *k,
            )
        }
        _ => return None,
    };
    let held_at = m.records.iter().find_map(|r| match &r.event {
        Event::Intervention(Intervention::Held { .. }) if r.pid == producer => Some(r.at_us),
        _ => None,
    })?;
    // The conduit, from the producer's held write.
    let conduit = m.records.iter().find_map(|r| match &r.event {
        Event::Call(call) if r.pid == producer && call.sys.writes() => match &call.detail {
            Detail::Io { object, .. } => m.conduit(object, true),
            _ => None,
        },
        _ => None,
    });
    let conduit = conduit.or_else(|| {
        m.records.iter().find_map(|r| match &r.event {
            Event::Snapshot { tables, .. } => {
                tables.iter().find(|t| t.pid == producer).and_then(|t| {
                    t.calls
                        .iter()
                        .find_map(|c| c.object.as_ref().and_then(|o| m.conduit(o, true)))
                })
            }
            _ => None,
        })
    })?;
    Some(Fault {
        m,
        producer,
        consumer,
        conduit,
        read_fd,
        held_at,
        k,
    })
}

fn exit_of(m: &Model, pid: i32) -> Option<(Status, u64)> {
    m.procs.get(&pid).and_then(|p| p.exit)
}

/// The time grade killed `pid` (an intervention), if it did.
fn killed_by_grade(m: &Model, pid: i32) -> Option<u64> {
    m.records.iter().find_map(|r| match &r.event {
        Event::Intervention(Intervention::Signalled { .. }) if r.pid == pid => Some(r.at_us),
        _ => None,
    })
}

fn eof(lang: Lang, runs: &Runs<'_>) -> Criterion {
    let Some(run) = runs.eof else {
        return criterion(
            "eof",
            Verdict::Unknown,
            say!(
                lang,
                "no producer and consumer were found, so none could be killed",
                "não foram encontrados produtor e consumidor para matar"
            ),
        );
    };
    let Some(f) = fault(run) else {
        return criterion(
            "eof",
            Verdict::Unknown,
            say!(
                lang,
                "in the fault run the producer made fewer than {} writes into the channel: it was not killed",
                "na execução com falha o produtor fez menos de {} escritas no canal: não foi morto",
                runs.k
            ),
        );
    };
    let m = f.m;
    let n = Namer::with(lang, m, f.producer, f.consumer);
    let killed = say!(
        lang,
        "{} was killed at its {} write into the channel ({})",
        "{} foi morto na sua {} escrita no canal ({})",
        n.name(f.producer),
        ordinal(lang, f.k),
        secs(f.held_at)
    );
    if let Some((_, at)) = exit_of(m, f.consumer)
        && at < f.held_at
    {
        return criterion(
            "eof",
            Verdict::Unknown,
            say!(
                lang,
                "{} had already ended when {}",
                "{} já tinha terminado quando {}",
                n.name(f.consumer),
                killed
            ),
        );
    }
    if let Some((at, tables)) = snapshot(m, SNAP_EOF) {
        let reading = tables
            .iter()
            .find(|t| t.pid == f.consumer)
            .and_then(|t| t.calls.iter().find(|c| c.sys.reads()));
        let doing = match reading {
            Some(c) => say!(
                lang,
                "still blocked in {}(fd {})",
                "ainda bloqueado em {}(fd {})",
                c.sys.name(),
                c.fd.unwrap_or(f.read_fd)
            ),
            None => say!(lang, "still running", "ainda rodando"),
        };
        return criterion(
            "eof",
            Verdict::Fail,
            say!(
                lang,
                "{}; {} later {} was {}: the write end was still open in {}",
                "{}; {} depois o {} estava {}: a ponta de escrita ainda estava aberta em {}",
                killed,
                dur(at.saturating_sub(f.held_at)),
                n.name(f.consumer),
                doing,
                holders(lang, &n, m, tables, &f.conduit, true)
            ),
        );
    }
    let Some((status, ended)) = exit_of(m, f.consumer) else {
        return criterion(
            "eof",
            Verdict::Unknown,
            say!(
                lang,
                "{}; the consumer's end was not seen",
                "{}; o fim do consumidor não foi visto",
                killed
            ),
        );
    };
    // Someone else (main) signalled the consumer?
    let signalled = m.records.iter().find_map(|r| match &r.event {
        Event::Call(call) if r.at_us > f.held_at => match &call.detail {
            Detail::Kill { target, signal } if *target == i64::from(f.consumer) && *signal != 0 => {
                Some((r.pid, *signal, r.at_us))
            }
            _ => None,
        },
        _ => None,
    });
    if let Some((by, sig, at)) = signalled
        && matches!(status, Status::Signal(_))
        && let Some((_, tables)) = snapshot(m, SNAP_EOF_SIGNAL)
        && let Some(call) = tables
            .iter()
            .find(|t| t.pid == f.consumer)
            .and_then(|t| t.calls.iter().find(|c| c.sys.reads()))
    {
        let held = holders(lang, &n, m, tables, &f.conduit, true);
        if held != lang.pick("nobody", "ninguém") {
            return criterion(
                "eof",
                Verdict::Fail,
                say!(
                    lang,
                    "{}; {} later {} was still blocked in {}(fd {}), until {} ended it with {} ({}): the write end was still open in {}",
                    "{}; {} depois o {} ainda estava bloqueado em {}(fd {}), até que {} o encerrou com {} ({}): a ponta de escrita ainda estava aberta em {}",
                    killed,
                    dur(at.saturating_sub(f.held_at)),
                    n.name(f.consumer),
                    call.sys.name(),
                    call.fd.unwrap_or(f.read_fd),
                    n.name(by),
                    ipc_sys::signal::signal_name(sig),
                    secs(at),
                    held
                ),
            );
        }
    }
    if let Some((by, sig, at)) = signalled
        && matches!(status, Status::Signal(_))
    {
        return criterion(
            "eof",
            Verdict::Unknown,
            say!(
                lang,
                "{}; {} then ended {} with {} ({}): whether the consumer would have seen end of file by itself is not known",
                "{}; {} então encerrou {} com {} ({}): não se sabe se o consumidor veria o fim de arquivo sozinho",
                killed,
                n.name(by),
                n.name(f.consumer),
                ipc_sys::signal::signal_name(sig),
                secs(at)
            ),
        );
    }
    if killed_by_grade(m, f.consumer).is_some() {
        return criterion(
            "eof",
            Verdict::Fail,
            say!(
                lang,
                "{}; {} did not end by itself: grade ended it at {}",
                "{}; {} não terminou sozinho: o grade o encerrou em {}",
                killed,
                n.name(f.consumer),
                secs(ended)
            ),
        );
    }
    let saw_eof = m.records.iter().find_map(|r| match &r.event {
        Event::Call(call)
            if r.pid == f.consumer
                && call.sys.reads()
                && call.result == 0
                && r.at_us > f.held_at =>
        {
            match &call.detail {
                Detail::Io { object, .. }
                    if m.conduit(object, false) == Some(f.conduit.clone()) =>
                {
                    Some(r.at_us)
                }
                _ => None,
            }
        }
        _ => None,
    });
    let eof_text = match saw_eof {
        Some(at) => say!(
            lang,
            " read end of file at {} and",
            " leu fim de arquivo em {} e",
            secs(at)
        ),
        None => String::new(),
    };
    criterion(
        "eof",
        Verdict::Pass,
        say!(
            lang,
            "{}; {}{} ended by itself {} later ({})",
            "{}; {}{} terminou sozinho {} depois ({})",
            killed,
            n.name(f.consumer),
            eof_text,
            dur(ended.saturating_sub(f.held_at)),
            status_text(lang, status)
        ),
    )
}

fn epipe(lang: Lang, runs: &Runs<'_>) -> Criterion {
    let Some(run) = runs.epipe else {
        return criterion(
            "epipe",
            Verdict::Unknown,
            say!(
                lang,
                "no producer and consumer were found, so none could be killed",
                "não foram encontrados produtor e consumidor para matar"
            ),
        );
    };
    let Some(f) = fault(run) else {
        return criterion(
            "epipe",
            Verdict::Unknown,
            say!(
                lang,
                "in the fault run the producer made fewer than {} writes into the channel",
                "na execução com falha o produtor fez menos de {} escritas no canal",
                runs.k
            ),
        );
    };
    let m = f.m;
    let n = Namer::with(lang, m, f.producer, f.consumer);
    let Some((_, consumer_end)) = exit_of(m, f.consumer).filter(|(_, at)| *at >= f.held_at) else {
        return criterion(
            "epipe",
            Verdict::Unknown,
            say!(
                lang,
                "{} had already ended when the producer reached its {} write",
                "{} já tinha terminado quando o produtor chegou à sua {} escrita",
                n.name(f.consumer),
                ordinal(lang, f.k)
            ),
        );
    };
    let setting = say!(
        lang,
        "{} was held at its {} write ({}) and {} killed; once it was gone ({})",
        "{} foi parado na sua {} escrita ({}) e {} morto; quando ele sumiu ({})",
        n.name(f.producer),
        ordinal(lang, f.k),
        secs(f.held_at),
        n.name(f.consumer),
        secs(consumer_end)
    );
    if let Some((_, tables)) = snapshot(m, SNAP_EPIPE_WROTE) {
        return criterion(
            "epipe",
            Verdict::Fail,
            say!(
                lang,
                "{} the producer's write succeeded: the read end was still open in {}",
                "{} a escrita do produtor deu certo: a ponta de leitura ainda estava aberta em {}",
                setting,
                holders(lang, &n, m, tables, &f.conduit, false)
            ),
        );
    }
    let after: Vec<&ipc_sys::trace::Call> = m
        .records
        .iter()
        .filter(|r| r.pid == f.producer && r.at_us >= consumer_end)
        .filter_map(|r| match &r.event {
            Event::Call(c) if c.sys.writes() => Some(c),
            _ => None,
        })
        .collect();
    let epipe = after.iter().any(|c| c.errno() == Some(libc::EPIPE));
    let sigpipe = m.records.iter().any(|r| {
        r.pid == f.producer
            && matches!(r.event, Event::Signal { signal } if signal == libc::SIGPIPE)
    });
    let end = exit_of(m, f.producer);
    let by_grade = killed_by_grade(m, f.producer).is_some_and(|at| at > f.held_at + 1);
    if let Some((at, tables)) = snapshot(m, SNAP_EPIPE_OVER) {
        let blocked = tables
            .iter()
            .find(|t| t.pid == f.producer)
            .and_then(|t| t.calls.iter().find(|c| c.sys.writes()));
        let what = if blocked.is_some() {
            say!(
                lang,
                "the producer was blocked in a write {} later: the read end was still open in {}",
                "o produtor estava bloqueado numa escrita {} depois: a ponta de leitura ainda estava aberta em {}",
                dur(at.saturating_sub(consumer_end)),
                holders(lang, &n, m, tables, &f.conduit, false)
            )
        } else if epipe {
            say!(
                lang,
                "the producer got EPIPE but was still running {} later",
                "o produtor recebeu EPIPE mas ainda rodava {} depois",
                dur(at.saturating_sub(consumer_end))
            )
        } else {
            say!(
                lang,
                "the producer was still running {} later",
                "o produtor ainda rodava {} depois",
                dur(at.saturating_sub(consumer_end))
            )
        };
        return criterion("epipe", Verdict::Fail, format!("{setting} {what}"));
    }
    match end {
        Some((status, at)) if (epipe || sigpipe) && !by_grade => criterion(
            "epipe",
            Verdict::Pass,
            say!(
                lang,
                "{} its write failed with {} and it ended by itself {} later ({})",
                "{} sua escrita falhou com {} e ele terminou sozinho {} depois ({})",
                setting,
                if epipe { "EPIPE" } else { "SIGPIPE" },
                dur(at.saturating_sub(consumer_end)),
                status_text(lang, status)
            ),
        ),
        _ => criterion(
            "epipe",
            Verdict::Unknown,
            say!(
                lang,
                "{} the producer neither wrote again nor got EPIPE before the run ended",
                "{} o produtor não escreveu de novo nem recebeu EPIPE antes do fim da execução",
                setting
            ),
        ),
    }
}

fn cleanup(lang: Lang, normal: &[Outcome]) -> Criterion {
    for (i, run) in normal.iter().enumerate() {
        let m = &run.model;
        let n = Namer::new(lang, m);
        let main = m.roles.as_ref().map_or(m.root, |r| r.main);
        if m.finished == "timeout" || run.backstop {
            return criterion(
                "cleanup",
                Verdict::Fail,
                say!(
                    lang,
                    "run {} did not end within the time limit; grade killed what was left",
                    "a execução {} não terminou dentro do prazo; o grade matou o que restava",
                    i + 1
                ),
            );
        }
        match m.root_exit() {
            Some(Status::Code(0)) => {}
            Some(s) => {
                return criterion(
                    "cleanup",
                    Verdict::Fail,
                    say!(
                        lang,
                        "run {}: the command ended with {}",
                        "execução {}: o comando terminou com {}",
                        i + 1,
                        status_text(lang, s)
                    ),
                );
            }
            None => {}
        }
        if let Some((_, tables)) = snapshot(m, SNAP_LEFT) {
            let left: Vec<String> = tables
                .iter()
                .filter(|t| !m.is_helper(t.pid))
                .map(|t| n.name(t.pid))
                .collect();
            if !left.is_empty() {
                return criterion(
                    "cleanup",
                    Verdict::Fail,
                    say!(
                        lang,
                        "run {}: still running after main ended: {} (grade killed them)",
                        "execução {}: ainda rodando depois do fim do main: {} (o grade os matou)",
                        i + 1,
                        left.join(", ")
                    ),
                );
            }
        }
        let main_end = m.procs.get(&main).and_then(|p| p.exit).map(|e| e.1);
        for p in m.workers() {
            if p.pid == m.root {
                continue;
            }
            let reaped = p.reaped_by.is_some_and(|(by, at)| {
                by != p.pid && (p.parent != Some(main) || main_end.is_none_or(|e| at <= e))
            });
            if !reaped {
                let ended_after = match (p.exit, main_end) {
                    (Some((_, e)), Some(me)) => e > me,
                    _ => false,
                };
                let why = if ended_after {
                    lang.pick("it outlived main", "ele sobreviveu ao main")
                } else {
                    lang.pick(
                        "no wait4/waitid returned it",
                        "nenhum wait4/waitid o devolveu",
                    )
                };
                let parent = p.parent.map(|pp| n.name(pp)).unwrap_or_default();
                return criterion(
                    "cleanup",
                    Verdict::Fail,
                    say!(
                        lang,
                        "run {}: {} was never waited for by its parent {} ({})",
                        "execução {}: {} nunca foi esperado pelo pai {} ({})",
                        i + 1,
                        n.name(p.pid),
                        parent,
                        why
                    ),
                );
            }
        }
    }
    let waits = normal
        .first()
        .and_then(|run| {
            let r = run.model.roles.as_ref()?;
            let n = Namer::new(lang, &run.model);
            let by = |pid: i32| {
                run.model
                    .procs
                    .get(&pid)
                    .and_then(|p| p.reaped_by)
                    .map(|(b, _)| n.name(b))
            };
            Some(say!(
                lang,
                "; the producer was reaped by {}, the consumer by {}",
                "; o produtor foi recolhido por {}, o consumidor por {}",
                by(r.producer).unwrap_or_default(),
                by(r.consumer).unwrap_or_default()
            ))
        })
        .unwrap_or_default();
    criterion(
        "cleanup",
        Verdict::Pass,
        say!(
            lang,
            "{} normal run(s) exited 0, every process was waited for by its parent and nothing outlived main{}",
            "{} execução(ões) normais saíram com 0, todo processo foi esperado pelo pai e nada sobreviveu ao main{}",
            normal.len(),
            waits
        ),
    )
}

/// Lines of sandbox evidence shown at most.
const SANDBOX_LINES: usize = 12;

/// The sandbox's evidence: calls refused or limited, grouped, with counts.
pub fn sandbox_lines(lang: Lang, outcomes: &[&Outcome]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for run in outcomes {
        for r in &run.model.records {
            let Event::Call(call) = &r.event else {
                continue;
            };
            let Some(errno) = call
                .errno()
                .filter(|e| ipc_sys::trace::NOTABLE_ERRNOS.contains(e))
            else {
                continue;
            };
            let what = match &call.detail {
                Detail::Open { path, flags, .. } => {
                    let w = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_CREAT != 0;
                    say!(
                        lang,
                        "tried to {} {}",
                        "tentou {} {}",
                        if w {
                            lang.pick("write", "escrever")
                        } else {
                            lang.pick("read", "ler")
                        },
                        path
                    )
                }
                Detail::Path { path } => say!(lang, "{} {}", "{} {}", call.sys.name(), path),
                Detail::Connect { address, .. } => {
                    say!(
                        lang,
                        "tried to connect to {}",
                        "tentou conectar a {}",
                        address
                    )
                }
                _ if matches!(call.sys, Sys::Clone | Sys::Clone3 | Sys::Fork | Sys::Vfork) => lang
                    .pick("tried to create a process", "tentou criar um processo")
                    .into(),
                Detail::Io { object, .. } => say!(lang, "{} {}", "{} {}", call.sys.name(), object),
                _ => call.sys.name(),
            };
            let errno = nix::errno::Errno::from_raw(errno);
            *seen
                .entry(format!("{what}: {} ({})", errno.desc(), errno))
                .or_insert(0) += 1;
        }
        for r in &run.model.records {
            if let Event::Exited {
                status: Status::Signal(sig),
            } = r.event
                && (sig == libc::SIGXCPU || sig == libc::SIGXFSZ)
            {
                *seen
                    .entry(say!(
                        lang,
                        "pid {} was killed by {} (a limit)",
                        "o pid {} foi morto por {} (um limite)",
                        r.pid,
                        ipc_sys::signal::signal_name(sig)
                    ))
                    .or_insert(0) += 1;
            }
        }
    }
    let total = seen.len();
    let mut lines: Vec<String> = seen
        .into_iter()
        .take(SANDBOX_LINES)
        .map(|(k, n)| if n > 1 { format!("{k} ×{n}") } else { k })
        .collect();
    if total > SANDBOX_LINES {
        lines.push(say!(
            lang,
            "… and {} more",
            "… e mais {}",
            total - SANDBOX_LINES
        ));
    }
    lines
}
