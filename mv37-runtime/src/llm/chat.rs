//! Chat messages read from provider request and response shapes (OpenAI Chat
//! Completions and Responses, Anthropic Messages), to record a whole conversation on an
//! llm span.

use serde::Serialize;
use serde_json::Value;

use super::stream::{parse_arguments, str_of};
use crate::record::{Content, ContentPart, Role};
use crate::span::Span;

/// One message of a conversation, in mv37's provider-neutral form; made by
/// [`messages_from_openai`] and [`messages_from_anthropic`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says: text, or parts (images, files, tool calls).
    pub content: Content,
    /// For a tool result: the id of the tool call it answers.
    pub tool_call_id: Option<String>,
    /// A message the end user never sees (reasoning, thinking).
    pub internal: bool,
}

impl ChatMessage {
    fn new(role: Role, content: Content) -> Self {
        Self {
            role,
            content,
            tool_call_id: None,
            internal: false,
        }
    }

    fn tool_result(tool_call_id: &str, content: Content) -> Self {
        Self {
            tool_call_id: Some(tool_call_id.to_owned()),
            ..Self::new(Role::Tool, content)
        }
    }

    fn internal(mut self) -> Self {
        self.internal = true;
        self
    }

    /// Records this message on `span` (nothing when it captures no content).
    pub fn record(&self, span: &Span) {
        if !span.captures_content() {
            return;
        }
        let mut builder = span.message(self.role.clone(), self.content.clone());
        if let Some(id) = &self.tool_call_id {
            builder = builder.tool_call_id(id.clone());
        }
        if self.internal {
            builder = builder.internal();
        }
        drop(builder);
    }
}

/// Records each message on `span`, in order.
pub fn record_messages(span: &Span, messages: &[ChatMessage]) {
    for message in messages {
        message.record(span);
    }
}

/// Records the messages of an OpenAI-shaped value on `span` (see
/// [`messages_from_openai`]); returns how many it recorded (none when the span records no
/// content).
///
/// ```
/// use mv37_runtime::{record_openai_messages, Client, MemoryExporter, Role};
///
/// let memory = MemoryExporter::new();
/// let client = Client::builder().exporter(memory.clone()).build().unwrap();
/// client.trace("chat").run(|trace| {
///     trace.llm("openai.chat").run(|span| {
///         record_openai_messages(span, &serde_json::json!([
///             { "role": "user", "content": "Refund order 4421" },
///             { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1", "type": "function",
///               "function": { "name": "issue_refund", "arguments": "{\"order\":\"4421\"}" } }] },
///             { "role": "tool", "tool_call_id": "call_1", "content": "refunded" },
///         ]));
///     });
/// });
/// client.flush().unwrap();
/// let messages = memory.messages();
/// assert_eq!(messages[2].role, Role::Tool);
/// assert_eq!(messages[2].tool_call_id.as_deref(), Some("call_1"));
/// ```
pub fn record_openai_messages<T: Serialize + ?Sized>(span: &Span, messages: &T) -> usize {
    if !span.captures_content() {
        return 0;
    }
    let messages = messages_from_openai(messages);
    record_messages(span, &messages);
    messages.len()
}

/// Records the messages of an Anthropic-shaped value on `span` (see
/// [`messages_from_anthropic`]); returns how many it recorded (none when the span records
/// no content).
pub fn record_anthropic_messages<T: Serialize + ?Sized>(span: &Span, messages: &T) -> usize {
    if !span.captures_content() {
        return 0;
    }
    let messages = messages_from_anthropic(messages);
    record_messages(span, &messages);
    messages.len()
}

