//! `mv37 send`: replays records to a backend through the runtime's own exporters and
//! configuration, keeping every trace and span id.
//!
//! A span record read back from JSON carries only the trace's `context`, not its user,
//! session or name, which the OTLP exporter puts on every span. So records are held per
//! trace (bounded) until the trace's own record arrives, then sent with the trace-level
//! fields restored; records of a trace whose `trace` record is not in the input (or that
//! overflowed the bound) are sent as they are.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mv37_runtime::render::PendingTraces;
use mv37_runtime::{Config, Exporter, IngestExporter, OtlpExporter, Record, Spool, TraceId, TraceScope};

use crate::error::{output_result, CliError, EXIT_BAD_INPUT, EXIT_OK};
use crate::escape::escape;
use crate::input::RecordReader;
use crate::lines::LineLimitArgs;

/// Where `send` delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Destination {
    /// OTLP/HTTP, configured by the `OTEL_EXPORTER_OTLP_*` variables.
    Otlp,
    /// The mv37 ingest API, configured by `MV37_ENDPOINT` and `MV37_API_KEY`.
    Mv37,
}

/// Options of `mv37 send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// JSONL files written by mv37; `-` reads standard input; gzip files are read as such.
    #[arg(required_unless_present = "spool", value_name = "FILE")]
    pub files: Vec<String>,
    /// The exporter to send through.
    #[arg(long, value_enum, value_name = "EXPORTER")]
    pub to: Destination,
    /// Override the endpoint from the environment. For otlp, the traces URL
    /// (`/v1/traces` is added to a URL without a path); for mv37, the ingest API's base URL.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Records per request (default: `MV37_BATCH_SIZE`, else 512).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Most traces held while waiting for their `trace` record; past it the oldest is
    /// sent without its trace-level fields.
    #[arg(long, value_name = "N", default_value_t = 10_000, hide_short_help = true)]
    pub max_pending: usize,
    /// Re-deliver the segments of a disk spool (`MV37_SPOOL_DIR`), oldest first; each
    /// segment is removed only once all its records were delivered.
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    #[command(flatten)]
    pub line_limit: LineLimitArgs,
}

/// Most records held in traces waiting for their `trace` record.
const MAX_PENDING_RECORDS: usize = 200_000;
/// Scopes of sent traces kept for records that arrive after the trace record.
const REMEMBERED_SCOPES: usize = 4096;
/// Inputs at least this large get a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 4 * 1024 * 1024;
/// Export errors reported one by one.
const REPORTED_FAILURES: u64 = 5;

#[derive(Debug, Default)]
struct Counts {
    sent: u64,
    sent_spans: u64,
    failed: u64,
    batches: u64,
    failed_batches: u64,
    without_trace_fields: u64,
}

struct Replay {
    exporter: Box<dyn Exporter>,
    batch: Vec<Record>,
    batch_size: usize,
    max_pending: usize,
    pending: PendingTraces<Vec<Record>>,
    scopes: HashMap<TraceId, Arc<TraceScope>>,
    scope_order: VecDeque<TraceId>,
    counts: Counts,
}

/// Puts the trace-level fields on a record that carries a scope.
fn with_scope(mut record: Record, scope: &Arc<TraceScope>) -> Record {
    let slot = match &mut record {
        Record::Span(span) => &mut span.scope,
        Record::Message(message) => &mut message.scope,
        Record::Feedback(feedback) => &mut feedback.scope,
        Record::Signal(signal) => &mut signal.scope,
        Record::Trace(_) => return record,
    };
    *slot = Some(Arc::clone(scope));
    record
}

impl Replay {
    fn push(&mut self, record: Record) {
        let trace_id = record.trace_id();
        if let Record::Trace(trace) = &record {
            let scope = Arc::new(TraceScope::of_trace(trace));
            if let Some(held) = self.pending.remove(&trace_id) {
                for record in held {
                    self.enqueue(with_scope(record, &scope));
                }
            }
            self.remember(trace_id, scope);
            self.enqueue(record);
            return;
        }
        if let Some(scope) = self.scopes.get(&trace_id) {
            let scope = Arc::clone(scope);
            self.enqueue(with_scope(record, &scope));
            return;
        }
        self.pending.add(trace_id, Vec::new).push(record);
        while self.pending.len() > self.max_pending || self.pending.records() > MAX_PENDING_RECORDS {
            if !self.release_oldest() {
                break;
            }
        }
    }

