//! The assignment's five mandatory requirements, each graded PASS or FAIL from what the logs
//! show, with the evidence (counts, pids, file:line).

use super::Report;
use crate::desafio::lang::Lang;
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG};
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
    let g = &r.grading;
    let mut out = Vec::new();
    let req = |number: u8, passed: bool, en: &str, pt: &str, evidence: String| Requirement {
        number,
        passed,
        name: lang.pick(en, pt).to_string(),
        evidence,
    };

    // 1. Two independent processes: a producer and a consumer, each its own pid, forked by main.
    let spawned = |role: Role| g.spawned.iter().find(|(r, _, _)| *r == role);
    let one = match (g.main_pid, g.producer_pid, g.consumer_pid) {
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
                "the logs do not show a producer and a consumer with pids of their own".into(),
                "os logs não mostram um produtor e um consumidor com pids próprios".to_string(),
            ),
        ),
    };
    out.push(req(
        1,
        one.0,
        "two independent processes",
        "dois processos independentes",
        one.1,
    ));

    // 2. At least 10 sends and receives.
    let (sent, received) = (r.sent, r.received);
    let two = sent >= MIN_EXCHANGES && received >= MIN_EXCHANGES;
    out.push(req(
        2,
        two,
        "at least 10 exchanges",
        "pelo menos 10 trocas",
        if two {
            lang.pick(
                format!("{sent} values sent and {received} received"),
                format!("{sent} valores enviados e {received} recebidos"),
            )
        } else {
            lang.pick(
                format!("only {sent} values sent and {received} received: at least {MIN_EXCHANGES} are required"),
                format!("apenas {sent} valores enviados e {received} recebidos: são exigidos pelo menos {MIN_EXCHANGES}"),
            )
        },
    ));

    // 3. Varied, non-repeating data.
    let three = g.duplicates == 0 && (g.distinct >= 2 || sent <= 1) && sent > 0;
    let range = g
        .min_max
        .map(|(a, b)| lang.pick(format!(", from {a} to {b}"), format!(", de {a} a {b}")))
        .unwrap_or_default();
    out.push(req(
        3,
        three,
        "varied, non-repeating data",
        "dados variados, sem repetição",
        if g.duplicates > 0 {
            lang.pick(
                format!(
                    "{} repeated values among {} sent",
                    g.duplicates,
                    g.distinct + g.duplicates
                ),
                format!(
                    "{} valores repetidos entre {} enviados",
                    g.duplicates,
                    g.distinct + g.duplicates
                ),
            )
        } else {
            lang.pick(
                format!(
                    "{} distinct values out of {}{range}",
                    g.distinct, g.distinct
                ),
                format!("{} valores distintos de {}{range}", g.distinct, g.distinct),
            )
        },
    ));

    // 4. The consumer processes what it receives and records the result.
    let (values, even) = (g.consumer_values, g.consumer_even);
    let odd = values.saturating_sub(even);
    let misclassified = r
        .problems
        .iter()
        .any(|p| p.text.contains(lang.pick("classified", "classificado")));
    let four = values > 0 && values == received && !misclassified;
    out.push(req(
        4,
        four,
        "the consumer processes and records",
        "o consumidor processa e registra",
        if four {
            lang.pick(
                format!("{values} values classified in {CONSUMER_LOG} ({even} even, {odd} odd), one timestamped line each"),
                format!("{values} valores classificados em {CONSUMER_LOG} ({even} pares, {odd} ímpares), uma linha com horário para cada"),
            )
        } else {
            lang.pick(
                format!("{CONSUMER_LOG} records {values} values for {received} received{}", if misclassified { ", some misclassified" } else { "" }),
                format!("{CONSUMER_LOG} registra {values} valores para {received} recebidos{}", if misclassified { ", alguns mal classificados" } else { "" }),
            )
        },
    ));

    // 5. Errors and blocking situations handled: judged from what this run shows.
    let five = r.consistent() && g.fault_handled != Some(false);
    let evidence = if !r.consistent() {
        lang.pick(
            "the logs are not consistent (see the problems above)".to_string(),
            "os logs não são consistentes (veja os problemas acima)".to_string(),
        )
    } else if let Some(fault) = r.fault.as_ref().filter(|_| g.fault_handled == Some(true)) {
        let mut paths = g.handled.clone();
        paths.insert(0, fault.clone());
        paths.join("; ")
    } else if g.handled.is_empty() {
        lang.pick(
            "no error occurred in this run; blocking: the consumer waited on the pipe for every value and stopped at the end marker. Errors are not exercised here — see --fault to watch each one handled".to_string(),
            "nenhum erro ocorreu nesta execução; bloqueio: o consumidor esperou no pipe por cada valor e parou no marcador de fim. Os erros não foram exercitados aqui — veja --fault para ver cada um tratado".to_string(),
        )
    } else {
        g.handled.join("; ")
    };
    out.push(req(
        5,
        five,
        "errors and blocking handled",
        "erros e bloqueios tratados",
        evidence,
    ));
    out
}
