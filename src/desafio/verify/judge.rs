//! After the audit: did the run complete, and if not, why? Faults injected on purpose are
//! judged (handled as designed, or not), killed processes and interruptions are explained, lost
//! values are accounted for, and main's own verdict is checked against the facts of the logs —
//! the same function (`verdict::Facts`) main applied to the same facts.

use super::Problem;
use super::audit::{Audit, Evidence};
use super::consumer::ConsumerPass;
use crate::desafio::error::Result;
use crate::desafio::lang::{Lang, count};
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG};
use crate::desafio::options::{Bug, Fault, FaultKind};
use crate::desafio::producer::MAX_BATCH;
use crate::desafio::record::{Arg, ChildStatus, Msg, Role, say};
use crate::desafio::verdict::Facts;

/// What the rubric grades from: the audit's evidence, the consumer log's counts, and the
/// error paths judged here.
#[derive(Debug, Default)]
pub struct Grading {
    pub ev: Evidence,
    pub consumer_values: u64,
    pub consumer_even: u64,
    /// Error or blocking paths the run went through, and how they were handled.
    pub handled: Vec<String>,
    pub fault_handled: Option<bool>,
}

/// `s` for a plural (`recebido` / `recebidos`), nothing for one.
pub(super) fn plural_s(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// How a child ended, in the log's words (`exited with code 3`, `was killed by SIGKILL`).
fn status_text(status: &ChildStatus, lang: Lang) -> String {
    match status {
        ChildStatus::Code(_) => status.render(lang),
        ChildStatus::Signal(_) => format!("{} {}", lang.pick("was", "foi"), status.render(lang)),
    }
}

pub fn judge(a: &mut Audit, cons: &ConsumerPass, end_line: usize) -> Result<()> {
    let lang = a.lang;
    let exec = |line: usize| (EXECUTION_LOG, line);
    let end = exec(end_line);
    // Main's log ends without its summary: killed by its own fault (known), or — the log
    // cannot tell which — killed from outside, unable to write, or still running.
    let main_killed = a.main_unfinished();
    let killed_on_purpose = a.ev.main_kill_at.is_some();
    let mut outcomes = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut problem = |(file, line): (&'static str, usize), text: String| {
        problems.push(Problem { file, line, text })
    };

    // Said after both children's ends, so that problems on one line keep the order verify
    // has always listed them in.
    let mut unspawned = Vec::new();
    // How each child ended: main's view against the child's own last word.
    for role in [Role::Producer, Role::Consumer] {
        let state = match role {
            Role::Producer => a.ev.producer.clone(),
            _ => a.ev.consumer.clone(),
        };
        let r = role.in_lang(lang);
        let spawned = a.ev.spawned.iter().any(|(r, _, _)| *r == role);
        if state.pid.is_none() && !spawned && main_killed {
            outcomes.push(if killed_on_purpose {
                lang.pick(
                    format!("main was killed before it started the {r}"),
                    format!("o main foi morto antes de iniciar o {r}"),
                )
            } else {
                lang.pick(
                    format!("no line from the {r}, and main has not finished"),
                    format!("nenhuma linha do {r}, e o main não terminou"),
                )
            });
            continue;
        }
        match (&state.main_saw, state.exit_code) {
            (None, _) if main_killed => outcomes.push(if killed_on_purpose {
                lang.pick(
                    format!("main was killed before it reported how the {r} ended"),
                    format!("o main foi morto antes de relatar como o {r} terminou"),
                )
            } else {
                lang.pick(
                    format!("main has not reported how the {r} ended"),
                    format!("o main não relatou como o {r} terminou"),
                )
            }),
            (None, _) => problem(
                end,
                lang.pick(
                    format!("main never reported how the {r} ended"),
                    format!("o main nunca relatou como o {r} terminou"),
                ),
            ),
            (Some((ChildStatus::Code(c), at)), Some(e)) if *c != e => problem(
                exec(*at),
                lang.pick(
                    format!("the {r} logged exit code {e}, main saw {c}"),
                    format!("o {r} registrou o código de saída {e}; o main viu {c}"),
                ),
            ),
            (Some((ChildStatus::Code(c), at)), None) => problem(
                exec(*at),
                lang.pick(
                    format!("the {r} exited with code {c} without logging 'exiting'"),
                    format!("o {r} terminou com código {c} sem registrar a saída"),
                ),
            ),
            _ => {}
        }
        if state.pid.is_none() && !matches!(state.main_saw, Some((ChildStatus::Signal(_), _))) {
            let none = lang.pick(
                format!("no line from the {r}"),
                format!("nenhuma linha do {r}"),
            );
            problem(end, none);
        }
        if let Some((status, _)) = &state.main_saw
            && !status.succeeded()
        {
            let (the, how) = (lang.pick("the", "o"), status_text(status, lang));
            outcomes.push(format!("{the} {r} {how}"));
        }
        // Lines a run always writes, and the order it always writes them in: an edited log
        // that lacks one, or gives none of the reasons a producer has to stop early, is caught.
        if let Some((_, first)) = state.first
            && !spawned
            && !main_killed
        {
            let spawned = say(Msg::Spawned, lang, &[Arg::Text(r), Arg::Text("<pid>")]);
            unspawned.push((
                exec(first),
                lang.pick(
                    format!("the {r} logs, but main never logged '{spawned}'"),
                    format!("o {r} registra, mas o main nunca registrou '{spawned}'"),
                ),
            ));
        }
    }
    for (at, text) in unspawned {
        problem(at, text);
    }
    if let Some(asked) = a.ev.params.as_ref().map(|p| p.count) {
        let is_producer = |r: &Role| *r == Role::Producer;
        let reason = a.ev.interrupts.iter().any(|(r, _, _)| is_producer(r))
            || a.ev.faults.iter().any(|(r, _, _)| is_producer(r))
            || a.ev.errors.iter().any(|(r, _, _)| is_producer(r))
            || a.ev.gave_up.iter().any(|(r, _, _)| is_producer(r))
            || a.ev.broken_pipe.is_some()
            || matches!(a.ev.producer.main_saw, Some((ChildStatus::Signal(_), _)));
        let ended = a.ev.producer.exit_code.is_some() || a.ev.producer.main_saw.is_some();
        let (sent, values) = (a.ev.sent_lines, lang.words().values_n(asked));
        if ended && sent < asked && !reason {
            let at =
                a.ev.end_sent
                    .map_or(a.ev.producer.last_line.max(1), |(_, l)| l);
            let text = lang.pick(
                    format!("the producer stopped after {sent} of {asked} {values} and gave no reason (no interrupt, fault or error line)"),
                    format!("o produtor parou após {sent} de {asked} {values} sem dar motivo (nenhuma linha de interrupção, falha ou erro)"),
            );
            problem(exec(at), text);
        }
    }
    if a.ev.end_sent.is_none() {
        outcomes.push(lang.pick(
            "the producer never sent the end marker".into(),
            "o produtor nunca enviou o marcador de fim".to_string(),
        ));
    }
    if a.ev.end_received.is_none() {
        outcomes.push(lang.pick(
            "the consumer never received the end marker".into(),
            "o consumidor nunca recebeu o marcador de fim".to_string(),
        ));
    }
    let consumer_killed = matches!(a.ev.consumer.main_saw, Some((ChildStatus::Signal(_), _)));
    let producer_killed = matches!(a.ev.producer.main_saw, Some((ChildStatus::Signal(_), _)));
    let consumer_started =
        a.ev.consumer.pid.is_some() || a.ev.spawned.iter().any(|(r, _, _)| *r == Role::Consumer);
    if cons.lines == 0 && (consumer_killed || main_killed) && consumer_started {
        outcomes.push(if consumer_killed {
            lang.pick(
                format!("{CONSUMER_LOG} is empty: the consumer was killed before it wrote anything"),
                format!(
                    "{CONSUMER_LOG} está vazio: o consumidor foi morto antes de escrever qualquer coisa"
                ),
            )
        } else {
            lang.pick(
                format!("{CONSUMER_LOG} is empty: the consumer has written nothing"),
                format!("{CONSUMER_LOG} está vazio: o consumidor não escreveu nada"),
            )
        });
    }
    if cons.totals_line.is_none() && cons.lines > 0 {
        let text = lang.pick(
            "no totals line (the consumer did not finish)",
            "sem linha de totais (o consumidor não terminou)",
        );
        if consumer_killed || main_killed {
            outcomes.push(format!("{CONSUMER_LOG}:{}: {text}", cons.lines));
        } else {
            problem((CONSUMER_LOG, cons.lines), text.into());
        }
    }
    if let Some(line) = cons.unterminated {
        let text = super::torn(lang);
        if consumer_killed {
            a.report
                .notes
                .push(format!("{CONSUMER_LOG}:{line}: {text}"));
        } else {
            problem((CONSUMER_LOG, line), text.into());
        }
    }
    if let Some((why, line)) = &cons.incomplete {
        a.report.notes.push(lang.pick(
            format!("{CONSUMER_LOG}:{line}: consumer stopped early: {why}"),
            format!("{CONSUMER_LOG}:{line}: o consumidor parou antes do fim: {why}"),
        ));
    }

    // A killed producer may have logged values it never wrote to the pipe (it logs before it
    // writes). If the consumer read on to end of file, every value in the pipe was received:
    // the rest never entered it. Otherwise main's count of values that entered the pipe tells.
    let drained = a.ev.pipe_closed.is_some() || a.ev.end_received.is_some();
    if producer_killed && !a.in_flight.is_empty() {
        let delivered = a.ev.sent_lines - a.ev.undelivered;
        let extra = if drained {
            a.in_flight.len() as u64
        } else {
            match a.ev.summary {
                Some((sent, ..))
                    if sent <= delivered && delivered - sent <= a.in_flight.len() as u64 =>
                {
                    delivered - sent
                }
                _ => 0,
            }
        };
        if extra > 0 {
            a.in_flight.truncate(a.in_flight.len() - extra as usize);
            a.ev.undelivered += extra;
            let never_entered = lang.pick(
                [
                    "value logged as sent never entered",
                    "values logged as sent never entered",
                ],
                [
                    "valor registrado como enviado nunca entrou",
                    "valores registrados como enviados nunca entraram",
                ],
            );
            let never_entered = count(extra, never_entered[0], never_entered[1]);
            a.report.notes.push(lang.pick(
                format!("{never_entered} the pipe: the producer was killed before writing them"),
                format!("{never_entered} no pipe: o produtor foi morto antes de escrevê-los"),
            ));
        }
    }
    let delivered = a.ev.sent_lines - a.ev.undelivered;
    // Received means handled: recorded in the consumer's log. A killed consumer may have taken
    // its last values from the pipe (and logged them) without recording them.
    let recorded = a.received - a.ev.unrecorded;
    if a.ev.unrecorded > 0 {
        let (n, s) = (a.ev.unrecorded, plural_s(a.ev.unrecorded));
        a.report.notes.push(lang.pick(
            format!("{} received but never recorded in {CONSUMER_LOG}: the consumer was killed between its two writes", count(n, "value was", "values were")),
            format!("{} recebido{s} mas nunca registrado{s} em {CONSUMER_LOG}: o consumidor foi morto entre suas duas escritas", count(n, "valor foi", "valores foram")),
        ));
    }
    a.report.sent = delivered;
    a.report.received = recorded;
    a.report.unrecorded = a.ev.unrecorded;
    a.report.lost = a.in_flight.iter().copied().collect();
    let lost = a.report.lost.len() as u64 + a.ev.unrecorded;
    let consumer_left_early = a.ev.faults.iter().any(|(r, _, _)| *r == Role::Consumer)
        || consumer_killed
        || a.ev.stall.is_some()
        || (a.ev.consumer.exit_code.is_some_and(|c| c != 0));
    if lost > 0 {
        let (s, were) = (plural_s(lost), count(lost, "value was", "values were"));
        let text = lang.pick(
            format!("{were} sent but never received"),
            format!(
                "{} enviado{s} e nunca recebido{s}",
                count(lost, "valor foi", "valores foram")
            ),
        );
        if consumer_left_early || main_killed {
            outcomes.push(text);
        } else {
            problem(end, text);
        }
    }
    match a.ev.summary {
        None if killed_on_purpose => outcomes.push(lang.pick(
            "no summary line from main: main did not finish".into(),
            "nenhuma linha de resumo do main: o main não terminou".to_string(),
        )),
        // Said as the log shows it: no summary. Why (killed from outside, a write that failed,
        // a run still going) the log alone cannot tell — except the last, from the claim.
        None if main_killed => outcomes.push(if a.ev.live {
            lang.pick(
                "main has not finished: no summary line yet — the run is still in progress (its processes hold execution_log.txt); verify it again once it has ended".to_string(),
                "o main não terminou: ainda não há linha de resumo — a execução continua (seus processos seguram execution_log.txt); verifique de novo quando ela acabar".to_string(),
            )
        } else {
            lang.pick(
                "main has not finished: no summary line".to_string(),
                "o main não terminou: nenhuma linha de resumo".to_string(),
            )
        }),
        None => {
            let none = lang.pick("no summary line from main", "nenhuma linha de resumo do main");
            problem(end, none.into())
        }
        Some((sent, received, l, at)) => {
            // Main counts a batch received once both logs have it (the consumer adds it to the
            // shared count after its second write); a consumer killed between its writes leaves
            // main's count anywhere between the two logs' counts, and one killed after its
            // second write but before counting (or in the middle of that write, its last line
            // cut) recorded a batch main never counted: up to one batch less.
            let floor = if consumer_killed {
                recorded.saturating_sub(MAX_BATCH as u64)
            } else {
                recorded
            };
            let plausible = sent == delivered
                && (floor..=a.received).contains(&received)
                && l == sent.saturating_sub(received);
            if !plausible {
                let r = recorded;
                let text = lang.pick(
                        format!("summary says sent {sent}, received {received}, lost {l}; the log shows sent {delivered}, received {r}, lost {lost}"),
                        format!("o resumo diz enviados {sent}, recebidos {received}, perdidos {l}; o log mostra enviados {delivered}, recebidos {r}, perdidos {lost}"),
                );
                problem(exec(at), text);
            }
        }
    }

    // Main's verdict must be the one the facts give.
    let own = |state: &super::audit::RoleState| {
        state
            .main_saw
            .as_ref()
            .map(|(s, _)| s.clone())
            .or(state.exit_code.map(ChildStatus::Code))
    };
    let facts = Facts {
        sent: delivered,
        received: recorded,
        end_sent: a.ev.end_sent.is_some(),
        end_received: a.ev.end_received.is_some(),
        producer: own(&a.ev.producer),
        consumer: own(&a.ev.consumer),
        interrupted: a.ev.interrupts.iter().any(|(r, _, _)| *r == Role::Main),
    };
    if let Some((0, at)) = a.ev.main_exit
        && let Some((_, _, line)) = a.ev.errors.iter().find(|(r, _, _)| *r == Role::Main)
    {
        problem(
            exec(at),
            lang.pick(
                format!("main exited with code 0 after logging an error ({EXECUTION_LOG}:{line})"),
                format!(
                    "o main saiu com código 0 depois de registrar um erro ({EXECUTION_LOG}:{line})"
                ),
            ),
        );
    }
    if let Some((code, at)) = a.ev.main_exit {
        let expected = i32::from(facts.exit_code());
        let error_exit = code == 1 && a.ev.errors.iter().any(|(r, _, _)| *r == Role::Main);
        if code != expected && !error_exit {
            let text = lang.pick(
                    format!("main exited with code {code}, but the logs show a run that ends with {expected}"),
                    format!("o main saiu com código {code}, mas os logs mostram uma execução que termina com {expected}"),
            );
            problem(exec(at), text);
        }
    }
    // The verdict's class is main's exit code's: OK with 0, INCOMPLETE with 1 or 130 (a run
    // interrupted on purpose sent less than it was asked, even when it lost nothing).
    a.report.complete = facts.exit_code() == 0 && a.ev.summary.is_some() && !main_killed;
    if facts.interrupted
        && let Some((_, signal, at)) = a.ev.interrupts.iter().find(|(r, _, _)| *r == Role::Main)
    {
        let asked = a.ev.params.as_ref().map_or(0, |p| p.count);
        let lost_text = if lost == 0 {
            lang.pick("nothing lost", "nada perdido").to_string()
        } else {
            lang.pick(
                count(lost, "value lost", "values lost"),
                count(lost, "valor perdido", "valores perdidos"),
            )
        };
        outcomes.push(lang.pick(
            format!("the run was interrupted by {signal} ({EXECUTION_LOG}:{at}) after {delivered} of {asked} {} sent; {lost_text}", lang.words().values_n(asked)),
            format!("a execução foi interrompida por {signal} ({EXECUTION_LOG}:{at}) após {delivered} de {asked} {} enviados; {lost_text}", lang.words().values_n(asked)),
        ));
    }
    if let Some(at) = a.ev.stall {
        outcomes.push(lang.pick(
            format!("main found the run stuck and ended it ({EXECUTION_LOG}:{at})"),
            format!("o main encontrou a execução travada e a encerrou ({EXECUTION_LOG}:{at})"),
        ));
    }

    let handled = handled_paths(a, &facts, main_killed);
    let fault = a.ev.params.as_ref().and_then(|p| p.fault);
    let mut fault_handled = None;
    if let Some(fault) = fault {
        let (judged, text) = judge_fault(a, fault, &facts, lost, main_killed);
        let ok = judged != Judged::NotHandled;
        fault_handled = match judged {
            Judged::Handled => Some(true),
            Judged::NotHandled => Some(false),
            Judged::Told => None,
        };
        a.report.fault = Some(text.clone());
        if !ok {
            problem(end, text);
        }
    }
    if let Some(bug) = a.ev.params.as_ref().and_then(|p| p.bug) {
        a.report.bug = Some(judge_bug(a, bug));
    }
    a.report.outcomes.extend(outcomes);
    a.report.problems.extend(problems);
    a.report.grading = Grading {
        ev: std::mem::take(&mut a.ev),
        consumer_values: cons.values,
        consumer_even: cons.even,
        handled,
        fault_handled,
    };
    Ok(())
}

/// The error and blocking paths this run went through, each as the logs show it handled.
fn handled_paths(a: &Audit, facts: &Facts, main_killed: bool) -> Vec<String> {
    let lang = a.lang;
    let mut out = Vec::new();
    let exit = |code: Option<i32>| code.map_or("-".into(), |c| c.to_string());
    if let Some((sent, at)) = a.ev.broken_pipe {
        let (values, exit) = (lang.words().n_values(sent), exit(a.ev.producer.exit_code));
        out.push(lang.pick(
            format!("EPIPE: the producer saw the consumer close the pipe after {values} and exited {exit} ({EXECUTION_LOG}:{at})"),
            format!("EPIPE: o produtor viu o consumidor fechar o pipe após {values} e saiu com {exit} ({EXECUTION_LOG}:{at})"),
        ));
    }
    if let Some((received, at)) = a.ev.pipe_closed {
        let (values, exit) = (
            lang.words().n_values(received),
            exit(a.ev.consumer.exit_code),
        );
        out.push(lang.pick(
            format!("EOF: the consumer saw the pipe close before the end marker after {values} and exited {exit} ({EXECUTION_LOG}:{at})"),
            format!("EOF: o consumidor viu o pipe fechar antes do marcador de fim após {values} e saiu com {exit} ({EXECUTION_LOG}:{at})"),
        ));
    }
    for (role, signal, at) in &a.ev.interrupts {
        if *role == Role::Main {
            let lost = facts.lost();
            out.push(lang.pick(
                format!("{signal}: main asked the producer to stop, the consumer drained the pipe; {} ({EXECUTION_LOG}:{at})", count(lost, "value lost", "values lost")),
                format!("{signal}: o main pediu ao produtor que parasse, o consumidor esvaziou o pipe; {} ({EXECUTION_LOG}:{at})", count(lost, "valor perdido", "valores perdidos")),
            ));
        }
    }
    for role in [Role::Producer, Role::Consumer] {
        let state = match role {
            Role::Producer => &a.ev.producer,
            _ => &a.ev.consumer,
        };
        if let Some((ChildStatus::Signal(s), at)) = &state.main_saw {
            let r = role.in_lang(lang);
            out.push(lang.pick(
                format!("a killed {r}: main reaped it and reported {s} ({EXECUTION_LOG}:{at})"),
                format!("um {r} morto: o main o recolheu e relatou {s} ({EXECUTION_LOG}:{at})"),
            ));
        }
    }
    if main_killed && a.ev.producer.exit_code == Some(0) && a.ev.consumer.exit_code == Some(0) {
        out.push(if a.ev.main_kill_at.is_some() {
            lang.pick(
                "main killed: both children wound down through their death signal and exited 0"
                    .to_string(),
                "main morto: os dois filhos encerraram pelo sinal de morte do pai e saíram com 0"
                    .to_string(),
            )
        } else {
            lang.pick(
                "main did not finish: both children wound down by themselves and exited 0"
                    .to_string(),
                "o main não terminou: os dois filhos encerraram sozinhos e saíram com 0"
                    .to_string(),
            )
        });
    }
    for (role, n, at) in &a.ev.gave_up {
        out.push(match role {
            Role::Consumer => lang.pick(
                format!("told to stop, the consumer waited 5 s on a pipe nothing came through, then gave up after {} ({EXECUTION_LOG}:{at})", count(*n, "value", "values")),
                format!("mandado parar, o consumidor esperou 5 s num pipe por onde nada passou e desistiu após {} ({EXECUTION_LOG}:{at})", count(*n, "valor", "valores")),
            ),
            _ => lang.pick(
                format!("told to stop, the producer waited 5 s on a full pipe nobody read, then gave up after {} ({EXECUTION_LOG}:{at})", count(*n, "value", "values")),
                format!("mandado parar, o produtor esperou 5 s num pipe cheio que ninguém lia e desistiu após {} ({EXECUTION_LOG}:{at})", count(*n, "valor", "valores")),
            ),
        });
    }
    if let Some(at) = a.ev.stall {
        out.push(lang.pick(
            format!("a stalled run: main noticed and ended it ({EXECUTION_LOG}:{at})"),
            format!("execução travada: o main percebeu e a encerrou ({EXECUTION_LOG}:{at})"),
        ));
    }
    out
}

/// How an injected fault went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judged {
    /// It fired and every process reacted as designed.
    Handled,
    /// Not the fault's doing alone (not reached, or the run was disturbed from outside or by a
    /// `--bug`): told, neither credited nor a violation.
    Told,
    /// It fired (or should have) and the run did not react as designed: a violation.
    NotHandled,
}

