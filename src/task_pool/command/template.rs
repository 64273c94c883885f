//! The command template and GNU parallel's replacement strings, done as parallel does them but
//! without a shell: the words after `--` are the program's argv.
//!
//! | String | Replaced by (for the input `dir/sub/file.tar.gz`) |
//! |---|---|
//! | `{}` | the input: `dir/sub/file.tar.gz` |
//! | `{.}` | the input without its extension: `dir/sub/file.tar` |
//! | `{/}` | its basename: `file.tar.gz` |
//! | `{//}` | its directory: `dir/sub` (Perl's `dirname`: `.` for a bare name) |
//! | `{/.}` | its basename without extension: `file.tar` |
//! | `{#}` | the job's sequence number, from 1 (a retry keeps it) |
//! | `{%}` | the job's slot, 1 to `-j`: no two jobs running at once share one |
//! | `{n}`, `{n.}`, `{n/}`, `{n//}`, `{n/.}` | the same, of input source `n` (`-n` counts from the last) |
//!
//! With several input sources (several `:::` groups), `{}` and the other non-positional strings
//! stand for every source's value, each a word of its own — as parallel's shell splits its
//! quoted, space-joined values: `x{}y` with the values `a` and `1` gives the words `xa` and `1y`.
//! A template without any replacement string gets the values appended, each a word. A `{`…`}`
//! that is none of these stays as it is (parallel does the same); `{=perl=}` is refused (no
//! Perl here), as are positions that name no input source.

/// What one replacement string stands for (each one's spelling: `SUFFIXES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Whole,
    NoExtension,
    Basename,
    Dirname,
    BasenameNoExtension,
    Seq,
    Slot,
}

impl Kind {
    fn apply(self, value: &[u8]) -> Vec<u8> {
        match self {
            Kind::Whole => value.to_vec(),
            Kind::NoExtension => no_extension(value).to_vec(),
            Kind::Basename => basename(value).to_vec(),
            Kind::Dirname => dirname(value),
            Kind::BasenameNoExtension => no_extension(basename(value)).to_vec(),
            Kind::Seq | Kind::Slot => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    /// A replacement string; `at` is the index of its input source, if positional.
    Replace {
        kind: Kind,
        at: Option<usize>,
    },
}

/// A parsed command template.
#[derive(Debug, Clone)]
pub struct Template {
    words: Vec<Vec<Piece>>,
    /// Some replacement string occurs: nothing is appended.
    replaces: bool,
    slot: bool,
}

/// One job's values for the template.
pub struct Values<'a> {
    /// One value per input source.
    pub args: &'a [Vec<u8>],
    pub seq: u64,
    pub slot: u64,
}

impl Template {
    /// `words[0]` is the program; `sources` is the number of input sources (for positions).
    /// An error names the replacement string it refuses.
    pub fn new(words: Vec<Vec<u8>>, sources: usize) -> Result<Template, String> {
        let words = words
            .iter()
            .map(|word| parse_word(word, sources))
            .collect::<Result<Vec<_>, _>>()?;
        let kinds = || {
            words.iter().flatten().filter_map(|p| match p {
                Piece::Replace { kind, .. } => Some(*kind),
                Piece::Text(_) => None,
            })
        };
        let (replaces, slot) = (kinds().next().is_some(), kinds().any(|k| k == Kind::Slot));
        Ok(Template {
            words,
            replaces,
            slot,
        })
    }

    /// Whether `{%}` occurs: then a job's slot must be known when its argv is built.
    pub fn uses_slot(&self) -> bool {
        self.slot
    }

