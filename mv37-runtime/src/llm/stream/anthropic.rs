//! [`AnthropicAccumulator`]: Messages stream events.

use serde::Serialize;
use serde_json::Value;

use super::accumulator::{json_accumulator, str_of, Assembly, StreamAccumulator};
use crate::llm::call::response_info_from_anthropic;
use crate::record::{Content, ResponseInfo, Usage};
use crate::usage::usage_from_anthropic;

/// Assembles Anthropic Messages streams: `message_start` (model, input and cache
/// usage), `content_block_start` / `content_block_delta` (`text_delta`,
/// `input_json_delta` of a `tool_use` block) and `message_delta` (output usage and the
/// stop reason); the response's id and model come from `message_start`.
/// Thinking deltas count as output for time to first token but are not assembled.
///
/// ```
/// use mv37_runtime::{AnthropicAccumulator, StreamAccumulator};
///
/// let mut acc = AnthropicAccumulator::new();
/// acc.push(&serde_json::json!({ "type": "message_start", "message": { "usage": { "input_tokens": 12, "output_tokens": 1 } } }));
/// acc.push(&serde_json::json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Hi" } }));
/// acc.push(&serde_json::json!({ "type": "message_delta", "delta": {}, "usage": { "output_tokens": 4 } }));
/// assert_eq!(acc.output(), Some(serde_json::json!("Hi")));
/// assert_eq!(acc.usage().unwrap().total_tokens, Some(16));
/// ```
#[derive(Debug, Clone, Default)]
pub struct AnthropicAccumulator {
    assembly: Assembly,
}

impl AnthropicAccumulator {
    /// Merges a partial usage: later counts replace earlier ones, the total is derived.
    fn merge_usage(&mut self, event: &Value) {
        let update = usage_from_anthropic(event);
        let merged = match self.assembly.usage {
            None => update,
            Some(old) => {
                // `message_delta` may repeat only output tokens: keep the input side.
                let input_given = field_present(event, "input_tokens")
                    || field_present(event, "cache_read_input_tokens")
                    || field_present(event, "cache_creation_input_tokens");
                Usage {
                    input_tokens: if input_given {
                        update.input_tokens
                    } else {
                        old.input_tokens
                    },
                    cached_tokens: if input_given {
                        update.cached_tokens
                    } else {
                        old.cached_tokens
                    },
                    cache_write_tokens: if input_given {
                        update.cache_write_tokens
                    } else {
                        old.cache_write_tokens
                    },
                    output_tokens: update.output_tokens.or(old.output_tokens),
                    ..old
                }
            }
        };
        self.assembly.usage = Some(
            Usage {
                total_tokens: None,
                ..merged
            }
            .with_derived_total(),
        );
    }

    fn push_value(&mut self, event: &Value) -> bool {
        let assembly = &mut self.assembly;
        match str_of(event, "type") {
            Some("message_start") | Some("message_delta") => {
                assembly.response.merge(response_info_from_anthropic(event));
                self.merge_usage(event);
                false
            }
            Some("content_block_start") => {
                let block = event.get("content_block");
                match block.and_then(|b| str_of(b, "type")) {
                    Some("tool_use") => {
                        let key = block_key(event);
                        let draft = assembly.tool_call(key);
                        if let Some(block) = block {
                            draft.id = str_of(block, "id").unwrap_or_default().to_owned();
                            draft.name = str_of(block, "name").unwrap_or_default().to_owned();
                        }
                        false
                    }
                    Some("text") => match block.and_then(|b| str_of(b, "text")) {
                        Some(text) if !text.is_empty() => {
                            assembly.text.push_str(text);
                            true
                        }
                        _ => false,
                    },
                    _ => false,
                }
            }
            Some("content_block_delta") => {
                let Some(delta) = event.get("delta") else {
                    return false;
                };
                match str_of(delta, "type") {
                    Some("text_delta") => match str_of(delta, "text") {
                        Some(text) if !text.is_empty() => {
                            assembly.text.push_str(text);
                            true
                        }
                        _ => false,
                    },
                    Some("input_json_delta") => {
                        if let Some(json) = str_of(delta, "partial_json") {
                            assembly.tool_call(block_key(event)).arguments.push_str(json);
                        }
                        true
                    }
                    Some("thinking_delta") => true,
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

fn field_present(event: &Value, key: &str) -> bool {
    let usage = event
        .get("usage")
        .or_else(|| event.get("message").and_then(|m| m.get("usage")));
    usage.and_then(|u| u.get(key)).is_some_and(Value::is_u64)
}

fn block_key(event: &Value) -> String {
    event.get("index").and_then(Value::as_u64).unwrap_or(0).to_string()
}

json_accumulator!(AnthropicAccumulator);
