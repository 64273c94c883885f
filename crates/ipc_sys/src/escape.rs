//! Escaping, one helper per kind of output, so that no byte of a path, an error or a log line a
//! user handed in can act on what shows it: a newline cannot split a log line in two, an ESC
//! cannot move a terminal's cursor over the verdict, a control character cannot make an SVG
//! invalid XML.
//!
//! Control characters (C0, DEL, C1) are written the way Rust writes them in a string literal:
//! `\n`, `\t`, `\u{1b}`. A backslash that is already in the text is doubled only where the
//! result must read back unambiguously (`log`): in a terminal line or a picture it is shown as
//! it is.

use std::borrow::Cow;

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

fn controls_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Text that goes inside one log line (a path in an error message, say): control characters
/// escaped, so the line stays one line and shows no terminal sequence when echoed.
pub fn log(text: &str) -> Cow<'_, str> {
    if has_control(text) {
        Cow::Owned(controls_escaped(text))
    } else {
        Cow::Borrowed(text)
    }
}

/// One line printed on a terminal (stdout or stderr) that may quote what a file or a command
/// line held: control characters escaped, so none can rewrite what the terminal shows.
pub fn terminal(text: &str) -> Cow<'_, str> {
    log(text)
}

/// Every line of `text` escaped for a terminal, line breaks kept.
pub fn terminal_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&terminal(line));
    }
    Cow::Owned(out)
}

/// Text inside an SVG or HTML element or attribute: the five XML specials as entities, and
/// control characters (most are not allowed in XML 1.0 at all) escaped as text.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_text_in_every_output() {
        let hostile = "a\nb\u{1b}[2Jc\u{7f}d\u{9b}e";
        assert_eq!(log(hostile), "a\\nb\\u{1b}[2Jc\\u{7f}d\\u{9b}e");
        assert_eq!(terminal(hostile), log(hostile));
        assert_eq!(
            xml("<x a=\"1\">&'\u{1b}"),
            "&lt;x a=&quot;1&quot;&gt;&amp;&#39;\\u{1b}"
        );
        assert_eq!(terminal_lines("ok\n\u{1b}[1A\n"), "ok\n\\u{1b}[1A\n");
        assert!(matches!(log("plain é"), Cow::Borrowed(_)));
    }
}
