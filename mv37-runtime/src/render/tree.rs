//! One trace as an indented tree: spans nested under their parents, and the messages,
//! signals and feedback under the span (or trace) they were recorded in, in time order.
//! What each line says is the caller's ([`Paint`]); the shape is drawn here.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::group::TraceGroup;
use crate::ids::SpanId;
use crate::record::{FeedbackRecord, MessageRecord, SignalRecord, SpanRecord, Usage};

/// Deepest nesting drawn; deeper spans are summarised in one line.
pub const MAX_DEPTH: usize = 64;

/// One line of the tree.
#[derive(Debug, Clone, Copy)]
pub enum Node<'a> {
    /// A span (its children are drawn under it).
    Span(&'a SpanRecord),
    /// A message.
    Message(&'a MessageRecord),
    /// Feedback.
    Feedback(&'a FeedbackRecord),
    /// A signal.
    Signal(&'a SignalRecord),
}

impl Node<'_> {
    /// When the node happened (a span's start).
    pub fn time(&self) -> u64 {
        match self {
            Node::Span(span) => span.start_time_unix_nano,
            Node::Message(message) => message.time_unix_nano,
            Node::Feedback(feedback) => feedback.time_unix_nano,
            Node::Signal(signal) => signal.time_unix_nano,
        }
    }
}

/// How the lines of a tree are written.
pub trait Paint {
    /// `text` in the ANSI style `code` (`"2"` is dim), or as it is (the default).
    fn paint(&self, code: &str, text: &str) -> String {
        let _ = code;
        text.to_owned()
    }

    /// The text of one node's line (without the tree's guides).
    fn line(&self, node: &Node<'_>) -> String;

    /// Lines written under a span's own line, before its children (such as its input and
    /// output); each must start with `prefix`, which continues the guides. None by default.
    fn details(&self, span: &SpanRecord, prefix: &str, out: &mut String) {
        let _ = (span, prefix, out);
    }
}

/// Where the nodes of one trace hang: under a span, or under the trace itself (`None`),
/// each list in time order.
#[derive(Debug)]
pub struct TraceTree<'a> {
    children: HashMap<Option<SpanId>, Vec<Node<'a>>>,
    spans: &'a [SpanRecord],
}

impl<'a> TraceTree<'a> {
    /// The tree of `group`. A node whose span is not in the group (the trace's own root
    /// span, a span not received) hangs under the trace.
    pub fn new(group: &'a TraceGroup) -> Self {
        let span_ids: HashSet<SpanId> = group.spans.iter().map(|s| s.span_id).collect();
        let under = |id: Option<SpanId>| id.filter(|id| span_ids.contains(id));
        let mut children: HashMap<Option<SpanId>, Vec<Node<'a>>> = HashMap::new();
        for span in &group.spans {
            let parent = under(span.parent_span_id).filter(|parent| *parent != span.span_id);
            children.entry(parent).or_default().push(Node::Span(span));
            for message in &span.messages {
                children
                    .entry(Some(span.span_id))
                    .or_default()
                    .push(Node::Message(message));
            }
        }
        if let Some(trace) = &group.trace {
            for message in &trace.messages {
                children.entry(None).or_default().push(Node::Message(message));
            }
        }
        for message in &group.messages {
            children
                .entry(under(Some(message.span_id)))
                .or_default()
                .push(Node::Message(message));
        }
        for signal in &group.signals {
            children
                .entry(under(signal.span_id))
                .or_default()
                .push(Node::Signal(signal));
        }
        for feedback in &group.feedback {
            children
                .entry(under(feedback.span_id))
                .or_default()
                .push(Node::Feedback(feedback));
        }
        for nodes in children.values_mut() {
            nodes.sort_by_key(Node::time);
        }
        Self {
            children,
            spans: &group.spans,
        }
    }
}

/// Appends the lines of `tree` (not the trace's own header line) to `out`. Spans in a
/// parent cycle, reachable from nowhere, are drawn at the top level after the rest.
pub fn draw(tree: &TraceTree<'_>, paint: &impl Paint, out: &mut String) {
    let mut drawn = HashSet::new();
    draw_children(None, tree, &mut drawn, "", 0, paint, out);
    let stranded: Vec<&SpanRecord> = tree.spans.iter().filter(|s| !drawn.contains(&s.span_id)).collect();
    for (index, span) in stranded.iter().enumerate() {
        let (branch, continuation) = guides(index + 1 == stranded.len());
        let _ = writeln!(out, "{}{}", paint.paint("2", branch), paint.line(&Node::Span(span)));
        paint.details(span, &paint.paint("2", continuation), out);
    }
}

/// The guide before a node, and the one that continues below it.
fn guides(last: bool) -> (&'static str, &'static str) {
    if last {
        ("└─ ", "   ")
    } else {
        ("├─ ", "│  ")
    }
}

fn draw_children(
    parent: Option<SpanId>,
    tree: &TraceTree<'_>,
    drawn: &mut HashSet<SpanId>,
    prefix: &str,
    depth: usize,
    paint: &impl Paint,
    out: &mut String,
) {
    let Some(nodes) = tree.children.get(&parent) else {
        return;
    };
    for (index, node) in nodes.iter().enumerate() {
        let (branch, continuation) = guides(index + 1 == nodes.len());
        if let Node::Span(span) = node {
            if !drawn.insert(span.span_id) {
                continue;
            }
        }
        let _ = writeln!(out, "{prefix}{}{}", paint.paint("2", branch), paint.line(node));
        let Node::Span(span) = node else { continue };
        let child_prefix = format!("{prefix}{}", paint.paint("2", continuation));
        paint.details(span, &child_prefix, out);
        if depth + 1 < MAX_DEPTH {
            draw_children(Some(span.span_id), tree, drawn, &child_prefix, depth + 1, paint, out);
        } else if tree.children.contains_key(&Some(span.span_id)) {
            let _ = writeln!(out, "{child_prefix}└─ {}", paint.paint("2", "… (nested deeper)"));
        }
    }
}

/// A span's usage as ` tokens in=812 out=64 cached=512 $0.000420` (the tokens dim, the
/// cost in yellow); empty when nothing is known.
pub fn usage_text(usage: &Usage, paint: &impl Paint) -> String {
    let mut tokens = String::new();
    for (label, value) in [
        ("in", usage.input_tokens),
        ("out", usage.output_tokens),
        ("cached", usage.cached_tokens),
        ("cache_write", usage.cache_write_tokens),
        ("reasoning", usage.reasoning_tokens),
    ] {
        if let Some(value) = value {
            let _ = write!(tokens, " {label}={value}");
        }
    }
    let mut text = String::new();
    if !tokens.is_empty() {
        let _ = write!(text, " {}", paint.paint("2", &format!("tokens{tokens}")));
    }
    if let Some(cost) = usage.cost_usd {
        let _ = write!(text, " {}", paint.paint("33", &format!("${cost:.6}")));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::ids::TraceId;
    use crate::record::{SpanKind, Status};

    /// Lines named after the span, nothing else.
    struct Names;

    impl Paint for Names {
        fn line(&self, node: &Node<'_>) -> String {
            match node {
                Node::Span(span) => span.name.to_string(),
                _ => "other".to_owned(),
            }
        }
    }

    fn id(n: u64) -> SpanId {
        SpanId::from_u64(n).unwrap_or_else(SpanId::random)
    }

    fn span(n: u64, parent: Option<u64>) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::from_u128(1).unwrap_or_else(TraceId::random),
            span_id: id(n),
            parent_span_id: parent.map(id),
            kind: SpanKind::Span,
            name: Cow::Owned(format!("s{n}")),
            start_time_unix_nano: n,
            end_time_unix_nano: n,
            latency_ns: 0,
            status: Status::Ok,
            error: None,
            model: None,
            provider: None,
            usage: None,
            request: None,
            response: None,
            input: None,
            output: None,
            documents: Vec::new(),
            attributes: Default::default(),
            messages: Vec::new(),
            events: Vec::new(),
            scope: None,
        }
    }

    fn drawn(spans: Vec<SpanRecord>) -> String {
        let mut group = TraceGroup::new(TraceId::from_u128(1).unwrap_or_else(TraceId::random));
        group.spans = spans;
        let mut out = String::new();
        draw(&TraceTree::new(&group), &Names, &mut out);
        out
    }

    #[test]
    fn spans_nest_under_their_parents_in_time_order_and_unknown_parents_hang_at_the_top() {
        let text = drawn(vec![
            span(3, Some(1)),
            span(1, Some(99)),
            span(2, Some(1)),
            span(4, None),
        ]);
        assert_eq!(text, "├─ s1\n│  ├─ s2\n│  └─ s3\n└─ s4\n");
    }

    #[test]
    fn spans_in_a_parent_cycle_are_drawn_at_the_top_after_the_rest() {
        let text = drawn(vec![span(1, Some(2)), span(2, Some(1)), span(3, None)]);
        assert_eq!(text, "└─ s3\n├─ s1\n└─ s2\n");
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_summarised_and_the_deeper_spans_listed_at_the_top() {
        let chain = (1..=MAX_DEPTH as u64 + 3)
            .map(|n| span(n, (n > 1).then(|| n - 1)))
            .collect();
        let text = drawn(chain);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), MAX_DEPTH + 1 + 3, "{text}");
        assert!(lines[MAX_DEPTH].ends_with("└─ … (nested deeper)"), "{text}");
        assert_eq!(lines[MAX_DEPTH + 1..], ["├─ s65", "├─ s66", "└─ s67"], "{text}");
    }

    #[test]
    fn usage_text_shows_cache_reads_and_cache_writes() {
        let usage = Usage {
            input_tokens: Some(3372),
            output_tokens: Some(187),
            cached_tokens: Some(3120),
            cache_write_tokens: Some(210),
            ..Usage::default()
        };
        assert_eq!(
            usage_text(&usage, &Names),
            " tokens in=3372 out=187 cached=3120 cache_write=210"
        );
    }
}
