//! Full-text search: the searchable text of every record, lowercased, kept in a
//! temporary file beside the index rather than in memory, and scanned on each query.
//!
//! The file is a sequence of entries `[trace u32 LE][length u32 LE][text]`. A search reads
//! it front to back (from the page cache, once it has been written) and tests each text
//! with a precompiled substring finder; the text of 1M generated spans is about 50 MB
//! and is scanned in well under a second. Memory stays at one read buffer whatever the
//! payloads weigh. The file is removed as soon as it is opened (on Unix it lives on
//! while open), and otherwise when the index is dropped.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use memchr::memmem::Finder;

/// Bytes of one read of the file during a search.
const READ_CHUNK: usize = 4 << 20;

/// The searchable text of the indexed records.
#[derive(Debug)]
pub struct SearchText {
    file: Mutex<BufWriter<File>>,
    path: Option<PathBuf>,
    /// Bytes written (and flushed by [`SearchText::flush`]).
    len: u64,
}

impl SearchText {
    /// A new empty store in the temporary directory.
    pub fn new() -> io::Result<Self> {
        let dir = std::env::temp_dir();
        let mut attempt = 0u32;
        loop {
            let path = dir.join(format!(
                "mv37-ui-{}-{}-{attempt}.text",
                std::process::id(),
                fastrand::u64(..)
            ));
            match OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
                Ok(file) => {
                    // On Unix the open file outlives its name: nothing is left behind
                    // even when the process is killed.
                    let path = std::fs::remove_file(&path).is_err().then_some(path);
                    return Ok(Self {
                        file: Mutex::new(BufWriter::with_capacity(1 << 20, file)),
                        path,
                        len: 0,
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// Appends the text of one record of trace `trace`.
    pub fn append(&mut self, trace: u32, text: &[u8]) -> io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let length = u32::try_from(text.len()).unwrap_or(u32::MAX);
        let text = &text[..length as usize];
        let file = self.file.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(&trace.to_le_bytes())?;
        file.write_all(&length.to_le_bytes())?;
        file.write_all(text)?;
        self.len += 8 + u64::from(length);
        Ok(())
    }

    /// Writes out what [`SearchText::append`] buffered, so that searches see it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .flush()
    }

    /// Calls `found` with the trace of every entry containing `needle` (already
    /// lowercased), in file order; a trace may be named more than once.
    pub fn search(&self, needle: &str, mut found: impl FnMut(u32)) -> io::Result<()> {
        let finder = Finder::new(needle.as_bytes());
        let mut guard = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let file = guard.get_mut();
        file.seek(SeekFrom::Start(0))?;
        let mut reader = (&mut *file).take(self.len);
        let mut buffer = vec![0u8; READ_CHUNK];
        let mut filled = 0usize;
        loop {
            let read = reader.read(&mut buffer[filled..])?;
            filled += read;
            let mut at = 0usize;
            while filled - at >= 8 {
                let trace = u32::from_le_bytes([buffer[at], buffer[at + 1], buffer[at + 2], buffer[at + 3]]);
                let length = u32::from_le_bytes([buffer[at + 4], buffer[at + 5], buffer[at + 6], buffer[at + 7]]);
                let end = at + 8 + length as usize;
                if end > filled {
                    if end - at > buffer.len() {
                        buffer.resize(end - at, 0);
                    }
                    break;
                }
                if finder.find(&buffer[at + 8..end]).is_some() {
                    found(trace);
                }
                at = end;
            }
            buffer.copy_within(at..filled, 0);
            filled -= at;
            if read == 0 {
                break;
            }
        }
        // Appends go to the end of the file, wherever a search left the position.
        file.seek(SeekFrom::End(0))?;
        Ok(())
    }
}

impl Drop for SearchText {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SearchText;

    #[test]
    fn entries_containing_the_needle_name_their_trace() {
        let mut text = SearchText::new().expect("temp file");
        text.append(1, b"where is my order?\n").expect("append");
        text.append(2, b"refund issued\n").expect("append");
        text.append(3, b"").expect("append");
        text.append(4, "an order of ünïcode".as_bytes()).expect("append");
        text.flush().expect("flush");
        let mut found = Vec::new();
        text.search("order", |trace| found.push(trace)).expect("search");
        assert_eq!(found, [1, 4]);
        text.append(5, b"later order\n").expect("append");
        text.flush().expect("flush");
        found.clear();
        text.search("order", |trace| found.push(trace)).expect("search");
        assert_eq!(found, [1, 4, 5]);
    }

    #[test]
    fn an_entry_larger_than_the_read_buffer_is_read_whole() {
        let mut text = SearchText::new().expect("temp file");
        let mut big = vec![b'x'; super::READ_CHUNK * 2 + 17];
        big.extend_from_slice(b"needle");
        text.append(9, b"first").expect("append");
        text.append(7, &big).expect("append");
        text.append(8, b"needle too").expect("append");
        text.flush().expect("flush");
        let mut found = Vec::new();
        text.search("needle", |trace| found.push(trace)).expect("search");
        assert_eq!(found, [7, 8]);
    }
}
