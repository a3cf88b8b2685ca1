//! The exporter thread's memory of the traces it exported last, so that feedback given
//! after a trace ended (`Client::feedback` with the trace id) carries the trace's scope
//! (name, user, session) and its root span, as feedback made during the trace does.
//! Bounded: the oldest trace is forgotten first.

use std::sync::Arc;

use crate::ids::{SpanId, TraceId};
use crate::record::{Record, TraceScope};

/// How many finished traces the exporter thread remembers.
pub(crate) const RECENT_TRACES: usize = 4096;

/// The root span and scope of the last [`RECENT_TRACES`] traces, in a ring: remembering
/// one is a write in place (a hash map's insert and eviction were a fifth of the exporter
/// thread's time on traces of two spans), and only feedback given after its trace ended,
/// which is rare, pays for a search.
#[derive(Default)]
pub(crate) struct RecentTraces {
    ring: Vec<(TraceId, SpanId, Arc<TraceScope>)>,
    /// The slot the next trace takes once the ring is full (the oldest one).
    next: usize,
}

impl RecentTraces {
    /// Completes the feedback among `records` that lacks its trace's scope or root span,
    /// from the traces remembered (those among `records` were, as they were drained).
    pub(crate) fn complete(&mut self, records: &mut [Record]) {
        for record in records {
            if let Record::Feedback(feedback) = record {
                if feedback.scope.is_some() && feedback.root_span_id.is_some() {
                    continue;
                }
                if let Some((_, root, scope)) = self.ring.iter().find(|(id, _, _)| *id == feedback.trace_id) {
                    feedback.root_span_id.get_or_insert(*root);
                    feedback.scope.get_or_insert_with(|| Arc::clone(scope));
                }
            }
        }
    }

    /// Remembers a trace's root span and scope, in place of the oldest past the bound;
    /// returns the scope of the trace forgotten (for the caller to drop where it was
    /// allocated). When the oldest trace had the same scope (traces with nothing but a
    /// name share theirs), only the ids are written: the scope's reference count, which
    /// the program's thread also changes, is not touched here.
    pub(crate) fn remember(
        &mut self,
        trace_id: TraceId,
        root: SpanId,
        scope: &Arc<TraceScope>,
    ) -> Option<Arc<TraceScope>> {
        if self.ring.len() < RECENT_TRACES {
            self.ring.push((trace_id, root, Arc::clone(scope)));
            return None;
        }
        let slot = self.ring.get_mut(self.next)?;
        self.next = (self.next + 1) % RECENT_TRACES;
        if Arc::ptr_eq(&slot.2, scope) {
            (slot.0, slot.1) = (trace_id, root);
            return None;
        }
        Some(std::mem::replace(slot, (trace_id, root, Arc::clone(scope))).2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FeedbackRecord;

    fn feedback(trace_id: TraceId) -> Record {
        Record::Feedback(FeedbackRecord {
            trace_id,
            span_id: None,
            root_span_id: None,
            time_unix_nano: 1,
            name: "thumbs".into(),
            value: true.into(),
            comment: None,
            scope: None,
        })
    }

    fn scope(name: &'static str) -> Arc<TraceScope> {
        Arc::new(TraceScope {
            name: name.into(),
            user_id: Some("u1".into()),
            session_id: None,
            conversation_id: None,
            external_trace_id: None,
            context: None,
        })
    }

    #[test]
    fn the_oldest_trace_is_forgotten_first() {
        let mut recent = RecentTraces::default();
        let ids: Vec<TraceId> = (0..=RECENT_TRACES).map(|_| TraceId::random()).collect();
        for id in &ids {
            recent.remember(*id, SpanId::random(), &scope("t"));
        }
        assert_eq!(recent.ring.len(), RECENT_TRACES);
        let mut records = vec![feedback(ids[0]), feedback(ids[1])];
        recent.complete(&mut records);
        let Record::Feedback(forgotten) = &records[0] else {
            unreachable!()
        };
        let Record::Feedback(kept) = &records[1] else {
            unreachable!()
        };
        assert_eq!(forgotten.scope, None);
        assert_eq!(kept.scope.as_ref().map(|s| s.name.as_ref()), Some("t"));
        assert!(kept.root_span_id.is_some());
    }

    #[test]
    fn traces_sharing_a_scope_are_remembered_without_cloning_it_again() {
        let mut recent = RecentTraces::default();
        let shared = scope("shared");
        let ids: Vec<TraceId> = (0..RECENT_TRACES + 2).map(|_| TraceId::random()).collect();
        for id in &ids {
            assert!(recent.remember(*id, SpanId::random(), &shared).is_none());
        }
        // One reference per slot, none more for the traces that took a slot over.
        assert_eq!(Arc::strong_count(&shared), 1 + RECENT_TRACES);
        let mut records = vec![feedback(ids[1]), feedback(ids[RECENT_TRACES + 1])];
        recent.complete(&mut records);
        let (Record::Feedback(forgotten), Record::Feedback(kept)) = (&records[0], &records[1]) else {
            unreachable!()
        };
        assert_eq!(forgotten.scope, None);
        assert_eq!(kept.scope.as_ref().map(|s| s.name.as_ref()), Some("shared"));
        assert!(kept.root_span_id.is_some());
    }

    #[test]
    fn feedback_that_names_its_scope_keeps_it() {
        let mut recent = RecentTraces::default();
        let id = TraceId::random();
        recent.remember(id, SpanId::random(), &scope("remembered"));
        let mut records = vec![feedback(id)];
        if let Record::Feedback(f) = &mut records[0] {
            f.scope = Some(scope("own"));
        }
        recent.complete(&mut records);
        let Record::Feedback(f) = &records[0] else {
            unreachable!()
        };
        assert_eq!(f.scope.as_ref().map(|s| s.name.as_ref()), Some("own"));
        assert!(f.root_span_id.is_some());
    }
}
