//! The verdicts of the normal runs: processes, channel, exchanges, distinct, classified,
//! shared_log.

use super::*;
use crate::grade::model::Chunk;
use crate::grade::values::Value;

/// Main (the root, when no roles were found) and what it started after it began running the
/// submission's program (a launcher such as pyenv's shim forks a few processes of its own
/// before it executes python).
pub(super) fn program_size(m: &Model) -> usize {
    let top = m.roles.as_ref().map_or(m.root, |r| r.main);
    let since = m.procs.get(&top).map_or(0, |p| p.exec_us);
    m.program()
        .filter(|p| p.pid == top || (p.born_us >= since && m.ancestors(p.pid).contains(&top)))
        .count()
}

/// Without roles: "unknown" when main and two more processes ran (they may talk some other
/// way), "fail" when there are too few processes for a producer and a consumer.
fn without_roles(m: &Model) -> Verdict {
    if program_size(m) >= 3 {
        Verdict::Unknown
    } else {
        Verdict::Fail
    }
}

pub(super) fn processes(lang: Lang, run: &Outcome) -> Judged {
    let m = &run.model;
    let n = Namer::new(lang, m);
    let workers = program_size(m);
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
        // Main and two more could be a producer and a consumer that talk some other way
        // (shared memory): which is which cannot be told.
        let verdict = without_roles(m);
        let then = if verdict == Verdict::Unknown {
            say!(
                lang,
                "which is the producer and which the consumer is not known",
                "não se sabe qual é o produtor e qual o consumidor"
            )
        } else {
            say!(
                lang,
                "no producer and consumer",
                "não há produtor e consumidor"
            )
        };
        return (
            verdict,
            say!(
                lang,
                "{} from main down, but none sent data to another through a pipe, socket pair or FIFO: {}{}",
                "{} do main para baixo, mas nenhum enviou dados a outro por pipe, par de sockets ou FIFO: {}{}",
                counted(
                    lang,
                    workers,
                    ["process ran", "processes ran"],
                    ["processo rodou", "processos rodaram"]
                ),
                then,
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
        let (role, other) = if r.producer == r.main {
            (lang.pick("producer", "produtor"), r.consumer)
        } else {
            (lang.pick("consumer", "consumidor"), r.producer)
        };
        return (
            Verdict::Fail,
            say!(
                lang,
                "main {} ({}) is itself the {}: only one process besides main ({})",
                "o main {} ({}) é ele mesmo o {}: só um processo além do main ({})",
                r.main,
                main_argv,
                role,
                n.name(other)
            ),
        );
    }
    (
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
pub(super) fn creation(lang: Lang, m: &Model, c: &Conduit) -> String {
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
                secs(lang, r.at_us)
            );
        }
    }
    String::new()
}

pub(super) fn channel(lang: Lang, run: &Outcome) -> Judged {
    let m = &run.model;
    let Some(r) = &m.roles else {
        return (
            Verdict::Fail,
            say!(
                lang,
                "no pipe, socket pair or FIFO carried data from one process to another",
                "nenhum pipe, par de sockets ou FIFO levou dados de um processo a outro"
            ),
        );
    };
    let f = &r.flow;
    let more: Vec<String> = r
        .more
        .iter()
        .map(|g| {
            say!(
                lang,
                "{} ({}, fd {} → fd {})",
                "{} ({}, fd {} → fd {})",
                conduit_text(lang, &g.conduit, m),
                counted(lang, g.writes, ["write", "writes"], ["escrita", "escritas"]),
                g.write_fd,
                g.read_fd
            )
        })
        .collect();
    let more = if more.is_empty() {
        String::new()
    } else {
        say!(
            lang,
            "; and between them also {}",
            "; e entre eles também {}",
            more.join(", ")
        )
    };
    (
        Verdict::Pass,
        say!(
            lang,
            "{}{}: producer {} writes fd {} ({}), consumer {} reads fd {} ({}){}",
            "{}{}: produtor {} escreve no fd {} ({}), consumidor {} lê o fd {} ({}){}",
            conduit_text(lang, &f.conduit, m),
            creation(lang, m, &f.conduit),
            r.producer,
            f.write_fd,
            counted(lang, f.writes, ["write", "writes"], ["escrita", "escritas"]),
            r.consumer,
            f.read_fd,
            count(f.read_bytes as u64, "byte", "bytes"),
            more
        ),
    )
}

pub(super) fn scheme_text(lang: Lang, scheme: &str) -> String {
    let (en, pt) = match scheme {
        "text" => ("integers as text", "inteiros em texto"),
        "pickle" => ("Python pickles", "pickles do Python"),
        "connection" => (
            "pickles in multiprocessing.Connection frames",
            "pickles em quadros de multiprocessing.Connection",
        ),
        "int32" => ("4-byte integers", "inteiros de 4 bytes"),
        "int64" => ("8-byte integers", "inteiros de 8 bytes"),
        "int32be" => (
            "4-byte integers in network order",
            "inteiros de 4 bytes na ordem de rede",
        ),
        "int64be" => (
            "8-byte integers in network order",
            "inteiros de 8 bytes na ordem de rede",
        ),
        _ => ("?", "?"),
    };
    lang.pick(en, pt).into()
}