/// What the classic mistake made on purpose did to this run, in words a student can follow.
fn judge_bug(a: &Audit, bug: Bug) -> String {
    let lang = a.lang;
    let what = match bug {
        Bug::ParentKeepsEnds => match a.ev.stall {
            Some(at) => lang.pick(
                format!("end of file and EPIPE could not happen while main (and each child) still held both ends of the pipe; the run stalled and main ended it ({EXECUTION_LOG}:{at})"),
                format!("fim de arquivo e EPIPE não podiam acontecer enquanto o main (e cada filho) ainda tinha as duas pontas do pipe; a execução travou e o main a encerrou ({EXECUTION_LOG}:{at})"),
            ),
            None => parent_keeps_ends_effect(a),
        },
        Bug::LockBeforeFork | Bug::NoLock => {
            let why = if bug == Bug::NoLock {
                lang.pick("with no lock", "sem trava")
            } else {
                lang.pick(
                    "with one lock shared by every process (a flock belongs to the open file description, inherited across fork)",
                    "com uma trava compartilhada por todos os processos (um flock pertence à descrição de arquivo aberto, herdada no fork)",
                )
            };
            match a.ev.backwards.as_slice() {
                [] => lang.pick(
                    format!("{why}, writes were not ordered; no timestamp went backwards in this run (try a longer one: --pace 2 -n 50)"),
                    format!("{why}, as escritas não tinham ordem; nenhum horário voltou para trás nesta execução (tente uma mais longa: --pace 2 -n 50)"),
                ),
                lines => {
                    let shown: Vec<String> = lines.iter().take(10).map(usize::to_string).collect();
                    let more = if lines.len() > 10 { ", …" } else { "" };
                    let n = lines.len() as u64;
                    let (en_lines, pt_lines) = if n == 1 { ("line", "linha") } else { ("lines", "linhas") };
                    lang.pick(
                        format!("{why}, a process could write between another's timestamp and its write: {} ({EXECUTION_LOG} {en_lines} {}{more})", count(n, "timestamp goes backwards", "timestamps go backwards"), shown.join(", ")),
                        format!("{why}, um processo podia escrever entre o horário de outro e a escrita dele: {} ({EXECUTION_LOG} {pt_lines} {}{more})", count(n, "horário volta para trás", "horários voltam para trás"), shown.join(", ")),
                    )
                }
            }
        }
    };
    lang.pick(
        format!("bug {bug} made on purpose: {what}"),
        format!("bug {bug} feito de propósito: {what}"),
    )
}

