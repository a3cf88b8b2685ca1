//! What turns the chunks of a stream into output, message, usage, model and response
//! fields: the
//! [`StreamAccumulator`] trait, the text-and-tool-call assembly the provider
//! accumulators share (and the macro giving them the same accessors), and
//! [`TextAccumulator`] for chunk types of your own.

use serde_json::{Map, Value};

use crate::record::{Content, ContentPart, ErrorInfo, ResponseInfo, Usage};

/// Folds the chunks of a streamed model response into its output and usage.
///
/// Built in: [`OpenAiAccumulator`](super::OpenAiAccumulator) (Chat Completions chunks and Responses API events)
/// and [`AnthropicAccumulator`](super::AnthropicAccumulator) (Messages events), over any `Serialize` chunk;
/// [`TextAccumulator`] over a function that picks the text delta of your own chunk type.
/// Implement it for anything else.
pub trait StreamAccumulator<Chunk: ?Sized> {
    /// Takes one chunk in; returns whether it carried generated output (text, a tool
    /// call delta). The first such chunk marks the time to first token.
    fn push(&mut self, chunk: &Chunk) -> bool;

    /// The output assembled so far, recorded as the span's output (nothing when `None`).
    fn output(&self) -> Option<Value>;

    /// The assembled output as an assistant message, recorded on the span.
    fn message(&self) -> Option<Content> {
        None
    }

    /// The usage the stream reported so far.
    fn usage(&self) -> Option<Usage> {
        None
    }

    /// The model the stream named (used to look up its price).
    fn model(&self) -> Option<&str> {
        None
    }

    /// The response's id, model and finish reasons, as far as the stream told them,
    /// recorded on the span (`gen_ai.response.*`).
    fn response_info(&self) -> Option<ResponseInfo> {
        None
    }

    /// Whether the stream said it is complete (`data: [DONE]`, `message_stop`,
    /// `response.completed`): a reader that stops there, before the body's end, ends
    /// the span normally rather than `cancelled`.
    fn is_complete(&self) -> bool {
        false
    }

    /// An error the stream itself reported (an `error` event), which fails the span
    /// when the stream ends.
    fn failure(&self) -> Option<ErrorInfo> {
        None
    }
}

/// A streamed tool call being assembled.
#[derive(Debug, Clone, Default)]
pub(super) struct ToolCallDraft {
    pub(super) key: String,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) arguments: String,
}

/// Text and tool calls assembled from deltas: the state both built-in accumulators share.
#[derive(Debug, Clone, Default)]
pub(super) struct Assembly {
    pub(super) text: String,
    pub(super) tool_calls: Vec<ToolCallDraft>,
    pub(super) usage: Option<Usage>,
    /// Id, model and finish reasons; the model is also what [`StreamAccumulator::model`]
    /// gives.
    pub(super) response: ResponseInfo,
}

impl Assembly {
    pub(super) fn tool_call(&mut self, key: String) -> &mut ToolCallDraft {
        let index = match self.tool_calls.iter().position(|call| call.key == key) {
            Some(index) => index,
            None => {
                self.tool_calls.push(ToolCallDraft {
                    key,
                    ..ToolCallDraft::default()
                });
                self.tool_calls.len() - 1
            }
        };
        &mut self.tool_calls[index]
    }

    /// Takes the id, model and finish reasons a chunk carries (a chunk repeating the id
    /// or the model allocates nothing).
    pub(super) fn note_response(&mut self, id: Option<&str>, model: Option<&str>) {
        fn note(slot: &mut Option<String>, value: Option<&str>) {
            if let Some(value) = value {
                if slot.as_deref() != Some(value) {
                    *slot = Some(value.to_owned());
                }
            }
        }
        note(&mut self.response.id, id);
        note(&mut self.response.model, model);
    }

    pub(super) fn response_info(&self) -> Option<ResponseInfo> {
        (!self.response.is_empty()).then(|| self.response.clone())
    }

    pub(super) fn output(&self) -> Option<Value> {
        if self.tool_calls.is_empty() {
            return (!self.text.is_empty()).then(|| Value::String(self.text.clone()));
        }
        let calls = self
            .tool_calls
            .iter()
            .map(|call| {
                let mut object = Map::new();
                object.insert("id".into(), Value::String(call.id.clone()));
                object.insert("name".into(), Value::String(call.name.clone()));
                object.insert("arguments".into(), parse_arguments(&call.arguments));
                Value::Object(object)
            })
            .collect();
        let mut object = Map::new();
        if !self.text.is_empty() {
            object.insert("content".into(), Value::String(self.text.clone()));
        }
        object.insert("tool_calls".into(), Value::Array(calls));
        Some(Value::Object(object))
    }

