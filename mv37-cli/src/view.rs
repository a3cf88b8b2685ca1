//! `mv37 view`: every selected trace as a tree, streamed.

use std::io::{self, IsTerminal, Write};

use clap::{Args, ValueEnum};

use crate::assemble::{Assembler, Limits, TraceGroup};
use crate::error::{output_result, CliError};
use crate::escape::escape_json;
use crate::filter::{Filter, FilterArgs};
use crate::input::RecordReader;
use crate::lines::LineLimitArgs;
use crate::tree::{render, Style};

/// When to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// When standard output is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Resolves `auto` against the terminal and `NO_COLOR`.
    pub fn style(self) -> Style {
        let color = match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
            }
        };
        Style { color }
    }
}

/// Options of `mv37 view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// JSONL files written by mv37; `-` reads standard input; gzip files are read as such.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Show at most N traces, then stop reading.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Print the selected traces' records as the original JSON lines (grouped by trace)
    /// instead of trees; control and bidi characters are written as JSON `\uNNNN` escapes.
    #[arg(long)]
    pub json: bool,
    /// Colour the trees.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Most traces held while waiting for their `trace` record; past it the oldest is
    /// shown incomplete.
    #[arg(long, value_name = "N", default_value_t = 10_000, hide_short_help = true)]
    pub max_pending: usize,
    #[command(flatten)]
    pub line_limit: LineLimitArgs,
}

/// Prints one group: its tree, or its lines for `--json`.
pub struct Printer {
    style: Style,
    json: bool,
    buffer: String,
}

impl Printer {
    /// A printer in this style.
    pub fn new(style: Style, json: bool) -> Self {
        Self {
            style,
            json,
            buffer: String::new(),
        }
    }

    /// Writes `group`; `Ok(false)` when the reader went away (closed pipe). Record text is
    /// escaped: control and bidi characters never reach the terminal raw.
    pub fn print(&mut self, group: &TraceGroup, out: &mut impl Write) -> Result<bool, CliError> {
        self.buffer.clear();
        if self.json {
            for line in &group.raw {
                self.buffer.push_str(&escape_json(line));
                self.buffer.push('\n');
            }
        } else {
            render(group, self.style, &mut self.buffer);
            self.buffer.push('\n');
        }
        output_result(out.write_all(self.buffer.as_bytes()))
    }
}

/// Runs `mv37 view`, returning the exit code.
pub fn run(args: ViewArgs) -> Result<u8, CliError> {
    let filter = Filter::new(args.filter)?;
    let max_line_bytes = args.line_limit.max_line_bytes()?;
    let mut reader = RecordReader::new(args.files, args.json, max_line_bytes);
    let mut assembler = Assembler::new(Limits {
        max_pending_traces: args.max_pending.max(1),
        ..Limits::default()
    });
    let mut printer = Printer::new(args.color.style(), args.json);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut shown = 0u64;
    let mut at_end = false;
    'read: while shown < limit {
        if !at_end {
            match reader.next_entry()? {
                Some(entry) => assembler.push(entry.record, entry.raw),
                None => {
                    assembler.finish();
                    at_end = true;
                }
            }
        }
        while let Some(group) = assembler.pop_ready() {
            if !filter.matches(&group) {
                continue;
            }
            if !printer.print(&group, &mut out)? {
                // The reader went away (`mv37 view | head`): stop, as after --limit.
                break 'read;
            }
            shown += 1;
            if shown >= limit {
                break 'read;
            }
        }
        if at_end {
            break;
        }
    }
    output_result(out.flush())?;
    reader.diagnostics.report();
    Ok(reader.diagnostics.exit_code())
}
