//! Splitting input into lines with a cap on the length of a line, so that memory stays
//! bounded whatever the input: a line longer than the cap is discarded as it is read
//! (only its length is counted), never held whole.

use clap::Args;

use crate::error::CliError;

/// The default cap on the length of a line: 16 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// The environment variable that sets the cap when `--max-line-bytes` is not given.
pub const MAX_LINE_BYTES_VAR: &str = "MV37_MAX_LINE_BYTES";

/// The `--max-line-bytes` option of the commands that read records.
#[derive(Debug, Clone, Default, Args)]
pub struct LineLimitArgs {
    /// Longest line read, in bytes; a longer line is skipped and reported, and never held
    /// in memory whole [default: MV37_MAX_LINE_BYTES, else 16777216 (16 MiB)]
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_line_bytes: Option<u64>,
}

impl LineLimitArgs {
    /// The cap: the option, else `MV37_MAX_LINE_BYTES`, else [`DEFAULT_MAX_LINE_BYTES`].
    /// A bad value of the variable is a configuration error naming it.
    pub fn max_line_bytes(&self) -> Result<usize, CliError> {
        let bytes = match self.max_line_bytes {
            Some(bytes) => bytes,
            None => match std::env::var_os(MAX_LINE_BYTES_VAR) {
                None => return Ok(DEFAULT_MAX_LINE_BYTES),
                Some(value) => parse_max_line_bytes(&value.to_string_lossy())?,
            },
        };
        Ok(usize::try_from(bytes).unwrap_or(usize::MAX))
    }
}

fn parse_max_line_bytes(value: &str) -> Result<u64, CliError> {
    match value.trim().parse::<u64>() {
        Ok(bytes) if bytes >= 1 => Ok(bytes),
        _ => Err(CliError::Config(format!(
            "{MAX_LINE_BYTES_VAR}={value:?} is not valid: expected a number of bytes of at least 1, \
             such as {DEFAULT_MAX_LINE_BYTES}"
        ))),
    }
}

