//! Token usage read straight off provider responses (OpenAI, Anthropic).

use serde::Serialize;
use serde_json::Value;

use crate::record::Usage;

fn field(value: &Value, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_u64()
}

/// The `usage` object of a response, of a streaming event that wraps one (OpenAI's
/// `response.completed` carries `response.usage`, Anthropic's `message_start` carries
/// `message.usage`), or the value itself if it already is one.
fn usage_object(response: &Value) -> &Value {
    fn usage_in(value: &Value) -> Option<&Value> {
        value.get("usage").filter(|u| u.is_object())
    }
    usage_in(response)
        .or_else(|| response.get("response").and_then(usage_in))
        .or_else(|| response.get("message").and_then(usage_in))
        .unwrap_or(response)
}

/// Reads token usage from an OpenAI response: the Responses API (`input_tokens`,
/// `output_tokens`, `input_tokens_details.cached_tokens`,
/// `output_tokens_details.reasoning_tokens`, `total_tokens`) or Chat Completions
/// (`prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`,
/// `completion_tokens_details.reasoning_tokens`). Accepts the whole response or its
/// `usage` object (or a streaming event that carries one, such as `response.completed`
/// or a final Chat Completions chunk), as any `Serialize` value (a typed SDK struct or a
/// `serde_json::Value`). A response without usage gives an empty `Usage`.
///
/// `cached_tokens` is a part of `input_tokens` and `reasoning_tokens` a part of
/// `output_tokens`, as OpenAI reports them; see [`PriceTable`](crate::PriceTable) for cost.
///
/// ```
/// let response = serde_json::json!({
///     "model": "gpt-4.1-mini",
///     "usage": {
///         "input_tokens": 812, "output_tokens": 64, "total_tokens": 876,
///         "input_tokens_details": { "cached_tokens": 512 },
///         "output_tokens_details": { "reasoning_tokens": 16 }
///     }
/// });
/// let usage = mv37_runtime::usage_from_openai(&response);
/// assert_eq!(usage.cached_tokens, Some(512));
/// assert_eq!(usage.reasoning_tokens, Some(16));
/// ```
pub fn usage_from_openai<T: Serialize + ?Sized>(response: &T) -> Usage {
    serde_json::to_value(response).map_or_else(|_| Usage::default(), |response| openai_usage(&response))
}

/// [`usage_from_openai`] of a response already in JSON form.
pub(crate) fn openai_usage(response: &Value) -> Usage {
    let usage = usage_object(response);
    let first = |paths: &[&[&str]]| paths.iter().find_map(|path| field(usage, path));
    Usage {
        input_tokens: first(&[&["input_tokens"], &["prompt_tokens"]]),
        output_tokens: first(&[&["output_tokens"], &["completion_tokens"]]),
        cached_tokens: first(&[
            &["input_tokens_details", "cached_tokens"],
            &["prompt_tokens_details", "cached_tokens"],
        ]),
        reasoning_tokens: first(&[
            &["output_tokens_details", "reasoning_tokens"],
            &["completion_tokens_details", "reasoning_tokens"],
        ]),
        total_tokens: first(&[&["total_tokens"]]),
        ..Usage::default()
    }
    .with_derived_total()
}

/// Reads token usage from an Anthropic Messages response (`input_tokens`,
/// `output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`).
///
/// Anthropic reports the three kinds of prompt tokens apart: its `input_tokens` are only
/// the uncached ones. mv37's [`Usage::input_tokens`] is the whole prompt, as OpenAI's is
/// and as the OpenTelemetry GenAI conventions count it, so it is their sum; the cache
/// reads are also kept as `cached_tokens` and the cache writes as `cache_write_tokens`,
/// so the uncached part is `input_tokens − cached_tokens − cache_write_tokens`. Accepts
/// the whole response, its `usage`, or a streaming event that carries one
/// (`message_start`, `message_delta`). A response without usage gives an empty `Usage`.
///
/// ```
/// let response = serde_json::json!({
///     "usage": { "input_tokens": 20, "output_tokens": 50,
///                "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 30 }
/// });
/// let usage = mv37_runtime::usage_from_anthropic(&response);
/// assert_eq!(usage.input_tokens, Some(1050));
/// assert_eq!(usage.cached_tokens, Some(1000));
/// assert_eq!(usage.cache_write_tokens, Some(30));
/// assert_eq!(usage.total_tokens, Some(1100));
/// ```
pub fn usage_from_anthropic<T: Serialize + ?Sized>(response: &T) -> Usage {
    serde_json::to_value(response).map_or_else(|_| Usage::default(), |response| anthropic_usage(&response))
}