    pub(super) fn message(&self) -> Option<Content> {
        if self.tool_calls.is_empty() {
            return (!self.text.is_empty()).then(|| Content::Text(self.text.clone()));
        }
        let mut parts = Vec::with_capacity(self.tool_calls.len() + 1);
        if !self.text.is_empty() {
            parts.push(ContentPart::text(self.text.clone()));
        }
        parts.extend(
            self.tool_calls.iter().map(|call| {
                ContentPart::tool_call(call.id.clone(), call.name.clone(), parse_arguments(&call.arguments))
            }),
        );
        Some(Content::Parts(parts))
    }
}

/// Tool-call arguments as JSON when they parse, else as the raw string.
pub(crate) fn parse_arguments(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

pub(crate) fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The provider accumulators: the same accessors over their assembly, and any
/// `Serialize` chunk read through its JSON form.
macro_rules! json_accumulator {
    ($accumulator:ty) => {
        impl $accumulator {
            /// An empty accumulator.
            pub fn new() -> Self {
                Self::default()
            }

            /// The output assembled so far: the text, or `{"content", "tool_calls"}` once
            /// a tool call was streamed.
            pub fn output(&self) -> Option<Value> {
                self.assembly.output()
            }

            /// The usage the stream reported so far.
            pub fn usage(&self) -> Option<Usage> {
                self.assembly.usage
            }

            /// The model the stream named.
            pub fn model(&self) -> Option<&str> {
                self.assembly.response.model.as_deref()
            }

            /// The response's id, model and finish reasons the stream told so far.
            pub fn response_info(&self) -> Option<ResponseInfo> {
                self.assembly.response_info()
            }
        }

        impl $accumulator {
            /// Takes one chunk already in JSON form (no copy, unlike `push`).
            pub(crate) fn push_json(&mut self, chunk: &Value) -> bool {
                self.push_value(chunk)
            }
        }

        impl<C: Serialize + ?Sized> StreamAccumulator<C> for $accumulator {
            fn push(&mut self, chunk: &C) -> bool {
                serde_json::to_value(chunk).is_ok_and(|chunk| self.push_value(&chunk))
            }

            fn output(&self) -> Option<Value> {
                Self::output(self)
            }

            fn message(&self) -> Option<Content> {
                self.assembly.message()
            }

            fn usage(&self) -> Option<Usage> {
                Self::usage(self)
            }

            fn model(&self) -> Option<&str> {
                Self::model(self)
            }

            fn response_info(&self) -> Option<ResponseInfo> {
                Self::response_info(self)
            }
        }
    };
}
pub(super) use json_accumulator;

/// Assembles text from a function that picks the text delta out of each chunk of your
/// own type.
///
/// ```
/// use mv37_runtime::{StreamAccumulator, TextAccumulator};
///
/// struct Chunk { delta: &'static str }
/// let mut acc = TextAccumulator::new(|chunk: &Chunk| Some(chunk.delta.to_owned()));
/// acc.push(&Chunk { delta: "Hi" });
/// assert_eq!(acc.output(), Some(serde_json::json!("Hi")));
/// ```
pub struct TextAccumulator<F> {
    delta: F,
    text: String,
}

impl<F> std::fmt::Debug for TextAccumulator<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextAccumulator").field("text", &self.text).finish()
    }
}

impl<F> TextAccumulator<F> {
    /// An accumulator appending what `delta` returns for each chunk.
    pub fn new(delta: F) -> Self {
        Self {
            delta,
            text: String::new(),
        }
    }

    /// The text assembled so far.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl<C: ?Sized, F: FnMut(&C) -> Option<String>> StreamAccumulator<C> for TextAccumulator<F> {
    fn push(&mut self, chunk: &C) -> bool {
        match (self.delta)(chunk) {
            Some(text) if !text.is_empty() => {
                self.text.push_str(&text);
                true
            }
            _ => false,
        }
    }

    fn output(&self) -> Option<Value> {
        (!self.text.is_empty()).then(|| Value::String(self.text.clone()))
    }

    fn message(&self) -> Option<Content> {
        (!self.text.is_empty()).then(|| Content::Text(self.text.clone()))
    }
}