/// The values the consumer got in a run: from the channel, else from what it recorded.
pub(super) fn values(run: &Outcome) -> Option<(Vec<Value>, String)> {
    let r = run.model.roles.as_ref()?;
    if !r.decoded.values.is_empty() {
        return Some((r.decoded.values.clone(), r.decoded.scheme.to_string()));
    }
    let readings = consumer_readings(run);
    let vals: Vec<Value> = readings
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

pub(super) fn exchanges(lang: Lang, normal: &[Outcome]) -> Judged {
    let mut counts = Vec::new();
    for (i, run) in normal.iter().enumerate() {
        match values(run) {
            Some((v, scheme)) => counts.push((i + 1, v.len(), scheme)),
            None => {
                if let Some(r) = &run.model.roles {
                    return (
                        Verdict::Unknown,
                        say!(
                            lang,
                            "run {}: {} bytes reached the consumer, but they are not integers as text, native integers or pickles, and the consumer recorded no value in a file",
                            "execução {}: {} bytes chegaram ao consumidor, mas não são inteiros em texto, inteiros nativos nem pickles, e o consumidor não registrou valores em arquivo",
                            i + 1,
                            r.flow.read_bytes + r.more.iter().map(|f| f.read_bytes).sum::<usize>()
                        ),
                    );
                }
            }
        }
    }
    let Some(min) = counts.iter().min_by_key(|c| c.1) else {
        let verdict = normal
            .first()
            .map_or(Verdict::Fail, |r| without_roles(&r.model));
        let evidence = if verdict == Verdict::Fail {
            say!(
                lang,
                "no value reached a consumer: no channel between two processes was found",
                "nenhum valor chegou a um consumidor: não há canal entre dois processos"
            )
        } else {
            say!(
                lang,
                "no channel between two processes was found, so what reached a consumer (if anything did) could not be seen",
                "não há canal entre dois processos, então não se pôde ver o que chegou a um consumidor (se algo chegou)"
            )
        };
        return (verdict, evidence);
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
        (
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
        (
            Verdict::Fail,
            say!(
                lang,
                "run {}: only {} the consumer ({}); at least 10 are asked",
                "execução {}: só {} ao consumidor ({}); pede-se pelo menos 10",
                min.0,
                counted(
                    lang,
                    min.1,
                    ["value reached", "values reached"],
                    ["valor chegou", "valores chegaram"]
                ),
                how
            ),
        )
    }
}

pub(super) fn first_values(v: &[Value]) -> String {
    let mut s: Vec<String> = v.iter().take(4).map(|x| x.to_string()).collect();
    if v.len() > 4 {
        s.push("…".into());
    }
    s.join(", ")
}

pub(super) fn distinct(lang: Lang, normal: &[Outcome]) -> Judged {
    let seqs: Vec<(usize, Vec<Value>)> = normal
        .iter()
        .enumerate()
        .filter_map(|(i, r)| values(r).map(|(v, _)| (i + 1, v)))
        .collect();
    if seqs.is_empty() {
        return (
            Verdict::Unknown,
            say!(lang, "no values were seen", "nenhum valor foi observado"),
        );
    }
    for (i, v) in &seqs {
        let mut seen = BTreeSet::new();
        let repeated: BTreeSet<Value> = v.iter().filter(|x| !seen.insert(**x)).copied().collect();
        if !repeated.is_empty() {
            let list: Vec<String> = repeated.iter().take(5).map(|x| x.to_string()).collect();
            return (
                Verdict::Fail,
                say!(
                    lang,
                    "run {}: {} sent more than once (of {} values)",
                    "execução {}: {} mais de uma vez (de {} valores)",
                    i,
                    match (lang, repeated.len()) {
                        (Lang::Pt, 1) => format!("{} enviado", list.join(", ")),
                        (Lang::Pt, _) => format!("{} enviados", list.join(", ")),
                        _ => list.join(", "),
                    },
                    v.len()
                ),
            );
        }
    }
    if seqs.len() < 2 {
        return (
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
        return (
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
    (
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
    pub reading: Option<crate::grade::classify::Reading>,
}

pub struct Readings {
    /// Relative path → lines the consumer wrote there.
    pub files: BTreeMap<String, Vec<ConsumerLine>>,
    /// Lines the consumer wrote on its standard output or error.
    pub printed: usize,
}

/// The bytes of a process's writes to one file, whole lines only: where the tracer kept only
/// the start of a large write, the line it cut is dropped, and so is the rest of that line in
/// the next writes.
fn whole_lines(chunks: &[Chunk]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut skipping = false;
    for c in chunks {
        let mut data = c.data.as_slice();
        if skipping {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    data = &data[i + 1..];
                    skipping = false;
                }
                None => continue,
            }
        }
        if c.cut() {
            if let Some(i) = memchr::memrchr(b'\n', data) {
                out.extend_from_slice(&data[..=i]);
            }
            skipping = true;
        } else {
            out.extend_from_slice(data);
        }
    }
    out
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
    let received = &r.decoded.values;
    let scratch = run.scratch.to_string_lossy().into_owned();
    let writes = run.model.file_writes();
    for ((pid, path), chunks) in &writes {
        if *pid != r.consumer {
            continue;
        }
        let text = String::from_utf8_lossy(&whole_lines(chunks)).into_owned();
        let Some(rel) = path
            .strip_prefix(&scratch)
            .map(|p| p.trim_start_matches('/'))
        else {
            // Its stdout/stderr (grade's capture files) or a file outside the scratch copy.
            out.printed += text.lines().count();
            continue;
        };
        let final_lines = run.files.get(rel).cloned().unwrap_or_default();
        let alone = writes.keys().all(|(p, q)| q != path || p == pid);
        if alone && chunks.iter().any(Chunk::cut) {
            // Writes too large for the tracer to keep whole, in a file only the consumer
            // wrote: the file as the run left it says all.
            let lines = final_lines
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| ConsumerLine {
                    number: i + 1,
                    text: l.clone(),
                    reading: read_line(l, received),
                })
                .collect();
            out.files.insert(rel.to_string(), lines);
            continue;
        }
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

pub(super) fn classified(lang: Lang, normal: &[Outcome]) -> Judged {
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
                    " (it printed {} on its standard output instead)",
                    " (imprimiu {} na saída padrão em vez disso)",
                    counted(
                        lang,
                        readings.printed,
                        ["line", "lines"],
                        ["linha", "linhas"]
                    )
                )
            } else {
                String::new()
            };
            return (
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
                    return (
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
            return (
                Verdict::Fail,
                say!(
                    lang,
                    "run {}: the consumer wrote {} in {}, none pairing an integer with a class word (par, ímpar, even, odd)",
                    "execução {}: o consumidor escreveu {} em {}, nenhuma com um inteiro e uma classe (par, ímpar, even, odd)",
                    i + 1,
                    counted(lang, total, ["line", "lines"], ["linha", "linhas"]),
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
        Some(e) => (Verdict::Pass, e),
        None => (
            normal
                .first()
                .map_or(Verdict::Unknown, |r| without_roles(&r.model)),
            say!(
                lang,
                "no consumer was found, so nothing it recorded can be read",
                "nenhum consumidor foi encontrado; não há registro dele para ler"
            ),
        ),
    }
}

/// The files of the scratch copy each role wrote: relative path → (role pid → writes).
pub(super) fn role_files(run: &Outcome) -> BTreeMap<String, BTreeMap<i32, usize>> {
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

pub(super) fn shared_log(lang: Lang, run: &Outcome) -> Judged {
    let Some(r) = &run.model.roles else {
        return (
            without_roles(&run.model),
            say!(
                lang,
                "no producer and consumer were found",
                "não foram encontrados produtor e consumidor"
            ),
        );
    };
    let n = Namer::new(lang, &run.model);
    let files = role_files(run);
    let describe = |writers: &BTreeMap<i32, usize>| {
        let mut writers: Vec<(&i32, &usize)> = writers.iter().collect();
        writers.sort_by_key(|(pid, _)| (n.rank(**pid), **pid));
        writers
            .into_iter()
            .map(|(pid, k)| {
                let w = counted(lang, *k, ["write", "writes"], ["escrita", "escritas"]);
                format!("{} ({w})", n.name(*pid))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (file, writers) in &files {
        if [r.main, r.producer, r.consumer]
            .iter()
            .all(|p| writers.contains_key(p))
        {
            return (Verdict::Pass, format!("{file}: {}", describe(writers)));
        }
    }
    if files.is_empty() {
        return (
            Verdict::Fail,
            say!(
                lang,
                "no process wrote a file in the submission's folder",
                "nenhum processo escreveu um arquivo na pasta da entrega"
            ),
        );
    }
    // The files the roles wrote (a compiler's output files are no log).
    let roles = [r.main, r.producer, r.consumer];
    let list: Vec<String> = files
        .iter()
        .filter(|(_, w)| roles.iter().any(|p| w.contains_key(p)))
        .map(|(f, w)| format!("{f} ({})", describe(w)))
        .collect();
    let list = if list.is_empty() {
        lang.pick(
            "none of them wrote a file in the submission's folder",
            "nenhum deles escreveu um arquivo na pasta da entrega",
        )
        .to_string()
    } else {
        list.join("; ")
    };
    (
        Verdict::Fail,
        say!(
            lang,
            "no file was written by main, producer and consumer all three: {}",
            "nenhum arquivo foi escrito pelos três, main, produtor e consumidor: {}",
            list
        ),
    )
}
