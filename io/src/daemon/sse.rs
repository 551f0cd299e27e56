//! A server-sent-events parser for agent event streams, following the
//! WHATWG `text/event-stream` rules: lines end in LF, CR or CRLF; `data:`
//! lines accumulate (joined by LF) until a blank line dispatches the event;
//! lines starting with `:` are comments (agents send them as keep-alives);
//! other fields (`event`, `id`, `retry`) are accepted and ignored.
//!
//! It is bounded: an event larger than `max_event_bytes` is rejected with an
//! error instead of being buffered forever.

/// One thing the parser found in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseItem {
    /// A complete event's data.
    Data(String),
    /// A comment line: the stream is alive.
    Comment,
}

/// Why the stream cannot be parsed further.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// An event (or a line) grew past the bound.
    #[error("event larger than {limit} bytes")]
    TooLarge {
        /// The bound.
        limit: usize,
    },
    /// The bytes are not UTF-8.
    #[error("event is not UTF-8")]
    NotUtf8,
}

/// Incremental parser: feed it chunks as they arrive.
#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    line: Vec<u8>,
    data: String,
    has_data: bool,
    /// The last chunk ended in CR: a LF starting the next one belongs to it.
    after_cr: bool,
}

impl SseParser {
    /// A parser that rejects events over `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> SseParser {
        SseParser {
            max_event_bytes,
            line: Vec::new(),
            data: String::new(),
            has_data: false,
            after_cr: false,
        }
    }

    /// Parses `chunk`, appending complete items to `items`.
    pub fn feed(&mut self, chunk: &[u8], items: &mut Vec<SseItem>) -> Result<(), SseError> {
        for &byte in chunk {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\n' => self.end_line(items)?,
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(items)?;
                }
                _ => {
                    self.line.push(byte);
                    if self.line.len() + self.data.len() > self.max_event_bytes {
                        return Err(SseError::TooLarge {
                            limit: self.max_event_bytes,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn end_line(&mut self, items: &mut Vec<SseItem>) -> Result<(), SseError> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if self.has_data {
                self.has_data = false;
                items.push(SseItem::Data(std::mem::take(&mut self.data)));
            }
            return Ok(());
        }
        if line[0] == b':' {
            items.push(SseItem::Comment);
            return Ok(());
        }
        let line = String::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        if field == "data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
            if self.data.len() > self.max_event_bytes {
                return Err(SseError::TooLarge {
                    limit: self.max_event_bytes,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(input: &[u8], chunk: usize) -> Result<Vec<SseItem>, SseError> {
        let mut parser = SseParser::new(1024);
        let mut items = Vec::new();
        for piece in input.chunks(chunk) {
            parser.feed(piece, &mut items)?;
        }
        Ok(items)
    }

    #[test]
    fn events_comments_and_line_endings() {
        let input = b": keep-alive\r\ndata: {\"a\":1}\r\n\r\ndata: first\ndata: second\n\nevent: x\nid: 3\ndata:no-space\r\rdata: cr\r\n\n";
        for chunk in [1, 2, 3, 7, input.len()] {
            assert_eq!(
                parse_in_chunks(input, chunk).unwrap(),
                vec![
                    SseItem::Comment,
                    SseItem::Data("{\"a\":1}".into()),
                    SseItem::Data("first\nsecond".into()),
                    SseItem::Data("no-space".into()),
                    SseItem::Data("cr".into()),
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn blank_lines_without_data_dispatch_nothing() {
        assert_eq!(parse_in_chunks(b"\n\nevent: x\n\n", 4).unwrap(), vec![]);
    }

    #[test]
    fn an_oversized_event_is_an_error_not_a_buffer() {
        let mut big = b"data: ".to_vec();
        big.extend(std::iter::repeat_n(b'x', 2000));
        assert_eq!(
            parse_in_chunks(&big, 100),
            Err(SseError::TooLarge { limit: 1024 })
        );
        let many_lines: Vec<u8> = std::iter::repeat_n(&b"data: 0123456789\n"[..], 100)
            .flatten()
            .copied()
            .collect();
        assert_eq!(
            parse_in_chunks(&many_lines, 50),
            Err(SseError::TooLarge { limit: 1024 })
        );
    }

    #[test]
    fn the_fixture_stream_parses_to_five_events() {
        let text = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../core/fixtures/wire/agent-event-stream.sse"
        ))
        .unwrap();
        let mut parser = SseParser::new(1 << 20);
        let mut items = Vec::new();
        parser.feed(&text, &mut items).unwrap();
        assert_eq!(items.len(), 5);
        for item in items {
            let SseItem::Data(data) = item else {
                panic!("no comments in the fixture")
            };
            serde_json::from_str::<harpoon_core::wire::StateEvent>(&data).unwrap();
        }
    }
}