/// Under `--bug parent-keeps-ends`, the producer's writes after main reported the consumer
/// gone, none of which failed with EPIPE: `the producer kept writing: 9 more values over 450 ms,
/// and no write failed with EPIPE, because main (and the producer itself) still held the read
/// end`. `None` if there were none (or one did fail).
fn writes_after_consumer_gone(a: &Audit) -> Option<String> {
    let lang = a.lang;
    let n = a.ev.sent_after_consumer_gone;
    let bug = a.ev.params.as_ref().and_then(|p| p.bug);
    if bug != Some(Bug::ParentKeepsEnds) || n == 0 || a.ev.broken_pipe.is_some() {
        return None;
    }
    let ms = match (a.ev.consumer_gone_time, a.ev.last_sent_after_gone) {
        (Some(gone), Some(last)) => (last - gone).num_milliseconds().max(0),
        _ => 0,
    };
    let at = a.ev.consumer.main_saw.as_ref().map_or(0, |(_, l)| *l);
    Some(lang.pick(
        format!("after main reported it gone ({EXECUTION_LOG}:{at}) the producer kept writing: {n} more {} over {ms} ms, and no write failed with EPIPE, because main (and the producer itself) still held the read end", lang.words().values_n(n)),
        format!("depois que o main o relatou terminado ({EXECUTION_LOG}:{at}) o produtor continuou escrevendo: mais {n} {} em {ms} ms, e nenhuma escrita falhou com EPIPE, porque o main (e o próprio produtor) ainda tinha a ponta de leitura", lang.words().values_n(n)),
    ))
}