    fn remember(&mut self, trace_id: TraceId, scope: Arc<TraceScope>) {
        if self.scopes.insert(trace_id, scope).is_none() {
            self.scope_order.push_back(trace_id);
            if self.scope_order.len() > REMEMBERED_SCOPES {
                if let Some(forgotten) = self.scope_order.pop_front() {
                    self.scopes.remove(&forgotten);
                }
            }
        }
    }

    /// Sends the oldest waiting trace as it is; `false` when none waits.
    fn release_oldest(&mut self) -> bool {
        let Some(held) = self.pending.pop_oldest() else {
            return false;
        };
        self.counts.without_trace_fields += held.len() as u64;
        for record in held {
            self.enqueue(record);
        }
        true
    }

    fn enqueue(&mut self, record: Record) {
        self.batch.push(record);
        if self.batch.len() >= self.batch_size {
            self.export_batch();
        }
    }

    fn export_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let records = self.batch.len() as u64;
        self.counts.batches += 1;
        match self.exporter.export(&self.batch) {
            Ok(()) => {
                self.counts.sent += records;
                self.counts.sent_spans += self.batch.iter().filter(|r| matches!(r, Record::Span(_))).count() as u64;
            }
            Err(error) => {
                self.counts.failed += records;
                self.counts.failed_batches += 1;
                if self.counts.failed_batches <= REPORTED_FAILURES {
                    eprintln!(
                        "mv37: a batch of {records} records was not delivered: {}",
                        escape(&error.to_string())
                    );
                }
            }
        }
        self.batch.clear();
    }

    fn finish(&mut self) {
        while self.release_oldest() {}
        self.export_batch();
        if let Err(error) = self.exporter.shutdown() {
            eprintln!("mv37: {}", escape(&error.to_string()));
        }
    }
}

fn exporter(args: &SendArgs, config: &Config) -> Result<(Box<dyn Exporter>, String), CliError> {
    let config_error = |error: mv37_runtime::ConfigError| CliError::Config(error.to_string());
    match args.to {
        Destination::Otlp => {
            let mut otlp = config.otlp.clone();
            if let Some(endpoint) = &args.endpoint {
                otlp.endpoint = mv37_runtime::otlp_traces_url(endpoint);
            }
            let target = format!("otlp {}", otlp.endpoint);
            let exporter = OtlpExporter::new(otlp, &config.resource()).map_err(config_error)?;
            Ok((Box::new(exporter), target))
        }
        Destination::Mv37 => {
            let mut ingest = config.ingest.clone();
            if let Some(endpoint) = &args.endpoint {
                ingest.endpoint = endpoint.trim().to_owned();
            }
            let target = format!("mv37 {}", ingest.endpoint);
            let exporter = IngestExporter::new(ingest, &config.resource()).map_err(config_error)?;
            Ok((Box::new(exporter), target))
        }
    }
}

