//! The Desafio speaks two languages: English (the default) and Brazilian Portuguese, the
//! language of the course it was written for. `--lang pt|en` chooses; without it the locale does
//! (`LC_ALL`, then `LC_MESSAGES`, then `LANG`: `pt…` → Portuguese, anything else → English).
//!
//! Both log grammars have the same shape and differ only in their words: the phrases of the
//! logs are one table, `record::catalog`; `verify` and `report` read a run in either language.

use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;

use crate::desafio::record::{EN, PT, Words};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    Pt,
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

    /// The words of this language's logs (`record::catalog`).
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