/// What `--bug parent-keeps-ends` did to a run main did not find stuck.
fn parent_keeps_ends_effect(a: &Audit) -> String {
    let lang = a.lang;
    if let Some(kept_writing) = writes_after_consumer_gone(a) {
        let lost = a.in_flight.len() as u64;
        return lang.pick(
            format!("EPIPE could not happen: the consumer had gone, and {kept_writing}; {} lost to the bug", lang.words().n_values(lost)),
            format!("EPIPE não podia acontecer: o consumidor tinha saído, e {kept_writing}; {} perdidos por causa do bug", lang.words().n_values(lost)),
        );
    }
    if let Some((role, _, at)) = a.ev.gave_up.first() {
        return match role {
            Role::Consumer => lang.pick(
                format!("end of file could not come: the producer had gone, but the consumer itself (and main) still held the write end; told to stop, the consumer gave up waiting ({EXECUTION_LOG}:{at})"),
                format!("o fim de arquivo não podia chegar: o produtor tinha saído, mas o próprio consumidor (e o main) ainda tinha a ponta de escrita; mandado parar, o consumidor desistiu de esperar ({EXECUTION_LOG}:{at})"),
            ),
            _ => lang.pick(
                format!("EPIPE could not come: the consumer had gone, but the producer itself (and main) still held the read end; told to stop, the producer gave up on the full pipe ({EXECUTION_LOG}:{at})"),
                format!("o EPIPE não podia chegar: o consumidor tinha saído, mas o próprio produtor (e o main) ainda tinha a ponta de leitura; mandado parar, o produtor desistiu do pipe cheio ({EXECUTION_LOG}:{at})"),
            ),
        };
    }
    if a.ev.end_received.is_some() {
        return lang.pick(
            "harmless in this run: the end marker, not end of file, ended the consumer; with a fault (--fault producer-exit@K, say) it would have stalled".to_string(),
            "inofensivo nesta execução: o marcador de fim, e não o fim de arquivo, encerrou o consumidor; com uma falha (--fault producer-exit@K, por exemplo) ela teria travado".to_string(),
        );
    }
    lang.pick(
        "end of file and EPIPE could not happen while main (and each child) held both ends of the pipe; this run ended before either was needed".to_string(),
        "fim de arquivo e EPIPE não podiam acontecer enquanto o main (e cada filho) tinha as duas pontas do pipe; esta execução terminou antes que um deles fosse necessário".to_string(),
    )
}