/// What a run of bytes turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A line, without its `\n`.
    Line(&'a [u8]),
    /// The last line of an input that does not end with `\n`.
    Unfinished(&'a [u8]),
    /// A line longer than the cap, discarded as it was read: its length in bytes.
    TooLong(u64),
}

/// Splits bytes into lines, holding at most the cap's worth of one line.
#[derive(Debug)]
pub struct LineSplitter {
    max: usize,
    /// The start of the current line, when it began in an earlier input.
    held: Vec<u8>,
    /// `held` is a line already given out, to be cleared on the next call.
    given_out: bool,
    /// The current line's length so far, once it went past the cap (it is then discarded).
    discarding: Option<u64>,
}

impl LineSplitter {
    /// A splitter of lines of at most `max` bytes (without the `\n`).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            held: Vec::new(),
            given_out: false,
            discarding: None,
        }
    }

    /// Takes `input` up to and including its first `\n`, and returns how many bytes it
    /// took and, when they ended a line, the line. Input without a `\n` is taken whole and
    /// held until its line ends, or discarded and counted once the line is past the cap.
    pub fn push<'a>(&'a mut self, input: &'a [u8]) -> (usize, Option<Piece<'a>>) {
        self.forget_given_out();
        let newline = memchr::memchr(b'\n', input);
        let (content, taken) = match newline {
            Some(at) => (&input[..at], at + 1),
            None => (input, input.len()),
        };
        if let Some(length) = &mut self.discarding {
            *length += content.len() as u64;
        } else if self.held.len().saturating_add(content.len()) > self.max {
            self.discarding = Some((self.held.len() + content.len()) as u64);
            self.held.clear();
        } else if newline.is_some() && self.held.is_empty() {
            // The whole line is in `input`: no copy.
            return (taken, Some(Piece::Line(content)));
        } else {
            self.hold(content);
        }
        if newline.is_none() {
            return (taken, None);
        }
        if let Some(length) = self.discarding.take() {
            return (taken, Some(Piece::TooLong(length)));
        }
        self.given_out = true;
        (taken, Some(Piece::Line(&self.held)))
    }

    /// The end of the input: the unfinished last line (no `\n` after it), if there is one.
    pub fn finish(&mut self) -> Option<Piece<'_>> {
        self.forget_given_out();
        if let Some(length) = self.discarding.take() {
            return Some(Piece::TooLong(length));
        }
        if self.held.is_empty() {
            return None;
        }
        self.given_out = true;
        Some(Piece::Unfinished(&self.held))
    }

    /// How many bytes of an unfinished line are held (for tests of the memory bound).
    #[cfg(test)]
    pub fn held_capacity(&self) -> usize {
        self.held.capacity()
    }

    fn forget_given_out(&mut self) {
        if self.given_out {
            self.held.clear();
            self.given_out = false;
        }
    }

    /// Appends to `held`, growing it to at most the cap (`len + bytes.len() <= max`).
    fn hold(&mut self, bytes: &[u8]) {
        let needed = self.held.len() + bytes.len();
        if needed > self.held.capacity() {
            let target = needed.max(self.held.capacity().saturating_mul(2)).min(self.max);
            self.held.reserve_exact(target - self.held.len());
        }
        self.held.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_max_line_bytes, LineSplitter, Piece};

    /// Feeds `input` in pieces of `chunk` bytes; the lines found, as text or as `TooLong(n)`.
    fn split(splitter: &mut LineSplitter, input: &[u8], chunk: usize) -> Vec<String> {
        let mut found = Vec::new();
        for mut piece in input.chunks(chunk) {
            while !piece.is_empty() {
                let (taken, line) = splitter.push(piece);
                found.extend(line.map(describe));
                piece = &piece[taken..];
            }
        }
        found.extend(splitter.finish().map(describe));
        found
    }

    fn describe(piece: Piece<'_>) -> String {
        match piece {
            Piece::Line(line) => String::from_utf8_lossy(line).into_owned(),
            Piece::Unfinished(line) => format!("unfinished {}", String::from_utf8_lossy(line)),
            Piece::TooLong(length) => format!("too long {length}"),
        }
    }

    #[test]
    fn lines_split_across_inputs_are_joined() {
        let input = b"first\nsecond line\n\nlast";
        for chunk in 1..=input.len() {
            let mut splitter = LineSplitter::new(64);
            assert_eq!(
                split(&mut splitter, input, chunk),
                ["first", "second line", "", "unfinished last"],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_line_longer_than_the_cap_is_skipped_and_the_next_line_is_read() {
        for chunk in [1, 3, 7, 64, 1000] {
            let mut splitter = LineSplitter::new(8);
            let found = split(&mut splitter, b"12345678\n123456789\nafter\n0123456789abc", chunk);
            assert_eq!(
                found,
                ["12345678", "too long 9", "after", "too long 13"],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn memory_stays_within_the_cap_however_long_the_line() {
        const CAP: usize = 1024;
        let mut splitter = LineSplitter::new(CAP);
        let chunk = vec![b'x'; 64 * 1024];
        // 64 MiB of one line, in 64 KiB reads, never held more than the cap.
        for _ in 0..1024 {
            let (taken, line) = splitter.push(&chunk);
            assert_eq!((taken, line), (chunk.len(), None));
            assert!(splitter.held_capacity() <= CAP, "{}", splitter.held_capacity());
        }
        assert_eq!(
            splitter.push(b"\n{\"next\":1}\n"),
            (1, Some(Piece::TooLong(64 * 1024 * 1024)))
        );
        assert_eq!(
            splitter.push(b"{\"next\":1}\n"),
            (11, Some(Piece::Line(b"{\"next\":1}")))
        );
        // A held line grows by doubling, but never past the cap.
        for _ in 0..CAP {
            let _ = splitter.push(b"y");
            assert!(splitter.held_capacity() <= CAP, "{}", splitter.held_capacity());
        }
        assert_eq!(splitter.push(b"\n"), (1, Some(Piece::Line(&[b'y'; CAP][..]))));
    }

    #[test]
    fn the_variable_must_be_a_positive_number_of_bytes() {
        assert_eq!(parse_max_line_bytes("65536").ok(), Some(65536));
        for bad in ["0", "-1", "16MiB", ""] {
            let error = parse_max_line_bytes(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.starts_with("MV37_MAX_LINE_BYTES="), "{bad}: {error}");
        }
    }
}
