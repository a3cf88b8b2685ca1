//! A span's conversation as attributes, twice: the OpenTelemetry GenAI
//! `gen_ai.system_instructions` / `gen_ai.input.messages` / `gen_ai.output.messages`
//! (JSON text following the conventions' schemas) and the flattened OpenInference
//! `llm.input_messages.*` / `llm.output_messages.*`.
//!
//! The split is the same for both: the trailing assistant messages are the output, the
//! rest the input; for GenAI the leading system messages are the system instructions.
//! An internal message keeps its marker: `"mv37.is_internal": true` on the GenAI message
//! object, `llm.{input|output}_messages.{i}.mv37.is_internal` in OpenInference.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::attributes::{kv, kv_str};
use super::names::*;
use super::parts::{Attr, Val};
use crate::record::{Content, ContentPart, MessageRecord, Role};

/// Both forms of `messages`, recorded on one span; `finish_reasons` are the response's
/// own, as recorded (`gen_ai.response.finish_reasons`), empty when none was.
pub(super) fn messages_to_span<'a>(
    attributes: &mut Vec<Attr<'a>>,
    messages: &'a [MessageRecord],
    finish_reasons: &[String],
) {
    if messages.is_empty() {
        return;
    }
    let outputs_from = messages
        .iter()
        .rposition(|m| m.role != Role::Assistant)
        .map_or(0, |last_input| last_input + 1);
    for (index, message) in messages.iter().enumerate() {
        let prefix = if index < outputs_from {
            format!("{LLM_INPUT_MESSAGES}.{index}")
        } else {
            format!("{LLM_OUTPUT_MESSAGES}.{}", index - outputs_from)
        };
        openinference_message(attributes, &prefix, message);
    }
    let instructions_until = messages[..outputs_from]
        .iter()
        .position(|m| m.role != Role::System)
        .unwrap_or(outputs_from);
    let (instructions, rest) = messages.split_at(instructions_until);
    let (inputs, outputs) = rest.split_at(outputs_from - instructions_until);
    if !instructions.is_empty() {
        let parts: Vec<Value> = instructions.iter().flat_map(genai_parts).collect();
        attributes.push(kv_str(GEN_AI_SYSTEM_INSTRUCTIONS, Value::Array(parts).to_string()));
    }
    if !inputs.is_empty() {
        let list: Vec<Value> = inputs.iter().map(|m| genai_message(m, None)).collect();
        attributes.push(kv_str(GEN_AI_INPUT_MESSAGES, Value::Array(list).to_string()));
    }
    if !outputs.is_empty() {
        let list: Vec<Value> = outputs
            .iter()
            .enumerate()
            .map(|(index, m)| genai_message(m, Some(&finish_reason(m, recorded_reason(finish_reasons, index)))))
            .collect();
        attributes.push(kv_str(GEN_AI_OUTPUT_MESSAGES, Value::Array(list).to_string()));
    }
}

/// The recorded reason for the output message at `index`: with one reason (one choice,
/// which mv37 may split into several assistant messages: thinking, text, tool calls),
/// that reason for all of them; with one per choice, the choice's own.
fn recorded_reason(finish_reasons: &[String], index: usize) -> Option<&str> {
    match finish_reasons {
        [only] => Some(only),
        many => many.get(index).map(String::as_str),
    }
}

/// The reason an output message ended, in the output schema's words (see
/// [`FINISH_REASONS`]): the provider's recorded reason when there is one, else what the
/// message shows: `tool_call` when it calls a tool, else `stop` (the schema requires one).
fn finish_reason<'a>(message: &MessageRecord, recorded: Option<&'a str>) -> Cow<'a, str> {
    if let Some(reason) = recorded {
        let lowered = reason.to_ascii_lowercase();
        return FINISH_REASONS
            .iter()
            .find(|(reported, _)| reported.contains(&lowered.as_str()))
            .map_or(Cow::Borrowed(reason), |(_, conventional)| Cow::Borrowed(*conventional));
    }
    match &message.content {
        Content::Parts(parts) if parts.iter().any(|p| matches!(p, ContentPart::ToolCall { .. })) => {
            Cow::Borrowed("tool_call")
        }
        _ => Cow::Borrowed("stop"),
    }
}

/// One message of the GenAI schemas: `role`, `parts`, and for an output `finish_reason`.
fn genai_message(message: &MessageRecord, finish_reason: Option<&str>) -> Value {
    let mut object = Map::new();
    object.insert("role".into(), json!(message.role.as_str()));
    object.insert("parts".into(), Value::Array(genai_parts(message)));
    if let Some(reason) = finish_reason {
        object.insert("finish_reason".into(), json!(reason));
    }
    if message.is_internal {
        object.insert(MV37_IS_INTERNAL.into(), Value::Bool(true));
    }
    Value::Object(object)
}