/// Reads chat messages from an OpenAI-shaped value, as any `Serialize` (typed SDK
/// structs or `serde_json::Value`):
///
/// - a `messages` array (Chat Completions), or a request holding one;
/// - Responses API `input` (a string, or items) with its `instructions` as a system
///   message, or a response's `output` items;
/// - a Chat Completions response (each `choices[].message`), or a single message.
///
/// Content is text or parts (text, images by URL or data URL, audio, files). Assistant
/// `tool_calls` (and Responses `function_call` items) become [`ContentPart::ToolCall`]s
/// with their ids and parsed arguments; `role: tool` messages (and
/// `function_call_output` items) become [`Role::Tool`] messages linked by
/// `tool_call_id`; reasoning summaries become internal assistant messages. Items it
/// does not know are skipped.
pub fn messages_from_openai<T: Serialize + ?Sized>(value: &T) -> Vec<ChatMessage> {
    serde_json::to_value(value).map_or_else(|_| Vec::new(), |value| openai_messages(&value))
}

/// [`messages_from_openai`] of a value already in JSON form.
pub(crate) fn openai_messages(value: &Value) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    match value {
        Value::Array(items) => openai_items(items, &mut out),
        Value::String(text) => out.push(ChatMessage::new(Role::User, Content::Text(text.clone()))),
        Value::Object(object) => {
            if let Some(Value::Array(messages)) = object.get("messages") {
                openai_items(messages, &mut out);
            } else if let Some(input) = object.get("input") {
                if let Some(instructions) = object.get("instructions").and_then(Value::as_str) {
                    out.push(ChatMessage::new(Role::System, Content::Text(instructions.to_owned())));
                }
                match input {
                    Value::String(text) => out.push(ChatMessage::new(Role::User, Content::Text(text.clone()))),
                    Value::Array(items) => openai_items(items, &mut out),
                    _ => {}
                }
            } else if let Some(Value::Array(output)) = object.get("output") {
                openai_items(output, &mut out);
            } else if let Some(Value::Array(choices)) = object.get("choices") {
                let messages: Vec<Value> = choices.iter().filter_map(|c| c.get("message").cloned()).collect();
                openai_items(&messages, &mut out);
            } else {
                openai_item(value, &mut out);
            }
        }
        _ => {}
    }
    out
}

fn openai_items(items: &[Value], out: &mut Vec<ChatMessage>) {
    for item in items {
        openai_item(item, out);
    }
}

fn openai_item(item: &Value, out: &mut Vec<ChatMessage>) {
    match str_of(item, "type") {
        Some("function_call") | Some("custom_tool_call") => {
            let arguments = str_of(item, "arguments")
                .or_else(|| str_of(item, "input"))
                .unwrap_or("");
            let call = ContentPart::tool_call(
                str_of(item, "call_id").unwrap_or_default(),
                str_of(item, "name").unwrap_or_default(),
                parse_arguments(arguments),
            );
            out.push(ChatMessage::new(Role::Assistant, Content::Parts(vec![call])));
        }
        Some("function_call_output") | Some("custom_tool_call_output") => {
            let content = match item.get("output") {
                Some(Value::Array(parts)) => openai_content_parts(parts),
                Some(other) => Content::Text(text_of(other)),
                None => Content::Text(String::new()),
            };
            out.push(ChatMessage::tool_result(
                str_of(item, "call_id").unwrap_or_default(),
                content,
            ));
        }
        Some("reasoning") => {
            let summary: Vec<&str> = item
                .get("summary")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|part| str_of(part, "text"))
                .collect();
            if !summary.is_empty() {
                out.push(ChatMessage::new(Role::Assistant, Content::Text(summary.join("\n"))).internal());
            }
        }
        _ => {
            if let Some(role) = str_of(item, "role") {
                out.push(openai_message(Role::from(role), item));
            }
        }
    }
}

