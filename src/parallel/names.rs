//! File names, carried whole: a path is any sequence of bytes but a pool task's arguments and
//! results are `String`s, so a path travels as `=<text>` when it is UTF-8 (with `\`, newline and
//! carriage return escaped, so a record stays one line) and as `%<hex>` otherwise. Printing
//! follows GNU `sha256sum`: a name holding `\`, a newline or a carriage return is escaped and
//! its line starts with `\`, which is what `sha256sum -c` / `md5sum -c` expect back.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The bytes `sha256sum` escapes in a file name, and their escapes.
fn escape_of(b: u8) -> Option<&'static [u8]> {
    match b {
        b'\\' => Some(b"\\\\"),
        b'\n' => Some(b"\\n"),
        b'\r' => Some(b"\\r"),
        _ => None,
    }
}

/// Whether `name` needs escaping (and its checksum line a leading `\`).
pub fn needs_escape(name: &[u8]) -> bool {
    name.iter().any(|&b| escape_of(b).is_some())
}

/// Appends `name` to `out` with `\`, newline and carriage return escaped as `sha256sum` does.
/// Every other byte, UTF-8 or not, is copied as it is.
pub fn push_escaped(out: &mut Vec<u8>, name: &[u8]) {
    for &b in name {
        match escape_of(b) {
            Some(esc) => out.extend_from_slice(esc),
            None => out.push(b),
        }
    }
}

/// The name as one printable line's worth of bytes (escaped, no `\` prefix): for messages.
pub fn display(name: &[u8]) -> String {
    let mut out = Vec::with_capacity(name.len());
    push_escaped(&mut out, name);
    String::from_utf8_lossy(&out).into_owned()
}

/// A path as task text: `=` and the escaped UTF-8 name, or `%` and the hex of its bytes.
pub fn encode(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let mut out = Vec::with_capacity(text.len() + 1);
            out.push(b'=');
            push_escaped(&mut out, bytes);
            // Escaping only inserts ASCII, so valid UTF-8 stays valid.
            String::from_utf8_lossy(&out).into_owned()
        }
        Err(_) => {
            let mut out = String::with_capacity(2 * bytes.len() + 1);
            out.push('%');
            for b in bytes {
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
            out
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The path `encode` made, or `None` for text `encode` cannot have made.
pub fn decode(text: &str) -> Option<PathBuf> {
    let bytes = decode_bytes(text)?;
    Some(PathBuf::from(OsStr::from_bytes(&bytes)))
}

/// The raw bytes of an encoded name.
pub fn decode_bytes(text: &str) -> Option<Vec<u8>> {
    if let Some(escaped) = text.strip_prefix('=') {
        let mut out = Vec::with_capacity(escaped.len());
        let mut it = escaped.bytes();
        while let Some(b) = it.next() {
            if b != b'\\' {
                out.push(b);
                continue;
            }
            out.push(match it.next()? {
                b'\\' => b'\\',
                b'n' => b'\n',
                b'r' => b'\r',
                _ => return None,
            });
        }
        Some(out)
    } else if let Some(hex) = text.strip_prefix('%') {
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        hex.as_bytes()
            .chunks(2)
            .map(|pair| match pair {
                [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
                _ => None,
            })
            .collect()
    } else {
        None
    }
}

/// Appends the line `sha256sum` prints for `name` with digest `hex`: `[\]HEX  NAME\n`.
pub fn push_sum_line(out: &mut Vec<u8>, hex: &str, name: &[u8]) {
    if needs_escape(name) {
        out.push(b'\\');
    }
    out.extend_from_slice(hex.as_bytes());
    out.extend_from_slice(b"  ");
    push_escaped(out, name);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_survives_the_round_trip() {
        let names: [&[u8]; 6] = [
            b"plain/file.txt",
            b"new\nline",
            b"back\\slash\\n",
            b"cr\rlf",
            b"latin1-\xe9t\xe9",
            b"",
        ];
        for name in names {
            let path = Path::new(OsStr::from_bytes(name));
            let text = encode(path);
            assert!(!text.contains('\n') && !text.contains('\r'), "{text:?}");
            assert_eq!(decode(&text).as_deref(), Some(path), "{text:?}");
        }
        assert_eq!(decode("x"), None);
        assert_eq!(decode("%abc"), None);
        assert_eq!(decode("=bad\\q"), None);
    }

    #[test]
    fn sum_lines_are_escaped_like_sha256sum() {
        let mut out = Vec::new();
        push_sum_line(&mut out, "ab", b"a\nb\\c");
        push_sum_line(&mut out, "cd", b"pla\xffin");
        assert_eq!(out, b"\\ab  a\\nb\\\\c\ncd  pla\xffin\n");
    }
}
