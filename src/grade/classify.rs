//! A tolerant reader of the lines a consumer recorded: any line that pairs an integer with a
//! class word (par / ímpar / impar / even / odd, any case, accents or not, quoted or not).
//! Timestamps, dates, pid mentions and counters (`3/12`) are removed before the integer is
//! chosen; when a line still holds several, the one the consumer received wins.

use std::sync::LazyLock;

use regex::Regex;

use super::values::integers;

/// Even or odd, as a line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Even,
    Odd,
}

impl Class {
    pub fn of(v: i64) -> Class {
        if v % 2 == 0 { Class::Even } else { Class::Odd }
    }
}

/// What one line says, when it can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub value: i64,
    pub class: Class,
    /// The class word as written.
    pub word: String,
}

/// What is not a value: dates, times, pid mentions, counters, durations. (`None` only if the
/// pattern did not compile, which a test rules out.)
static NOISE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)",
        r"\d{4}-\d{2}-\d{2}([T ]\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?", // dates
        r"|\d{1,2}/\d{1,2}/\d{2,4}",                   // 25/11/2026
        r"|\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?",          // times
        r"|\bpid\s*[:=#]?\s*\d+",                      // pid 41, PID: 41
        r"|\(\s*\d+\s*/\s*\d+\s*\)|\b\d+\s*/\s*\d+\b", // (3/12), 3/12
        r"|\b\d+(\.\d+)?\s*(ms|s)\b",                  // 12 ms
    ))
    .ok()
});

/// The class word of a line: one of the words, alone (a line naming both is not readable).
fn class_word(line: &str) -> Option<(Class, String)> {
    let mut found: Option<(Class, String)> = None;
    for word in line.split(|c: char| !c.is_alphanumeric()) {
        let plain: String = word
            .chars()
            .map(|c| match c {
                'í' | 'Í' | 'ì' | 'Ì' => 'i',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        let class = match plain.as_str() {
            "par" | "even" => Class::Even,
            "impar" | "odd" => Class::Odd,
            _ => continue,
        };
        match &found {
            Some((c, _)) if *c != class => return None,
            Some(_) => {}
            None => found = Some((class, word.to_string())),
        }
    }
    found
}

/// Reads one line; `received` are the values the consumer got (empty when unknown).
pub fn read_line(line: &str, received: &[i64]) -> Option<Reading> {
    let (class, word) = class_word(line)?;
    let cleaned = match &*NOISE {
        Some(noise) => noise.replace_all(line, " "),
        None => line.into(),
    };
    let ints = integers(&cleaned);
    let value = match ints.as_slice() {
        [] => return None,
        [v] => *v,
        many => {
            let known: Vec<i64> = many
                .iter()
                .copied()
                .filter(|v| received.contains(v))
                .collect();
            match known.as_slice() {
                [v] => *v,
                _ => return None,
            }
        }
    };
    Some(Reading { value, class, word })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(line: &str) -> Option<(i64, Class)> {
        read_line(line, &[]).map(|r| (r.value, r.class))
    }

    #[test]
    fn the_noise_pattern_compiles() {
        assert!(NOISE.is_some());
    }

    #[test]
    fn the_layouts_students_write_are_read() {
        use Class::*;
        assert_eq!(
            read("[12:01:02] - Dado 7 recebido e processado como 'Impar'."),
            Some((7, Odd))
        );
        assert_eq!(read("O número 8 é ÍMPAR."), Some((8, Odd)));
        assert_eq!(
            read("2026-11-25 12:01:02,123 - [Consumidor PID: 41] 12 -> par"),
            Some((12, Even))
        );
        assert_eq!(read("value 15 is odd"), Some((15, Odd)));
        assert_eq!(
            read("2026-11-25T05:56:31.687+00:00 40 even"),
            Some((40, Even))
        );
        assert_eq!(read("12:00:01 valor=33 classe=\"ímpar\""), Some((33, Odd)));
        assert_eq!(read("Consumidor: 4 -> PAR (3/12)"), Some((4, Even)));
    }

    #[test]
    fn lines_without_one_class_or_one_integer_are_not_read() {
        assert_eq!(read("# totals: values 12, even 8, odd 4"), None);
        assert_eq!(read("consumer started"), None);
        assert_eq!(read("par"), None);
        assert_eq!(read("3 and 5 are odd"), None);
    }

    #[test]
    fn a_received_value_wins_among_several_integers() {
        let r = read_line("item 2 of run 9: 77 odd", &[77]).unwrap();
        assert_eq!(r.value, 77);
        assert_eq!(read_line("item 2 of run 9: 77 odd", &[]), None);
    }
}