fn openai_message(role: Role, message: &Value) -> ChatMessage {
    let mut content = match message.get("content") {
        Some(Value::String(text)) => Content::Text(text.clone()),
        Some(Value::Array(parts)) => openai_content_parts(parts),
        _ => Content::Parts(Vec::new()),
    };
    let calls: Vec<ContentPart> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|call| {
            let function = call.get("function");
            let field = |key| function.and_then(|f| str_of(f, key)).unwrap_or_default();
            ContentPart::tool_call(
                str_of(call, "id").unwrap_or_default(),
                field("name"),
                parse_arguments(field("arguments")),
            )
        })
        .collect();
    if !calls.is_empty() {
        let mut parts = match content {
            Content::Text(text) if text.is_empty() => Vec::new(),
            Content::Text(text) => vec![ContentPart::text(text)],
            Content::Parts(parts) => parts,
        };
        parts.extend(calls);
        content = Content::Parts(parts);
    }
    if let Some(refusal) = str_of(message, "refusal").filter(|_| is_empty(&content)) {
        content = Content::Text(refusal.to_owned());
    }
    let mut chat = ChatMessage::new(role, content);
    chat.tool_call_id = str_of(message, "tool_call_id").map(str::to_owned);
    chat
}

fn openai_content_parts(parts: &[Value]) -> Content {
    Content::Parts(parts.iter().filter_map(openai_part).collect())
}

fn openai_part(part: &Value) -> Option<ContentPart> {
    let part = match str_of(part, "type") {
        Some("text") | Some("input_text") | Some("output_text") => ContentPart::text(str_of(part, "text")?),
        Some("refusal") => ContentPart::text(str_of(part, "refusal")?),
        Some("image_url") => {
            let image = part.get("image_url")?;
            let url = str_of(image, "url").or_else(|| image.as_str())?;
            image_part(url, str_of(image, "detail"))
        }
        Some("input_image") => match str_of(part, "image_url") {
            Some(url) => image_part(url, str_of(part, "detail")),
            None => file_part(str_of(part, "file_id"), None, None),
        },
        Some("input_audio") => {
            let audio = part.get("input_audio")?;
            let format = str_of(audio, "format").unwrap_or("wav");
            ContentPart::audio(format!("audio/{format}"), str_of(audio, "data")?)
        }
        Some("file") => {
            let file = part.get("file")?;
            let name = str_of(file, "filename").or_else(|| str_of(file, "file_id"));
            file_part(name, str_of(file, "file_data"), None)
        }
        Some("input_file") => {
            let name = str_of(part, "filename").or_else(|| str_of(part, "file_id"));
            file_part(name, str_of(part, "file_data"), str_of(part, "file_url"))
        }
        _ => ContentPart::text(part.to_string()),
    };
    Some(part)
}

fn image_part(url: &str, detail: Option<&str>) -> ContentPart {
    match split_data_url(url) {
        Some((media_type, data)) => ContentPart::image_base64(media_type, data),
        None => ContentPart::ImageUrl {
            url: url.to_owned(),
            detail: detail.map(str::to_owned),
        },
    }
}

fn file_part(name: Option<&str>, data: Option<&str>, url: Option<&str>) -> ContentPart {
    let (media_type, data) = match data.map(|d| split_data_url(d).unwrap_or(("", d))) {
        Some((media_type, data)) => ((!media_type.is_empty()).then_some(media_type), Some(data)),
        None => (None, None),
    };
    ContentPart::File {
        name: name.map(str::to_owned),
        media_type: media_type.map(str::to_owned),
        url: url.map(str::to_owned),
        data: data.map(str::to_owned),
    }
}

/// `data:<media type>;base64,<data>` split into its media type and data.
fn split_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (header, data) = rest.split_once(',')?;
    Some((header.strip_suffix(";base64").unwrap_or(header), data))
}

/// Reads chat messages from an Anthropic Messages value, as any `Serialize`: a request
/// (`system` and `messages`), a `messages` array, a response (one assistant message) or
/// a single message.
///
/// Content blocks become parts: `text`, `image` and `document` (base64 or URL),
/// `tool_use` as a [`ContentPart::ToolCall`]. Each `tool_result` block becomes its own
/// [`Role::Tool`] message linked by `tool_call_id` to the `tool_use` it answers (the
/// rest of that user message follows it); `thinking` becomes an internal assistant
/// message.
pub fn messages_from_anthropic<T: Serialize + ?Sized>(value: &T) -> Vec<ChatMessage> {
    serde_json::to_value(value).map_or_else(|_| Vec::new(), |value| anthropic_messages(&value))
}

