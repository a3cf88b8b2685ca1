//! The exporter thread's batch of records, kept after each export so that the next
//! batch's span and trace records are written over the used ones where they lie.
//!
//! A `SpanRecord` is 528 bytes. Pushed into a vector, it is built on the stack and then
//! copied into place (safe Rust cannot build it in the vector's spare room), and a
//! cleared batch drops every field of every record; together these were half of the
//! exporter thread's work per record. Refilling a used record writes each field once
//! and drops only what the old record held.

use crate::record::{Record, SpanRecord, TraceRecord};

/// Records in order, the first `len` of them live; those after were exported and wait
/// to be refilled (or dropped by [`ReusedRecords::release`]).
#[derive(Default)]
pub(crate) struct ReusedRecords {
    records: Vec<Record>,
    len: usize,
}

impl ReusedRecords {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn as_slice(&self) -> &[Record] {
        self.records.get(..self.len).unwrap_or_default()
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [Record] {
        self.records.get_mut(..self.len).unwrap_or_default()
    }

    /// The live records from `start` on.
    pub(crate) fn live_from(&mut self, start: usize) -> &mut [Record] {
        self.records.get_mut(start..self.len).unwrap_or_default()
    }

    /// Room for `additional` more live records.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let spare = self.records.len() - self.len;
        self.records.reserve(additional.saturating_sub(spare));
    }

    /// Appends a record, in place of a used one if there is one.
    pub(crate) fn push(&mut self, record: Record) {
        match self.records.get_mut(self.len) {
            Some(used) => *used = record,
            None => self.records.push(record),
        }
        self.len += 1;
    }

    /// The next used record, as a live one to refill, if it is a span record (it is
    /// whatever the previous batch held at this position).
    #[inline(always)]
    pub(crate) fn refill_span(&mut self) -> Option<&mut SpanRecord> {
        match self.records.get_mut(self.len) {
            Some(Record::Span(used)) => {
                self.len += 1;
                Some(used)
            }
            _ => None,
        }
    }

    /// The next used record, as a live one to refill, if it is a trace record.
    #[inline(always)]
    pub(crate) fn refill_trace(&mut self) -> Option<&mut TraceRecord> {
        match self.records.get_mut(self.len) {
            Some(Record::Trace(used)) => {
                self.len += 1;
                Some(used)
            }
            _ => None,
        }
    }

    /// No record is live any more; their memory is kept for the next batch.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Drops the used records (when the exporter goes idle, so that what a quiet
    /// program's last batch held is not kept).
    pub(crate) fn release(&mut self) {
        self.records.truncate(self.len);
    }

    /// The live records, taken.
    pub(crate) fn into_vec(mut self) -> Vec<Record> {
        self.release();
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::ids::{SpanId, TraceId};
    use crate::payload::Payload;
    use crate::pipeline::{Chunk, Item};
    use crate::progress::{Extras, KindCode, Progress, SpanState, TraceResource, TraceState};
    use crate::record::{
        Attributes, Content, DocumentRecord, ErrorInfo, EventRecord, FeedbackRecord, MessageRecord, Role, SpanKind,
        Status, TraceScope, Usage,
    };

    fn span(name: &'static str) -> Record {
        let state = SpanState {
            parent: SpanId::random(),
            kind: KindCode::Task,
            name: name.into(),
            progress: Progress::new(fastant::Instant::now(), None),
        };
        Record::Span(state.into_record(TraceId::random(), SpanId::random(), None))
    }

    fn feedback() -> Record {
        Record::Feedback(FeedbackRecord {
            trace_id: TraceId::random(),
            span_id: None,
            root_span_id: None,
            time_unix_nano: 0,
            name: "score".to_owned(),
            value: serde_json::json!(1),
            comment: None,
            scope: None,
        })
    }

    fn names(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|record| match record {
                Record::Span(span) => span.name.to_string(),
                _ => "other".to_owned(),
            })
            .collect()
    }

    #[test]
    fn cleared_records_are_not_live_and_are_refilled_in_order() {
        let mut records = ReusedRecords::default();
        records.push(span("a"));
        records.push(feedback());
        records.push(span("c"));
        assert_eq!(names(records.as_slice()), ["a", "other", "c"]);
        records.clear();
        assert!(records.is_empty());
        assert!(records.as_slice().is_empty(), "used records are not handed out as live");
        let first = records.refill_span().expect("a used span record at 0");
        first.name = "x".into();
        first.status = Status::Error;
        assert!(records.refill_span().is_none(), "position 1 held feedback");
        records.push(span("y"));
        assert_eq!(names(records.as_slice()), ["x", "y"]);
        assert_eq!(records.len(), 2);
        assert_eq!(names(records.live_from(1)), ["y"]);
        records.release();
        assert_eq!(
            records.into_vec().len(),
            2,
            "the used record after the live ones is dropped"
        );
    }

