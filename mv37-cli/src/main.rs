//! `mv37`, the command-line tool of the mv37 LLM-observability SDK: look at the JSONL
//! traces a program wrote (`view`, `tail`, and in the browser `ui`), summarise them
//! (`stats`), and replay them to a backend (`send`).

mod assemble;
mod error;
mod escape;
mod filter;
mod generate;
mod input;
mod lines;
mod send;
mod sketch;
mod stats;
mod tail;
mod time;
mod tree;
mod ui;
mod view;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    bad input: a file cannot be read, a record is from a newer schema version, lines
       were skipped as malformed or longer than --max-line-bytes (the rest is still
       processed and printed), the configuration is invalid, the output cannot be
       written, or records could not be delivered (send)
  2    usage: unknown option, missing argument or invalid value
  130  tail: a second Ctrl-C (or SIGTERM) while the first one was being handled";

/// Look at, summarise and replay the JSONL traces that mv37 writes.
#[derive(Debug, Parser)]
#[command(name = "mv37", version, after_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print each trace as an indented tree: spans with kind, name, status, latency,
    /// model, tokens and cost, the first line of their input and output, and the
    /// messages, signals and feedback where they were recorded.
    ///
    /// Records are read in one pass and a trace is printed as soon as its `trace` record
    /// arrives (the runtime writes it after the trace's spans); traces still open at the
    /// end of input are printed last, marked incomplete.
    #[command(after_help = EXIT_CODES)]
    View(view::ViewArgs),
    /// Summarise calls per model (calls, tokens in/out/cached/cache_write/reasoning, cost, latency
    /// p50/p95/p99, error rate), per tool and per span kind; `--by user|session` adds a
    /// row per user or session.
    ///
    /// One streaming pass with bounded memory: latency percentiles come from a
    /// log-bucket quantile sketch whose estimates are within 1% (relative) of the true
    /// value, so no latency is stored.
    #[command(after_help = EXIT_CODES)]
    Stats(stats::StatsArgs),
    /// Follow a JSONL file that a running program is writing and print each trace as it
    /// completes (first the last --lines traces already in the file).
    ///
    /// The file is polled every --interval milliseconds. Rotation (the path now names a
    /// new file) and truncation are followed: the new content is read from its start.
    /// Stop with Ctrl-C (or SIGTERM): the last line, if it has no newline yet, is read as
    /// it is (and reported if it is not a record), the traces still open are printed,
    /// and the exit code says whether lines were skipped, as for `view`.
    #[command(after_help = EXIT_CODES)]
    Tail(tail::TailArgs),
    /// Replay records to a backend through the SDK's own exporters and configuration
    /// (the same `MV37_*` and `OTEL_EXPORTER_OTLP_*` variables), keeping the original
    /// trace and span ids, so that sending twice is harmless at backends that dedupe.
    ///
    /// Spans are sent with their trace's user, session and name (restored from the
    /// trace record in the same input). A progress bar is drawn on a terminal for large
    /// inputs; a summary of sent, failed and skipped records is printed at the end.
    #[command(after_help = EXIT_CODES)]
    Send(send::SendArgs),
    /// Serve a trace viewer in the browser over JSONL files and directories, following
    /// them live: a trace list with filters and full-text search, each trace as a span
    /// tree beside a waterfall with its chat transcript and span details, sessions, and
    /// stats charts.
    ///
    /// Listens on 127.0.0.1 only unless --bind says otherwise; the server is read-only.
    #[command(after_help = EXIT_CODES)]
    Ui(ui::UiArgs),
    /// Write a synthetic JSONL file of traces (for measuring the other commands).
    #[command(hide = true)]
    Generate(generate::GenerateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<u8, CliError> = match cli.command {
        Command::View(args) => view::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Send(args) => send::run(args),
        Command::Ui(args) => ui::run(args),
        Command::Generate(args) => generate::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("mv37: {}", escape::escape(&error.to_string()));
            ExitCode::from(error.exit_code())
        }
    }
}
