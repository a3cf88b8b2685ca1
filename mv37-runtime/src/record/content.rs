//! What a message holds: its [`Role`] and its [`Content`], text or typed parts (text,
//! images, audio, files, tool calls and results).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// System prompt.
    System,
    /// Developer instructions.
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
    /// Any other role.
    #[serde(untagged)]
    Other(String),
}

impl Role {
    /// The role as written in records.
    pub fn as_str(&self) -> &str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Other(role) => role,
        }
    }
}

/// Message content: plain text or a list of (multimodal) parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Structured content parts.
    Parts(Vec<ContentPart>),
}

impl Content {
    pub(super) fn approx_bytes(&self) -> usize {
        match self {
            Content::Text(text) => text.len(),
            Content::Parts(parts) => parts.len() * 64 + parts.iter().map(ContentPart::approx_bytes).sum::<usize>(),
        }
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Content::Text(text.to_owned())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::Text(text)
    }
}

impl From<&String> for Content {
    fn from(text: &String) -> Self {
        Content::Text(text.clone())
    }
}

impl From<Vec<ContentPart>> for Content {
    fn from(parts: Vec<ContentPart>) -> Self {
        Content::Parts(parts)
    }
}

impl From<ContentPart> for Content {
    fn from(part: ContentPart) -> Self {
        Content::Parts(vec![part])
    }
}

/// One part of a structured (multimodal) message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image given by URL.
    ImageUrl {
        /// Where the image is.
        url: String,
        /// Requested detail level, if any (`low`, `high`, `auto`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// An image given inline.
    ImageBase64 {
        /// MIME type, such as `image/png`.
        media_type: String,
        /// Base64 data.
        data: String,
    },
    /// Audio given inline.
    Audio {
        /// MIME type or format, such as `audio/wav`.
        media_type: String,
        /// Base64 data.
        data: String,
    },
    /// A file, by URL or inline.
    File {
        /// File name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// MIME type.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_type: Option<String>,
        /// Where the file is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// Base64 data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
    },
    /// A tool call made by the model.
    ToolCall {
        /// The call id, which the tool's result message names in `tool_call_id`.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments.
        arguments: Value,
    },
    /// The result of a tool call.
    ToolResult {
        /// The id of the call this answers.
        tool_call_id: String,
        /// The result.
        content: Value,
    },
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text { text: text.into() }
    }

    /// An image by URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart::ImageUrl {
            url: url.into(),
            detail: None,
        }
    }

    /// An inline base64 image.
    pub fn image_base64(media_type: impl Into<String>, data: impl Into<String>) -> Self {
        ContentPart::ImageBase64 {
            media_type: media_type.into(),
            data: data.into(),
        }
    }

    /// Inline base64 audio.
    pub fn audio(media_type: impl Into<String>, data: impl Into<String>) -> Self {
        ContentPart::Audio {
            media_type: media_type.into(),
            data: data.into(),
        }
    }

    /// A file by URL.
    pub fn file_url(url: impl Into<String>) -> Self {
        ContentPart::File {
            name: None,
            media_type: None,
            url: Some(url.into()),
            data: None,
        }
    }

    /// A tool call with JSON arguments.
    pub fn tool_call(id: impl Into<String>, name: impl Into<String>, mut arguments: Value) -> Self {
        crate::payload::limit_depth(&mut arguments);
        ContentPart::ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
        }
    }

    /// A tool result.
    pub fn tool_result(tool_call_id: impl Into<String>, mut content: Value) -> Self {
        crate::payload::limit_depth(&mut content);
        ContentPart::ToolResult {
            tool_call_id: tool_call_id.into(),
            content,
        }
    }

    fn approx_bytes(&self) -> usize {
        match self {
            ContentPart::Text { text } => text.len(),
            ContentPart::ImageUrl { url, .. } => url.len(),
            ContentPart::ImageBase64 { data, .. } | ContentPart::Audio { data, .. } => data.len(),
            ContentPart::File { url, data, .. } => {
                url.as_ref().map_or(0, String::len) + data.as_ref().map_or(0, String::len)
            }
            ContentPart::ToolCall { arguments, .. } => arguments.to_string().len(),
            ContentPart::ToolResult { content, .. } => content.to_string().len(),
        }
    }
}