    /// The argv of one job, and its command line as GNU parallel writes it in the joblog's
    /// Command column (see `quote_value` and `quote_text`; a newline is written as `\0`, so
    /// that one job stays one line).
    pub fn expand(&self, v: &Values<'_>) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut argv = Vec::with_capacity(self.words.len() + v.args.len());
        let mut line = Vec::new();
        let end_word = |argv: &mut Vec<Vec<u8>>, word: Vec<u8>, line: &mut Vec<u8>| {
            if !argv.is_empty() {
                line.push(b' ');
            }
            argv.push(word);
        };
        for word in &self.words {
            let mut current = Vec::new();
            let mut text = Vec::new();
            for piece in word {
                match piece {
                    Piece::Text(t) => {
                        current.extend_from_slice(t);
                        quote_text(t, &mut text);
                    }
                    Piece::Replace {
                        kind: kind @ (Kind::Seq | Kind::Slot),
                        ..
                    } => {
                        let n = if *kind == Kind::Seq { v.seq } else { v.slot };
                        current.extend_from_slice(n.to_string().as_bytes());
                        text.extend_from_slice(n.to_string().as_bytes());
                    }
                    Piece::Replace { kind, at: Some(i) } => {
                        if let Some(value) = v.args.get(*i) {
                            let value = kind.apply(value);
                            current.extend_from_slice(&value);
                            quote_value(&value, &mut text);
                        }
                    }
                    Piece::Replace { kind, at: None } => {
                        for (n, value) in v.args.iter().enumerate() {
                            if n > 0 {
                                end_word(&mut argv, std::mem::take(&mut current), &mut line);
                                line.append(&mut text);
                            }
                            let value = kind.apply(value);
                            current.extend_from_slice(&value);
                            quote_value(&value, &mut text);
                        }
                    }
                }
            }
            end_word(&mut argv, current, &mut line);
            if text.is_empty() {
                text.extend_from_slice(b"''");
            }
            line.append(&mut text);
        }
        if !self.replaces {
            for value in v.args {
                end_word(&mut argv, value.clone(), &mut line);
                quote_value(value, &mut line);
            }
        }
        for b in &mut line {
            if *b == b'\n' {
                *b = 0;
            }
        }
        (argv, line)
    }
}

/// The suffixes after `{` (and an optional position) that make a replacement string.
const SUFFIXES: [(&[u8], Kind); 7] = [
    (b"}", Kind::Whole),
    (b".}", Kind::NoExtension),
    (b"/}", Kind::Basename),
    (b"//}", Kind::Dirname),
    (b"/.}", Kind::BasenameNoExtension),
    (b"#}", Kind::Seq),
    (b"%}", Kind::Slot),
];

fn parse_word(word: &[u8], sources: usize) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while i < word.len() {
        if word[i] == b'{'
            && let Some((piece, len)) = replacement_at(&word[i..], sources)?
        {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(piece);
            i += len;
            continue;
        }
        text.push(word[i]);
        i += 1;
    }
    if !text.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// The replacement string at the start of `s` (which starts with `{`) and its length; `None`
/// if there is none (the `{` is text).
fn replacement_at(s: &[u8], sources: usize) -> Result<Option<(Piece, usize)>, String> {
    let shown = |len: usize| String::from_utf8_lossy(&s[..len.min(s.len())]).into_owned();
    if s.starts_with(b"{=") {
        let len = memchr::memmem::find(s, b"=}").map_or(s.len(), |at| at + 2);
        return Err(format!(
            "{}: Perl expressions in replacement strings ({{= … =}}) are not supported",
            shown(len)
        ));
    }
    let rest = &s[1..];
    let sign = usize::from(rest.first() == Some(&b'-'));
    let digits = rest[sign..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if sign == 1 && digits == 0 {
        return Ok(None);
    }
    let after = &rest[sign + digits..];
    let Some((suffix, kind)) = SUFFIXES
        .iter()
        .filter(|(suffix, _)| after.starts_with(suffix))
        .max_by_key(|(suffix, _)| suffix.len())
    else {
        return Ok(None);
    };
    let len = 1 + sign + digits + suffix.len();
    if digits == 0 {
        return Ok(Some((
            Piece::Replace {
                kind: *kind,
                at: None,
            },
            len,
        )));
    }
    if matches!(kind, Kind::Seq | Kind::Slot) {
        return Err(format!(
            "{}: {{#}} and {{%}} belong to the job, not to an input source: write them without a position",
            shown(len)
        ));
    }
    let number = std::str::from_utf8(&rest[sign..sign + digits])
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let sources_text = if sources == 1 {
        "1 input source".to_string()
    } else {
        format!("{sources} input sources")
    };
    if number == 0 {
        return Err(format!(
            "{}: input sources are numbered from 1 (or from -1, the last)",
            shown(len)
        ));
    }
    if number > sources {
        return Err(format!(
            "{}: there {} only {sources_text}",
            shown(len),
            if sources == 1 { "is" } else { "are" }
        ));
    }
    let at = if sign == 1 {
        sources - number
    } else {
        number - 1
    };
    Ok(Some((
        Piece::Replace {
            kind: *kind,
            at: Some(at),
        },
        len,
    )))
}

/// GNU parallel's `{.}`: `s:\.[^/.]*$::` — the last `.` of the basename and what follows it.
fn no_extension(value: &[u8]) -> &[u8] {
    let tail = value
        .iter()
        .rev()
        .take_while(|&&b| b != b'/' && b != b'.')
        .count();
    let dot = value.len() - tail;
    if dot > 0 && value[dot - 1] == b'.' {
        &value[..dot - 1]
    } else {
        value
    }
}

/// GNU parallel's `{/}`: `s:.*/::` — everything after the last `/`.
fn basename(value: &[u8]) -> &[u8] {
    match memchr::memrchr(b'/', value) {
        Some(at) => &value[at + 1..],
        None => value,
    }
}

/// GNU parallel's `{//}`: Perl's `File::Basename::dirname` on Unix.
fn dirname(value: &[u8]) -> Vec<u8> {
    // fileparse: the directory part, with its trailing `/` ("./" if there is none), and the rest.
    fn split(p: &[u8]) -> (&[u8], &[u8]) {
        match memchr::memrchr(b'/', p) {
            Some(at) => (&p[..=at], &p[at + 1..]),
            None => (b"./", p),
        }
    }
    // Trailing slashes off, but a path made only of slashes keeps one.
    fn strip(p: &[u8]) -> &[u8] {
        let kept = p.len() - p.iter().rev().take_while(|&&b| b == b'/').count();
        if kept == 0 && !p.is_empty() {
            &p[..1]
        } else {
            &p[..kept]
        }
    }
    let (dir, base) = split(value);
    let dir = strip(dir);
    if base.is_empty() {
        strip(split(dir).0).to_vec()
    } else {
        dir.to_vec()
    }
}

/// An inserted value as GNU parallel quotes it (its `shell_quote_scalar`): as it is if made only
/// of `-_.+/` and ASCII letters and digits, else in single quotes, a `'` written `'"'"'`, and
/// the empty `''` a leading or trailing quote leaves dropped. Bytes are kept as they are: a name
/// that is not UTF-8 stays replayable.
fn quote_value(value: &[u8], out: &mut Vec<u8>) {
    let safe = |b: &u8| b.is_ascii_alphanumeric() || b"-_.+/".contains(b);
    if value.is_empty() {
        out.extend_from_slice(b"''");
        return;
    }
    if value.iter().all(safe) {
        out.extend_from_slice(value);
        return;
    }
    let mut quoted = vec![b'\''];
    for &b in value {
        if b == b'\'' {
            quoted.extend_from_slice(b"'\"'\"'");
        } else {
            quoted.push(b);
        }
    }
    quoted.push(b'\'');
    let start = if quoted.starts_with(b"''") { 2 } else { 0 };
    let end = if quoted.len() >= start + 2 && quoted.ends_with(b"''") {
        quoted.len() - 2
    } else {
        quoted.len()
    };
    out.extend_from_slice(&quoted[start..end]);
}

/// Text of the template. GNU parallel writes it as it is (its shell gets the line); here there
/// is no shell, so text a shell would change — blanks, quotes, `$`, globs, `;|&<>()`, a leading
/// `#` or `~`, brace expansion — is quoted (as a value is), and the line still gives back the
/// argv that ran. Any other text is written as parallel writes it.
fn quote_text(text: &[u8], out: &mut Vec<u8>) {
    let special = |b: &u8| b" \t\n|&;<>()$`\\\"'*?[!".contains(b);
    let braces = text.contains(&b'{')
        && text.contains(&b'}')
        && (text.contains(&b',') || memchr::memmem::find(text, b"..").is_some());
    let leading = matches!(text.first(), Some(b'#' | b'~'));
    if text.iter().any(special) || braces || leading {
        quote_value(text, out);
    } else {
        out.extend_from_slice(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<Vec<u8>> {
        ws.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn expand(template: &[&str], args: &[&str]) -> Vec<String> {
        let t = Template::new(words(template), args.len()).unwrap();
        let args = words(args);
        t.expand(&Values {
            args: &args,
            seq: 7,
            slot: 2,
        })
        .0
        .into_iter()
        .map(|w| String::from_utf8(w).unwrap())
        .collect()
    }

    #[test]
    fn the_placeholder_is_replaced_everywhere_or_the_input_appended() {
        assert_eq!(
            expand(&["cp", "{}", "backup/{}.{}"], &["a b"]),
            ["cp", "a b", "backup/a b.a b"]
        );
        assert_eq!(expand(&["echo", "hello"], &["x"]), ["echo", "hello", "x"]);
        assert_eq!(expand(&["echo", "hello"], &[""]), ["echo", "hello", ""]);
        assert_eq!(expand(&["echo"], &["a", "1"]), ["echo", "a", "1"]);
    }

    /// Recorded from GNU parallel 20221122: `parallel -k echo STRING ::: a.txt dir/b.tar.gz /c
    /// .d d/.e sub.dir/f '' /`.
    #[test]
    fn path_replacement_strings_give_what_gnu_parallel_gives() {
        let inputs = [
            "a.txt",
            "dir/b.tar.gz",
            "/c",
            ".d",
            "d/.e",
            "sub.dir/f",
            "",
            "/",
        ];
        for (string, want) in [
            (
                "{.}",
                ["a", "dir/b.tar", "/c", "", "d/", "sub.dir/f", "", "/"],
            ),
            ("{/}", ["a.txt", "b.tar.gz", "c", ".d", ".e", "f", "", ""]),
            ("{//}", [".", "dir", "/", ".", "d", "sub.dir", ".", "/"]),
            ("{/.}", ["a", "b.tar", "c", "", "", "f", "", ""]),
            ("{1/}", ["a.txt", "b.tar.gz", "c", ".d", ".e", "f", "", ""]),
            (
                "{-1.}",
                ["a", "dir/b.tar", "/c", "", "d/", "sub.dir/f", "", "/"],
            ),
        ] {
            for (input, want) in inputs.iter().zip(want) {
                assert_eq!(
                    expand(&["echo", string], &[input]),
                    ["echo", want],
                    "{string} of {input:?}"
                );
            }
        }
        assert_eq!(dirname(b"a/b/"), b"a");
        assert_eq!(dirname(b"a/"), b".");
        assert_eq!(dirname(b"a//b"), b"a");
        assert_eq!(dirname(b"//"), b"/");
    }

    #[test]
    fn several_sources_split_into_words_as_parallels_shell_would() {
        // parallel -k printf '<%s>' x{}y ::: a b ::: 1 2  →  <xa><1y>…
        assert_eq!(
            expand(&["printf", "x{}y"], &["a", "1"]),
            ["printf", "xa", "1y"]
        );
        assert_eq!(expand(&["echo", "{2}-{1}"], &["a", "1"]), ["echo", "1-a"]);
        assert_eq!(
            expand(&["echo", "{.}"], &["a.c", "1.d"]),
            ["echo", "a", "1"]
        );
        assert_eq!(expand(&["echo", "{}"], &["", ""]), ["echo", "", ""]);
        assert_eq!(expand(&["echo", "{#}/{%}"], &["a", "b"]), ["echo", "7/2"]);
    }

    #[test]
    fn unknown_braces_stay_and_impossible_ones_are_refused() {
        // None of them is a replacement string, so the input is appended (as parallel does).
        assert_eq!(
            expand(&["echo", "{x}", "{", "}{", "{-}"], &["a"]),
            ["echo", "{x}", "{", "}{", "{-}", "a"]
        );
        let refused =
            |w: &str, sources: usize| Template::new(words(&["echo", w]), sources).unwrap_err();
        assert!(refused("{3}", 2).contains("only 2 input sources"));
        assert!(refused("{-2}", 1).contains("only 1 input source"));
        assert!(refused("{0}", 1).contains("numbered from 1"));
        assert!(refused("{=uc=}", 1).contains("Perl"));
        assert!(refused("{1#}", 1).contains("without a position"));
    }

    #[test]
    fn the_command_line_is_written_as_gnu_parallel_writes_it() {
        let line = |template: &[&str], args: &[&str]| {
            let t = Template::new(words(template), args.len()).unwrap();
            let args = words(args);
            let (_, line) = t.expand(&Values {
                args: &args,
                seq: 1,
                slot: 1,
            });
            String::from_utf8(line).unwrap()
        };
        // Each literal below is the Command column parallel 20221122 wrote.
        assert_eq!(line(&["true"], &["a b"]), "true 'a b'");
        assert_eq!(line(&["true"], &["it's"]), "true 'it'\"'\"'s'");
        assert_eq!(line(&["true"], &["x=y"]), "true 'x=y'");
        assert_eq!(line(&["true"], &["a*"]), "true 'a*'");
        assert_eq!(line(&["true"], &[""]), "true ''");
        assert_eq!(line(&["true"], &["t\tt"]), "true 't\tt'");
        assert_eq!(line(&["true"], &["é"]), "true 'é'");
        assert_eq!(line(&["true"], &["'x"]), "true \"'\"'x'");
        assert_eq!(line(&["echo", "x{}y"], &[""]), "echo x''y");
        assert_eq!(line(&["echo", "{x}"], &["a"]), "echo {x} a");
        assert_eq!(
            line(&["printf", "%s-", "x{}y"], &["a", "1"]),
            "printf %s- xa 1y"
        );
        assert_eq!(line(&["echo", "{.}"], &[".d"]), "echo ''");
        // Where parallel's shell would change the text, it is quoted: the line replays the argv.
        assert_eq!(
            line(&["sh", "-c", "exit $1", "sh"], &["3"]),
            "sh -c 'exit $1' sh 3"
        );
        assert_eq!(line(&["echo", ""], &["a"]), "echo '' a");
        assert_eq!(line(&["echo"], &["a\nb"]), "echo 'a\0b'");
        // Not UTF-8: kept byte for byte.
        let t = Template::new(vec![b"printf".to_vec()], 1).unwrap();
        let (_, l) = t.expand(&Values {
            args: &[vec![0xe9]],
            seq: 1,
            slot: 1,
        });
        assert_eq!(l, b"printf '\xe9'".to_vec());
    }
}
