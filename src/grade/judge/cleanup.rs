//! The cleanup verdict, and the sandbox's evidence.

use ipc_sys::sandbox::{Limit, Limits};

use super::*;

pub(super) fn cleanup(lang: Lang, normal: &[Outcome]) -> Judged {
    for (i, run) in normal.iter().enumerate() {
        let m = &run.model;
        let n = Namer::new(lang, m);
        let main = m.roles.as_ref().map_or(m.root, |r| r.main);
        if let Some((_, tables)) = snapshot(m, SNAP_LEFT) {
            let mut left: Vec<&FdTable> = tables.iter().filter(|t| !m.is_helper(t.pid)).collect();
            left.sort_by_key(|t| (n.rank(t.pid), t.pid));
            let killed = left.iter().any(|t| killed_by_grade(m, t.pid).is_some());
            let left: Vec<String> = left.iter().map(|t| n.name(t.pid)).collect();
            if !left.is_empty() {
                return (
                    Verdict::Fail,
                    say!(
                        lang,
                        "run {}: still running after main ended: {}{}",
                        "execução {}: ainda rodando depois do fim do main: {}{}",
                        i + 1,
                        left.join(", "),
                        if killed {
                            lang.pick(" (grade killed them)", " (o grade os matou)")
                        } else {
                            lang.pick(" (they ended later)", " (terminaram depois)")
                        }
                    ),
                );
            }
        }
        if m.finished == "timeout" || run.backstop {
            let stopped: Vec<String> = m
                .stopped_at_end()
                .into_iter()
                .map(|(pid, sig, at)| {
                    say!(
                        lang,
                        "{} had stopped itself with {} at {} and was never continued",
                        "{} tinha se parado com {} em {} e nunca foi retomado",
                        n.name(pid),
                        ipc_sys::signal::signal_name(sig),
                        secs(lang, at)
                    )
                })
                .collect();
            let stopped = if stopped.is_empty() {
                String::new()
            } else {
                format!(": {}", stopped.join(", "))
            };
            return (
                Verdict::Fail,
                say!(
                    lang,
                    "run {} did not end within the time limit; grade killed what was left{}",
                    "a execução {} não terminou dentro do prazo; o grade matou o que restava{}",
                    i + 1,
                    stopped
                ),
            );
        }
        match m.root_exit() {
            Some(Status::Exited(0)) => {}
            Some(s) => {
                return (
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
                return (
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
    (
        Verdict::Pass,
        say!(
            lang,
            "{} exited 0, every process was waited for by its parent and nothing outlived main{}",
            "{} com 0, todo processo foi esperado pelo pai e nada sobreviveu ao main{}",
            counted(
                lang,
                normal.len(),
                ["normal run", "normal runs"],
                ["execução normal saiu", "execuções normais saíram"]
            ),
            waits
        ),
    )
}

/// `the process limit (64)`, `o limite de memória (512 MiB)`.
fn limit_name(lang: Lang, limit: Limit, limits: &Limits) -> String {
    let mib = |b: u64| b >> 20;
    match limit {
        Limit::Processes => say!(
            lang,
            "the process limit ({})",
            "o limite de processos ({})",
            limits.max_procs
        ),
        Limit::CpuTime => say!(
            lang,
            "the CPU time limit ({} s)",
            "o limite de tempo de CPU ({} s)",
            limits.cpu.as_secs()
        ),
        Limit::Memory => say!(
            lang,
            "the memory limit ({} MiB)",
            "o limite de memória ({} MiB)",
            mib(limits.memory)
        ),
        Limit::FileSize => say!(
            lang,
            "the file size limit ({} MiB)",
            "o limite de tamanho de arquivo ({} MiB)",
            mib(limits.file_size)
        ),
        Limit::OpenFiles => say!(
            lang,
            "the open files limit ({})",
            "o limite de arquivos abertos ({})",
            limits.open_files
        ),
        Limit::Disk => say!(
            lang,
            "the disk limit ({} MiB)",
            "o limite de disco ({} MiB)",
            mib(limits.disk)
        ),
    }
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
            // A non-blocking read or write that would block, or a futex wait whose word had
            // already changed (a lock handed over in between): no limit, no refusal.
            if errno == libc::EAGAIN
                && (call.sys.reads() || call.sys.writes() || call.sys == Sys::Futex)
            {
                continue;
            }
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
                Detail::Path { path } => format!("{} {path}", call.sys.name()),
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
                Detail::Io { object, .. } => format!("{} {object}", call.sys.name()),
                _ => call.sys.name(),
            };
            let errno = nix::errno::Errno::from_raw(errno);
            let limit = Limit::from_errno(&call.sys.name(), errno)
                .map(|l| format!(": {}", limit_name(lang, l, &run.limits)))
                .unwrap_or_default();
            *seen
                .entry(format!("{what}: {} ({errno:?}){limit}", errno.desc()))
                .or_insert(0) += 1;
        }
        for r in &run.model.records {
            if let Event::Exited {
                status: Status::Signaled(sig),
            } = r.event
                && (sig == libc::SIGXCPU || sig == libc::SIGXFSZ)
            {
                let limit = Limit::from_signal(sig).map_or_else(
                    || lang.pick("a limit", "um limite").into(),
                    |l| limit_name(lang, l, &run.limits),
                );
                *seen
                    .entry(say!(
                        lang,
                        "pid {} was killed by {}: {}",
                        "o pid {} foi morto por {}: {}",
                        r.pid,
                        ipc_sys::signal::signal_name(sig),
                        limit
                    ))
                    .or_insert(0) += 1;
            }
        }
        // Kills at the memory limit are the kernel's, seen only by the run's cgroup.
        if let Some(n) = run.report.oom_kills.filter(|n| *n > 0) {
            *seen
                .entry(say!(
                    lang,
                    "the kernel killed {} process(es) at {}",
                    "o kernel matou {} processo(s) no {}",
                    n,
                    limit_name(lang, Limit::Memory, &run.limits)
                ))
                .or_insert(0) += 1;
        }
    }
    let total = seen.len();
    let mut lines: Vec<String> = seen
        .into_iter()
        .take(SANDBOX_LINES)
        .map(|(k, n)| if n > 1 { format!("{k} ×{n}") } else { k })
        .map(|line| crate::desafio::escape::terminal(&line).into_owned())
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
