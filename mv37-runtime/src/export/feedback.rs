//! Feedback as each backend's own feedback object: Phoenix annotations, MLflow
//! assessments, Langfuse scores. The OTLP export carries feedback as
//! `gen_ai.evaluation.result` span events, which no backend lists as feedback; this
//! exporter sends the same feedback (and signals) through the backend's REST API, on the
//! exporter thread, with the retrying HTTP transport and the pipeline's accounting.
//!
//! It runs after the OTLP exporter in the same batch (the backend must know the trace
//! first): Phoenix takes annotations asynchronously and attaches them once the spans are
//! stored; MLflow stores OTLP spans before it answers, then takes assessments.

#[cfg(feature = "transport")]
use serde_json::{json, Map, Value};

#[cfg(feature = "transport")]
use crate::ids::{SpanId, TraceId};
#[cfg(feature = "transport")]
use crate::record::{FeedbackRecord, Record, SignalRecord};

/// Which backend's feedback API [`FeedbackConfig`] sends to (`MV37_FEEDBACK_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackBackend {
    /// Arize Phoenix: span annotations (`POST /v1/span_annotations`) and trace
    /// annotations (`POST /v1/trace_annotations`).
    Phoenix,
    /// MLflow: assessments (`POST /api/3.0/mlflow/traces/{trace_id}/assessments`).
    Mlflow,
    /// Langfuse: scores (`POST /api/public/scores`).
    Langfuse,
}

impl FeedbackBackend {
    /// Every backend, by the name `MV37_FEEDBACK_BACKEND` takes.
    pub const ALL: [(&'static str, FeedbackBackend); 3] = [
        ("phoenix", FeedbackBackend::Phoenix),
        ("mlflow", FeedbackBackend::Mlflow),
        ("langfuse", FeedbackBackend::Langfuse),
    ];

    /// The backend named `name` (case-insensitive), if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, backend)| *backend)
    }

    /// The backend's name as `MV37_FEEDBACK_BACKEND` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phoenix => "phoenix",
            Self::Mlflow => "mlflow",
            Self::Langfuse => "langfuse",
        }
    }

    /// The base URL of the backend's REST API derived from its OTLP traces endpoint: the
    /// endpoint without `/v1/traces` (Phoenix, MLflow) or `/api/public/otel/v1/traces`
    /// (Langfuse).
    pub fn base_from_otlp_endpoint(self, traces_url: &str) -> String {
        let url = traces_url.trim_end_matches('/');
        let url = url.strip_suffix("/v1/traces").unwrap_or(url);
        let url = match self {
            Self::Langfuse => url.strip_suffix("/api/public/otel").unwrap_or(url),
            Self::Phoenix | Self::Mlflow => url,
        };
        url.trim_end_matches('/').to_owned()
    }
}

#[cfg(feature = "transport")]
/// One REST call the exporter makes: a path under the base URL and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FeedbackCall {
    pub(crate) path: String,
    pub(crate) body: Value,
}

#[cfg(feature = "transport")]
/// What one feedback or signal says, whichever record it came from.
struct Verdict<'a> {
    trace_id: TraceId,
    /// The span it is about; `None`: the whole trace.
    span_id: Option<SpanId>,
    time_unix_nano: u64,
    name: &'a str,
    value: &'a Value,
    comment: Option<&'a str>,
    /// Given by a person (feedback) rather than by code (a signal).
    human: bool,
}

#[cfg(feature = "transport")]
impl<'a> Verdict<'a> {
    fn of_feedback(feedback: &'a FeedbackRecord) -> Self {
        Self {
            trace_id: feedback.trace_id,
            span_id: feedback.span_id,
            time_unix_nano: feedback.time_unix_nano,
            name: &feedback.name,
            value: &feedback.value,
            comment: feedback.comment.as_deref(),
            human: true,
        }
    }

    fn of_signal(signal: &'a SignalRecord) -> Self {
        Self {
            trace_id: signal.trace_id,
            span_id: signal.span_id,
            time_unix_nano: signal.time_unix_nano,
            name: &signal.name,
            value: &signal.value,
            comment: None,
            human: false,
        }
    }