fn progress_bar(files: &[String]) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = files
        .iter()
        .filter(|f| f.as_str() != "-")
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    if total < PROGRESS_MIN_BYTES {
        return None;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

/// Runs `mv37 send`, returning the exit code.
pub fn run(args: SendArgs) -> Result<u8, CliError> {
    if let Some(spool) = &args.spool {
        return send_spool(&args, spool);
    }
    if args.files.is_empty() {
        return Err(CliError::Usage(
            "mv37 send needs at least one FILE (`-` for standard input)".to_owned(),
        ));
    }
    let config = Config::from_env().map_err(|e| CliError::Config(e.to_string()))?;
    let (exporter, target) = exporter(&args, &config)?;
    let batch_size = args.batch_size.unwrap_or(config.max_batch_records).max(1);
    let max_line_bytes = args.line_limit.max_line_bytes()?;
    let bar = progress_bar(&args.files);
    let mut reader = RecordReader::new(args.files, false, max_line_bytes);
    let mut replay = Replay {
        exporter,
        batch: Vec::with_capacity(batch_size),
        batch_size,
        max_pending: args.max_pending.max(1),
        pending: PendingTraces::default(),
        scopes: HashMap::new(),
        scope_order: VecDeque::new(),
        counts: Counts::default(),
    };
    let mut traces = HashSet::new();
    let mut read = 0u64;
    let outcome = loop {
        match reader.next_entry() {
            Ok(Some(entry)) => {
                read += 1;
                if let Record::Trace(trace) = &entry.record {
                    if traces.len() < 1_000_000 {
                        traces.insert(trace.trace_id);
                    }
                }
                replay.push(entry.record);
                if let Some(bar) = &bar {
                    if read.is_multiple_of(1024) {
                        bar.set_position(reader.bytes_read());
                    }
                }
            }
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    // What was read before an input error is still delivered.
    replay.finish();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let counts = &replay.counts;
    let malformed = reader.diagnostics.malformed;
    let summary = format!(
        "sent {} records ({} spans) to {} in {} requests; failed {}; skipped {} malformed lines\n",
        counts.sent,
        counts.sent_spans,
        escape(&target),
        counts.batches,
        counts.failed,
        malformed
    );
    let mut out = io::stdout().lock();
    output_result(out.write_all(summary.as_bytes()).and_then(|()| out.flush()))?;
    if counts.without_trace_fields > 0 {
        eprintln!(
            "mv37: {} records were sent without their trace's user/session fields (their trace record was not in the \
             input, or too many traces were open at once)",
            counts.without_trace_fields
        );
    }
    outcome?;
    reader.diagnostics.report();
    Ok(if counts.failed > 0 || malformed > 0 {
        EXIT_BAD_INPUT
    } else {
        EXIT_OK
    })
}

/// `mv37 send --spool DIR`: claims each segment (so a process sharing the directory does
/// not send it too), delivers it whole, then removes it.
fn send_spool(args: &SendArgs, dir: &std::path::Path) -> Result<u8, CliError> {
    if !dir.is_dir() {
        return Err(CliError::Unreadable {
            path: dir.display().to_string(),
            source: io::Error::new(io::ErrorKind::NotFound, "not a spool directory"),
        });
    }
    let config = Config::from_env().map_err(|e| CliError::Config(e.to_string()))?;
    let (mut exporter, target) = exporter(args, &config)?;
    let batch_size = args.batch_size.unwrap_or(config.max_batch_records).max(1);
    let unreadable = |source: io::Error| CliError::Unreadable {
        path: dir.display().to_string(),
        source,
    };
    let spool = Spool::open(dir, u64::MAX).map_err(unreadable)?;
    let segments = spool.segments().map_err(unreadable)?;
    let (mut delivered, mut sent, mut failed, mut malformed) = (0u64, 0u64, 0u64, 0u64);
    for segment in &segments {
        let mut claimed = match spool.claim(segment) {
            Ok(Some(claimed)) => claimed,
            // Taken by another process since the listing: it sends that one.
            Ok(None) => continue,
            Err(error) => {
                eprintln!("mv37: {}: {error}", segment.path.display());
                failed += 1;
                continue;
            }
        };
        let contents = match claimed.read() {
            Ok(contents) => contents,
            Err(error) => {
                eprintln!(
                    "mv37: {}: {}",
                    escape(&segment.path.display().to_string()),
                    escape(&error.to_string())
                );
                failed += 1;
                continue;
            }
        };
        for (line, error) in &contents.malformed {
            eprintln!(
                "mv37: {}:{line}: skipped malformed line: {}",
                escape(&segment.path.display().to_string()),
                escape(&error.to_string())
            );
        }
        malformed += contents.malformed.len() as u64;
        let mut ok = true;
        for chunk in contents.records.chunks(batch_size) {
            if let Err(error) = exporter.export(chunk) {
                eprintln!(
                    "mv37: {}: {}",
                    escape(&segment.path.display().to_string()),
                    escape(&error.to_string())
                );
                ok = false;
                break;
            }
        }
        if ok {
            claimed.finish().map_err(|source| CliError::Unreadable {
                path: segment.path.display().to_string(),
                source,
            })?;
            delivered += 1;
            sent += contents.records.len() as u64;
        } else {
            failed += 1;
        }
    }
    let _ = exporter.shutdown();
    let summary = format!(
        "sent {sent} records from {delivered} of {} spool segments to {}; {failed} segments kept for later; \
         skipped {malformed} malformed lines\n",
        segments.len(),
        escape(&target)
    );
    let mut out = io::stdout().lock();
    output_result(out.write_all(summary.as_bytes()).and_then(|()| out.flush()))?;
    Ok(if failed > 0 || malformed > 0 {
        EXIT_BAD_INPUT
    } else {
        EXIT_OK
    })
}