/// [`messages_from_anthropic`] of a value already in JSON form.
pub(crate) fn anthropic_messages(value: &Value) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    match value {
        Value::Array(messages) => messages.iter().for_each(|m| anthropic_message(m, &mut out)),
        Value::Object(object) => {
            match object.get("system") {
                Some(Value::String(system)) => out.push(ChatMessage::new(Role::System, Content::Text(system.clone()))),
                Some(Value::Array(blocks)) => {
                    let text: Vec<&str> = blocks.iter().filter_map(|b| str_of(b, "text")).collect();
                    out.push(ChatMessage::new(Role::System, Content::Text(text.join("\n"))));
                }
                _ => {}
            }
            match object.get("messages") {
                Some(Value::Array(messages)) => messages.iter().for_each(|m| anthropic_message(m, &mut out)),
                _ => anthropic_message(value, &mut out),
            }
        }
        _ => {}
    }
    out
}

fn anthropic_message(message: &Value, out: &mut Vec<ChatMessage>) {
    let Some(role) = str_of(message, "role").map(Role::from) else {
        return;
    };
    let blocks = match message.get("content") {
        Some(Value::String(text)) => {
            out.push(ChatMessage::new(role, Content::Text(text.clone())));
            return;
        }
        Some(Value::Array(blocks)) => blocks,
        _ => return,
    };
    let mut parts = Vec::new();
    for block in blocks {
        match str_of(block, "type") {
            Some("text") => parts.extend(str_of(block, "text").map(ContentPart::text)),
            Some("image") => parts.extend(block.get("source").and_then(anthropic_source_image)),
            Some("document") => parts.extend(block.get("source").map(anthropic_source_file)),
            Some("tool_use") | Some("server_tool_use") => parts.push(ContentPart::tool_call(
                str_of(block, "id").unwrap_or_default(),
                str_of(block, "name").unwrap_or_default(),
                block.get("input").cloned().unwrap_or(Value::Null),
            )),
            Some("tool_result") => {
                let content = match block.get("content") {
                    Some(Value::Array(blocks)) => {
                        Content::Parts(blocks.iter().filter_map(anthropic_result_part).collect())
                    }
                    Some(other) => Content::Text(text_of(other)),
                    None => Content::Text(String::new()),
                };
                out.push(ChatMessage::tool_result(
                    str_of(block, "tool_use_id").unwrap_or_default(),
                    content,
                ));
            }
            Some("thinking") => {
                if let Some(thinking) = str_of(block, "thinking").filter(|t| !t.is_empty()) {
                    out.push(ChatMessage::new(role.clone(), Content::Text(thinking.to_owned())).internal());
                }
            }
            _ => {}
        }
    }
    if !parts.is_empty() {
        out.push(ChatMessage::new(role, Content::Parts(parts)));
    }
}

fn anthropic_result_part(block: &Value) -> Option<ContentPart> {
    match str_of(block, "type") {
        Some("text") => str_of(block, "text").map(ContentPart::text),
        Some("image") => block.get("source").and_then(anthropic_source_image),
        _ => None,
    }
}

fn anthropic_source_image(source: &Value) -> Option<ContentPart> {
    match str_of(source, "type") {
        Some("base64") => Some(ContentPart::image_base64(
            str_of(source, "media_type").unwrap_or_default(),
            str_of(source, "data")?,
        )),
        Some("url") => Some(ContentPart::image_url(str_of(source, "url")?)),
        _ => None,
    }
}

fn anthropic_source_file(source: &Value) -> ContentPart {
    let owned = |key| str_of(source, key).map(str::to_owned);
    ContentPart::File {
        name: None,
        media_type: owned("media_type"),
        url: owned("url"),
        data: owned("data"),
    }
}

/// A string value as itself, anything else as its JSON text.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn is_empty(content: &Content) -> bool {
    match content {
        Content::Text(text) => text.is_empty(),
        Content::Parts(parts) => parts.is_empty(),
    }
}
