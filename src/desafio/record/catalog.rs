//! Every phrase of the two logs, in both languages, in one table (only the wording of errors,
//! shared with stderr, is `error.rs`'s). A message is a template whose `{}` are its slots
//! (`Msg`); the nouns and labels that fill slots, or that other text borrows, are `Words`.
//! `Event` and `ConsumerLine` render by filling a template (`fill`) and parse by matching the
//! same template (`capture`), so a line written in one language is always read back in it, and
//! a new message is one row here plus its render and parse arms in `event.rs`.

use std::sync::OnceLock;

use crate::desafio::lang::Lang;

/// Declares `Msg`, its table (`both`) and `Msg::ALL` (every message, in the order of
/// declaration: `pieces` indexes it by `self as usize`) from one list.
macro_rules! catalog {
    ($($(#[$doc:meta])* $name:ident => ($en:literal, $pt:literal $(,)?),)*) => {
        /// One message of the logs. `in_lang` gives its template; the parser of
        /// `execution_log.txt` tries them in the order they are declared in (`PARSE_ORDER`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Msg {
            $($(#[$doc])* $name,)*
        }

        impl Msg {
            const ALL: &[Msg] = &[$(Msg::$name,)*];

            /// The table: English template, Portuguese template.
            const fn both(self) -> (&'static str, &'static str) {
                match self {
                    $(Msg::$name => ($en, $pt),)*
                }
            }
        }
    };
}

catalog! {
    Sent => ("sent {} ({}/{})", "enviou {} ({}/{})"),
    Received => ("received {}: {}", "recebeu {}: {}"),
    Started => ("started", "iniciado"),
    StartedParamsBug => (
        "started: count {}, range {}..={}, seed {}, pace {}, fault {}, bug {}",
        "iniciado: quantidade {}, intervalo {}..={}, semente {}, pausa {}, falha {}, bug {}",
    ),
    StartedParams => (
        "started: count {}, range {}..={}, seed {}, pace {}, fault {}",
        "iniciado: quantidade {}, intervalo {}..={}, semente {}, pausa {}, falha {}",
    ),
    Spawned => ("spawned {} {}", "criou {} {}"),
    EndSent => ("end marker sent ({} {})", "marcador de fim enviado ({} {})"),
    EndReceived => (
        "end marker received ({} {}, {} {})",
        "marcador de fim recebido ({} {}, {} {})",
    ),
    InterruptedNote => ("interrupted by {}: {}", "interrompido por {}: {}"),
    Interrupted => ("interrupted by {}", "interrompido por {}"),
    Fault => ("fault {}: {}", "falha {}: {}"),
    BrokenPipe => (
        "error: consumer closed the pipe after {} of {} {}",
        "erro: o consumidor fechou o pipe após {} de {} {}",
    ),
    GaveUpFull => (
        "error: the pipe stayed full for {} s after the interrupt: giving up after {} of {} {}, without the end marker",
        "erro: o pipe continuou cheio por {} s após a interrupção: desistindo após {} de {} {}, sem o marcador de fim",
    ),
    GaveUpEmpty => (
        "error: nothing came through the pipe for {} s after the interrupt: giving up after {} {}, without the end marker",
        "erro: nada passou pelo pipe por {} s após a interrupção: desistindo após {} {}, sem o marcador de fim",
    ),
    PipeClosedDetail => (
        "error: pipe closed before the end marker after {} {} ({})",
        "erro: pipe fechado antes do marcador de fim após {} {} ({})",
    ),
    PipeClosed => (
        "error: pipe closed before the end marker after {} {}",
        "erro: pipe fechado antes do marcador de fim após {} {}",
    ),
    /// Any other error: after the errors above, which it would swallow.
    Error => ("error: {}", "erro: {}"),
    Exiting => ("exiting with code {}", "saindo com código {}"),
    SummaryExtra => (
        "summary: sent {}, received {}, lost {}; {}",
        "resumo: enviados {}, recebidos {}, perdidos {}; {}",
    ),
    Summary => (
        "summary: sent {}, received {}, lost {}",
        "resumo: enviados {}, recebidos {}, perdidos {}",
    ),
    /// `<role> <pid> <status>`: the one message that begins with a slot (a child's role).
    ChildExited => ("{} {} {}", "{} {} {}"),
    ExitedWithCode => ("exited with code {}", "terminou com código {}"),
    KilledBy => ("killed by {}", "morto por {}"),
    /// `consumer_log.txt`'s last line.
    TotalsIncomplete => (
        "# totals: values {}, even {}, odd {} (incomplete: {})",
        "# totais: valores {}, pares {}, ímpares {} (incompleto: {})",
    ),
    Totals => (
        "# totals: values {}, even {}, odd {}",
        "# totais: valores {}, pares {}, ímpares {}",
    ),
    /// The `pace` slot of a `started:` line, when there is a pace.
    PaceMs => ("{} ms", "{} ms"),
    /// The notes of the children's `interrupted by` and `fault` lines, and the consumer log's
    /// header (free text: rendered, never parsed).
    NoteStopping => ("stopping after {} of {} {}", "parando após {} de {} {}"),
    NoteExitingEarly => (
        "exiting without the end marker after {} {}",
        "saindo sem o marcador de fim após {} {}",
    ),
    NoteKillingItself => (
        "sending itself SIGKILL after {} {}",
        "enviando SIGKILL a si mesmo após {} {}",
    ),
    NoteClosingPipe => ("closing the pipe after {} {}", "fechando o pipe após {} {}"),
    NoteDraining => ("draining the pipe", "drenando o pipe"),
    ConsumerHeader => (
        "consumer_log.txt: run started {}, consumer pid {}",
        "consumer_log.txt: execução iniciada em {}, consumidor pid {}",
    ),
    /// Main's errors and a `pipe closed` line's detail (free text, too).
    ChildrenStillRunning => (
        "the children are still running {} s after the interrupt (stopped or stuck?): killing them",
        "os filhos ainda estão rodando {} s após a interrupção (parados ou travados?): matando-os",
    ),
    StallProducerGone => (
        "stall: the producer has ended, but the consumer has waited {} s for an end of file that cannot come: main still holds the write end of the pipe (and so does the consumer itself: --bug parent-keeps-ends); ending the run",
        "travamento: o produtor terminou, mas o consumidor espera há {} s por um fim de arquivo que não pode chegar: o main ainda tem a ponta de escrita do pipe (e o próprio consumidor também: --bug parent-keeps-ends); encerrando a execução",
    ),
    StallConsumerGone => (
        "stall: the consumer has ended, but the producer has been blocked for {} s writing into a full pipe nobody reads ({} bytes unread): main still holds the read end of the pipe (and so does the producer itself: --bug parent-keeps-ends), so EPIPE cannot come; ending the run",
        "travamento: o consumidor terminou, mas o produtor está bloqueado há {} s escrevendo num pipe cheio que ninguém lê ({} bytes não lidos): o main ainda tem a ponta de leitura do pipe (e o próprio produtor também: --bug parent-keeps-ends), então EPIPE não pode chegar; encerrando a execução",
    ),
    TruncatedMessage => (
        "truncated message: {} of {} bytes",
        "mensagem truncada: {} de {} bytes",
    ),
    /// The measurements closing main's summary: throughput, then each process's peak memory.
    Throughput => ("{} values/s over {} s", "{} valores/s em {} s"),
    ChildResources => (
        "; {} peak RSS {} MiB, CPU {} s",
        "; {} pico de RSS {} MiB, CPU {} s",
    ),
    MainResources => ("; main peak RSS {} MiB", "; main pico de RSS {} MiB"),
}

impl Msg {
    /// The messages of `execution_log.txt`, in the order the parser tries them: the two hot
    /// lines first; a message with an optional tail before the same message without it; the
    /// catch-all `Error` after every other error; `ChildExited`, which begins with a slot, last.
    /// (The order of declaration, up to `ChildExited`.)
    pub(crate) const PARSE_ORDER: &[Msg] = Msg::ALL.split_at(Msg::ChildExited as usize + 1).0;

    /// The table: English template, Portuguese template.
    /// The template in `lang`.
    pub(crate) fn in_lang(self, lang: Lang) -> &'static str {
        let (en, pt) = self.both();
        lang.pick(en, pt)
    }

    /// The template in `lang` cut at its slots: the text before the first slot, between each
    /// two, after the last. Cut once per process and template, at its first use, so that a
    /// million lines search for no `{}` — and a 12-value run, whose main writes eight kinds of
    /// line, cuts eight templates rather than all 78 before its first fork.
    pub(crate) fn pieces(self, lang: Lang) -> &'static [&'static str] {
        static PIECES: [[OnceLock<Box<[&'static str]>>; 2]; Msg::ALL.len()] =
            [const { [const { OnceLock::new() }; 2] }; Msg::ALL.len()];
        PIECES[self as usize][usize::from(lang == Lang::Pt)]
            .get_or_init(|| cut_at_slots(self.in_lang(lang)))
    }
}

/// `template.split("{}")`, by a plain scan: `str::split` would set up a Two-Way searcher per
/// template, and `memchr` would detect the CPU's features at its first call (`cpuid`s, each a
/// trip to the hypervisor in a virtual machine) on main's way to its first fork.
fn cut_at_slots(template: &'static str) -> Box<[&'static str]> {
    let bytes = template.as_bytes();
    let mut pieces = Vec::new();
    let (mut start, mut at) = (0, 0);
    while let Some(i) = bytes[at..].iter().position(|&b| b == b'{') {
        let brace = at + i;
        if bytes.get(brace + 1) == Some(&b'}') {
            pieces.push(&template[start..brace]);
            start = brace + 2;
            at = start;
        } else {
            at = brace + 1;
        }
    }
    pieces.push(&template[start..]);
    pieces.into_boxed_slice()
}

/// What fills one slot.
pub(crate) enum Arg<'a> {
    Int(i128),
    Text(&'a str),
}

/// Appends `msg`'s template in `lang` to `out` with its slots filled by `args`, in order.
/// (The hot lines, sent and received, are rendered from their pieces by `Event::render_into`.)
pub(crate) fn fill(out: &mut String, msg: Msg, lang: Lang, args: &[Arg<'_>]) {
    let mut digits = itoa::Buffer::new();
    let (first, pieces) = msg.pieces(lang).split_first().unwrap_or((&"", &[]));
    out.push_str(first);
    for (&piece, arg) in pieces.iter().zip(args) {
        match arg {
            Arg::Int(n) => out.push_str(digits.format(*n)),
            Arg::Text(text) => out.push_str(text),
        }
        out.push_str(piece);
    }
}

/// `msg`'s template in `lang`, filled: a note or a header, free text inside a line.
pub(crate) fn say(msg: Msg, lang: Lang, args: &[Arg<'_>]) -> String {
    let mut out = String::new();
    fill(&mut out, msg, lang, args);
    out
}

/// A count and the noun agreeing with it (`3`, `values`): two slots.
pub(crate) fn counted(n: u64, lang: Lang) -> [Arg<'static>; 2] {
    [Arg::Int(n.into()), Arg::Text(lang.words().values_n(n))]
}

/// Most slots a template has (`StartedParamsBug`).
const MAX_SLOTS: usize = 7;

/// The text of each slot of a matched template, in order.
#[derive(Debug)]
pub(crate) struct Caps<'a> {
    slots: [&'a str; MAX_SLOTS],
    len: usize,
    /// The template, cut at its slots (`Msg::pieces`): the text after slot `i` is `i + 1`.
    pieces: &'static [&'static str],
}

impl<'a> Caps<'a> {
    pub(crate) fn get(&self, i: usize) -> &'a str {
        if i < self.len { self.slots[i] } else { "" }
    }

    /// Slot `i` as a number.
    pub(crate) fn number<T: std::str::FromStr>(&self, i: usize) -> Result<T, String> {
        let word = self.get(i);
        word.parse()
            .map_err(|_| format!("expected a number, got '{word}'"))
    }

    /// Slot `i` is one of `words` (a noun's singular and plural, say).
    pub(crate) fn word(&self, i: usize, words: &[&str]) -> Result<(), String> {
        let (slot, follow) = (
            self.get(i),
            self.pieces.get(i + 1).copied().unwrap_or_default(),
        );
        let longest = words
            .iter()
            .filter(|w| slot.starts_with(**w))
            .max_by_key(|w| w.len());
        match longest {
            Some(w) if w.len() == slot.len() => Ok(()),
            Some(w) if follow.is_empty() => {
                Err(format!("unexpected trailing text '{}'", &slot[w.len()..]))
            }
            Some(w) => Err(format!(
                "expected '{follow}' at '{}{follow}'",
                &slot[w.len()..]
            )),
            None => Err(format!("expected one of {words:?} at '{slot}{follow}'")),
        }
    }
}

/// Matches `text` against `msg`'s template in `lang`. `None`: the text before the first slot
/// differs, so the text is another message; `Some(Err(why))`: it is this message, malformed.
/// A slot takes the text up to the first occurrence of what follows it; the last slot takes
/// the rest, less the template's closing text.
pub(crate) fn capture(msg: Msg, lang: Lang, text: &str) -> Option<Result<Caps<'_>, String>> {
    let all = msg.pieces(lang);
    let (first, pieces) = all.split_first().unwrap_or((&"", &[]));
    let mut rest = text.strip_prefix(first)?;
    let mut caps = Caps {
        slots: [""; MAX_SLOTS],
        len: 0,
        pieces: all,
    };
    if pieces.is_empty() {
        return Some(match rest {
            "" => Ok(caps),
            _ => Err(format!("unexpected trailing text '{rest}'")),
        });
    }
    for (i, &after) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let slot = if after.is_empty() {
            std::mem::take(&mut rest)
        } else if !last {
            match split_once(rest, after) {
                Some((slot, tail)) => {
                    rest = tail;
                    slot
                }
                None => return Some(Err(format!("expected '{after}' in '{rest}'"))),
            }
        } else if let Some(slot) = rest.strip_suffix(after) {
            std::mem::take(&mut rest);
            slot
        } else {
            return Some(Err(match split_once(rest, after) {
                Some((_, tail)) => format!("unexpected trailing text '{tail}'"),
                None => format!("expected '{after}' in '{rest}'"),
            }));
        };
        if caps.len == MAX_SLOTS {
            return Some(Err(format!("more than {MAX_SLOTS} slots in {msg:?}")));
        }
        caps.slots[caps.len] = slot;
        caps.len += 1;
    }
    Some(Ok(caps))
}

/// `str::split_once` for the short separators of the templates (" (", ": ", "/"): `memchr`
/// for the separator's first byte, then a compare — `str::split_once` with a `&str` sets up a
/// Two-Way searcher on every call, which on a million short lines cost more than the match.
pub(crate) fn split_once<'a>(text: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let (hay, needle) = (text.as_bytes(), sep.as_bytes());
    let &first = needle.first()?;
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, hay.get(from..)?) {
        let at = from + i;
        if hay[at..].starts_with(needle) {
            // `at` starts a copy of `sep`, so it is a character boundary of `text`.
            return Some((text.get(..at)?, text.get(at + needle.len()..)?));
        }
        from = at + 1;
    }
    None
}

