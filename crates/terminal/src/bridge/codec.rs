//! Line framing for the bridge: bytes in, parsed [`Message`]s out.
//!
//! Built on `tokio_util`'s `LinesCodec` with a length limit. Garbage never panics
//! and never wedges the stream: an over-long line is skipped up to its newline,
//! invalid UTF-8 or JSON yields an error for that line only, and decoding goes on.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec::{Decoder, LinesCodec, LinesCodecError};

use super::wire::{Message, MessageError, MAX_LINE_BYTES};

/// What went wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("line longer than {0} bytes")]
    TooLong(usize),
    #[error("line is not valid UTF-8")]
    NotUtf8,
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// Incremental decoder: feed it bytes, take messages out.
#[derive(Debug)]
pub struct FrameDecoder {
    codec: LinesCodec,
    buf: BytesMut,
    max: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(MAX_LINE_BYTES)
    }
}

impl FrameDecoder {
    pub fn new(max_line_bytes: usize) -> Self {
        FrameDecoder {
            codec: LinesCodec::new_with_max_length(max_line_bytes),
            buf: BytesMut::new(),
            max: max_line_bytes,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line, decoded; `None` when more bytes are needed.
    /// Blank lines are skipped.
    pub fn next_message(&mut self) -> Option<Result<Message, FrameError>> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(None) => return None,
                Ok(Some(line)) => {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    return Some(Message::parse(line).map_err(FrameError::from));
                }
                Err(LinesCodecError::MaxLineLengthExceeded) => {
                    return Some(Err(FrameError::TooLong(self.max)))
                }
                Err(LinesCodecError::Io(_)) => return Some(Err(FrameError::NotUtf8)),
            }
        }
    }
}

/// Reads messages from an async stream.
pub struct MessageReader<R> {
    inner: R,
    decoder: FrameDecoder,
    chunk: Vec<u8>,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    pub fn new(inner: R) -> Self {
        MessageReader {
            inner,
            decoder: FrameDecoder::default(),
            chunk: vec![0; 64 * 1024],
        }
    }

    /// The next message or line error; `Ok(None)` at end of stream.
    pub async fn next(&mut self) -> std::io::Result<Option<Result<Message, FrameError>>> {
        loop {
            if let Some(item) = self.decoder.next_message() {
                return Ok(Some(item));
            }
            let n = self.inner.read(&mut self.chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.decoder.feed(&self.chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut d = FrameDecoder::default();
        d.feed(b"{\"type\":\"heartbeat\",\"ti");
        assert!(d.next_message().is_none());
        d.feed(b"me\":5}\r\n\n{\"id\":1,\"cmd\":\"ping\"}\n");
        assert_eq!(
            d.next_message().unwrap().unwrap(),
            Message::Heartbeat { time: 5 }
        );
        assert!(matches!(
            d.next_message().unwrap().unwrap(),
            Message::Request(_)
        ));
        assert!(d.next_message().is_none());
    }

    #[test]
    fn an_overlong_line_is_skipped_and_decoding_resumes() {
        let mut d = FrameDecoder::new(32);
        d.feed(&[b'x'; 100]);
        d.feed(b"\n{\"type\":\"heartbeat\"}\n");
        assert_eq!(d.next_message().unwrap(), Err(FrameError::TooLong(32)));
        assert_eq!(
            d.next_message().unwrap().unwrap(),
            Message::Heartbeat { time: 0 }
        );
    }

    #[test]
    fn invalid_utf8_and_json_fail_one_line_only() {
        let mut d = FrameDecoder::default();
        d.feed(b"\xff\xfe\n{not json}\n{\"type\":\"heartbeat\",\"time\":1}\n");
        assert_eq!(d.next_message().unwrap(), Err(FrameError::NotUtf8));
        assert!(matches!(
            d.next_message().unwrap(),
            Err(FrameError::Message(_))
        ));
        assert_eq!(
            d.next_message().unwrap().unwrap(),
            Message::Heartbeat { time: 1 }
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics_and_a_valid_line_after_it_is_read(
            garbage in proptest::collection::vec(any::<u8>(), 0..400),
            split in 0usize..500,
        ) {
            let mut d = FrameDecoder::new(128);
            let mut bytes = garbage.clone();
            bytes.extend_from_slice(b"\n{\"type\":\"heartbeat\",\"time\":77}\n");
            let cut = split.min(bytes.len());
            d.feed(&bytes[..cut]);
            let mut seen = Vec::new();
            while let Some(m) = d.next_message() { seen.push(m); }
            d.feed(&bytes[cut..]);
            while let Some(m) = d.next_message() { seen.push(m); }
            prop_assert_eq!(seen.last().cloned(), Some(Ok(Message::Heartbeat { time: 77 })));
        }

        #[test]
        fn arbitrary_strings_parse_or_fail_cleanly(s in ".{0,200}") {
            let _ = Message::parse(&s);
        }
    }
}