    /// The items of one trace: a span and the trace, both bare (or with an input and
    /// output only, when `payloads`) or both carrying every field a record can have.
    fn trace_items(rich: bool, start: fastant::Instant, scope: Option<&Arc<TraceScope>>, ids: Ids) -> Chunk {
        trace_items_with(rich, false, start, scope, ids)
    }

    fn trace_items_with(
        rich: bool,
        payloads: bool,
        start: fastant::Instant,
        scope: Option<&Arc<TraceScope>>,
        ids: Ids,
    ) -> Chunk {
        let Ids {
            trace_id,
            root,
            span_id,
            remote,
        } = ids;
        let extras = || {
            if payloads && !rich {
                return Some(Box::new(Extras {
                    input: Some(Payload::trusted("\"in\"")),
                    output: Some(Payload::trusted("\"out\"")),
                    ..Extras::default()
                }));
            }
            rich.then(|| {
                Box::new(Extras {
                    error: Some(ErrorInfo {
                        message: "boom".into(),
                        error_type: Some("E".into()),
                    }),
                    model: Some("m".into()),
                    provider: Some("p".into()),
                    usage: Some(Usage {
                        input_tokens: Some(3),
                        ..Usage::default()
                    }),
                    request: Some(Box::default()),
                    response: Some(Box::default()),
                    input: Some(Payload::trusted("1")),
                    output: Some(Payload::trusted("2")),
                    documents: vec![DocumentRecord {
                        id: Some("d".into()),
                        content: None,
                        score: Some(0.5),
                        metadata: None,
                    }],
                    attributes: [("a".to_owned(), serde_json::json!(1))].into_iter().collect(),
                    messages: vec![MessageRecord {
                        trace_id,
                        span_id,
                        time_unix_nano: 1,
                        role: Role::User,
                        content: Content::Text("hi".into()),
                        tool_call_id: None,
                        is_internal: false,
                        scope: None,
                    }],
                    events: vec![EventRecord {
                        time_unix_nano: 1,
                        name: "e".into(),
                        attributes: Attributes::new(),
                    }],
                    retyped: Some((Some(SpanKind::Llm), Some("renamed".into()))),
                })
            })
        };
        let span = SpanState {
            parent: root,
            kind: KindCode::Tool,
            name: "span".into(),
            progress: Progress::new(start, extras()),
        };
        let trace = TraceState {
            trace_id,
            span_id: root,
            parent: rich.then_some(remote),
            progress: Progress::new(start, extras()),
        };
        let mut chunk = Chunk::with_capacity(2);
        chunk.add(Item::span(span, trace_id, span_id), scope, 0);
        chunk.add(Item::trace(trace), scope, 0);
        chunk
    }

    #[derive(Clone, Copy)]
    struct Ids {
        trace_id: TraceId,
        root: SpanId,
        span_id: SpanId,
        remote: SpanId,
    }

    fn ids() -> Ids {
        Ids {
            trace_id: TraceId::random(),
            root: SpanId::random(),
            span_id: SpanId::random(),
            remote: SpanId::random(),
        }
    }

    fn scope(rich: bool) -> Arc<TraceScope> {
        Arc::new(if rich {
            TraceScope {
                name: "rich".into(),
                user_id: Some("u".into()),
                session_id: Some("s".into()),
                conversation_id: Some("c".into()),
                external_trace_id: Some("x".into()),
                context: Some(Arc::new(
                    [("k".to_owned(), serde_json::json!("v"))].into_iter().collect(),
                )),
            }
        } else {
            TraceScope::default()
        })
    }

    /// Refilling used records gives exactly the records built whole, whatever the used
    /// ones held: nothing of an earlier record survives in a later one.
    #[test]
    fn a_refilled_record_equals_one_built_whole() {
        let resources = [
            TraceResource::default(),
            TraceResource {
                environment: Some("prod".into()),
                release: Some("1.0".into()),
                service_name: Some("svc".into()),
            },
        ];
        let cases = [
            (true, false, true),
            (false, true, true),
            (true, true, true),
            (true, false, false),
        ];
        for (earlier, later, scoped) in cases {
            let start = fastant::Instant::now();
            let later_scope = scoped.then(|| scope(later));
            let mut used = ReusedRecords::default();
            trace_items(earlier, start, Some(&scope(earlier)), ids()).drain_into(
                &mut used,
                &resources[usize::from(earlier)],
                None,
                usize::MAX,
            );
            used.clear();
            let later_ids = ids();
            let mut refilled = trace_items(later, start, later_scope.as_ref(), later_ids);
            let mut fresh = trace_items(later, start, later_scope.as_ref(), later_ids);
            let mut whole = ReusedRecords::default();
            refilled.drain_into(&mut used, &resources[usize::from(later)], None, usize::MAX);
            fresh.drain_into(&mut whole, &resources[usize::from(later)], None, usize::MAX);
            assert_eq!(used.len(), 2);
            assert_eq!(
                used.as_slice(),
                whole.as_slice(),
                "earlier rich: {earlier}, later rich: {later}, later in a scope: {scoped}"
            );
        }
    }