/// The nouns and labels of the logs: what fills a slot (a role, a parity, a noun agreeing with
/// its count), and the few words other text borrows (`error`, `fault`).
#[derive(Debug)]
pub struct Words {
    pub main: &'static str,
    pub producer: &'static str,
    pub consumer: &'static str,
    pub even: &'static str,
    pub odd: &'static str,
    pub fault: &'static str,
    /// The `, bug <name>` of a `--bug` run's `started:` line (absent otherwise).
    pub bug: &'static str,
    pub none: &'static str,
    pub values: &'static str,
    /// `value`: one of `values`.
    pub value: &'static str,
    pub end_received: &'static str,
    pub values_announced: &'static str,
    pub value_announced: &'static str,
    pub received_count: &'static str,
    pub received_one: &'static str,
    pub error: &'static str,
    pub sum_sent: &'static str,
    pub sum_received: &'static str,
    pub sum_lost: &'static str,
}

impl Words {
    /// `value` for one, `values` otherwise (zero included, in both languages).
    pub fn values_n(&self, n: u64) -> &'static str {
        if n == 1 { self.value } else { self.values }
    }

    /// `1 value`, `3 values`, `0 valores`: a count and its noun.
    pub fn n_values(&self, n: u64) -> String {
        format!("{n} {}", self.values_n(n))
    }

    /// `value announced` / `values announced`.
    pub fn announced_n(&self, n: u64) -> &'static str {
        if n == 1 {
            self.value_announced
        } else {
            self.values_announced
        }
    }

    /// `received` (`recebido` / `recebidos` in Portuguese).
    pub fn received_n(&self, n: u64) -> &'static str {
        if n == 1 {
            self.received_one
        } else {
            self.received_count
        }
    }
}

