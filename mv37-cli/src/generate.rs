//! `mv37 generate` (hidden): writes a synthetic JSONL file of realistic traces, for
//! measuring `view` and `stats` on large inputs.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};

use clap::Args;
use mv37_runtime::{ErrorInfo, Payload, Record, SpanId, SpanKind, SpanRecord, Status, TraceId, TraceRecord, Usage};
use serde_json::json;

use crate::error::{output_result, CliError, EXIT_OK};

/// Options of `mv37 generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many span records to write.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub spans: u64,
    /// Spans per trace.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub spans_per_trace: u64,
    /// Seed of the random choices (the same seed writes the same file).
    #[arg(long, value_name = "N", default_value_t = 37)]
    pub seed: u64,
    /// The file to write (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<String>,
}

const MODELS: [(&str, &str, f64); 4] = [
    ("gpt-4.1-mini", "openai", 0.4e-6),
    ("gpt-4.1", "openai", 2.0e-6),
    ("claude-sonnet-4", "anthropic", 3.0e-6),
    ("gemini-2.5-flash", "google", 0.3e-6),
];
const TOOLS: [&str; 4] = ["issue_refund", "lookup_order", "send_email", "search_kb"];

fn span_id(rng: &mut fastrand::Rng) -> SpanId {
    SpanId::from_u64(rng.u64(1..)).unwrap_or_else(SpanId::random)
}

/// Runs `mv37 generate`.
pub fn run(args: GenerateArgs) -> Result<u8, CliError> {
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).map_err(|source| CliError::Unreadable {
            path: path.clone(),
            source,
        })?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let per_trace = args.spans_per_trace.max(1);
    let mut time: u64 = 1_780_000_000_000_000_000;
    let mut written = 0u64;
    let write = |record: &Record, out: &mut BufWriter<Box<dyn Write>>| -> Result<bool, CliError> {
        let mut line = record
            .to_json_line()
            .map_err(|e| CliError::Output(io::Error::other(e)))?;
        line.push('\n');
        output_result(out.write_all(line.as_bytes()))
    };
    while written < args.spans {
        let trace_id = TraceId::from_u128(rng.u128(1..)).unwrap_or_else(TraceId::random);
        let root = span_id(&mut rng);
        let task = span_id(&mut rng);
        let start = time;
        let spans = per_trace.min(args.spans - written);
        let mut failed = false;
        let mut task_start = start + 1_000;
        for index in 1..spans {
            let latency = rng.u64(50_000..2_000_000_000);
            let status = if rng.u32(0..100) < 2 { Status::Error } else { Status::Ok };
            failed |= status == Status::Error;
            let (kind, name, model, usage) = match index % 3 {
                1 => {
                    let (model, provider, price) = MODELS[rng.usize(..MODELS.len())];
                    let input = rng.u64(100..8_000);
                    let output = rng.u64(10..1_000);
                    let usage = Usage {
                        input_tokens: Some(input),
                        output_tokens: Some(output),
                        cached_tokens: Some(input / 2),
                        reasoning_tokens: (provider == "openai").then_some(output / 4),
                        total_tokens: Some(input + output),
                        cost_usd: Some((input + 4 * output) as f64 * price),
                        ..Usage::default()
                    };
                    (
                        SpanKind::Llm,
                        Cow::Borrowed("chat"),
                        Some((model, provider)),
                        Some(usage),
                    )
                }
                2 => (
                    SpanKind::Tool,
                    Cow::Borrowed(TOOLS[rng.usize(..TOOLS.len())]),
                    None,
                    None,
                ),
                _ => (SpanKind::Retrieval, Cow::Borrowed("search_docs"), None, None),
            };
            let record = Record::Span(SpanRecord {
                trace_id,
                span_id: span_id(&mut rng),
                parent_span_id: Some(task),
                kind,
                name,
                start_time_unix_nano: task_start,
                end_time_unix_nano: task_start + latency,
                latency_ns: latency,
                status,
                error: (status == Status::Error).then(|| ErrorInfo {
                    message: "upstream timed out".to_owned(),
                    error_type: Some("timeout".to_owned()),
                }),
                model: model.map(|(m, _)| m.to_owned()),
                provider: model.map(|(_, p)| p.to_owned()),
                usage,
                request: None,
                response: None,
                input: Some(Payload::from_value(
                    &json!({ "query": "where is my order?", "step": index }),
                )),
                output: Some(Payload::from_value(&json!({ "text": "Your order has shipped." }))),
                documents: Vec::new(),
                attributes: serde_json::Map::new(),
                messages: Vec::new(),
                events: Vec::new(),
                scope: None,
            });
            task_start += latency;
            if !write(&record, &mut out)? {
                return Ok(EXIT_OK);
            }
        }
        let end = task_start + 1_000;
        let task_record = Record::Span(SpanRecord {
            trace_id,
            span_id: task,
            parent_span_id: Some(root),
            kind: SpanKind::Task,
            name: Cow::Borrowed("resolve_ticket"),
            start_time_unix_nano: start + 500,
            end_time_unix_nano: end,
            latency_ns: end - start - 500,
            status: Status::Ok,
            error: None,
            model: None,
            provider: None,
            usage: None,
            request: None,
            response: None,
            input: Some(Payload::from_value(&json!({ "ticket_id": "T-42" }))),
            output: None,
            documents: Vec::new(),
            attributes: serde_json::Map::new(),
            messages: Vec::new(),
            events: Vec::new(),
            scope: None,
        });
        let trace = Record::Trace(TraceRecord {
            trace_id,
            span_id: root,
            parent_span_id: None,
            name: Cow::Borrowed("support_agent"),
            user_id: Some(format!("cus_{}", rng.u32(0..1_000))),
            session_id: Some(format!("sess_{}", rng.u32(0..10_000))),
            conversation_id: None,
            external_trace_id: None,
            start_time_unix_nano: start,
            end_time_unix_nano: end + 1_000,
            latency_ns: end + 1_000 - start,
            status: if failed { Status::Error } else { Status::Ok },
            error: None,
            input: None,
            output: None,
            attributes: serde_json::Map::new(),
            messages: Vec::new(),
            events: Vec::new(),
            context: None,
            environment: None,
            release: None,
            service_name: None,
        });
        if !write(&task_record, &mut out)? || !write(&trace, &mut out)? {
            return Ok(EXIT_OK);
        }
        written += spans;
        time = end + 10_000_000;
    }
    output_result(out.flush())?;
    Ok(EXIT_OK)
}
