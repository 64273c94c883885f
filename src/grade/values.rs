//! What crossed the channel, as values: text integers, native 4- or 8-byte integers, Python
//! pickles (protocol 2–5 of an int or None), and `multiprocessing.Connection` frames (a 4-byte
//! big-endian length, then a pickle). Whatever does not decode is counted as unknown, never
//! guessed. A value is an `i128`: students send 10**20 and -2**70 too; beyond 38 digits an
//! integer is not read.

/// One value that crossed the channel.
pub type Value = i128;

/// The values found in one stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    pub values: Vec<Value>,
    /// Messages that did not decode.
    pub unknown: usize,
    /// `None` end markers seen (pickled `None`).
    pub end_markers: usize,
    /// How the stream was read: `text`, `pickle`, `connection`, `int32`, `int64`, or `none`.
    pub scheme: &'static str,
}

impl Decoded {
    /// Nothing found yet, reading the stream as `scheme`.
    fn read_as(scheme: &'static str) -> Decoded {
        Decoded {
            scheme,
            ..Decoded::default()
        }
    }
}

/// Decodes `stream` (the bytes a process read from the channel, in order); `writes` are the
/// sizes of the writer's writes, which delimit native integers.
pub fn decode(stream: &[u8], writes: &[usize]) -> Decoded {
    if stream.is_empty() {
        return Decoded::read_as("none");
    }
    // Least likely by chance last: on a tie the later one wins.
    let candidates = [
        native(stream, writes),
        text(stream),
        pickles(stream),
        connection(stream),
    ];
    candidates
        .into_iter()
        .flatten()
        .max_by_key(|d| (d.values.len() + d.end_markers, usize::MAX - d.unknown))
        .unwrap_or(Decoded {
            scheme: "none",
            unknown: 1,
            ..Decoded::default()
        })
}

/// One pickle at the start of `b`: its value (`Some(None)` for a pickled None) and length.
fn pickle(b: &[u8]) -> Option<(Option<Value>, usize)> {
    if b.len() < 3 || b[0] != 0x80 || !(2..=5).contains(&b[1]) {
        return None;
    }
    let mut i = 2;
    if b.get(i) == Some(&0x95) {
        // FRAME: an 8-byte length follows.
        i += 9;
    }
    let value = match *b.get(i)? {
        b'K' => {
            i += 2;
            Some(Value::from(*b.get(i - 1)?))
        }
        b'M' => {
            i += 3;
            Some(Value::from(u16::from_le_bytes([
                *b.get(i - 2)?,
                *b.get(i - 1)?,
            ])))
        }
        b'J' => {
            i += 5;
            Some(Value::from(i32::from_le_bytes(
                b.get(i - 4..i)?.try_into().ok()?,
            )))
        }
        0x8a => {
            let n = usize::from(*b.get(i + 1)?);
            let bytes = b.get(i + 2..i + 2 + n)?;
            i += 2 + n;
            if n > 16 {
                return None;
            }
            let mut v: Value = 0;
            for (k, byte) in bytes.iter().enumerate() {
                v |= Value::from(*byte) << (8 * k);
            }
            if n > 0 && n < 16 && bytes[n - 1] & 0x80 != 0 {
                v -= 1 << (8 * n);
            }
            Some(v)
        }
        b'N' => {
            i += 1;
            None
        }
        _ => return None,
    };
    if b.get(i) == Some(&0x94) {
        // MEMOIZE
        i += 1;
    }
    (b.get(i) == Some(&b'.')).then_some((value, i + 1))
}

fn push(d: &mut Decoded, v: Option<Value>) {
    match v {
        Some(v) => d.values.push(v),
        None => d.end_markers += 1,
    }
}

/// Back-to-back pickles.
fn pickles(stream: &[u8]) -> Option<Decoded> {
    let mut d = Decoded::read_as("pickle");
    let mut at = 0;
    while at < stream.len() {
        let (v, n) = pickle(&stream[at..])?;
        push(&mut d, v);
        at += n;
    }
    Some(d)
}

/// `multiprocessing.Connection` frames: a signed 4-byte big-endian length (-1: an 8-byte length
/// follows), then the payload, a pickle.
fn connection(stream: &[u8]) -> Option<Decoded> {
    let mut d = Decoded::read_as("connection");
    let mut at = 0;
    while at < stream.len() {
        let head = stream.get(at..at + 4)?;
        let mut len = i32::from_be_bytes(head.try_into().ok()?) as i64;
        at += 4;
        if len == -1 {
            len = i64::from_be_bytes(stream.get(at..at + 8)?.try_into().ok()?);
            at += 8;
        }
        let len = usize::try_from(len).ok()?;
        let Some(payload) = stream.get(at..at + len) else {
            // A frame cut short by the end of the trace: not a value.
            d.unknown += 1;
            break;
        };
        match pickle(payload) {
            Some((v, n)) if n == len => push(&mut d, v),
            _ => d.unknown += 1,
        }
        at += len;
    }
    (d.values.len() + d.end_markers > 0).then_some(d)
}

/// Text: every whitespace-, comma- or semicolon-separated token an integer; or else one line
/// per message, each holding exactly one integer.
fn text(stream: &[u8]) -> Option<Decoded> {
    let s = std::str::from_utf8(stream).ok()?;
    if s.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return None;
    }
    let mut d = Decoded::read_as("text");
    let tokens: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.iter().all(|t| t.parse::<Value>().is_ok()) {
        d.values = tokens.iter().filter_map(|t| t.parse().ok()).collect();
        return Some(d);
    }
    for line in s.lines().filter(|l| !l.trim().is_empty()) {
        let ints = integers(line);
        match ints.as_slice() {
            [v] => d.values.push(*v),
            _ => d.unknown += 1,
        }
    }
    Some(d)
}