    /// A number as the score (a boolean as 1 or 0), anything else as the label.
    fn score(&self) -> Option<f64> {
        match self.value {
            Value::Number(number) => number.as_f64(),
            Value::Bool(flag) => Some(if *flag { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    fn label(&self) -> Option<String> {
        match self.value {
            Value::Number(_) | Value::Null => None,
            Value::Bool(flag) => Some(flag.to_string()),
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }

    /// Stable across retries and re-sends, distinct for two verdicts of one name.
    fn identifier(&self) -> String {
        format!("mv37-{}-{}", self.name, self.time_unix_nano)
    }
}

#[cfg(feature = "transport")]
/// The calls that deliver the batch's feedback and signals to `backend`, in order.
pub(crate) fn feedback_calls(backend: FeedbackBackend, batch: &[Record]) -> Vec<FeedbackCall> {
    let verdicts = batch.iter().filter_map(|record| match record {
        Record::Feedback(feedback) => Some(Verdict::of_feedback(feedback)),
        Record::Signal(signal) => Some(Verdict::of_signal(signal)),
        _ => None,
    });
    match backend {
        FeedbackBackend::Phoenix => phoenix_calls(verdicts),
        FeedbackBackend::Mlflow => verdicts.map(|v| mlflow_call(&v)).collect(),
        FeedbackBackend::Langfuse => verdicts.map(|v| langfuse_call(&v)).collect(),
    }
}

#[cfg(feature = "transport")]
/// Phoenix: one request for the span annotations and one for the trace annotations.
/// Annotations are upserted by name, target and `identifier`, so a re-send does not
/// duplicate them.
fn phoenix_calls<'a>(verdicts: impl Iterator<Item = Verdict<'a>>) -> Vec<FeedbackCall> {
    let (mut spans, mut traces) = (Vec::new(), Vec::new());
    for verdict in verdicts {
        let mut result = Map::new();
        if let Some(score) = verdict.score() {
            result.insert("score".into(), json!(score));
        }
        if let Some(label) = verdict.label() {
            result.insert("label".into(), json!(label));
        }
        if let Some(comment) = verdict.comment {
            result.insert("explanation".into(), json!(comment));
        }
        if result.is_empty() {
            // Phoenix wants a score, a label or an explanation: a null value says "null".
            result.insert("label".into(), json!("null"));
        }
        let mut annotation = json!({
            "name": verdict.name,
            "annotator_kind": if verdict.human { "HUMAN" } else { "CODE" },
            "result": result,
            "metadata": { "source": "mv37" },
            "identifier": verdict.identifier(),
        });
        match verdict.span_id {
            Some(span_id) => {
                annotation["span_id"] = json!(span_id.to_string());
                spans.push(annotation);
            }
            None => {
                annotation["trace_id"] = json!(verdict.trace_id.to_string());
                traces.push(annotation);
            }
        }
    }
    let mut calls = Vec::new();
    if !spans.is_empty() {
        calls.push(FeedbackCall {
            path: "/v1/span_annotations".into(),
            body: json!({ "data": spans }),
        });
    }
    if !traces.is_empty() {
        calls.push(FeedbackCall {
            path: "/v1/trace_annotations".into(),
            body: json!({ "data": traces }),
        });
    }
    calls
}

#[cfg(feature = "transport")]
/// MLflow: an assessment of kind feedback on the trace (`tr-` and the OTLP trace id), on
/// the span when there is one; the value as given.
fn mlflow_call(verdict: &Verdict<'_>) -> FeedbackCall {
    let trace_id = format!("tr-{}", verdict.trace_id);
    let mut assessment = json!({
        "assessment_name": verdict.name,
        "trace_id": trace_id,
        "source": {
            "source_type": if verdict.human { "HUMAN" } else { "CODE" },
            "source_id": "mv37",
        },
        "feedback": { "value": verdict.value },
    });
    if let Some(span_id) = verdict.span_id {
        assessment["span_id"] = json!(span_id.to_string());
    }
    if let Some(comment) = verdict.comment {
        assessment["rationale"] = json!(comment);
    }
    FeedbackCall {
        path: format!("/api/3.0/mlflow/traces/{trace_id}/assessments"),
        body: json!({ "assessment": assessment }),
    }
}

#[cfg(feature = "transport")]
/// Langfuse: a score on the trace (and observation), numeric, boolean or categorical,
/// with a stable id so that a re-send updates it instead of adding another.
fn langfuse_call(verdict: &Verdict<'_>) -> FeedbackCall {
    let (value, data_type) = match verdict.value {
        Value::Bool(flag) => (json!(if *flag { 1 } else { 0 }), "BOOLEAN"),
        Value::Number(number) => (json!(number), "NUMERIC"),
        Value::String(text) => (json!(text), "CATEGORICAL"),
        other => (json!(other.to_string()), "CATEGORICAL"),
    };
    let mut score = json!({
        "id": format!("{}-{}", verdict.trace_id, verdict.identifier()),
        "traceId": verdict.trace_id.to_string(),
        "name": verdict.name,
        "value": value,
        "dataType": data_type,
        "source": if verdict.human { "ANNOTATION" } else { "API" },
    });
    if let Some(span_id) = verdict.span_id {
        score["observationId"] = json!(span_id.to_string());
    }
    if let Some(comment) = verdict.comment {
        score["comment"] = json!(comment);
    }
    FeedbackCall {
        path: "/api/public/scores".into(),
        body: json!(score),
    }
}

#[cfg(feature = "transport")]
pub use exporter::FeedbackExporter;

#[cfg(feature = "transport")]
mod exporter {
    use std::time::Instant;

    use reqwest::header::HeaderMap;
    use secrecy::SecretString;

    use super::{feedback_calls, FeedbackBackend};
    use crate::export::http::{HttpTransport, Request};
    use crate::export::net::RetryPolicy;
    use crate::export::{ExportError, Exporter};
    use crate::record::Record;

    /// Sends every batch's feedback and signals to a backend's feedback API (see
    /// [`FeedbackBackend`]); other records are left to the other exporters.
    pub struct FeedbackExporter {
        backend: FeedbackBackend,
        base_url: String,
        headers: HeaderMap,
        transport: HttpTransport,
    }

    impl std::fmt::Debug for FeedbackExporter {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("FeedbackExporter")
                .field("backend", &self.backend)
                .field("base_url", &self.base_url)
                .field("headers", &self.headers.keys().collect::<Vec<_>>())
                .finish()
        }
    }

    impl FeedbackExporter {
        /// An exporter sending to `backend` at `base_url` (the REST API's root, such as
        /// `http://localhost:6006`), with `headers` (credentials) on every request.
        pub fn new(
            backend: FeedbackBackend,
            base_url: &str,
            headers: &[(String, SecretString)],
            retry: RetryPolicy,
        ) -> Result<Self, crate::config::error::ConfigError> {
            crate::config::error::check_url("MV37_FEEDBACK_ENDPOINT", base_url)?;
            let headers = crate::export::http::header_map(headers)
                .map_err(|error| crate::config::error::entry_error("feedback headers", error))?;
            Ok(Self {
                backend,
                base_url: base_url.trim_end_matches('/').to_owned(),
                headers,
                transport: HttpTransport::new("feedback", retry),
            })
        }
    }

    impl Exporter for FeedbackExporter {
        fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
            for call in feedback_calls(self.backend, batch) {
                let body = serde_json::to_vec(&call.body)
                    .map_err(|e| ExportError::new("feedback", format!("cannot encode: {e}")))?;
                self.transport.send(&Request {
                    url: &format!("{}{}", self.base_url, call.path),
                    body: &body,
                    content_type: "application/json",
                    gzip: false,
                    headers: &self.headers,
                })?;
            }
            Ok(())
        }

        fn set_deadline(&mut self, deadline: Instant) {
            self.transport.set_deadline(deadline);
        }
    }
}

#[cfg(all(test, feature = "transport"))]
mod tests {
    use super::*;

    fn feedback(span_id: Option<SpanId>, value: Value, comment: Option<&str>) -> Record {
        Record::Feedback(FeedbackRecord {
            trace_id: "0af7651916cd43dd8448eb211c80319c".parse().expect("hex"),
            span_id,
            root_span_id: None,
            time_unix_nano: 7,
            name: "thumbs".into(),
            value,
            comment: comment.map(str::to_owned),
            scope: None,
        })
    }

    #[test]
    fn the_rest_api_root_is_the_otlp_endpoint_without_its_traces_path() {
        let phoenix = FeedbackBackend::Phoenix.base_from_otlp_endpoint("http://127.0.0.1:6006/v1/traces");
        assert_eq!(phoenix, "http://127.0.0.1:6006");
        let langfuse =
            FeedbackBackend::Langfuse.base_from_otlp_endpoint("https://cloud.langfuse.com/api/public/otel/v1/traces");
        assert_eq!(langfuse, "https://cloud.langfuse.com");
        let custom = FeedbackBackend::Mlflow.base_from_otlp_endpoint("http://mlflow:5000/");
        assert_eq!(custom, "http://mlflow:5000");
        assert_eq!(FeedbackBackend::from_name(" MLflow "), Some(FeedbackBackend::Mlflow));
        assert_eq!(FeedbackBackend::from_name("datadog"), None);
    }

    #[test]
    fn phoenix_gets_span_and_trace_annotations_with_score_label_and_explanation() {
        let span = "b7ad6b7169203331".parse::<SpanId>().expect("hex");
        let batch = [
            feedback(Some(span), json!(true), Some("right answer")),
            feedback(None, json!(4), None),
        ];
        let calls = feedback_calls(FeedbackBackend::Phoenix, &batch);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].path, "/v1/span_annotations");
        let annotation = &calls[0].body["data"][0];
        assert_eq!(annotation["span_id"], "b7ad6b7169203331");
        assert_eq!(annotation["annotator_kind"], "HUMAN");
        assert_eq!(
            annotation["result"],
            json!({"score": 1.0, "label": "true", "explanation": "right answer"})
        );
        assert_eq!(calls[1].path, "/v1/trace_annotations");
        assert_eq!(calls[1].body["data"][0]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(calls[1].body["data"][0]["result"], json!({"score": 4.0}));
    }

    #[test]
    fn mlflow_gets_an_assessment_on_its_own_trace_id() {
        let calls = feedback_calls(
            FeedbackBackend::Mlflow,
            &[feedback(None, json!("billing"), Some("why"))],
        );
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0].path,
            "/api/3.0/mlflow/traces/tr-0af7651916cd43dd8448eb211c80319c/assessments"
        );
        let assessment = &calls[0].body["assessment"];
        assert_eq!(assessment["assessment_name"], "thumbs");
        assert_eq!(assessment["feedback"]["value"], "billing");
        assert_eq!(assessment["rationale"], "why");
        assert_eq!(assessment["source"]["source_type"], "HUMAN");
        assert!(assessment.get("span_id").is_none());
    }

    #[test]
    fn langfuse_gets_typed_scores_with_stable_ids() {
        let batch = [
            feedback(None, json!(false), None),
            feedback(None, json!(0.5), Some("ok")),
        ];
        let calls = feedback_calls(FeedbackBackend::Langfuse, &batch);
        assert_eq!(calls[0].body["dataType"], "BOOLEAN");
        assert_eq!(calls[0].body["value"], 0);
        assert_eq!(calls[1].body["dataType"], "NUMERIC");
        assert_eq!(calls[1].body["comment"], "ok");
        assert_eq!(
            calls[0].body["id"],
            feedback_calls(FeedbackBackend::Langfuse, &batch)[0].body["id"]
        );
        assert!(calls.iter().all(|c| c.path == "/api/public/scores"));
    }

    #[test]
    fn spans_traces_and_messages_make_no_calls() {
        assert!(feedback_calls(FeedbackBackend::Phoenix, &[]).is_empty());
    }
}
