//! The assignment's five mandatory requirements, each graded PASS or FAIL from what the logs
//! show, with the evidence (counts, pids, file:line).

use super::Report;
use crate::desafio::lang::{Lang, count};
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG};
use crate::desafio::options::Bug;
use crate::desafio::record::Role;

/// At least this many values must be exchanged (requirement 2).
pub const MIN_EXCHANGES: u64 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub number: u8,
    pub passed: bool,
    /// Its name, in the report's language.
    pub name: String,
    /// Why it passed or failed: counts, pids, lines.
    pub evidence: String,
}

impl Requirement {
    pub fn render(&self, lang: Lang) -> String {
        let verdict = match (self.passed, lang) {
            (true, Lang::En) => "PASS",
            (false, Lang::En) => "FAIL",
            (true, Lang::Pt) => "PASSOU",
            (false, Lang::Pt) => "FALHOU",
        };
        let word = lang.pick("requirement", "requisito");
        format!(
            "{word} {}, {}: {verdict} — {}",
            self.number, self.name, self.evidence
        )
    }
}

pub fn grade(r: &Report) -> Vec<Requirement> {
    let lang = r.lang;
    let (g, ev) = (&r.grading, &r.grading.ev);
    let req = |number: u8, en: &str, pt: &str, (passed, evidence): (bool, String)| Requirement {
        number,
        passed,
        name: lang.pick(en, pt).to_string(),
        evidence,
    };

    // 1. Two independent processes: a producer and a consumer, each its own pid, forked by main.
    let spawned = |role: Role| ev.spawned.iter().find(|(r, _, _)| *r == role);
    let one = match (ev.main_pid, ev.producer.pid, ev.consumer.pid) {
        (Some((m, _)), Some((p, pl)), Some((c, cl))) if p != c && p != m && c != m => {
            let how = match (spawned(Role::Producer), spawned(Role::Consumer)) {
                (Some((_, _, a)), Some((_, _, b))) => lang.pick(
                    format!("both forked by main pid {m} ({EXECUTION_LOG}:{a}, {b})"),
                    format!("ambos criados por fork do main pid {m} ({EXECUTION_LOG}:{a}, {b})"),
                ),
                _ => lang.pick(format!("main is pid {m}"), format!("o main é o pid {m}")),
            };
            (
                true,
                lang.pick(
                    format!("producer pid {p} ({EXECUTION_LOG}:{pl}) and consumer pid {c} ({EXECUTION_LOG}:{cl}), {how}"),
                    format!("produtor pid {p} ({EXECUTION_LOG}:{pl}) e consumidor pid {c} ({EXECUTION_LOG}:{cl}), {how}"),
                ),
            )
        }
        _ => (
            false,
            lang.pick(
                "the logs do not show a producer and a consumer with pids of their own",
                "os logs não mostram um produtor e um consumidor com pids próprios",
            )
            .into(),
        ),
    };

    // 2. At least 10 sends and receives.
    let (sent, received) = (r.sent, r.received);
    let two = sent >= MIN_EXCHANGES && received >= MIN_EXCHANGES;
    let two = (
        two,
        if two {
            lang.pick(
                format!("{sent} values sent and {received} received"),
                format!("{sent} valores enviados e {received} recebidos"),
            )
        } else {
            let (values, sent_values) = (
                count(sent, "value", "values"),
                count(sent, "valor enviado", "valores enviados"),
            );
            let s = if received == 1 { "" } else { "s" };
            lang.pick(
                format!("only {values} sent and {received} received: at least {MIN_EXCHANGES} are required"),
                format!("apenas {sent_values} e {received} recebido{s}: são exigidos pelo menos {MIN_EXCHANGES}"),
            )
        },
    );

    // 3. Varied, non-repeating data.
    let (distinct, duplicates) = (ev.distinct, ev.duplicates);
    let range = ev
        .min_max
        .map(|(a, b)| lang.pick(format!(", from {a} to {b}"), format!(", de {a} a {b}")))
        .unwrap_or_default();
    let three = (
        duplicates == 0 && (distinct >= 2 || sent <= 1) && sent > 0,
        if duplicates > 0 {
            let all = distinct + duplicates;
            lang.pick(
                format!(
                    "{} among {all} sent",
                    count(duplicates, "repeated value", "repeated values")
                ),
                format!(
                    "{} entre {all} enviados",
                    count(duplicates, "valor repetido", "valores repetidos")
                ),
            )
        } else if distinct == 0 {
            lang.pick("no value was sent", "nenhum valor foi enviado")
                .into()
        } else if distinct == 1 {
            lang.pick(
                format!("a single value was sent{range}: nothing to vary"),
                format!("um único valor foi enviado{range}: nada para variar"),
            )
        } else {
            lang.pick(
                format!("{distinct} distinct values out of {distinct}{range}"),
                format!("{distinct} valores distintos de {distinct}{range}"),
            )
        },
    );

    // 4. The consumer processes what it receives and records the result.
    let (values, even) = (g.consumer_values, g.consumer_even);
    let odd = values.saturating_sub(even);
    let misclassified = r
        .problems
        .iter()
        .any(|p| p.text.contains(lang.pick("classified", "classificado")));
    let passed = values > 0 && values == received && !misclassified;
    let four = (
        passed,
        if passed {
            lang.pick(
                format!(
                    "{} in {CONSUMER_LOG} ({even} even, {odd} odd), one timestamped line each",
                    count(values, "value classified", "values classified")
                ),
                format!(
                    "{} em {CONSUMER_LOG} ({} e {}), uma linha com horário para cada",
                    count(values, "valor classificado", "valores classificados"),
                    count(even, "par", "pares"),
                    count(odd, "ímpar", "ímpares")
                ),
            )
        } else if values == 0 && received == 0 {
            lang.pick(
                format!("the consumer recorded nothing in {CONSUMER_LOG}: no value reached it"),
                format!(
                    "o consumidor não registrou nada em {CONSUMER_LOG}: nenhum valor chegou até ele"
                ),
            )
        } else {
            let some = match misclassified {
                true => lang.pick(", some misclassified", ", alguns mal classificados"),
                false => "",
            };
            lang.pick(
                format!("{CONSUMER_LOG} records {values} values for {received} received{some}"),
                format!("{CONSUMER_LOG} registra {values} valores para {received} recebidos{some}"),
            )
        },
    );

    // 5. Errors and blocking situations handled: judged from what this run shows — except
    // under a classic mistake made on purpose, which fails it whatever this run happened to
    // show (same flags, same verdict).
    let bug = ev.params.as_ref().and_then(|p| p.bug);
    let five = r.consistent() && g.fault_handled != Some(false) && bug.is_none();
    let evidence = if let Some(bug) = bug {
        let what = match bug {
            Bug::ParentKeepsEnds => lang.pick(
                "main and each child keep both ends of the pipe, so end of file and EPIPE cannot happen: a producer that dies leaves the consumer waiting for ever, a consumer that dies leaves the producer writing into a pipe nobody reads".to_string(),
                "o main e cada filho ficam com as duas pontas do pipe, então fim de arquivo e EPIPE não podem acontecer: um produtor que morre deixa o consumidor esperando para sempre, um consumidor que morre deixa o produtor escrevendo num pipe que ninguém lê".to_string(),
            ),
            Bug::NoLock | Bug::LockBeforeFork => {
                let why = if bug == Bug::NoLock {
                    lang.pick("no lock", "nenhuma trava")
                } else {
                    lang.pick(
                        "a lock on one descriptor shared by every process",
                        "uma trava num descritor compartilhado por todos os processos",
                    )
                };
                let seen = match ev.backwards.len() as u64 {
                    0 => lang.pick(
                        "no timestamp went backwards in this run, by chance".to_string(),
                        "nenhum horário voltou para trás nesta execução, por acaso".to_string(),
                    ),
                    n => lang.pick(
                        format!("{} in this run", count(n, "timestamp went backwards", "timestamps went backwards")),
                        format!("{} nesta execução", count(n, "horário voltou para trás", "horários voltaram para trás")),
                    ),
                };
                lang.pick(
                    format!("with {why}, the processes' writes to {EXECUTION_LOG} were not mutually exclusive: one could write between another's timestamp and its write, so the file's order proves nothing ({seen})"),
                    format!("com {why}, as escritas dos processos em {EXECUTION_LOG} não eram mutuamente exclusivas: um podia escrever entre o horário de outro e a escrita dele, então a ordem do arquivo não prova nada ({seen})"),
                )
            }
        };
        lang.pick(
            format!("--bug {bug} made on purpose: {what}"),
            format!("--bug {bug} feito de propósito: {what}"),
        )
    } else if !r.consistent() {
        lang.pick(
            "the logs are not consistent (see the problems above)",
            "os logs não são consistentes (veja os problemas acima)",
        )
        .into()
    } else if let Some(fault) = r.fault.as_ref().filter(|_| g.fault_handled == Some(true)) {
        let mut paths = g.handled.clone();
        paths.insert(0, fault.clone());
        paths.join("; ")
    } else if g.handled.is_empty() {
        lang.pick(
            "no error occurred in this run; blocking: the consumer waited on the pipe for every value and stopped at the end marker, and each process waited for the log's lock before writing. Errors are not exercised here — see --fault to watch each one handled",
            "nenhum erro ocorreu nesta execução; bloqueio: o consumidor esperou no pipe por cada valor e parou no marcador de fim, e cada processo esperou a trava do log antes de escrever. Os erros não foram exercitados aqui — veja --fault para ver cada um tratado",
        )
        .into()
    } else {
        g.handled.join("; ")
    };
    vec![
        req(
            1,
            "two independent processes",
            "dois processos independentes",
            one,
        ),
        req(2, "at least 10 exchanges", "pelo menos 10 trocas", two),
        req(
            3,
            "varied, non-repeating data",
            "dados variados, sem repetição",
            three,
        ),
        req(
            4,
            "the consumer processes and records",
            "o consumidor processa e registra",
            four,
        ),
        req(
            5,
            "errors and blocking handled",
            "erros e bloqueios tratados",
            (five, evidence),
        ),
    ]
}
