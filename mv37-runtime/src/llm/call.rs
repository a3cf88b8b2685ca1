//! Request parameters and response fields read straight off provider requests and
//! responses (OpenAI Chat Completions and Responses, Anthropic Messages), as
//! [`RequestParams`] and [`ResponseInfo`]; usage is read in `crate::usage`.

use serde::Serialize;
use serde_json::Value;

use crate::record::{RequestParams, ResponseInfo};

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn f64_at(value: &Value, key: &str) -> Option<f64> {
    value.get(key).and_then(Value::as_f64)
}

/// A stop parameter: one string or an array of them.
fn strings_at(value: &Value, key: &str) -> Vec<String> {
    match value.get(key) {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Reads the sampling parameters of an OpenAI request, as any `Serialize` (a typed SDK
/// struct or a `serde_json::Value`): `temperature`, `top_p`, `seed`,
/// `frequency_penalty`, `presence_penalty`, `stop` (a string or an array) and the output
/// limit (`max_completion_tokens` or `max_tokens` for Chat Completions,
/// `max_output_tokens` for the Responses API). A field that is absent or `null` stays
/// `None`. The server is not in the request: add it with
/// [`RequestParams::server_url`].
///
/// ```
/// let request = serde_json::json!({
///     "model": "gpt-4.1-mini", "messages": [],
///     "temperature": 0.2, "max_completion_tokens": 512, "stop": "\n\n", "seed": 42
/// });
/// let params = mv37_runtime::request_params_from_openai(&request).server_url("https://api.openai.com/v1");
/// assert_eq!(params.temperature, Some(0.2));
/// assert_eq!(params.max_tokens, Some(512));
/// assert_eq!(params.stop_sequences, ["\n\n"]);
/// assert_eq!(params.server_port, Some(443));
/// ```
pub fn request_params_from_openai<T: Serialize + ?Sized>(request: &T) -> RequestParams {
    serde_json::to_value(request).map_or_else(|_| RequestParams::default(), |request| openai_request_params(&request))
}

/// [`request_params_from_openai`] of a request already in JSON form.
pub(crate) fn openai_request_params(request: &Value) -> RequestParams {
    RequestParams {
        temperature: f64_at(request, "temperature"),
        max_tokens: ["max_completion_tokens", "max_tokens", "max_output_tokens"]
            .iter()
            .find_map(|key| request.get(key).and_then(Value::as_u64)),
        top_p: f64_at(request, "top_p"),
        stop_sequences: strings_at(request, "stop"),
        seed: request.get("seed").and_then(Value::as_i64),
        frequency_penalty: f64_at(request, "frequency_penalty"),
        presence_penalty: f64_at(request, "presence_penalty"),
        ..RequestParams::default()
    }
}

/// Reads the sampling parameters of an Anthropic Messages request, as any `Serialize`:
/// `temperature`, `max_tokens`, `top_p`, `top_k` and `stop_sequences`.
pub fn request_params_from_anthropic<T: Serialize + ?Sized>(request: &T) -> RequestParams {
    serde_json::to_value(request).map_or_else(
        |_| RequestParams::default(),
        |request| anthropic_request_params(&request),
    )
}

/// [`request_params_from_anthropic`] of a request already in JSON form.
pub(crate) fn anthropic_request_params(request: &Value) -> RequestParams {
    RequestParams {
        temperature: f64_at(request, "temperature"),
        max_tokens: request.get("max_tokens").and_then(Value::as_u64),
        top_p: f64_at(request, "top_p"),
        top_k: f64_at(request, "top_k"),
        stop_sequences: strings_at(request, "stop_sequences"),
        ..RequestParams::default()
    }
}

/// Reads the id, model and finish reasons of an OpenAI response, as any `Serialize`:
///
/// - Chat Completions (a response or a streamed chunk): `id`, `model` and each choice's
///   `finish_reason` (`stop`, `length`, `tool_calls`, `content_filter`), in choice order;
/// - the Responses API (a response, or a streaming event that wraps one, such as
///   `response.completed`): `id`, `model`, and a finish reason made from its `status`,
///   since it reports no reason of its own: `completed` is `tool_calls` when the output
///   calls a function and `stop` otherwise (the words Chat Completions would use),
///   `incomplete` is its `incomplete_details.reason` (`max_output_tokens`,
///   `content_filter`), `failed` is `error`; a response still in progress has none.
///
/// ```
/// let response = serde_json::json!({
///     "id": "chatcmpl-123", "model": "gpt-4.1-mini-2025-04-14",
///     "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hi" }, "finish_reason": "stop" }]
/// });
/// let info = mv37_runtime::response_info_from_openai(&response);
/// assert_eq!(info.id.as_deref(), Some("chatcmpl-123"));
/// assert_eq!(info.finish_reasons, ["stop"]);
/// ```
pub fn response_info_from_openai<T: Serialize + ?Sized>(response: &T) -> ResponseInfo {
    serde_json::to_value(response).map_or_else(|_| ResponseInfo::default(), |value| openai_response_info(&value))
}

/// [`response_info_from_openai`] of a response already in JSON form.
pub(crate) fn openai_response_info(value: &Value) -> ResponseInfo {
    // A streaming event of the Responses API carries the response under `response`.
    let response = match value.get("response") {
        Some(inner) if inner.is_object() && str_at(value, "type").is_some_and(|t| t.starts_with("response.")) => inner,
        _ => value,
    };
    let finish_reasons = match response.get("choices").and_then(Value::as_array) {
        Some(choices) => chat_finish_reasons(choices),
        None => responses_finish_reason(response).into_iter().collect(),
    };
    ResponseInfo {
        id: str_at(response, "id").map(str::to_owned),
        model: str_at(response, "model").map(str::to_owned),
        finish_reasons,
    }
}

/// Each choice's `finish_reason`, in the order of the choices' `index`.
fn chat_finish_reasons(choices: &[Value]) -> Vec<String> {
    let mut reasons: Vec<(u64, &str)> = choices
        .iter()
        .filter_map(|choice| {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            Some((index, str_at(choice, "finish_reason")?))
        })
        .collect();
    reasons.sort_by_key(|(index, _)| *index);
    reasons.into_iter().map(|(_, reason)| reason.to_owned()).collect()
}

/// The finish reason a Responses API response's `status` stands for.
fn responses_finish_reason(response: &Value) -> Option<String> {
    let reason = match str_at(response, "status")? {
        "completed" => {
            let calls_a_tool = response
                .get("output")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|item| matches!(str_at(item, "type"), Some("function_call" | "custom_tool_call")));
            if calls_a_tool {
                "tool_calls"
            } else {
                "stop"
            }
        }
        "incomplete" => response
            .get("incomplete_details")
            .and_then(|details| str_at(details, "reason"))
            .unwrap_or("incomplete"),
        "failed" => "error",
        _ => return None,
    };
    Some(reason.to_owned())
}

/// Reads the id, model and stop reason of an Anthropic Messages response, as any
/// `Serialize`: `id`, `model` and `stop_reason` (`end_turn`, `tool_use`, `max_tokens`,
/// `stop_sequence`, `refusal`…), as the one finish reason. Also reads the streaming
/// events that carry them: `message_start` (id and model) and `message_delta` (the
/// stop reason).
pub fn response_info_from_anthropic<T: Serialize + ?Sized>(response: &T) -> ResponseInfo {
    serde_json::to_value(response).map_or_else(|_| ResponseInfo::default(), |value| anthropic_response_info(&value))
}

/// [`response_info_from_anthropic`] of a response already in JSON form.
pub(crate) fn anthropic_response_info(value: &Value) -> ResponseInfo {
    let message = match value.get("message") {
        Some(inner) if str_at(value, "type") == Some("message_start") => inner,
        _ => value,
    };
    let stop_reason =
        str_at(message, "stop_reason").or_else(|| value.get("delta").and_then(|d| str_at(d, "stop_reason")));
    ResponseInfo {
        id: str_at(message, "id").map(str::to_owned),
        model: str_at(message, "model").map(str::to_owned),
        finish_reasons: stop_reason.map(str::to_owned).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_and_absent_parameters_stay_unset() {
        let params = request_params_from_openai(&json!({
            "temperature": null, "top_p": 1, "max_tokens": 100, "stop": ["a", "b"], "seed": null
        }));
        assert_eq!(params.temperature, None);
        assert_eq!(params.top_p, Some(1.0));
        assert_eq!(params.max_tokens, Some(100));
        assert_eq!(params.stop_sequences, ["a", "b"]);
        assert_eq!(params.seed, None);
        assert!(request_params_from_openai(&"not a request").is_empty());
    }

    #[test]
    fn a_responses_status_becomes_a_finish_reason() {
        let reason = |response: Value| response_info_from_openai(&response).finish_reasons;
        assert_eq!(reason(json!({"status": "completed", "output": []})), ["stop"]);
        assert_eq!(
            reason(json!({"status": "completed", "output": [{"type": "function_call"}]})),
            ["tool_calls"]
        );
        assert_eq!(
            reason(json!({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}})),
            ["max_output_tokens"]
        );
        assert_eq!(reason(json!({"status": "failed"})), ["error"]);
        assert!(reason(json!({"status": "in_progress"})).is_empty());
        let event = json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed"}});
        assert_eq!(response_info_from_openai(&event).id.as_deref(), Some("resp_1"));
    }

    #[test]
    fn chat_finish_reasons_follow_the_choice_index() {
        let info = response_info_from_openai(&json!({"choices": [
            {"index": 1, "finish_reason": "length"},
            {"index": 0, "finish_reason": "stop"},
            {"index": 2, "finish_reason": null}
        ]}));
        assert_eq!(info.finish_reasons, ["stop", "length"]);
    }
}
