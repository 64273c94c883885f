//! Length-prefixed frames of typed fields, for pipes that carry variable-sized messages: a `u32`
//! little-endian payload length, then the fields — integers as 8 bytes LE, strings as a `u32`
//! length and UTF-8 bytes. A frame may exceed PIPE_BUF, so a pipe carrying frames must have
//! exactly one writer; readers reassemble frames across reads.
//!
//! Sizes are checked, never truncated: a frame over its limit is an error for the writer
//! (`FrameBuilder::finish`) and for the reader (`FrameBuffer::next_frame`).
//!
//! ```
//! use ipc_sys::frame::{Fields, FrameBuffer, FrameBuilder};
//! let frame = FrameBuilder::new().u64(7).str("sleep").finish(1024).unwrap();
//! let mut reader = &frame[..];
//! let mut buf = FrameBuffer::new(1024);
//! let payload = buf.read_frame(&mut reader).unwrap().unwrap();
//! let mut fields = Fields::new(payload);
//! assert_eq!((fields.u64(), fields.str()), (Some(7), Some("sleep".to_string())));
//! ```

use std::io::{self, Read, Write};

/// Bytes of the length prefix.
pub const PREFIX: usize = 4;
/// Bytes one `fill` asks the kernel for: a whole default pipe buffer.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a frame of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("the stream ended inside a frame ({got} bytes of it arrived)")]
    Truncated { got: usize },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Builds one frame's payload, field by field.
#[derive(Debug)]
pub struct FrameBuilder {
    buf: Vec<u8>,
}

impl FrameBuilder {
    pub fn new() -> FrameBuilder {
        FrameBuilder {
            buf: vec![0; PREFIX],
        }
    }

    pub fn u64(mut self, v: u64) -> Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn i64(mut self, v: i64) -> Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A string field. One longer than `u32::MAX` bytes cannot be framed; its length is kept
    /// exact here and `finish` refuses the frame (any limit is far below that).
    pub fn str(mut self, s: &str) -> Self {
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// A byte-string field: any bytes, not only UTF-8 (a file name, a line of input). Laid out
    /// like `str` (a `u32` length, then the bytes); read back with `Fields::bytes`.
    pub fn bytes(mut self, b: &[u8]) -> Self {
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(b);
        self
    }

    /// The frame with its length prefix, ready to write, if its payload is at most `max` bytes.
    pub fn finish(mut self, max: usize) -> Result<Vec<u8>, FrameError> {
        let len = self.buf.len() - PREFIX;
        let prefix = u32::try_from(len)
            .ok()
            .filter(|_| len <= max)
            .ok_or(FrameError::TooLarge { len, max })?;
        self.buf[..PREFIX].copy_from_slice(&prefix.to_le_bytes());
        Ok(self.buf)
    }
}

impl Default for FrameBuilder {
    fn default() -> Self {
        FrameBuilder::new()
    }
}

/// Reads the fields of one frame's payload, in order; `None` when the payload runs out or a
/// string is not UTF-8.
pub struct Fields<'a> {
    data: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Fields { data }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Some(head)
    }

    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub fn str(&mut self) -> Option<String> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        let bytes = self.take(usize::try_from(len).ok()?)?;
        String::from_utf8(bytes.to_vec()).ok()
    }

    /// A byte-string field written by `FrameBuilder::bytes` (or `str`), without a UTF-8 check.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        self.take(usize::try_from(len).ok()?)
    }

    /// Whether every byte of the payload was read (a well-formed frame leaves none).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Bytes read so far from one stream, cut into frames as they complete. Frames are handed out
/// as slices of the buffer (consumed by moving an index); the unread tail is moved to the front
/// only when the buffer must grow, so each byte is copied at most once more.
#[derive(Debug)]
pub struct FrameBuffer {
    buf: Vec<u8>,
    start: usize,
    max: usize,
}

impl FrameBuffer {
    /// A buffer for frames of at most `max` payload bytes.
    pub fn new(max: usize) -> FrameBuffer {
        FrameBuffer {
            buf: Vec::new(),
            start: 0,
            max,
        }
    }

    /// Bytes received but not yet handed out as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// One `read(2)` from `source` into the buffer (retried on EINTR); `Ok(0)` at end of file.
    pub fn fill(&mut self, source: &mut impl Read) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let result = loop {
            match source.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        self.buf.truncate(old + *result.as_ref().unwrap_or(&0));
        result
    }

