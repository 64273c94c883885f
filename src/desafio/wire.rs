//! The Desafio's wire format over its pipe. A frame is one tag byte and an 8-byte little-endian
//! payload, so every frame is far below PIPE_BUF and a single write of it is atomic:
//!
//! | tag | payload | meaning |
//! |---|---|---|
//! | `0x01` | the value, `i64` LE | one value |
//! | `0x02` | the count sent, `u64` LE | end marker |
//!
//! ```
//! use ipc_desafio::desafio::wire::Message;
//! assert_eq!(Message::Value(1).encode(), [1, 1, 0, 0, 0, 0, 0, 0, 0]);
//! assert_eq!(Message::End { sent: 258 }.encode(), [2, 2, 1, 0, 0, 0, 0, 0, 0]);
//! ```

use std::io::{self, Read, Write};

use ipc_sys::pipe::PipeEnd;

use crate::desafio::error::{Error, Result};

/// Bytes in one frame: tag + 8-byte payload.
pub const FRAME_LEN: usize = 9;
const TAG_VALUE: u8 = 0x01;
const TAG_END: u8 = 0x02;
/// Bytes the receiver asks for per read: the default Linux pipe capacity, so one read can take
/// everything the producer managed to queue.
const READ_CHUNK: usize = 64 * 1024;
/// What the receiver's buffer starts at: one page. It grows to `READ_CHUNK` the first time a
/// read fills it, so a long run reads in full chunks from its second read on, while a short one
/// (the default 12 values: 108 bytes) never touches the other fifteen pages — a page fault and
/// the zeroing of a page cost more than the whole 12-value exchange.
const FIRST_CHUNK: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Value(i64),
    /// The end marker, carrying how many values the producer sent before it.
    End {
        sent: u64,
    },
}

impl Message {
    pub fn encode(&self) -> [u8; FRAME_LEN] {
        let (tag, payload) = match *self {
            Message::Value(v) => (TAG_VALUE, v.to_le_bytes()),
            Message::End { sent } => (TAG_END, sent.to_le_bytes()),
        };
        let mut frame = [0u8; FRAME_LEN];
        frame[0] = tag;
        frame[1..].copy_from_slice(&payload);
        frame
    }

    pub fn decode(frame: &[u8; FRAME_LEN]) -> Result<Message> {
        let mut payload = [0u8; 8];
        payload.copy_from_slice(&frame[1..]);
        match frame[0] {
            TAG_VALUE => Ok(Message::Value(i64::from_le_bytes(payload))),
            TAG_END => Ok(Message::End {
                sent: u64::from_le_bytes(payload),
            }),
            tag => Err(Error::UnknownTag(tag)),
        }
    }
}

/// The producer's end of the pipe, framed for `Message`s. Once the producer is told to stop,
/// a pipe that stays full gives up after `ipc_sys::pipe::PATIENCE_AFTER_INTERRUPT`
/// (`io::ErrorKind::TimedOut`) instead of blocking for ever.
pub struct Sender {
    file: PipeEnd,
}

impl Sender {
    /// Wraps the pipe's write end.
    pub fn new(file: PipeEnd) -> Sender {
        Sender { file }
    }

    /// Writes one frame with a single `write(2)` (atomic: FRAME_LEN < PIPE_BUF).
    /// A reader that has gone away shows up as `io::ErrorKind::BrokenPipe`.
    pub fn send(&mut self, message: Message) -> io::Result<()> {
        self.file.write_all(&message.encode())
    }

