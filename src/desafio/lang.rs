//! The Desafio speaks two languages: English (the default) and Brazilian Portuguese, the
//! language of the course it was written for. `--lang pt|en` chooses; without it the locale does
//! (`LC_ALL`, then `LC_MESSAGES`, then `LANG`: `pt…` → Portuguese, anything else → English).
//!
//! Both log grammars have the same shape and differ only in their words, so one renderer and one
//! parser serve both (`Words`); `verify` and `report` read a run in either language.

use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    Pt,
}

impl Words {
    /// `value` for one, `values` otherwise (zero included, in both languages).
    pub fn values_n(&self, n: u64) -> &'static str {
        if n == 1 { self.value } else { self.values }
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

/// `1 value`, `3 values`, `0 valores`: a count and its noun; `one` and `many` are the noun's two
/// forms, in the caller's language (zero takes the plural, in both).
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `x` with `decimals` decimals, as `lang` writes numbers: `1.03` in English, `1,03` in
/// Portuguese.
pub fn decimal(x: f64, decimals: usize, lang: Lang) -> String {
    let text = format!("{x:.decimals$}");
    match lang {
        Lang::En => text,
        Lang::Pt => text.replace('.', ","),
    }
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Pt];

    /// The language the environment asks for: the first of `LC_ALL`, `LC_MESSAGES`, `LANG`
    /// that is set and not empty (POSIX precedence); `pt…` means Portuguese.
    pub fn from_env() -> Lang {
        Lang::from_locale(|name| std::env::var_os(name))
    }

    /// `from_env` with the environment given, for tests.
    pub fn from_locale(var: impl Fn(&str) -> Option<OsString>) -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .into_iter()
            .filter_map(&var)
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        if locale
            .to_string_lossy()
            .to_ascii_lowercase()
            .starts_with("pt")
        {
            Lang::Pt
        } else {
            Lang::En
        }
    }

    /// The language for this command line: `--lang X` (or `--lang=X`) if present and valid,
    /// else the locale. Looked at before parsing, so that `--help` and parse errors are already
    /// in the right language.
    pub fn from_args(args: &[OsString]) -> Lang {
        let mut it = args.iter().map(|a| a.to_string_lossy());
        while let Some(arg) = it.next() {
            let value = match arg.strip_prefix("--lang=") {
                Some(v) => Some(v.to_string()),
                None if arg == "--lang" => it.next().map(|v| v.to_string()),
                None => None,
            };
            if let Some(lang) = value.and_then(|v| v.parse().ok()) {
                return lang;
            }
        }
        Lang::from_env()
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Pt => "pt",
        }
    }

    /// The words of this language's log grammar.
    pub fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Pt => &PT,
        }
    }

    /// One of two texts, by language: `lang.pick("sent", "enviados")`.
    pub fn pick<T>(self, en: T, pt: T) -> T {
        match self {
            Lang::En => en,
            Lang::Pt => pt,
        }
    }
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Lang, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" | "english" => Ok(Lang::En),
            "pt" | "pt-br" | "pt_br" | "português" | "portugues" => Ok(Lang::Pt),
            other => Err(format!("unknown language '{other}' (expected pt or en)")),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Every fixed word and phrase of the two logs. Rendering and parsing both go through this, so
/// a line written in one language is always read back in it.
#[derive(Debug)]
pub struct Words {
    pub main: &'static str,
    pub producer: &'static str,
    pub consumer: &'static str,
    pub even: &'static str,
    pub odd: &'static str,
    pub started: &'static str,
    pub count: &'static str,
    pub range: &'static str,
    pub seed: &'static str,
    pub pace: &'static str,
    pub fault: &'static str,
    /// The `, bug <name>` of a `--bug` run's `started:` line (absent otherwise).
    pub bug: &'static str,
    pub none: &'static str,
    pub spawned: &'static str,
    pub sent: &'static str,
    pub end_sent: &'static str,
    pub values: &'static str,
    /// `value`: one of `values`.
    pub value: &'static str,
    pub received: &'static str,
    pub end_received: &'static str,
    pub values_announced: &'static str,
    pub value_announced: &'static str,
    pub received_count: &'static str,
    pub received_one: &'static str,
    pub interrupted_by: &'static str,
    pub error: &'static str,
    pub broken_pipe: &'static str,
    pub of: &'static str,
    pub pipe_closed: &'static str,
    /// A pipe that did not move after an interrupt: `the pipe stayed full for` (producer),
    /// `nothing came through the pipe for` (consumer), then `<s> s after the interrupt: giving
    /// up after …, without the end marker`.
    pub stuck_full: &'static str,
    pub stuck_empty: &'static str,
    pub after_interrupt: &'static str,
    pub without_end: &'static str,
    pub exited_with_code: &'static str,
    pub killed_by: &'static str,
    pub exiting_with_code: &'static str,
    pub summary: &'static str,
    pub sum_sent: &'static str,
    pub sum_received: &'static str,
    pub sum_lost: &'static str,
    pub totals: &'static str,
    pub tot_values: &'static str,
    pub tot_even: &'static str,
    pub tot_odd: &'static str,
    pub incomplete: &'static str,
}

