//! [`OpenAiAccumulator`]: Chat Completions chunks and Responses API events.

use serde::Serialize;
use serde_json::Value;

use super::accumulator::{json_accumulator, str_of, Assembly, StreamAccumulator};
use crate::llm::call::response_info_from_openai;
use crate::record::{Content, ResponseInfo, Usage};
use crate::usage::usage_from_openai;

/// Assembles OpenAI streams: Chat Completions chunks (`choices[].delta.content`,
/// `choices[].delta.tool_calls`, and the final chunk's `usage` when the request set
/// `stream_options.include_usage`) and Responses API events
/// (`response.output_text.delta`, `response.function_call_arguments.delta`,
/// `response.output_item.done`, and `response.completed` with the usage). The response's
/// id, model and finish reasons come from the chunks' `id`, `model` and each choice's
/// `finish_reason`, or from the response the Responses events carry (see
/// [`response_info_from_openai`](crate::response_info_from_openai)).
///
/// ```
/// use mv37_runtime::{OpenAiAccumulator, StreamAccumulator};
///
/// let mut acc = OpenAiAccumulator::new();
/// acc.push(&serde_json::json!({ "choices": [{ "index": 0, "delta": { "content": "Hel" } }] }));
/// acc.push(&serde_json::json!({ "choices": [{ "index": 0, "delta": { "content": "lo" } }] }));
/// assert_eq!(acc.output(), Some(serde_json::json!("Hello")));
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenAiAccumulator {
    assembly: Assembly,
    /// Chat Completions finish reasons by choice index, as their chunks arrive.
    choice_reasons: Vec<(u64, String)>,
}

impl OpenAiAccumulator {
    fn push_value(&mut self, chunk: &Value) -> bool {
        match str_of(chunk, "type") {
            Some(kind) if kind.starts_with("response.") => self.push_responses_event(kind, chunk),
            _ => self.push_chat_chunk(chunk),
        }
    }

    fn push_chat_chunk(&mut self, chunk: &Value) -> bool {
        let assembly = &mut self.assembly;
        assembly.note_response(str_of(chunk, "id"), str_of(chunk, "model"));
        if chunk.get("usage").is_some_and(Value::is_object) {
            assembly.usage = Some(usage_from_openai(chunk));
        }
        let mut produced = false;
        let choices = chunk
            .get("choices")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for choice in choices {
            if let Some(reason) = str_of(choice, "finish_reason") {
                let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
                match self.choice_reasons.iter_mut().find(|(i, _)| *i == index) {
                    Some((_, recorded)) => reason.clone_into(recorded),
                    None => self.choice_reasons.push((index, reason.to_owned())),
                }
                self.choice_reasons.sort_by_key(|(index, _)| *index);
                assembly.response.finish_reasons = self.choice_reasons.iter().map(|(_, r)| r.clone()).collect();
            }
        }
        // The first choice is the response; `n > 1` streams interleave others.
        for choice in choices
            .iter()
            .filter(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        {
            let Some(delta) = choice.get("delta") else {
                continue;
            };
            if let Some(text) = str_of(delta, "content").filter(|t| !t.is_empty()) {
                assembly.text.push_str(text);
                produced = true;
            }
            for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                let key = call.get("index").and_then(Value::as_u64).unwrap_or(0).to_string();
                let draft = assembly.tool_call(key);
                if let Some(id) = str_of(call, "id") {
                    draft.id = id.to_owned();
                }
                if let Some(function) = call.get("function") {
                    if let Some(name) = str_of(function, "name") {
                        draft.name.push_str(name);
                    }
                    if let Some(arguments) = str_of(function, "arguments") {
                        draft.arguments.push_str(arguments);
                    }
                }
                produced = true;
            }
        }
        produced
    }

    fn push_responses_event(&mut self, kind: &str, event: &Value) -> bool {
        let assembly = &mut self.assembly;
        match kind {
            "response.output_text.delta" | "response.refusal.delta" => match str_of(event, "delta") {
                Some(delta) if !delta.is_empty() => {
                    assembly.text.push_str(delta);
                    true
                }
                _ => false,
            },
            "response.function_call_arguments.delta" => {
                let key = str_of(event, "item_id").unwrap_or_default().to_owned();
                if let Some(delta) = str_of(event, "delta") {
                    assembly.tool_call(key).arguments.push_str(delta);
                }
                true
            }
            "response.output_item.added" | "response.output_item.done" => {
                let Some(item) = event.get("item").filter(|i| str_of(i, "type") == Some("function_call")) else {
                    return false;
                };
                let key = str_of(item, "id").unwrap_or_default().to_owned();
                let draft = assembly.tool_call(key);
                if let Some(id) = str_of(item, "call_id") {
                    draft.id = id.to_owned();
                }
                if let Some(name) = str_of(item, "name") {
                    draft.name = name.to_owned();
                }
                if let Some(arguments) = str_of(item, "arguments").filter(|a| !a.is_empty()) {
                    draft.arguments = arguments.to_owned();
                }
                false
            }
            "response.created"
            | "response.in_progress"
            | "response.completed"
            | "response.incomplete"
            | "response.failed" => {
                if let Some(response) = event.get("response") {
                    let mut info = response_info_from_openai(response);
                    // A completed response that called a function ended for a tool call,
                    // even when the event leaves its output out (the stream had it).
                    if info.finish_reasons == ["stop"] && !assembly.tool_calls.is_empty() {
                        info.finish_reasons = vec!["tool_calls".to_owned()];
                    }
                    assembly.response.merge(info);
                    if response.get("usage").is_some_and(Value::is_object) {
                        assembly.usage = Some(usage_from_openai(response));
                    }
                }
                false
            }
            _ => false,
        }
    }
}

json_accumulator!(OpenAiAccumulator);