    /// Writes many frames with as few `write(2)` calls as the pipe allows. Returns how many whole
    /// frames reached the pipe before an error, with the error, so a caller can account exactly.
    pub fn send_all(&mut self, frames: &[u8]) -> (usize, io::Result<()>) {
        let mut written = 0;
        while written < frames.len() {
            match self.file.write(&frames[written..]) {
                Ok(0) => return (written / FRAME_LEN, Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (written / FRAME_LEN, Err(e)),
            }
        }
        (written / FRAME_LEN, Ok(()))
    }
}

/// Reads frames from any byte source, buffering so that one `read(2)` can deliver many frames
/// and a frame split across reads is reassembled.
pub struct Receiver<R> {
    source: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> Receiver<R> {
    pub fn new(source: R) -> Self {
        Receiver {
            source,
            buf: vec![0; FIRST_CHUNK],
            start: 0,
            end: 0,
        }
    }

    /// The next message; `Ok(None)` at a clean end of file (on a frame boundary).
    /// End of file inside a frame is `Error::Truncated`, never a panic.
    pub fn recv(&mut self) -> Result<Option<Message>> {
        while self.end - self.start < FRAME_LEN {
            if self.fill()? == 0 {
                return match self.end - self.start {
                    0 => Ok(None),
                    got => Err(Error::Truncated { got }),
                };
            }
        }
        self.pop().map(Some)
    }

    /// A message already buffered, without reading: lets the caller handle everything one read
    /// returned before it blocks again.
    pub fn try_recv_buffered(&mut self) -> Option<Result<Message>> {
        (self.end - self.start >= FRAME_LEN).then(|| self.pop())
    }

    fn pop(&mut self) -> Result<Message> {
        let mut frame = [0u8; FRAME_LEN];
        frame.copy_from_slice(&self.buf[self.start..self.start + FRAME_LEN]);
        self.start += FRAME_LEN;
        Message::decode(&frame)
    }

    /// One `read(2)`, keeping any partial frame at the front of the buffer.
    fn fill(&mut self) -> Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    if self.end == self.buf.len() && self.buf.len() < READ_CHUNK {
                        self.buf.resize(READ_CHUNK, 0);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // After an interrupt, nothing came for the pipe end's patience: the caller
                // knows how many values went through before and fills it in.
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(Error::Stuck {
                        secs: ipc_sys::pipe::PATIENCE_AFTER_INTERRUPT.as_secs(),
                        count: 0,
                        total: None,
                    });
                }
                Err(e) => {
                    return Err(ipc_sys::Error::PipeIo {
                        op: "read",
                        source: e,
                    }
                    .into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes in fixed-size dribbles, like a pipe under load.
    struct Dribble {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn stream(messages: &[Message]) -> Vec<u8> {
        messages.iter().flat_map(|m| m.encode()).collect()
    }

    /// A receiver of `data` handed out `step` bytes per read.
    fn dribble(data: Vec<u8>, step: usize) -> Receiver<Dribble> {
        Receiver::new(Dribble { data, pos: 0, step })
    }

    #[test]
    fn frames_are_a_tag_and_a_little_endian_payload() {
        assert_eq!(Message::Value(1).encode(), [1, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Message::End { sent: 258 }.encode(),
            [2, 2, 1, 0, 0, 0, 0, 0, 0]
        );
        for m in [
            Message::Value(i64::MIN),
            Message::Value(-1),
            Message::End { sent: u64::MAX },
        ] {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let messages = [
            Message::Value(7),
            Message::Value(-9),
            Message::End { sent: 2 },
        ];
        for step in 1..=FRAME_LEN * 3 {
            let mut rx = dribble(stream(&messages), step);
            let got: Vec<_> = std::iter::from_fn(|| rx.recv().unwrap()).collect();
            assert_eq!(got, messages, "step {step}");
        }
    }

    #[test]
    fn a_stream_longer_than_the_first_buffer_arrives_whole_in_any_read_size() {
        // 2,000 frames: 18,000 bytes, more than the first page-sized buffer holds, with frames
        // cut by reads of every size around the moment the buffer grows.
        let messages: Vec<Message> = (0..2000).map(Message::Value).collect();
        for step in [
            1,
            7,
            FIRST_CHUNK - 1,
            FIRST_CHUNK,
            FIRST_CHUNK + 5,
            READ_CHUNK * 2,
        ] {
            let mut rx = dribble(stream(&messages), step);
            let got: Vec<_> = std::iter::from_fn(|| rx.recv().unwrap()).collect();
            assert_eq!(got, messages, "step {step}");
        }
    }

    #[test]
    fn eof_inside_a_frame_is_a_truncated_message_not_a_panic() {
        let mut data = stream(&[Message::Value(5)]);
        data.extend_from_slice(&Message::Value(6).encode()[..4]);
        let mut rx = dribble(data, 3);
        assert_eq!(rx.recv().unwrap(), Some(Message::Value(5)));
        assert!(matches!(rx.recv(), Err(Error::Truncated { got: 4 })));
    }

    #[test]
    fn eof_on_a_frame_boundary_is_a_clean_end() {
        let mut rx = dribble(Vec::new(), 9);
        assert!(matches!(rx.recv(), Ok(None)));
    }

    #[test]
    fn unknown_tags_are_reported() {
        let mut frame = Message::Value(1).encode();
        frame[0] = 0x7f;
        assert!(matches!(
            Message::decode(&frame),
            Err(Error::UnknownTag(0x7f))
        ));
        let mut rx = dribble(frame.to_vec(), 9);
        assert!(matches!(rx.recv(), Err(Error::UnknownTag(0x7f))));
    }

    #[test]
    fn buffered_frames_are_handed_out_without_another_read() {
        let messages = [Message::Value(1), Message::Value(2), Message::Value(3)];
        let mut rx = dribble(stream(&messages), 1024);
        assert_eq!(rx.recv().unwrap(), Some(Message::Value(1)));
        assert_eq!(
            rx.try_recv_buffered().map(|r| r.unwrap()),
            Some(Message::Value(2))
        );
        assert_eq!(
            rx.try_recv_buffered().map(|r| r.unwrap()),
            Some(Message::Value(3))
        );
        assert!(rx.try_recv_buffered().is_none());
    }
}