/// Was the injected fault handled as designed? The sentence says what happened either way.
fn judge_fault(
    a: &Audit,
    fault: Fault,
    facts: &Facts,
    lost: u64,
    main_killed: bool,
) -> (Judged, String) {
    let lang = a.lang;
    let k = fault.after;
    let asked = a.ev.params.as_ref().map_or(0, |p| p.count);
    let sent = facts.sent;
    let never_sent = asked.saturating_sub(a.ev.sent_lines - a.ev.undelivered);
    let logged = a.ev.faults.iter().any(|(_, f, _)| *f == fault.to_string());
    // Something else happened too (an interrupt, a kill from outside, a stall)?
    // A kill is the fault's own only if the fault fired: the same process may have been killed
    // from outside before its turn came.
    let own_kill = |role: Role| {
        logged
            && match fault.kind {
                FaultKind::ConsumerKill => role == Role::Consumer,
                FaultKind::ProducerKill => role == Role::Producer,
                _ => false,
            }
    };
    let killed_from_outside = [
        (Role::Producer, &facts.producer),
        (Role::Consumer, &facts.consumer),
    ]
    .iter()
    .any(|(role, s)| matches!(s, Some(ChildStatus::Signal(_))) && !own_kill(*role));
    // Main killed without main-kill having fired: from outside.
    let main_killed_from_outside = main_killed && !(fault.kind == FaultKind::MainKill && logged);
    // With main gone nobody reports how a child ended; a child that never logged its exit was
    // killed (by whom, the logs cannot tell).
    let vanished = main_killed && (facts.producer.is_none() || facts.consumer.is_none());
    let killed_from_outside = killed_from_outside || vanished;
    // Main's own interrupt: the children also log one when main-kill's death signal (SIGTERM)
    // winds them down, and that is the designed reaction, not a disturbance.
    let interrupted = a.ev.interrupts.iter().any(|(r, _, _)| *r == Role::Main);
    let disturbed = killed_from_outside || main_killed_from_outside || interrupted;
    if let Some(at) = a.ev.stall {
        // --bug parent-keeps-ends: the fault's designed reaction (EOF, EPIPE) cannot happen.
        let how = match fault.kind {
            FaultKind::ProducerExit | FaultKind::ProducerKill => lang.pick(
                format!("the producer left after {k_values} without the end marker; the consumer waited for an end of file that could not come while the write end was still open, until main ended the run ({EXECUTION_LOG}:{at})", k_values = lang.words().n_values(k)),
                format!("o produtor saiu após {k_valores} sem o marcador de fim; o consumidor esperou um fim de arquivo que não podia chegar enquanto a ponta de escrita seguia aberta, até o main encerrar a execução ({EXECUTION_LOG}:{at})", k_valores = lang.words().n_values(k)),
            ),
            _ => lang.pick(
                format!("the consumer left after {}; the producer, blocked on a full pipe, could not get EPIPE while the read end was still open, until main ended the run ({EXECUTION_LOG}:{at})", lang.words().n_values(facts.received)),
                format!("o consumidor saiu após {}; o produtor, bloqueado num pipe cheio, não podia receber EPIPE enquanto a ponta de leitura seguia aberta, até o main encerrar a execução ({EXECUTION_LOG}:{at})", lang.words().n_values(facts.received)),
            ),
        };
        return (
            Judged::Told,
            lang.pick(
                format!("fault {fault} injected — not handled, as --bug parent-keeps-ends predicts: {how}"),
                format!("falha {fault} injetada — não tratada, como o --bug parent-keeps-ends prevê: {how}"),
            ),
        );
    }
    if !logged {
        let n = facts.received;
        // Undisturbed, every fault's turn comes (K is at most --count): one that never fired
        // is a fault that was not injected.
        if !disturbed {
            return (
                Judged::NotHandled,
                lang.pick(
                    format!("fault {fault} injected — NOT handled as designed: it never fired, though nothing else stopped the run ({n_values_received})", n_values_received = count(n, "value received", "values received")),
                    format!("falha {fault} injetada — NÃO tratada como previsto: ela nunca ocorreu, embora nada mais tenha parado a execução ({n_valores_recebidos})", n_valores_recebidos = count(n, "valor recebido", "valores recebidos")),
                ),
            );
        }
        return (
            Judged::Told,
            lang.pick(
                format!("fault {fault} not reached: the run ended after {n_values_received}, before the fault's turn", n_values_received = count(n, "value received", "values received")),
                format!("falha {fault} não alcançada: a execução terminou após {n_valores_recebidos}, antes da vez da falha", n_valores_recebidos = count(n, "valor recebido", "valores recebidos")),
            ),
        );
    }
    // How the run ended is not the fault's alone, so it is told, not judged.
    if disturbed {
        let what = match (interrupted, main_killed_from_outside) {
            (true, _) => lang.pick("interrupted", "interrompida"),
            (_, true) => lang.pick("main did not finish", "o main não terminou"),
            _ => lang.pick(
                "a process was killed from outside",
                "um processo foi morto de fora",
            ),
        };
        return (
            Judged::Told,
            lang.pick(
                format!("fault {fault} injected, but the run was also disturbed ({what}): how it ended is not the fault's alone, so it is not judged"),
                format!("falha {fault} injetada, mas a execução também foi perturbada ({what}): o desfecho não é só da falha, então não é julgado"),
            ),
        );
    }
    // --bug parent-keeps-ends, the consumer gone: the producer's writes after that must fail
    // with EPIPE, and could not — main and the producer itself still held the read end.
    if let Some(kept_writing) = writes_after_consumer_gone(a)
        && matches!(
            fault.kind,
            FaultKind::ConsumerExit | FaultKind::ConsumerKill
        )
    {
        let received = facts.received;
        return (
            Judged::Told,
            lang.pick(
                format!("fault {fault} injected — not handled, as --bug parent-keeps-ends predicts: the consumer left after {received} {}, and {kept_writing}; {}", lang.words().values_n(received), count(lost, "value lost in the pipe", "values lost in the pipe")),
                format!("falha {fault} injetada — não tratada, como o --bug parent-keeps-ends prevê: o consumidor saiu após {received} {}, e {kept_writing}; {}", lang.words().values_n(received), count(lost, "valor perdido no pipe", "valores perdidos no pipe")),
            ),
        );
    }
    let code = |s: &Option<ChildStatus>| match s {
        Some(ChildStatus::Code(c)) => Some(*c),
        _ => None,
    };
    let killed = |s: &Option<ChildStatus>| matches!(s, Some(ChildStatus::Signal(_)));
    let (p, c) = (&facts.producer, &facts.consumer);
    let lost_text = if lost == 0 {
        lang.pick("none lost in flight", "nenhum perdido no caminho")
            .into()
    } else {
        lang.pick(
            format!("{lost} lost in the pipe"),
            format!("{lost} perdidos no pipe"),
        )
    };
    let never = lang.pick(
        count(never_sent, "value never sent", "values never sent"),
        count(never_sent, "valor nunca enviado", "valores nunca enviados"),
    );
    let w = lang.words();
    let (sent_values, got, k_values) =
        (w.n_values(sent), w.n_values(facts.received), w.n_values(k));
    let c_exit = code(c).map_or("?".into(), |c| c.to_string());
    let ended = |s: &Option<ChildStatus>| s.as_ref().map_or("?".into(), |s| s.render(lang));
    let (ok, how) = match fault.kind {
        FaultKind::ConsumerExit => {
            let producer_ok = match code(p) {
                Some(3) => Some(lang.pick(
                    format!("the producer got EPIPE after {sent_values} and exited 3"),
                    format!("o produtor recebeu EPIPE após {sent_values} e saiu com 3"),
                )),
                Some(0) => Some(lang.pick(
                    format!("the producer had already written all {sent_values} into the pipe and exited 0"),
                    format!("o produtor já tinha escrito os {sent_values} no pipe e saiu com 0"),
                )),
                _ => None,
            };
            let ok = logged && code(c) == Some(0) && facts.received == k && producer_ok.is_some();
            let how = lang.pick(
                format!("the consumer closed the pipe after {got} and exited {c_exit}"),
                format!("o consumidor fechou o pipe após {got} e saiu com {c_exit}"),
            );
            let producer = producer_ok.unwrap_or_else(|| {
                lang.pick(
                    "the producer did not end as expected",
                    "o produtor não terminou como esperado",
                )
                .into()
            });
            (ok, format!("{how}; {producer}; {never}; {lost_text}"))
        }
        FaultKind::ProducerExit => {
            let ok = logged
                && code(p) == Some(0)
                && !facts.end_sent
                && code(c) == Some(4)
                && facts.received == k
                && lost == 0;
            (ok, lang.pick(
                format!("the producer left without the end marker after {k_values}; the consumer saw end of file after {got} and exited {c_exit}; {never}; {lost_text}"),
                format!("o produtor saiu sem o marcador de fim após {k_values}; o consumidor viu o fim do arquivo após {got} e saiu com {c_exit}; {never}; {lost_text}"),
            ))
        }
        FaultKind::ConsumerKill => {
            let producer_ok = matches!(code(p), Some(3 | 0));
            let ok = logged && killed(c) && facts.received == k && producer_ok;
            let pe = ended(p);
            (ok, lang.pick(
                format!("the consumer was killed after {got}; the producer {pe}; {never}; {lost_text}"),
                format!("o consumidor foi morto após {got}; o produtor {pe}; {never}; {lost_text}"),
            ))
        }
        FaultKind::ProducerKill => {
            let ok = logged && killed(p) && code(c) == Some(4) && lost == 0;
            (ok, lang.pick(
                format!("the producer was killed after {k_values}; the consumer saw end of file after {got} and exited {c_exit}; {never}; {lost_text}"),
                format!("o produtor foi morto após {k_values}; o consumidor viu o fim do arquivo após {got} e saiu com {c_exit}; {never}; {lost_text}"),
            ))
        }
        FaultKind::MainKill => {
            let ok = logged
                && main_killed
                && code(p) == Some(0)
                && code(c) == Some(0)
                && facts.end_sent
                && facts.end_received
                && lost == 0;
            let (pe, ce) = (ended(p), ended(c));
            let marker = if facts.end_sent {
                lang.pick(
                    format!("sent the end marker after {sent_values}"),
                    format!("enviou o marcador de fim após {sent_values}"),
                )
            } else {
                lang.pick(
                    format!(
                        "never sent the end marker ({})",
                        count(sent, "value sent", "values sent")
                    ),
                    format!(
                        "nunca enviou o marcador de fim ({})",
                        count(sent, "valor enviado", "valores enviados")
                    ),
                )
            };
            let r = facts.received;
            let ends = if code(p) == Some(0) && code(c) == Some(0) {
                lang.pick(
                    format!("the producer {marker}, the consumer received {r}, and both exited 0"),
                    format!(
                        "o produtor {marker}, o consumidor recebeu {r}, e os dois saíram com 0"
                    ),
                )
            } else {
                lang.pick(
                    format!("the producer {marker} and {pe}, the consumer received {r} and {ce}"),
                    format!("o produtor {marker} e {pe}, o consumidor recebeu {r} e {ce}"),
                )
            };
            (ok, lang.pick(
                format!("main was killed after {}; its children got their death signal (SIGTERM) and wound down: {ends}; {lost_text}", count(k, "value was received", "values were received")),
                format!("o main foi morto após {}; os filhos receberam o sinal de morte do pai (SIGTERM) e encerraram: {ends}; {lost_text}", count(k, "valor recebido", "valores recebidos")),
            ))
        }
    };
    let (judged, verdict) = if ok {
        (Judged::Handled, lang.pick("handled", "tratada"))
    } else {
        (
            Judged::NotHandled,
            lang.pick("NOT handled as designed", "NÃO tratada como previsto"),
        )
    };
    (
        judged,
        lang.pick(
            format!("fault {fault} injected — {verdict}: {how}"),
            format!("falha {fault} injetada — {verdict}: {how}"),
        ),
    )
}