    /// The next complete frame's payload, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let rest = &self.buf[self.start..];
        let Some(prefix) = rest.get(..PREFIX) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        if rest.len() - PREFIX < len {
            return Ok(None);
        }
        let from = self.start + PREFIX;
        self.start = from + len;
        Ok(Some(&self.buf[from..from + len]))
    }

    /// Blocks until a whole frame has arrived; `Ok(None)` at a clean end of file, an error at an
    /// end of file inside a frame.
    pub fn read_frame(&mut self, source: &mut impl Read) -> Result<Option<&[u8]>, FrameError> {
        loop {
            if self.has_frame()? {
                return self.next_frame();
            }
            if self.fill(source)? == 0 {
                return match self.pending() {
                    0 => Ok(None),
                    got => Err(FrameError::Truncated { got }),
                };
            }
        }
    }

    /// Whether a whole frame is buffered (checking its size against the limit).
    fn has_frame(&self) -> Result<bool, FrameError> {
        let rest = &self.buf[self.start..];
        let Some(prefix) = rest.get(..PREFIX) else {
            return Ok(false);
        };
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        Ok(rest.len() - PREFIX >= len)
    }
}

/// Writes a whole frame (blocking).
pub fn write_frame(sink: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    sink.write_all(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes in fixed-size dribbles, like a pipe under load.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn frames_round_trip_across_arbitrary_reads() {
        let frame = FrameBuilder::new()
            .u64(7)
            .str("sleep")
            .i64(-3)
            .str("")
            .finish(100)
            .unwrap();
        let mut stream: Vec<u8> = frame.repeat(3);
        stream.extend_from_slice(&frame[..5]);
        for step in [1, 3, 7, 64, 1 << 20] {
            let mut reader = Dribble(&stream, step);
            let mut buf = FrameBuffer::new(100);
            for _ in 0..3 {
                let payload = buf.read_frame(&mut reader).unwrap().unwrap();
                let mut f = Fields::new(payload);
                assert_eq!(
                    (f.u64(), f.str(), f.i64(), f.str()),
                    (Some(7), Some("sleep".into()), Some(-3), Some(String::new()))
                );
                assert!(f.is_empty());
            }
            assert!(
                matches!(
                    buf.read_frame(&mut reader),
                    Err(FrameError::Truncated { got: 5 })
                ),
                "a truncated frame is an error, not a panic"
            );
        }
    }

    #[test]
    fn byte_fields_carry_any_bytes_and_read_back_as_strings_when_utf8() {
        let raw = [0xff, 0x00, b'\n', 0xfe];
        let frame = FrameBuilder::new()
            .bytes(&raw)
            .bytes(b"plain")
            .finish(100)
            .unwrap();
        let mut f = Fields::new(&frame[PREFIX..]);
        assert_eq!(f.bytes(), Some(&raw[..]));
        assert_eq!(f.str(), Some("plain".to_string()));
        assert!(f.is_empty());
        let mut f = Fields::new(&frame[PREFIX..]);
        assert_eq!(f.str(), None, "not UTF-8: refused as a string");
    }

    #[test]
    fn oversized_frames_are_refused_by_writer_and_reader() {
        let big = "x".repeat(200);
        assert!(matches!(
            FrameBuilder::new().str(&big).finish(100),
            Err(FrameError::TooLarge { len: 204, max: 100 })
        ));
        let mut buf = FrameBuffer::new(100);
        let mut reader = &u32::MAX.to_le_bytes()[..];
        assert!(matches!(
            buf.read_frame(&mut reader),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn many_small_frames_from_one_read_are_handed_out_in_order() {
        let stream: Vec<u8> = (0..1000u64)
            .flat_map(|i| FrameBuilder::new().u64(i).finish(8).unwrap())
            .collect();
        let mut buf = FrameBuffer::new(8);
        let mut reader = &stream[..];
        let mut seen = 0;
        while let Some(p) = buf.read_frame(&mut reader).unwrap() {
            assert_eq!(Fields::new(p).u64(), Some(seen));
            seen += 1;
        }
        assert_eq!(seen, 1000);
    }
}