pub static EN: Words = Words {
    main: "main",
    producer: "producer",
    consumer: "consumer",
    even: "even",
    odd: "odd",
    fault: "fault",
    bug: "bug",
    none: "none",
    values: "values",
    value: "value",
    end_received: "end marker received",
    values_announced: "values announced",
    value_announced: "value announced",
    received_count: "received",
    received_one: "received",
    error: "error",
    sum_sent: "sent",
    sum_received: "received",
    sum_lost: "lost",
};

pub static PT: Words = Words {
    main: "main",
    producer: "produtor",
    consumer: "consumidor",
    even: "par",
    odd: "ímpar",
    fault: "falha",
    bug: "bug",
    none: "nenhuma",
    values: "valores",
    value: "valor",
    end_received: "marcador de fim recebido",
    values_announced: "valores anunciados",
    value_announced: "valor anunciado",
    received_count: "recebidos",
    received_one: "recebido",
    error: "erro",
    sum_sent: "enviados",
    sum_received: "recebidos",
    sum_lost: "perdidos",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_cut_at_their_slots_as_split_would_cut_them() {
        let odd: [&'static str; 6] = ["", "{}", "a{}{}b", "{{}}", "x{y}z{", "{}{"];
        let templates = Msg::ALL
            .iter()
            .flat_map(|m| Lang::ALL.map(|l| m.in_lang(l)))
            .chain(odd);
        for template in templates {
            let split: Vec<&str> = template.split("{}").collect();
            assert_eq!(*cut_at_slots(template), *split, "{template:?}");
        }
    }

    #[test]
    fn a_template_is_filled_and_captured_back() {
        let mut out = String::new();
        fill(
            &mut out,
            Msg::Sent,
            Lang::Pt,
            &[Arg::Int(-7), Arg::Int(2), Arg::Int(12)],
        );
        assert_eq!(out, "enviou -7 (2/12)");
        let caps = capture(Msg::Sent, Lang::Pt, &out).unwrap().unwrap();
        assert_eq!([caps.get(0), caps.get(1), caps.get(2)], ["-7", "2", "12"]);
        assert!(capture(Msg::Sent, Lang::En, &out).is_none());
        assert_eq!(
            capture(Msg::Sent, Lang::En, "sent 1 (1/2) extra")
                .unwrap()
                .unwrap_err(),
            "unexpected trailing text ' extra'"
        );
        assert_eq!(
            capture(Msg::Sent, Lang::En, "sent 17")
                .unwrap()
                .unwrap_err(),
            "expected ' (' in '17'"
        );
    }

    /// The notes and the consumer log's header, written out in both languages.
    #[test]
    fn the_free_text_of_the_logs_reads_as_it_always_has() {
        let [n, values] = counted(3, Lang::Pt);
        assert_eq!(
            say(Msg::NoteStopping, Lang::Pt, &[Arg::Int(1), n, values]),
            "parando após 1 de 3 valores"
        );
        for (msg, en, pt) in [
            (
                Msg::NoteExitingEarly,
                "exiting without the end marker after 1 value",
                "saindo sem o marcador de fim após 1 valor",
            ),
            (
                Msg::NoteKillingItself,
                "sending itself SIGKILL after 1 value",
                "enviando SIGKILL a si mesmo após 1 valor",
            ),
            (
                Msg::NoteClosingPipe,
                "closing the pipe after 1 value",
                "fechando o pipe após 1 valor",
            ),
        ] {
            assert_eq!(say(msg, Lang::En, &counted(1, Lang::En)), en);
            assert_eq!(say(msg, Lang::Pt, &counted(1, Lang::Pt)), pt);
        }
        assert_eq!(say(Msg::NoteDraining, Lang::Pt, &[]), "drenando o pipe");
        assert_eq!(
            say(Msg::TruncatedMessage, Lang::Pt, &[Arg::Int(3), Arg::Int(9)]),
            "mensagem truncada: 3 de 9 bytes"
        );
        assert_eq!(
            say(Msg::ChildrenStillRunning, Lang::Pt, &[Arg::Int(5)]),
            "os filhos ainda estão rodando 5 s após a interrupção (parados ou travados?): matando-os"
        );
        assert_eq!(
            say(
                Msg::ConsumerHeader,
                Lang::Pt,
                &[Arg::Text("T"), Arg::Int(5)]
            ),
            "consumer_log.txt: execução iniciada em T, consumidor pid 5"
        );
    }

    #[test]
    fn every_template_has_its_slots_in_both_languages() {
        for (i, &msg) in Msg::ALL.iter().enumerate() {
            assert_eq!(msg as usize, i, "Msg::ALL lists {msg:?} out of order");
            let (en, pt) = msg.both();
            assert_eq!(
                en.matches("{}").count(),
                pt.matches("{}").count(),
                "{msg:?}"
            );
            assert!(en.matches("{}").count() <= MAX_SLOTS, "{msg:?}");
            assert!(!en.contains("{}{}") && !pt.contains("{}{}"), "{msg:?}");
        }
    }
}
