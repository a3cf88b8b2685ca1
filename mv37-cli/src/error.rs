//! The errors that stop a command, and the exit code each maps to.

use std::io;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: bad input (unreadable file, newer schema, malformed lines, undelivered records).
pub const EXIT_BAD_INPUT: u8 = 1;
/// Exit code: the command line itself is wrong.
pub const EXIT_USAGE: u8 = 2;

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file (or standard input) cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file, with the line when reading failed mid-file.
        path: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// A directory was given where a file was expected.
    #[error("cannot read {path}: it is a directory, expected a JSONL file")]
    IsDirectory {
        /// The directory.
        path: String,
    },
    /// A record was written by a newer version of the schema.
    #[error(
        "{path}:{line}: record has schema version {found}, but this mv37 reads up to version {supported}; \
         upgrade the mv37 command-line tool"
    )]
    NewerSchema {
        /// The file.
        path: String,
        /// The line number, from 1.
        line: u64,
        /// The version in the record.
        found: u64,
        /// The newest version this tool reads.
        supported: u32,
    },
    /// The configuration (environment or options) cannot be used.
    #[error("{0}")]
    Config(String),
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            _ => EXIT_BAD_INPUT,
        }
    }
}

/// Turns an output error into a `CliError`, except a closed pipe (`mv37 view | head`),
/// which is a normal way for output to end: `Ok(false)` then means "stop writing".
pub fn output_result(result: io::Result<()>) -> Result<bool, CliError> {
    match result {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(CliError::Output(error)),
    }
}
