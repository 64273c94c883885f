//! The verdicts of the provoked runs: lock (contention), eof (producer killed), epipe
//! (consumer killed), and what they share: snapshots, holders of a channel's ends.

use super::*;

pub(super) fn lock(lang: Lang, runs: &Runs<'_>) -> Criterion {
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
pub(super) fn holds_lock(m: &Model, pid: i32, at: u64) -> bool {
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
pub(super) fn holders(
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

pub(super) fn snapshot<'m>(m: &'m Model, label: &str) -> Option<(u64, &'m [FdTable])> {
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

pub(super) fn exit_of(m: &Model, pid: i32) -> Option<(Status, u64)> {
    m.procs.get(&pid).and_then(|p| p.exit)
}

/// The time grade killed `pid` (an intervention), if it did.
pub(super) fn killed_by_grade(m: &Model, pid: i32) -> Option<u64> {
    m.records.iter().find_map(|r| match &r.event {
        Event::Intervention(Intervention::Signalled { .. }) if r.pid == pid => Some(r.at_us),
        _ => None,
    })
}

pub(super) fn eof(lang: Lang, runs: &Runs<'_>) -> Criterion {
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

pub(super) fn epipe(lang: Lang, runs: &Runs<'_>) -> Criterion {
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