    /// Extras that hold only an input and output travel without their box: the records
    /// get them, refilled or built whole, and nothing else.
    #[test]
    fn an_input_and_output_alone_reach_the_record() {
        let start = fastant::Instant::now();
        let scope = scope(false);
        let mut used = ReusedRecords::default();
        trace_items(true, start, Some(&scope), ids()).drain_into(
            &mut used,
            &TraceResource::default(),
            None,
            usize::MAX,
        );
        used.clear();
        let later = ids();
        trace_items_with(false, true, start, Some(&scope), later).drain_into(
            &mut used,
            &TraceResource::default(),
            None,
            usize::MAX,
        );
        let mut whole = ReusedRecords::default();
        trace_items_with(false, true, start, Some(&scope), later).drain_into(
            &mut whole,
            &TraceResource::default(),
            None,
            usize::MAX,
        );
        assert_eq!(used.as_slice(), whole.as_slice());
        let fields: Vec<_> = whole
            .as_slice()
            .iter()
            .filter_map(|record| match record {
                Record::Span(span) => Some((&span.input, &span.output, &span.attributes)),
                Record::Trace(trace) => Some((&trace.input, &trace.output, &trace.attributes)),
                _ => None,
            })
            .collect();
        assert_eq!(fields.len(), 2, "a span and a trace");
        for (input, output, attributes) in fields {
            assert_eq!(input.as_ref().map(Payload::as_json), Some("\"in\""));
            assert_eq!(output.as_ref().map(Payload::as_json), Some("\"out\""));
            assert!(attributes.is_empty());
        }
        let span = used
            .as_slice()
            .iter()
            .find_map(|record| match record {
                Record::Span(span) => Some(span),
                _ => None,
            })
            .expect("the span");
        assert!(span.model.is_none() && span.usage.is_none() && span.error.is_none());
    }

    /// A chunk appended to another (as a thread's mailbox gathers its traces) drains to
    /// the records each would give alone: its items keep their scopes and payloads.
    #[test]
    fn chunks_appended_one_after_another_drain_as_they_would_alone() {
        let start = fastant::Instant::now();
        let (first_scope, second_scope) = (scope(false), scope(true));
        let (first_ids, second_ids) = (ids(), ids());
        let resource = TraceResource::default();
        let mut together = trace_items_with(false, true, start, Some(&first_scope), first_ids);
        together.take_from(&mut trace_items(true, start, Some(&second_scope), second_ids));
        let mut joined = ReusedRecords::default();
        together.drain_into(&mut joined, &resource, None, usize::MAX);
        let mut apart = ReusedRecords::default();
        trace_items_with(false, true, start, Some(&first_scope), first_ids).drain_into(
            &mut apart,
            &resource,
            None,
            usize::MAX,
        );
        trace_items(true, start, Some(&second_scope), second_ids).drain_into(&mut apart, &resource, None, usize::MAX);
        assert_eq!(joined.len(), 4);
        assert_eq!(joined.as_slice(), apart.as_slice());
    }

    /// A mailbox gathering traces of one scope holds that scope once, and the thread's
    /// gathering chunk keeps its own reference for its next records (which then take
    /// none); the records drain with their scope all the same.
    #[test]
    fn a_chunk_of_the_scope_held_already_keeps_its_reference_and_drains_the_same() {
        let start = fastant::Instant::now();
        let shared = scope(true);
        let all_ids = [ids(), ids(), ids()];
        let resource = TraceResource::default();
        let mut mailbox = trace_items(true, start, Some(&shared), all_ids[0]);
        let mut gathering = trace_items(false, start, Some(&shared), all_ids[1]);
        mailbox.take_from(&mut gathering);
        assert!(gathering.is_empty());
        assert_eq!((mailbox.scope_count(), gathering.scope_count()), (1, 1));
        let references = Arc::strong_count(&shared);
        let mut next_items = trace_items(true, start, Some(&shared), all_ids[2]);
        gathering.take_from(&mut next_items);
        assert_eq!(gathering.scope_count(), 1, "the scope gathered again is not held twice");
        mailbox.take_from(&mut gathering);
        assert_eq!((mailbox.scope_count(), gathering.scope_count()), (1, 1));
        drop(next_items);
        assert_eq!(
            Arc::strong_count(&shared),
            references,
            "one reference per chunk, no more"
        );
        let mut joined = ReusedRecords::default();
        mailbox.drain_into(&mut joined, &resource, None, usize::MAX);
        let mut apart = ReusedRecords::default();
        for (rich, ids) in [(true, all_ids[0]), (false, all_ids[1]), (true, all_ids[2])] {
            trace_items(rich, start, Some(&shared), ids).drain_into(&mut apart, &resource, None, usize::MAX);
        }
        assert_eq!(joined.len(), 6);
        assert_eq!(joined.as_slice(), apart.as_slice());
    }
}
