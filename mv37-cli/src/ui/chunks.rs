//! Cutting files into chunks that start and end at line ends, and parsing the lines of
//! a chunk (each part of a chunk on its own core).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use super::scan::LineView;

/// Bytes read and parsed at once.
pub const CHUNK_BYTES: usize = 8 << 20;
/// Below this many bytes a chunk is parsed on the indexer thread alone.
pub const PARALLEL_MIN_BYTES: usize = 256 << 10;

/// One line parsed: where it is in its chunk, and its fields (`None`: not a record).
pub struct Parsed<'a> {
    /// Where the line starts in the chunk.
    pub offset: usize,
    /// Its length, without the line end.
    pub length: u32,
    /// Its fields.
    pub view: Option<LineView<'a>>,
    /// It is longer than the line limit (and was not parsed).
    pub too_long: bool,
    /// Its searchable text in the chunk's text buffer.
    pub text: (usize, usize),
}

/// Parses every line of `bytes` (which starts at `base` in the chunk) of at most
/// `max_line_bytes` bytes.
pub fn parse_lines(bytes: &[u8], base: usize, max_line_bytes: usize) -> (Vec<Parsed<'_>>, String) {
    let mut parsed = Vec::with_capacity(bytes.len() / 256);
    let mut text = String::with_capacity(bytes.len() / 8);
    let mut start = 0usize;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |at| start + at);
        let line = &bytes[start..end];
        let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
        if !trimmed.iter().all(u8::is_ascii_whitespace) {
            let text_start = text.len();
            let too_long = trimmed.len() > max_line_bytes;
            let view = std::str::from_utf8(trimmed)
                .ok()
                .filter(|_| !too_long)
                .and_then(|line| LineView::parse(line, &mut text));
            parsed.push(Parsed {
                offset: base + start,
                length: u32::try_from(trimmed.len()).unwrap_or(u32::MAX),
                view,
                too_long,
                text: (text_start, text.len()),
            });
        }
        start = end + 1;
    }
    (parsed, text)
}

/// Splits `bytes` into up to `parts` ranges that end at line ends.
pub fn split_at_lines(bytes: &[u8], parts: usize) -> Vec<(usize, usize)> {
    let mut ranges = Vec::with_capacity(parts);
    let mut start = 0usize;
    for part in 1..parts {
        let target = (bytes.len() * part / parts).max(start);
        let Some(newline) = memchr::memchr(b'\n', &bytes[target..]) else {
            break;
        };
        let end = target + newline + 1;
        if end > start {
            ranges.push((start, end));
            start = end;
        }
    }
    if start < bytes.len() || ranges.is_empty() {
        ranges.push((start, bytes.len()));
    }
    ranges
}

/// Offsets that cut `file` (`len` bytes) into pieces of about `chunk` bytes, each
/// starting at the start of a line: `[0, …, len]`.
pub fn chunk_bounds(file: &mut File, len: u64, chunk: u64) -> io::Result<Vec<u64>> {
    let mut bounds = vec![0u64];
    let mut window = vec![0u8; (chunk as usize).clamp(1, 64 << 10)];
    let mut target = chunk;
    while target < len {
        let mut at = target;
        let boundary = loop {
            file.seek(SeekFrom::Start(at))?;
            let read = file.read(&mut window)?;
            if read == 0 {
                break len;
            }
            if let Some(newline) = memchr::memchr(b'\n', &window[..read]) {
                break at + newline as u64 + 1;
            }
            at += read as u64;
        };
        if boundary >= len {
            break;
        }
        bounds.push(boundary);
        target = boundary + chunk;
    }
    bounds.push(len);
    Ok(bounds)
}

#[cfg(test)]
mod tests {
    use super::split_at_lines;

    #[test]
    fn chunks_are_split_at_line_ends() {
        let bytes = b"aaaa\nbb\ncccccc\nd\n";
        for parts in 1..=6 {
            let ranges = split_at_lines(bytes, parts);
            assert_eq!(ranges.first().map(|r| r.0), Some(0));
            assert_eq!(ranges.last().map(|r| r.1), Some(bytes.len()));
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].1, pair[1].0);
                assert_eq!(bytes[pair[0].1 - 1], b'\n');
            }
        }
    }
}