/// [`usage_from_anthropic`] of a response already in JSON form.
pub(crate) fn anthropic_usage(response: &Value) -> Usage {
    let usage = usage_object(response);
    let uncached = field(usage, &["input_tokens"]);
    let cache_read = field(usage, &["cache_read_input_tokens"]);
    let cache_write = field(usage, &["cache_creation_input_tokens"]);
    let input = if uncached.is_some() || cache_read.is_some() || cache_write.is_some() {
        Some(
            uncached
                .unwrap_or(0)
                .saturating_add(cache_read.unwrap_or(0))
                .saturating_add(cache_write.unwrap_or(0)),
        )
    } else {
        None
    };
    Usage {
        input_tokens: input,
        output_tokens: field(usage, &["output_tokens"]),
        cached_tokens: cache_read,
        cache_write_tokens: cache_write,
        ..Usage::default()
    }
    .with_derived_total()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chat_completions_usage_is_read() {
        let usage = usage_from_openai(&json!({"usage": {
            "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 8}
        }}));
        assert_eq!(
            usage,
            Usage {
                input_tokens: Some(100),
                output_tokens: Some(20),
                cached_tokens: Some(64),
                reasoning_tokens: Some(8),
                total_tokens: Some(120),
                ..Usage::default()
            }
        );
    }

    #[test]
    fn a_reported_total_is_kept_as_reported_not_re_derived() {
        // Providers may count tokens outside input and output (audio, tool overhead):
        // the total they report wins over input + output.
        let usage = usage_from_openai(&json!({"usage": {
            "input_tokens": 10, "output_tokens": 5, "total_tokens": 42
        }}));
        assert_eq!(usage.total_tokens, Some(42));
        let only_total = usage_from_openai(&json!({"usage": {"total_tokens": 7}}));
        assert_eq!(only_total.total_tokens, Some(7));
        assert_eq!(only_total.input_tokens, None);
    }

    #[test]
    fn anthropic_input_tokens_need_only_one_of_the_three_input_counts() {
        let plain = usage_from_anthropic(&json!({"usage": {"input_tokens": 20, "output_tokens": 5}}));
        assert_eq!(plain.input_tokens, Some(20));
        assert_eq!(plain.cached_tokens, None);
        assert_eq!(plain.total_tokens, Some(25));
        let read_only = usage_from_anthropic(&json!({"usage": {"cache_read_input_tokens": 300}}));
        assert_eq!(read_only.input_tokens, Some(300));
        assert_eq!(read_only.cached_tokens, Some(300));
        let write_only = usage_from_anthropic(&json!({"usage": {"cache_creation_input_tokens": 40}}));
        assert_eq!(write_only.input_tokens, Some(40));
        assert_eq!(write_only.cached_tokens, None);
        assert_eq!(write_only.cache_write_tokens, Some(40));
        assert_eq!(read_only.cache_write_tokens, None);
        // A `message_delta` event carries output tokens only: no input is invented.
        let delta = usage_from_anthropic(&json!({"type": "message_delta", "usage": {"output_tokens": 9}}));
        assert_eq!(delta.input_tokens, None);
        assert_eq!(delta.output_tokens, Some(9));
    }

    #[test]
    fn a_response_without_usage_gives_empty_usage() {
        assert!(usage_from_openai(&json!({"id": "resp_1"})).is_empty());
        assert!(usage_from_anthropic(&json!({"content": []})).is_empty());
        assert!(usage_from_openai(&"not even an object").is_empty());
    }
}