pub static EN: Words = Words {
    main: "main",
    producer: "producer",
    consumer: "consumer",
    even: "even",
    odd: "odd",
    started: "started",
    count: "count",
    range: "range",
    seed: "seed",
    pace: "pace",
    fault: "fault",
    bug: "bug",
    none: "none",
    spawned: "spawned",
    sent: "sent",
    end_sent: "end marker sent",
    values: "values",
    value: "value",
    received: "received",
    end_received: "end marker received",
    values_announced: "values announced",
    value_announced: "value announced",
    received_count: "received",
    received_one: "received",
    interrupted_by: "interrupted by",
    error: "error",
    broken_pipe: "consumer closed the pipe after",
    of: "of",
    pipe_closed: "pipe closed before the end marker after",
    stuck_full: "the pipe stayed full for",
    stuck_empty: "nothing came through the pipe for",
    after_interrupt: "s after the interrupt: giving up after",
    without_end: "without the end marker",
    exited_with_code: "exited with code",
    killed_by: "killed by",
    exiting_with_code: "exiting with code",
    summary: "summary",
    sum_sent: "sent",
    sum_received: "received",
    sum_lost: "lost",
    totals: "totals",
    tot_values: "values",
    tot_even: "even",
    tot_odd: "odd",
    incomplete: "incomplete",
};

pub static PT: Words = Words {
    main: "main",
    producer: "produtor",
    consumer: "consumidor",
    even: "par",
    odd: "ímpar",
    started: "iniciado",
    count: "quantidade",
    range: "intervalo",
    seed: "semente",
    pace: "pausa",
    fault: "falha",
    bug: "bug",
    none: "nenhuma",
    spawned: "criou",
    sent: "enviou",
    end_sent: "marcador de fim enviado",
    values: "valores",
    value: "valor",
    received: "recebeu",
    end_received: "marcador de fim recebido",
    values_announced: "valores anunciados",
    value_announced: "valor anunciado",
    received_count: "recebidos",
    received_one: "recebido",
    interrupted_by: "interrompido por",
    error: "erro",
    broken_pipe: "o consumidor fechou o pipe após",
    of: "de",
    pipe_closed: "pipe fechado antes do marcador de fim após",
    stuck_full: "o pipe continuou cheio por",
    stuck_empty: "nada passou pelo pipe por",
    after_interrupt: "s após a interrupção: desistindo após",
    without_end: "sem o marcador de fim",
    exited_with_code: "terminou com código",
    killed_by: "morto por",
    exiting_with_code: "saindo com código",
    summary: "resumo",
    sum_sent: "enviados",
    sum_received: "recebidos",
    sum_lost: "perdidos",
    totals: "totais",
    tot_values: "valores",
    tot_even: "pares",
    tot_odd: "ímpares",
    incomplete: "incompleto",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locale_decides_with_posix_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(Lang::from_locale(env(&[("LANG", "pt_BR.UTF-8")])), Lang::Pt);
        assert_eq!(Lang::from_locale(env(&[("LANG", "C.UTF-8")])), Lang::En);
        assert_eq!(
            Lang::from_locale(env(&[("LC_ALL", "en_US.UTF-8"), ("LANG", "pt_BR.UTF-8")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_locale(env(&[
                ("LC_ALL", ""),
                ("LC_MESSAGES", "pt_PT"),
                ("LANG", "en")
            ])),
            Lang::Pt
        );
        assert_eq!(Lang::from_locale(env(&[])), Lang::En);
    }

    #[test]
    fn the_flag_wins_over_the_locale() {
        let args: Vec<OsString> = ["x", "-n", "3", "--lang", "pt"]
            .map(OsString::from)
            .to_vec();
        assert_eq!(Lang::from_args(&args), Lang::Pt);
        let args: Vec<OsString> = ["x", "--lang=en"].map(OsString::from).to_vec();
        assert_eq!(Lang::from_args(&args), Lang::En);
    }
}
