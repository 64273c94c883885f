//! Length-prefixed frames of typed fields, for the task pool's pipes: `u32` little-endian
//! length, then the fields — integers as 8 bytes LE, strings as a `u32` length and UTF-8 bytes.
//! A frame may exceed PIPE_BUF; every pipe here has exactly one writer, so frames never
//! interleave, and readers reassemble frames across reads.

use std::io::{self, Read, Write};

/// Largest frame accepted (a job's output included): bounds a reader's memory.
pub const MAX_FRAME: usize = 16 << 20;

#[derive(Default)]
pub struct FrameBuilder {
    buf: Vec<u8>,
}

impl FrameBuilder {
    pub fn u64(mut self, v: u64) -> Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn i64(mut self, v: i64) -> Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn str(mut self, s: &str) -> Self {
        self.buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// The frame with its length prefix, ready to write.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.buf.len());
        out.extend_from_slice(&(self.buf.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.buf);
        out
    }
}

/// Reads the fields of one frame's payload, in order.
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
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

/// Bytes read so far from one pipe, cut into frames as they complete.
#[derive(Default)]
pub struct FrameBuffer {
    buf: Vec<u8>,
}

impl FrameBuffer {
    /// One `read(2)` from `source` into the buffer; `Ok(0)` at end of file.
    pub fn fill(&mut self, source: &mut impl Read) -> io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match source.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next complete frame's payload, if one is buffered.
    pub fn next_frame(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame of {len} bytes is too large"),
            ));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let payload = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(payload))
    }

    /// Blocks until a whole frame has arrived; `Ok(None)` at a clean end of file.
    pub fn read_frame(&mut self, source: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(frame) = self.next_frame()? {
                return Ok(Some(frame));
            }
            if self.fill(source)? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "pipe closed inside a frame",
                    ))
                };
            }
        }
    }
}

/// Writes a whole frame (blocking).
pub fn write_frame(sink: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    sink.write_all(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_arbitrary_reads() {
        let frame = FrameBuilder::default()
            .u64(7)
            .str("sleep")
            .i64(-3)
            .str("")
            .finish();
        let mut stream: Vec<u8> = frame.repeat(3);
        stream.extend_from_slice(&frame[..5]);
        let mut reader = &stream[..];
        let mut buf = FrameBuffer::default();
        for _ in 0..3 {
            let payload = buf.read_frame(&mut reader).unwrap().unwrap();
            let mut f = Fields::new(&payload);
            assert_eq!(
                (f.u64(), f.str(), f.i64(), f.str()),
                (Some(7), Some("sleep".into()), Some(-3), Some(String::new()))
            );
        }
        assert!(
            buf.read_frame(&mut reader).is_err(),
            "a truncated frame is an error, not a panic"
        );
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut buf = FrameBuffer::default();
        let mut reader = &u32::MAX.to_le_bytes()[..];
        assert!(buf.read_frame(&mut reader).is_err());
    }
}
