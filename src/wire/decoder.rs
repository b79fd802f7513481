//! Splitting a byte stream into lines, with a hard limit per line. Pure: no
//! I/O, so it is tested with arbitrary bytes.

/// The longest line accepted (64 KiB, newline excluded).
pub const MAX_LINE: usize = 64 * 1024;

/// The deepest JSON nesting accepted.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE`]; its bytes were discarded up to its end.
    TooLong,
}

/// Accumulates bytes and yields complete lines. Memory stays bounded by
/// [`MAX_LINE`] whatever the input.
#[derive(Debug, Default)]
pub struct LineDecoder {
    buffer: Vec<u8>,
    /// Inside an over-long line: drop bytes until its newline.
    discarding: bool,
}

impl LineDecoder {
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let (chunk, rest, ended) = match newline {
                Some(at) => (&bytes[..at], &bytes[at + 1..], true),
                None => (bytes, &[][..], false),
            };
            bytes = rest;
            if self.discarding {
                if ended {
                    self.discarding = false;
                }
                continue;
            }
            if self.buffer.len() + chunk.len() > MAX_LINE {
                self.buffer.clear();
                frames.push(Frame::TooLong);
                self.discarding = !ended;
                continue;
            }
            self.buffer.extend_from_slice(chunk);
            if ended {
                let mut line = std::mem::take(&mut self.buffer);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if !line.iter().all(u8::is_ascii_whitespace) {
                    frames.push(Frame::Line(line));
                }
            }
        }
        frames
    }

    /// Bytes held of a line not yet ended (a client that disconnects
    /// mid-line loses only these).
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

/// The JSON nesting depth of `text`, counted without parsing (brackets
/// inside strings do not count); stops counting past `limit`.
pub fn depth_exceeds(text: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_lines_across_pushes() {
        let mut d = LineDecoder::default();
        assert!(d.push(b"{\"op\":").is_empty());
        assert_eq!(
            d.push(b"1}\n{}\r\n\n  \n"),
            vec![
                Frame::Line(b"{\"op\":1}".to_vec()),
                Frame::Line(b"{}".to_vec())
            ]
        );
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn an_over_long_line_is_one_error_and_the_next_line_survives() {
        let mut d = LineDecoder::default();
        let long = vec![b'x'; MAX_LINE + 10];
        let mut frames = d.push(&long);
        frames.extend(d.push(b"still the long line\n{\"op\":\"hello\"}\n"));
        assert_eq!(
            frames,
            vec![Frame::TooLong, Frame::Line(b"{\"op\":\"hello\"}".to_vec())]
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_accepted() {
        let mut d = LineDecoder::default();
        let mut line = vec![b'a'; MAX_LINE];
        line.push(b'\n');
        assert_eq!(d.push(&line), vec![Frame::Line(vec![b'a'; MAX_LINE])]);
    }

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert!(!depth_exceeds(
            r#"{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}"#,
            3
        ));
        assert!(depth_exceeds(&"[".repeat(40), 32));
        assert!(!depth_exceeds(
            &format!("{}{}", "[".repeat(32), "]".repeat(32)),
            32
        ));
        assert!(!depth_exceeds(r#"{"a": "\"[[[["}"#, 1));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_and_memory_stays_bounded(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20_000), 0..12)) {
            let mut d = LineDecoder::default();
            for chunk in &chunks {
                for frame in d.push(chunk) {
                    if let Frame::Line(line) = frame {
                        prop_assert!(line.len() <= MAX_LINE);
                        prop_assert!(!line.contains(&b'\n'));
                    }
                }
                prop_assert!(d.pending() <= MAX_LINE);
            }
        }

        #[test]
        fn lines_come_back_as_sent(lines in proptest::collection::vec("[^\n\r]{1,200}", 1..20), split in 1usize..64) {
            let lines: Vec<String> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
            let stream: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
            let mut d = LineDecoder::default();
            let mut got = Vec::new();
            for chunk in stream.chunks(split) {
                for frame in d.push(chunk) {
                    if let Frame::Line(line) = frame {
                        got.push(String::from_utf8(line).unwrap());
                    }
                }
            }
            prop_assert_eq!(got, lines);
        }
    }
}