/// The integers written in decimal in `line` (a sign counts when it touches the digits and
/// follows a non-alphanumeric character).
pub fn integers(line: &str) -> Vec<Value> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let negative = start > 0
                && b[start - 1] == b'-'
                && (start < 2 || !b[start - 2].is_ascii_alphanumeric());
            let glued = (start > 0 && b[start - 1].is_ascii_alphabetic())
                || (i < b.len() && b[i].is_ascii_alphabetic());
            if !glued && let Ok(v) = line[start..i].parse::<Value>() {
                out.push(if negative { -v } else { v });
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Native integers: every write 4 bytes (i32) or every write 8 bytes (i64), little-endian
/// as the machine writes them — or big-endian (network order: `htonl`, `struct.pack('!i')`)
/// when that reads as smaller numbers (7 sent big-endian reads 117440512 little-endian).
fn native(stream: &[u8], writes: &[usize]) -> Option<Decoded> {
    let size = *writes.first()?;
    if !(size == 4 || size == 8) || writes.iter().any(|&w| w != size) {
        return None;
    }
    let read = |big: bool| -> Option<Decoded> {
        let mut d = Decoded {
            scheme: match (size, big) {
                (4, false) => "int32",
                (4, true) => "int32be",
                (_, false) => "int64",
                (_, true) => "int64be",
            },
            ..Decoded::default()
        };
        for chunk in stream.chunks(size) {
            let v = match (chunk.len(), big) {
                (4, false) => Value::from(i32::from_le_bytes(chunk.try_into().ok()?)),
                (4, true) => Value::from(i32::from_be_bytes(chunk.try_into().ok()?)),
                (8, false) => Value::from(i64::from_le_bytes(chunk.try_into().ok()?)),
                (8, true) => Value::from(i64::from_be_bytes(chunk.try_into().ok()?)),
                _ => {
                    d.unknown += 1;
                    continue;
                }
            };
            d.values.push(v);
        }
        Some(d)
    };
    let (little, big) = (read(false)?, read(true)?);
    let largest = |d: &Decoded| d.values.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
    Some(if largest(&big) < largest(&little) {
        big
    } else {
        little
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_frames_of_small_and_large_ints_and_none_decode() {
        // pickle.dumps(7, 5), dumps(300, 5), dumps(70000, 5), dumps(None, 5), each framed.
        let mut s = Vec::new();
        for p in [
            &b"\x80\x05K\x07."[..],
            b"\x80\x05M,\x01.",
            b"\x80\x05Jp\x11\x01\x00.",
            b"\x80\x05N.",
        ] {
            s.extend((p.len() as i32).to_be_bytes());
            s.extend(p);
        }
        let d = decode(&s, &[]);
        assert_eq!(
            (d.values, d.end_markers, d.scheme),
            (vec![7, 300, 70000], 1, "connection")
        );
    }

    #[test]
    fn a_long1_pickle_decodes_negative_and_big_values() {
        assert_eq!(pickle(b"\x80\x04\x8a\x01\xff."), Some((Some(-1), 6)));
        // What Python 3.11 writes for pickle.dumps(-10**30, 4): a 13-byte LONG1 (beyond 64
        // bits) in a FRAME.
        assert_eq!(
            pickle(
                b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8a\x0d\x00\x00\x00\xc0\x15\x12\x8b\xb9/c\xd3`\xf3."
            ),
            Some((Some(-1_000_000_000_000_000_000_000_000_000_000), 27))
        );
        assert_eq!(
            pickle(b"\x80\x04\x8a\x05\x00\xe4\x0bT\x02\x94."),
            Some((Some(10_000_000_000), 11))
        );
        // What Python 3.11 writes: pickle.dumps(10_000_000_000, 4), with its FRAME opcode.
        assert_eq!(
            pickle(b"\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00\x8a\x05\x00\xe4\x0bT\x02."),
            Some((Some(10_000_000_000), 19))
        );
    }

    #[test]
    fn text_lines_and_tokens_decode_and_mixed_lines_are_unknown() {
        assert_eq!(decode(b"7\n12\n-3\n", &[]).values, vec![7, 12, -3]);
        let d = decode(b"valor 7\nvalor 12\n1 de 2\n", &[]);
        assert_eq!((d.values, d.unknown), (vec![7, 12], 1));
    }

    #[test]
    fn native_ints_in_network_order_read_as_the_smaller_numbers() {
        let s: Vec<u8> = [7i32, 300].iter().flat_map(|v| v.to_be_bytes()).collect();
        let d = decode(&s, &[4, 4]);
        assert_eq!((d.values, d.scheme), (vec![7, 300], "int32be"));
        let s: Vec<u8> = [7i32, 300].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(decode(&s, &[4, 4]).scheme, "int32");
    }

    #[test]
    fn native_ints_follow_the_writers_write_sizes() {
        let s: Vec<u8> = [5i32, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(decode(&s, &[4, 4]).values, vec![5, 9]);
        assert_eq!(decode(&s, &[8]).values, vec![38654705669]);
        assert_eq!(decode(&s, &[3, 5]).scheme, "none");
    }

    #[test]
    fn integers_skip_digits_glued_to_words() {
        assert_eq!(
            integers("[Produtor]: Enviando dado: 7 (1/12)"),
            vec![7, 1, 12]
        );
        assert_eq!(integers("pid41 got -5"), vec![-5]);
    }
}
