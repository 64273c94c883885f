//! Length-prefixed frames, for pipes that carry variable-sized messages: a `u32` little-endian
//! payload length, then the payload — a serde record in postcard (`encode`), or bytes of the
//! caller's own layout. A frame may exceed PIPE_BUF, so a pipe carrying frames must have
//! exactly one writer; readers reassemble frames across reads.
//!
//! Sizes are checked, never truncated: a frame over its limit is an error for the writer
//! (`encode`) and for the reader (`FrameBuffer::next_frame`).
//!
//! ```
//! use ipc_sys::frame::{FrameBuffer, encode};
//! let frame = encode(&(7u64, "sleep"), 1024).unwrap();
//! let mut buf = FrameBuffer::new(1024);
//! let payload = buf.read_frame(&mut &frame[..]).unwrap().unwrap();
//! assert_eq!(postcard::from_bytes(payload), Ok((7u64, "sleep")));
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

/// `record` in postcard behind its length prefix, ready to write, if its payload is at most
/// `max` bytes.
pub fn encode<T: serde::Serialize + ?Sized>(record: &T, max: usize) -> Result<Vec<u8>, FrameError> {
    // Room for a small record: one allocation for most messages.
    let mut frame = Vec::with_capacity(PREFIX + 64);
    append(&mut frame, record, &[], max).map(|()| frame)
}

/// Appends to `buf` one frame of at most `max` payload bytes: `record` in postcard, then `tail`
/// (bytes already encoded, say a record passed on unread). Serialised straight into `buf`, no
/// intermediate copy; on error `buf` is left as it was.
pub fn append<T: serde::Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    record: &T,
    tail: &[u8],
    max: usize,
) -> Result<(), FrameError> {
    let at = buf.len();
    buf.extend_from_slice(&[0; PREFIX]);
    // Only an unserialisable value (a sequence of unknown length, a path not in UTF-8) fails.
    let prefix = match postcard::to_io(record, &mut *buf) {
        Ok(out) => {
            out.extend_from_slice(tail);
            let len = out.len() - at - PREFIX;
            u32::try_from(len)
                .ok()
                .filter(|_| len <= max)
                .ok_or(FrameError::TooLarge { len, max })
        }
        Err(e) => Err(FrameError::Io(io::Error::other(e))),
    };
    match prefix {
        Ok(prefix) => {
            buf[at..at + PREFIX].copy_from_slice(&prefix.to_le_bytes());
            Ok(())
        }
        Err(e) => {
            buf.truncate(at);
            Err(e)
        }
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
        let Some(payload) = self.complete()? else {
            return Ok(None);
        };
        self.start = payload.end;
        Ok(Some(&self.buf[payload]))
    }

    /// Blocks until a whole frame has arrived; `Ok(None)` at a clean end of file, an error at an
    /// end of file inside a frame.
    pub fn read_frame(&mut self, source: &mut impl Read) -> Result<Option<&[u8]>, FrameError> {
        loop {
            if self.complete()?.is_some() {
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

    /// Where the next frame's payload lies in the buffer, if it has arrived whole (its size
    /// checked against the limit as soon as its prefix is in).
    fn complete(&self) -> Result<Option<std::ops::Range<usize>>, FrameError> {
        let rest = &self.buf[self.start..];
        let Some(prefix) = rest.get(..PREFIX) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        let from = self.start + PREFIX;
        Ok((rest.len() - PREFIX >= len).then_some(from..from + len))
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
        let record = (7u64, "sleep".to_string(), -3i64, String::new());
        let frame = encode(&record, 100).unwrap();
        let mut stream: Vec<u8> = frame.repeat(3);
        stream.extend_from_slice(&frame[..5]);
        for step in [1, 3, 7, 64, 1 << 20] {
            let mut reader = Dribble(&stream, step);
            let mut buf = FrameBuffer::new(100);
            for _ in 0..3 {
                let payload = buf.read_frame(&mut reader).unwrap().unwrap();
                assert_eq!(postcard::from_bytes(payload), Ok(record.clone()));
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
    fn oversized_frames_are_refused_by_writer_and_reader() {
        let big = "x".repeat(200);
        assert!(matches!(
            encode(&big, 100),
            Err(FrameError::TooLarge { len: 202, max: 100 })
        ));
        let mut buf = FrameBuffer::new(100);
        let mut reader = &u32::MAX.to_le_bytes()[..];
        assert!(matches!(
            buf.read_frame(&mut reader),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn an_appended_frame_carries_its_tail_and_a_refused_one_leaves_the_buffer_as_it_was() {
        let mut buf = b"kept".to_vec();
        assert!(matches!(
            append(&mut buf, &"x".repeat(200), &[], 100),
            Err(FrameError::TooLarge { len: 202, max: 100 })
        ));
        assert_eq!(buf, b"kept");
        append(&mut buf, &7u64, &postcard::to_stdvec("sleep").unwrap(), 100).unwrap();
        assert_eq!(
            &buf[4..8],
            &7u32.to_le_bytes(),
            "a byte of record, six of tail"
        );
        let mut reader = &buf[4..];
        let payload = FrameBuffer::new(100)
            .read_frame(&mut reader)
            .unwrap()
            .unwrap()
            .to_vec();
        let (id, tail) = postcard::take_from_bytes::<u64>(&payload).unwrap();
        assert_eq!((id, postcard::from_bytes(tail)), (7, Ok("sleep")));
    }

    #[test]
    fn many_small_frames_from_one_read_are_handed_out_in_order() {
        let stream: Vec<u8> = (0..1000u64).flat_map(|i| encode(&i, 8).unwrap()).collect();
        let mut buf = FrameBuffer::new(8);
        let mut reader = &stream[..];
        let mut seen = 0u64;
        while let Some(p) = buf.read_frame(&mut reader).unwrap() {
            assert_eq!(postcard::from_bytes(p), Ok(seen));
            seen += 1;
        }
        assert_eq!(seen, 1000);
    }
}