/// A message's content as GenAI parts. Plain text answering a tool call (a tool message
/// with a `tool_call_id`) is a `tool_call_response`.
fn genai_parts(message: &MessageRecord) -> Vec<Value> {
    match &message.content {
        Content::Text(text) => match (&message.role, &message.tool_call_id) {
            (Role::Tool, Some(id)) => vec![json!({"type": "tool_call_response", "id": id, "response": text})],
            _ => vec![json!({"type": "text", "content": text})],
        },
        Content::Parts(parts) => parts.iter().map(genai_part).collect(),
    }
}

/// The modality of a MIME type (`image/png` → `image`), for `uri` and `blob` parts.
fn modality(media_type: Option<&str>) -> &str {
    let kind = media_type.and_then(|m| m.split('/').next()).unwrap_or("");
    match kind {
        "image" | "audio" | "video" => kind,
        _ => "file",
    }
}

fn genai_part(part: &ContentPart) -> Value {
    match part {
        ContentPart::Text { text } => json!({"type": "text", "content": text}),
        ContentPart::ImageUrl { url, .. } => json!({"type": "uri", "modality": "image", "uri": url}),
        ContentPart::ImageBase64 { media_type, data } => {
            json!({"type": "blob", "modality": "image", "mime_type": media_type, "content": data})
        }
        ContentPart::Audio { media_type, data } => {
            json!({"type": "blob", "modality": "audio", "mime_type": media_type, "content": data})
        }
        ContentPart::File {
            name,
            media_type,
            url,
            data,
        } => {
            let modality = modality(media_type.as_deref());
            let mut part = match (url, data) {
                (Some(url), _) => json!({"type": "uri", "modality": modality, "uri": url}),
                (None, Some(data)) => json!({"type": "blob", "modality": modality, "content": data}),
                (None, None) => json!({"type": "file"}),
            };
            if let Some(object) = part.as_object_mut() {
                if let Some(media_type) = media_type {
                    object.insert("mime_type".into(), json!(media_type));
                }
                if let Some(name) = name {
                    object.insert("name".into(), json!(name));
                }
            }
            part
        }
        ContentPart::ToolCall { id, name, arguments } => {
            json!({"type": "tool_call", "id": id, "name": name, "arguments": arguments})
        }
        ContentPart::ToolResult { tool_call_id, content } => {
            json!({"type": "tool_call_response", "id": tool_call_id, "response": content})
        }
    }
}

/// `llm.{input|output}_messages.{i}.message.*` for one message (`prefix` ends at `{i}`).
fn openinference_message<'a>(attributes: &mut Vec<Attr<'a>>, prefix: &str, message: &'a MessageRecord) {
    attributes.push(kv_str(format!("{prefix}.{MESSAGE_ROLE}"), message.role.as_str()));
    if message.is_internal {
        attributes.push(kv(format!("{prefix}.{MV37_IS_INTERNAL}"), Val::Bool(true)));
    }
    if let Some(id) = &message.tool_call_id {
        attributes.push(kv_str(format!("{prefix}.{MESSAGE_TOOL_CALL_ID}"), id));
    }
    match &message.content {
        Content::Text(text) => attributes.push(kv_str(format!("{prefix}.{MESSAGE_CONTENT}"), text)),
        Content::Parts(parts) => {
            let mut content_index = 0;
            let mut call_index = 0;
            for part in parts {
                match part {
                    ContentPart::ToolCall { id, name, arguments } => {
                        let call = format!("{prefix}.{MESSAGE_TOOL_CALLS}.{call_index}");
                        attributes.push(kv_str(format!("{call}.{TOOL_CALL_ID}"), id));
                        attributes.push(kv_str(format!("{call}.{TOOL_CALL_FUNCTION_NAME}"), name));
                        attributes.push(kv_str(
                            format!("{call}.{TOOL_CALL_FUNCTION_ARGUMENTS}"),
                            arguments.to_string(),
                        ));
                        call_index += 1;
                    }
                    other => {
                        let item = format!("{prefix}.{MESSAGE_CONTENTS}.{content_index}");
                        match other {
                            ContentPart::Text { text } => {
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TYPE}"), "text"));
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TEXT}"), text));
                            }
                            ContentPart::ImageUrl { url, .. } => {
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TYPE}"), "image"));
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_IMAGE_URL}"), url));
                            }
                            ContentPart::ImageBase64 { media_type, data } => {
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TYPE}"), "image"));
                                attributes.push(kv_str(
                                    format!("{item}.{MESSAGE_CONTENT_IMAGE_URL}"),
                                    format!("data:{media_type};base64,{data}"),
                                ));
                            }
                            other => {
                                attributes.push(kv_str(format!("{item}.{MESSAGE_CONTENT_TYPE}"), "json"));
                                attributes.push(kv_str(
                                    format!("{item}.{MESSAGE_CONTENT_TEXT}"),
                                    serde_json::to_string(other).unwrap_or_default(),
                                ));
                            }
                        }
                        content_index += 1;
                    }
                }
            }
        }
    }
}
