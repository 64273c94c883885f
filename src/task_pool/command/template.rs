//! The command template: `{}` in any word is replaced by the input (every occurrence, also inside
//! a word: `out/{}.gz`); a template without `{}` gets the input appended as its last argument,
//! as `xargs -n 1` and GNU parallel do. No shell is involved: the words are the program's argv.

/// The placeholder for the input.
pub const PLACEHOLDER: &[u8] = b"{}";

#[derive(Debug, Clone)]
pub struct Template {
    words: Vec<Vec<u8>>,
    placeholder: bool,
}

impl Template {
    /// `words[0]` is the program. At least one word.
    pub fn new(words: Vec<Vec<u8>>) -> Template {
        let placeholder = words.iter().any(|w| contains(w, PLACEHOLDER));
        Template { words, placeholder }
    }

    /// The argv for one input.
    pub fn argv(&self, input: &[u8]) -> Vec<Vec<u8>> {
        if !self.placeholder {
            let mut argv = self.words.clone();
            argv.push(input.to_vec());
            return argv;
        }
        self.words.iter().map(|w| replace(w, input)).collect()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

fn replace(word: &[u8], input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len() + input.len());
    let mut rest = word;
    while let Some(at) = memchr::memmem::find(rest, PLACEHOLDER) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(input);
        rest = &rest[at + PLACEHOLDER.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The command line as a shell would need it to run the same argv: words made only of safe
/// characters as they are, the others in single quotes. For the joblog's Command column, where
/// GNU parallel writes the line its shell ran; like parallel, a newline is written as `\0` so one
/// job stays one line. Bytes are kept as they are: a name that is not UTF-8 stays replayable.
pub fn render(argv: &[Vec<u8>]) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, word) in argv.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        quote(word, &mut line);
    }
    for b in &mut line {
        if *b == b'\n' {
            *b = 0;
        }
    }
    line
}

fn quote(word: &[u8], out: &mut Vec<u8>) {
    let safe = |b: &u8| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(b);
    if !word.is_empty() && word.iter().all(safe) {
        out.extend_from_slice(word);
        return;
    }
    out.push(b'\'');
    for &b in word {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<Vec<u8>> {
        ws.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_placeholder_is_replaced_everywhere_or_the_input_appended() {
        let t = Template::new(words(&["cp", "{}", "backup/{}.{}"]));
        assert_eq!(t.argv(b"a b"), words(&["cp", "a b", "backup/a b.a b"]));
        let t = Template::new(words(&["echo", "hello"]));
        assert_eq!(t.argv(b"x"), words(&["echo", "hello", "x"]));
        assert_eq!(t.argv(b""), words(&["echo", "hello", ""]));
    }

    #[test]
    fn rendering_quotes_what_a_shell_would_split() {
        let text = |argv: &[&str]| String::from_utf8(render(&words(argv))).unwrap();
        assert_eq!(text(&["echo", "a-b/c.txt"]), "echo a-b/c.txt");
        assert_eq!(
            text(&["sh", "-c", "trap '' TERM; sleep 30"]),
            "sh -c 'trap '\\'''\\'' TERM; sleep 30'"
        );
        assert_eq!(text(&["printf", ""]), "printf ''");
        assert_eq!(text(&["echo", "a\nb"]), "echo 'a\0b'");
        // Not UTF-8: kept byte for byte.
        assert_eq!(
            render(&[b"printf".to_vec(), vec![0xe9]]),
            b"printf '\xe9'".to_vec()
        );
    }
}
