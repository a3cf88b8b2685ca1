//! The `jsonl` exporter: one versioned JSON record per line, appended to a file.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{ExportError, Exporter};
use crate::config::error::ConfigError;
use crate::record::Record;

/// Appends each record as one JSON line (see `docs/RECORDS.md`) to a file.
#[derive(Debug)]
pub struct JsonlExporter {
    path: PathBuf,
    writer: BufWriter<File>,
    line: Vec<u8>,
}

impl JsonlExporter {
    /// Opens (creating it and its directory if needed) the file for appending.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let error = |e: std::io::Error| ConfigError::JsonlPath {
            path: path.clone(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(error)?;
        Ok(Self {
            path,
            writer: BufWriter::with_capacity(64 * 1024, file),
            line: Vec::with_capacity(1024),
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, error: std::io::Error) -> ExportError {
        ExportError::new("jsonl", format!("{}: {error}", self.path.display()))
    }
}

impl Exporter for JsonlExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        for record in batch {
            self.line.clear();
            // A line is built whole before it is written, so a failure never leaves
            // half a record in the file.
            let line = record
                .to_json_line()
                .map_err(|e| ExportError::new("jsonl", format!("cannot encode record: {e}")))?;
            self.line.extend_from_slice(line.as_bytes());
            self.line.push(b'\n');
            self.writer.write_all(&self.line).map_err(|e| self.io_error(e))?;
        }
        self.writer.flush().map_err(|e| self.io_error(e))
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.writer.flush().map_err(|e| self.io_error(e))
    }
}
