//! The verdicts of the provoked runs: lock (contention), eof (producer killed), epipe
//! (consumer killed), and what they share: snapshots, holders of a channel's ends.

use super::*;

pub(super) fn lock(lang: Lang, runs: &Runs<'_>) -> Judged {
    let Some(log) = &runs.log else {
        return (
            Verdict::Fail,
            say!(
                lang,
                "there is no log written by two or more processes, so there is nothing to lock",
                "não há log escrito por dois ou mais processos, então não há o que proteger"
            ),
        );
    };
    let Some(run) = runs.lock else {
        return (
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
                let last_lock = last_lock_op(m, a, from);
                let lock_note = if last_lock.is_some_and(|op| op != LockOp::Unlock) {
                    say!(
                        lang,
                        " (the {} held its lock: the other process took the same lock without waiting — a lock taken through a descriptor shared across fork excludes nobody)",
                        " (o {} tinha a trava: o outro processo a pegou sem esperar — uma trava tomada num descritor herdado do fork não exclui ninguém)",
                        n.name(a)
                    )
                } else if last_lock == Some(LockOp::Unlock) {
                    say!(
                        lang,
                        " ({} had released its lock before this write: a buffered write that reaches the file only when it is flushed or closed, after the unlock, is not protected)",
                        " ({} já tinha liberado a trava antes desta escrita: uma escrita bufferizada, que só chega ao arquivo quando ele é esvaziado ou fechado depois de liberar a trava, não fica protegida)",
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
                return (
                    Verdict::Fail,
                    say!(
                        lang,
                        "while {} was held before its write to {} ({}, for {}), {} wrote to it at {}: the writes are not mutually exclusive{}",
                        "enquanto {} estava parado antes de escrever em {} ({}, por {}), {} escreveu nele em {}: as escritas não são mutuamente exclusivas{}",
                        n.name(a),
                        log,
                        secs(lang, from),
                        dur(lang, to - from),
                        n.name(r.pid),
                        secs(lang, r.at_us),
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
                // A wait that is for the log: the waiter's next act is a write to the log (a
                // semaphore of a shared buffer, waited on while the holder was held, is not).
                // Only a file lock is handed over by a waiter that ends: a futex waiter that
                // exits (a producer's last semaphore wait) leaves its parent nothing.
                let file_lock = matches!(call.detail, Detail::Lock { .. });
                let for_log = |_: &String| then_writes(m, r.pid, r.at_us, file_lock, &writes_log);
                if let Some(what) = what.filter(for_log) {
                    blocked = Some(say!(
                        lang,
                        "{} waited {} in {} while {} was held before its write to {} ({}); it went on {} after the holder was let go",
                        "{} esperou {} em {} enquanto {} estava parado antes de escrever em {} ({}); seguiu {} depois que o dono da trava foi liberado",
                        n.name(r.pid),
                        dur(lang, r.at_us - call.entered_us),
                        what,
                        n.name(a),
                        log,
                        secs(lang, from),
                        dur(lang, r.at_us - to)
                    ));
                }
            }
        }
    }
    match blocked {
        Some(e) => (Verdict::Pass, e),
        None => (
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

/// Whether `pid`, after a wait that ended at `at`, writes to the log before it waits again
/// (another lock, another shared futex wait). With `hand_over` (the wait took a file lock), a
/// waiter that ends first hands over to its parent: `flock 9` (flock(1)) locks the open file
/// its shell shares, and the shell then writes.
fn then_writes(
    m: &Model,
    pid: i32,
    at: u64,
    hand_over: bool,
    writes_log: &dyn Fn(&ipc_sys::trace::Call) -> bool,
) -> bool {
    for r in m.records.iter().filter(|r| r.pid == pid && r.at_us > at) {
        if matches!(r.event, Event::Exited { .. }) {
            let parent = m.procs.get(&pid).and_then(|p| p.parent);
            return hand_over
                && parent
                    .is_some_and(|p| p != pid && then_writes(m, p, r.at_us, false, writes_log));
        }
        let Event::Call(call) = &r.event else {
            continue;
        };
        if writes_log(call) {
            return true;
        }
        let waits = matches!(
            call.detail,
            Detail::FutexWait { .. }
                | Detail::Lock {
                    op: LockOp::Exclusive | LockOp::Shared,
                    ..
                }
        );
        if waits {
            return false;
        }
    }
    false
}

/// The last lock operation (flock/fcntl) `pid` made with success by time `at`: it held a
/// lock then unless that was an unlock.
fn last_lock_op(m: &Model, pid: i32, at: u64) -> Option<LockOp> {
    let records = m.records.iter().filter(|r| r.pid == pid && r.at_us <= at);
    records.rev().find_map(|r| match &r.event {
        Event::Call(call) if call.result >= 0 => match &call.detail {
            Detail::Lock { op, .. } => Some(*op),
            _ => None,
        },
        _ => None,
    })
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
    // Main, producer, consumer, then the others: pids wrap around, so their order is no order.
    let mut tables: Vec<&FdTable> = tables.iter().collect();
    tables.sort_by_key(|t| (n.rank(t.pid), t.pid));
    for t in tables {
        let fds: Vec<String> = t
            .fds
            .iter()
            .filter(|h| {
                // A socket's end both reads and writes; a pipe's or a FIFO's by its mode.
                let socket = matches!(h.object, Object::Socket(_));
                let side = socket || if write { h.writable() } else { h.readable() };
                side && m.conduit(&h.object, write).as_ref() == Some(c)
            })
            .map(|h| h.fd.to_string())
            .collect();
        if !fds.is_empty() {
            out.push(format!("{} (fd {})", n.name(t.pid), fds.join(", ")));
        }
    }
    if out.is_empty() {
        lang.pick("nobody", "ninguém").to_string()
    } else {
        out.join(", ")
    }
}

/// What a thread was doing at a snapshot, when it was waiting on the channel: blocked in a
/// read (`read`) or a write, or waiting in poll, select or epoll for the channel to become
/// readable (writable). "blocked in read(fd 3)", "waiting in ppoll on fd 3".
pub(super) fn waiting_on(
    lang: Lang,
    m: &Model,
    call: &InCall,
    conduit: &Conduit,
    read: bool,
    fallback_fd: i32,
) -> Option<String> {
    if (read && call.sys.reads()) || (!read && call.sys.writes()) {
        return Some(say!(
            lang,
            "blocked in {}(fd {})",
            "bloqueado em {}(fd {})",
            call.sys.name(),
            call.fd.unwrap_or(fallback_fd)
        ));
    }
    let fds: Vec<String> = call
        .waits
        .iter()
        .filter(|w| if read { w.read } else { w.write })
        .filter(|w| m.conduit(&w.object, !read).as_ref() == Some(conduit))
        .map(|w| w.fd.to_string())
        .collect();
    (!fds.is_empty()).then(|| {
        say!(
            lang,
            "waiting in {} on fd {}",
            "esperando em {} no fd {}",
            call.sys.name(),
            fds.join(", ")
        )
    })
}

/// "still running", "stopped by SIGSTOP since +0.30 s" for a process in a stop at `at`, or
/// what it was waiting in at the snapshot (a lock, a wait for a child).
fn still_running(lang: Lang, m: &Model, tables: &[FdTable], pid: i32, at: u64) -> String {
    if let Some((sig, since)) = m.stopped_at(pid, at) {
        return say!(
            lang,
            "stopped by {} since {}",
            "parado por {} desde {}",
            ipc_sys::signal::signal_name(sig),
            secs(lang, since)
        );
    }
    let call = tables
        .iter()
        .find(|t| t.pid == pid)
        .and_then(|t| t.calls.first());
    match call {
        Some(c) if c.sys == Sys::Futex => say!(
            lang,
            "still waiting for a lock shared between processes (a futex wait, since {})",
            "ainda esperando uma trava compartilhada entre processos (espera em futex, desde {})",
            secs(lang, c.since_us)
        ),
        Some(c) => say!(
            lang,
            "still waiting in {}{} (since {})",
            "ainda esperando em {}{} (desde {})",
            c.sys.name(),
            c.object
                .as_ref()
                .map(|o| format!("({})", base(&o.to_string())))
                .unwrap_or_default(),
            secs(lang, c.since_us)
        ),
        None => match idle(m, pid) {
            Some((cpu, wall)) => say!(
                lang,
                "idle (it ran {} on a processor in its last {})",
                "parado (rodou {} num processador nos seus últimos {})",
                dur(lang, cpu),
                dur(lang, wall)
            ),
            None => say!(lang, "still running", "ainda rodando"),
        },
    }
}

/// What `pid` did between the last two looks of a fault run's watch: (processor time, wall
/// time), µs — the evidence that a process the watch gave up on was idle, not starved.
fn idle(m: &Model, pid: i32) -> Option<(u64, u64)> {
    let mut looks = m.records.iter().rev().filter_map(|r| match &r.event {
        Event::Activity(a) if r.pid == pid => Some((r.at_us, *a)),
        _ => None,
    });
    let (to_at, to) = looks.next()?;
    let (from_at, from) = looks.next()?;
    let working = (to.cpu_us + to.waited_us).saturating_sub(from.cpu_us + from.waited_us);
    (!to.runnable && working.saturating_mul(2) < to_at.saturating_sub(from_at))
        .then(|| (to.cpu_us.saturating_sub(from.cpu_us), to_at - from_at))
}

/// The first thread of `pid` in a snapshot waiting on the channel (see `waiting_on`).
fn waiting_in(
    lang: Lang,
    m: &Model,
    tables: &[FdTable],
    pid: i32,
    conduit: &Conduit,
    read: bool,
    fallback_fd: i32,
) -> Option<String> {
    tables.iter().find(|t| t.pid == pid).and_then(|t| {
        t.calls
            .iter()
            .find_map(|c| waiting_on(lang, m, c, conduit, read, fallback_fd))
    })
}

pub(super) fn snapshot<'m>(m: &'m Model, label: &str) -> Option<(u64, &'m [FdTable])> {
    m.records.iter().find_map(|r| match &r.event {
        Event::Snapshot { label: l, tables } if l == label => Some((r.at_us, tables.as_slice())),
        _ => None,
    })
}

/// What the watched process of a fault run did during its watch, from the kernel's counts at
/// its first and last look from `since` on (a producer that forks the consumer was looked at
/// before, as its parent-to-be): wall time, processor time, time waiting for a processor (µs).
struct Worked {
    wall: u64,
    cpu: u64,
    waited: u64,
}

fn worked(m: &Model, pid: i32, since: u64) -> Option<Worked> {
    let mut looks = m.records.iter().filter_map(|r| match &r.event {
        Event::Activity(a) if r.pid == pid && r.at_us >= since => Some((r.at_us, *a)),
        _ => None,
    });
    let (from_at, from) = looks.next()?;
    let (to_at, to) = looks.next_back().unwrap_or((from_at, from));
    Some(Worked {
        wall: to_at.saturating_sub(from_at),
        cpu: to.cpu_us.saturating_sub(from.cpu_us),
        waited: to.waited_us.saturating_sub(from.waited_us),
    })
}

/// The verdict of a watch that ended with the watched process still working: it computed on
/// for `WATCH_CPU` (`busy`: fail, its processor time the evidence), it repeated the call that
/// should have ended it (`repeated` such calls: fail), or the machine gave it too little of a
/// processor to tell (unknown).
fn still_working(
    lang: Lang,
    m: &Model,
    (pid, since): (i32, u64),
    busy: bool,
    repeated: Option<String>,
) -> (Verdict, String) {
    let w = worked(m, pid, since).unwrap_or(Worked {
        wall: 0,
        cpu: 0,
        waited: 0,
    });
    if busy {
        return (
            Verdict::Fail,
            say!(
                lang,
                "it ran {} on a processor in the {} after, without ending",
                "ele rodou {} num processador nos {} seguintes, sem terminar",
                dur(lang, w.cpu),
                dur(lang, w.wall)
            ),
        );
    }
    if let Some(repeated) = repeated {
        return (
            Verdict::Fail,
            say!(
                lang,
                "{} in the {} after, without ending",
                "{} nos {} seguintes, sem terminar",
                repeated,
                dur(lang, w.wall)
            ),
        );
    }
    (
        Verdict::Unknown,
        say!(
            lang,
            "it was still working {} later, but the machine was busy: it had run {} on a processor and waited {} for one; whether it would have ended is not known",
            "ele ainda trabalhava {} depois, mas a máquina estava ocupada: tinha rodado {} num processador e esperado {} por um; não se sabe se terminaria",
            dur(lang, w.wall),
            dur(lang, w.cpu),
            dur(lang, w.waited)
        ),
    )
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
    let sf = run.scenario.fault()?;
    let find = |l: &[u32]| m.procs.values().find(|p| p.lineage == l).map(|p| p.pid);
    let (producer, consumer) = (find(&sf.producer.lineage)?, find(&sf.consumer.lineage)?);
    let (read_fd, k) = (sf.consumer.fd, sf.k);
    let (held_at, held_on) = m.records.iter().find_map(|r| match &r.event {
        Event::Intervention(Intervention::Held { object, .. }) if r.pid == producer => {
            Some((r.at_us, object.clone()))
        }
        _ => None,
    })?;
    // The conduit, from the producer's held write (the object of its descriptor then).
    let conduit = held_on.and_then(|o| m.conduit(&o, true));
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

/// The fault run's roles and moment, or the `unknown` verdict without them.
fn acted<'a>(lang: Lang, run: Option<&'a Outcome>, k: u32) -> Result<Fault<'a>, Judged> {
    let Some(run) = run else {
        return Err((
            Verdict::Unknown,
            say!(
                lang,
                "no producer and consumer were found, so none could be killed",
                "não foram encontrados produtor e consumidor para matar"
            ),
        ));
    };
    fault(run).ok_or_else(|| (Verdict::Unknown, not_acted(lang, run, k)))
}

/// Why a fault run shows nothing: the producer never reached the write grade acts at, or
/// (held there) the channel it wrote to could not be told.
fn not_acted(lang: Lang, run: &Outcome, k: u32) -> String {
    if crate::grade::held(run) {
        return say!(
            lang,
            "in the fault run the producer was stopped at its {} write, but the channel it was writing to could not be told",
            "na execução com falha o produtor foi parado na sua {} escrita, mas não se pôde saber em que canal escrevia",
            ordinal(lang, k)
        );
    }
    match (lang, k) {
        (Lang::En, 1) => {
            "in the fault run the producer wrote nothing into the channel: grade could not act"
                .into()
        }
        (Lang::Pt, 1) => {
            "na execução com falha o produtor não escreveu nada no canal: o grade não pôde agir"
                .into()
        }
        _ => say!(
            lang,
            "in the fault run the producer made fewer than {} writes into the channel: grade could not act",
            "na execução com falha o produtor fez menos de {} escritas no canal: o grade não pôde agir",
            k
        ),
    }
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

pub(super) fn eof(lang: Lang, runs: &Runs<'_>) -> Judged {
    let f = match acted(lang, runs.eof, runs.k) {
        Ok(f) => f,
        Err(unknown) => return unknown,
    };
    let m = f.m;
    let n = Namer::with(lang, m, f.producer, f.consumer);
    let killed = say!(
        lang,
        "{} was killed at its {} write into the channel ({})",
        "{} foi morto na sua {} escrita no canal ({})",
        n.name(f.producer),
        ordinal(lang, f.k),
        secs(lang, f.held_at)
    );
    if let Some((_, at)) = exit_of(m, f.consumer)
        && at < f.held_at
    {
        return (
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
    let busy = snapshot(m, SNAP_EOF_BUSY).is_some();
    if busy || snapshot(m, SNAP_EOF_STARVED).is_some() {
        let eofs = m
            .records
            .iter()
            .filter(|r| r.pid == f.consumer && r.at_us > f.held_at)
            .filter(|r| match &r.event {
                Event::Call(call) => {
                    call.sys.reads()
                        && call.result == 0
                        && matches!(&call.detail, Detail::Io { object, .. }
                            if m.conduit(object, false) == Some(f.conduit.clone()))
                }
                _ => false,
            })
            .count();
        let repeated = (eofs >= 2).then(|| {
            say!(
                lang,
                "it read end of file {} times",
                "ele leu fim de arquivo {} vezes",
                eofs
            )
        });
        let (verdict, text) = still_working(lang, m, (f.consumer, f.held_at), busy, repeated);
        return (
            verdict,
            say!(
                lang,
                "{}; {} was watched: {}",
                "{}; {} foi observado: {}",
                killed,
                n.name(f.consumer),
                text
            ),
        );
    }
    if let Some((at, tables)) = snapshot(m, SNAP_EOF) {
        let doing = match waiting_in(lang, m, tables, f.consumer, &f.conduit, true, f.read_fd) {
            Some(what) => say!(lang, "still {}", "ainda {}", what),
            None => still_running(lang, m, tables, f.consumer, at),
        };
        return (
            Verdict::Fail,
            say!(
                lang,
                "{}; {} later {} was {}: the write end was still open in {}",
                "{}; {} depois o {} estava {}: a ponta de escrita ainda estava aberta em {}",
                killed,
                dur(lang, at.saturating_sub(f.held_at)),
                n.name(f.consumer),
                doing,
                holders(lang, &n, m, tables, &f.conduit, true)
            ),
        );
    }
    let Some((status, ended)) = exit_of(m, f.consumer) else {
        return (
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
        && matches!(status, Status::Signaled(_))
        && let Some((_, tables)) = snapshot(m, SNAP_EOF_SIGNAL)
        && let Some(doing) = waiting_in(lang, m, tables, f.consumer, &f.conduit, true, f.read_fd)
    {
        let held = holders(lang, &n, m, tables, &f.conduit, true);
        if held != lang.pick("nobody", "ninguém") {
            return (
                Verdict::Fail,
                say!(
                    lang,
                    "{}; {} later {} was still {}, until {} ended it with {} ({}): the write end was still open in {}",
                    "{}; {} depois o {} ainda estava {}, até que {} o encerrou com {} ({}): a ponta de escrita ainda estava aberta em {}",
                    killed,
                    dur(lang, at.saturating_sub(f.held_at)),
                    n.name(f.consumer),
                    doing,
                    n.name(by),
                    ipc_sys::signal::signal_name(sig),
                    secs(lang, at),
                    held
                ),
            );
        }
    }
    if let Some((by, sig, at)) = signalled
        && matches!(status, Status::Signaled(_))
    {
        return (
            Verdict::Unknown,
            say!(
                lang,
                "{}; {} then ended {} with {} ({}): whether the consumer would have seen end of file by itself is not known",
                "{}; {} então encerrou {} com {} ({}): não se sabe se o consumidor veria o fim de arquivo sozinho",
                killed,
                n.name(by),
                n.name(f.consumer),
                ipc_sys::signal::signal_name(sig),
                secs(lang, at)
            ),
        );
    }
    if killed_by_grade(m, f.consumer).is_some() {
        return (
            Verdict::Fail,
            say!(
                lang,
                "{}; {} did not end by itself: grade ended it at {}",
                "{}; {} não terminou sozinho: o grade o encerrou em {}",
                killed,
                n.name(f.consumer),
                secs(lang, ended)
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
            secs(lang, at)
        ),
        None => String::new(),
    };
    (
        Verdict::Pass,
        say!(
            lang,
            "{}; {}{} ended by itself {} later ({})",
            "{}; {}{} terminou sozinho {} depois ({})",
            killed,
            n.name(f.consumer),
            eof_text,
            dur(lang, ended.saturating_sub(f.held_at)),
            status_text(lang, status)
        ),
    )
}

pub(super) fn epipe(lang: Lang, runs: &Runs<'_>) -> Judged {
    let f = match acted(lang, runs.epipe, runs.k) {
        Ok(f) => f,
        Err(unknown) => return unknown,
    };
    let m = f.m;
    let n = Namer::with(lang, m, f.producer, f.consumer);
    let Some((_, consumer_end)) = exit_of(m, f.consumer).filter(|(_, at)| *at >= f.held_at) else {
        return (
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
        secs(lang, f.held_at),
        n.name(f.consumer),
        secs(lang, consumer_end)
    );
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
    let wrote = snapshot(m, SNAP_EPIPE_WROTE);
    if let Some((status, at)) = end
        && (epipe || sigpipe)
        && !by_grade
    {
        // A main that closes its copy of the read end a moment after the consumer died lets
        // one write through, and the next one fails: the producer still saw the broken pipe.
        let earlier = match wrote {
            Some((_, tables)) => say!(
                lang,
                " (a write just before had succeeded: the read end was still open then in {})",
                " (uma escrita logo antes tinha dado certo: a ponta de leitura ainda estava aberta então em {})",
                holders(lang, &n, m, tables, &f.conduit, false)
            ),
            None => String::new(),
        };
        return (
            Verdict::Pass,
            say!(
                lang,
                "{} its write failed with {} and it ended by itself {} later ({}){}",
                "{} sua escrita falhou com {} e ele terminou sozinho {} depois ({}){}",
                setting,
                if epipe { "EPIPE" } else { "SIGPIPE" },
                dur(lang, at.saturating_sub(consumer_end)),
                status_text(lang, status),
                earlier
            ),
        );
    }
    let busy = snapshot(m, SNAP_EPIPE_BUSY).is_some();
    if busy || snapshot(m, SNAP_EPIPE_STARVED).is_some() {
        let failed = after
            .iter()
            .filter(|c| c.errno() == Some(libc::EPIPE))
            .count();
        let repeated = (failed >= 2).then(|| {
            say!(
                lang,
                "it kept writing: {} writes failed with EPIPE",
                "ele continuou escrevendo: {} escritas falharam com EPIPE",
                failed
            )
        });
        let got = if epipe {
            lang.pick("the producer got EPIPE", "o produtor recebeu EPIPE")
        } else {
            lang.pick("the producer was let go", "o produtor foi liberado")
        };
        let (verdict, text) = still_working(lang, m, (f.producer, consumer_end), busy, repeated);
        return (verdict, format!("{setting} {got}; {text}"));
    }
    if let Some((at, tables)) = snapshot(m, SNAP_EPIPE_OVER) {
        let blocked = waiting_in(lang, m, tables, f.producer, &f.conduit, false, -1);
        let what = if let Some(doing) = blocked {
            say!(
                lang,
                "the producer was still {} {} later: the read end was still open in {}",
                "o produtor ainda estava {} {} depois: a ponta de leitura ainda estava aberta em {}",
                doing,
                dur(lang, at.saturating_sub(consumer_end)),
                holders(lang, &n, m, tables, &f.conduit, false)
            )
        } else if epipe {
            say!(
                lang,
                "the producer got EPIPE but was {} {} later",
                "o produtor recebeu EPIPE mas estava {} {} depois",
                still_running(lang, m, tables, f.producer, at),
                dur(lang, at.saturating_sub(consumer_end))
            )
        } else {
            say!(
                lang,
                "the producer was {} {} later",
                "o produtor estava {} {} depois",
                still_running(lang, m, tables, f.producer, at),
                dur(lang, at.saturating_sub(consumer_end))
            )
        };
        return (Verdict::Fail, format!("{setting} {what}"));
    }
    if let Some((_, tables)) = wrote {
        return (
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
    (
        Verdict::Unknown,
        say!(
            lang,
            "{} the producer neither wrote again nor got EPIPE before the run ended",
            "{} o produtor não escreveu de novo nem recebeu EPIPE antes do fim da execução",
            setting
        ),
    )
}
