//! Every attribute and event name the OTLP encoder writes, grouped by the convention it
//! comes from, so that the whole mapping reads in one place (`docs/OTLP.md` explains it).
//!
//! Indexed OpenInference keys are assembled from the pieces below, for example
//! `{LLM_INPUT_MESSAGES}.{i}.{MESSAGE_CONTENTS}.{j}.{MESSAGE_CONTENT_TYPE}` is
//! `llm.input_messages.0.message.contents.1.message_content.type`.

// OpenTelemetry resource conventions: the service and the SDK that describe it.
// `deployment.environment` is the name before semantic conventions 1.27, sent as well.
pub(super) const SERVICE_NAME: &str = "service.name";
pub(super) const SERVICE_VERSION: &str = "service.version";
pub(super) const DEPLOYMENT_ENVIRONMENT: &str = "deployment.environment";
pub(super) const DEPLOYMENT_ENVIRONMENT_NAME: &str = "deployment.environment.name";
pub(super) const TELEMETRY_SDK_NAME: &str = "telemetry.sdk.name";
pub(super) const TELEMETRY_SDK_LANGUAGE: &str = "telemetry.sdk.language";
pub(super) const TELEMETRY_SDK_VERSION: &str = "telemetry.sdk.version";

// OpenTelemetry general conventions (read by OpenInference too): who and which session,
// and a failure as `error.type` plus the `exception` span event.
pub(super) const USER_ID: &str = "user.id";
pub(super) const SESSION_ID: &str = "session.id";
// Where a model request went (the general `server.*` attributes the GenAI spans use).
pub(super) const SERVER_ADDRESS: &str = "server.address";
pub(super) const SERVER_PORT: &str = "server.port";
pub(super) const ERROR_TYPE: &str = "error.type";
pub(super) const EXCEPTION_EVENT: &str = "exception";
pub(super) const EXCEPTION_TYPE: &str = "exception.type";
pub(super) const EXCEPTION_MESSAGE: &str = "exception.message";

// OpenTelemetry GenAI conventions (`gen_ai.*`, the registry as of semantic conventions
// 1.41, since moved to open-telemetry/semantic-conventions-genai): operation, model,
// provider, tool call, agent, conversation, token usage, streaming and messages. The
// deprecated `gen_ai.system` and the `gen_ai.{role}.message` events are no longer sent.
pub(super) const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
pub(super) const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
pub(super) const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
pub(super) const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
pub(super) const GEN_AI_TOOL_TYPE: &str = "gen_ai.tool.type";
pub(super) const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
pub(super) const GEN_AI_TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
pub(super) const GEN_AI_TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
pub(super) const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
pub(super) const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
pub(super) const GEN_AI_AGENT_ID: &str = "gen_ai.agent.id";
pub(super) const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
pub(super) const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
pub(super) const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
pub(super) const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
pub(super) const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
pub(super) const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
// The request's parameters (doubles, ints and a string array, as the registry types
// them), what the response says about itself, and a retrieval's documents (JSON text of
// the conventions' retrieval-documents schema: each document's `id` and `score`).
pub(super) const GEN_AI_REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
pub(super) const GEN_AI_REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
pub(super) const GEN_AI_REQUEST_TOP_P: &str = "gen_ai.request.top_p";
pub(super) const GEN_AI_REQUEST_TOP_K: &str = "gen_ai.request.top_k";
pub(super) const GEN_AI_REQUEST_STOP_SEQUENCES: &str = "gen_ai.request.stop_sequences";
pub(super) const GEN_AI_REQUEST_SEED: &str = "gen_ai.request.seed";
pub(super) const GEN_AI_REQUEST_FREQUENCY_PENALTY: &str = "gen_ai.request.frequency_penalty";
pub(super) const GEN_AI_REQUEST_PRESENCE_PENALTY: &str = "gen_ai.request.presence_penalty";
pub(super) const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";
pub(super) const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
pub(super) const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
pub(super) const GEN_AI_RETRIEVAL_DOCUMENTS: &str = "gen_ai.retrieval.documents";
// The conversation as JSON text (the conventions' input, output and system-instructions
// schemas; structured values are allowed on spans, but backends read strings).
pub(super) const GEN_AI_SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
pub(super) const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
pub(super) const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
// The GenAI evaluation event: feedback and signals made during a trace, on
// the span they are about.
pub(super) const GEN_AI_EVALUATION_RESULT_EVENT: &str = "gen_ai.evaluation.result";
pub(super) const GEN_AI_EVALUATION_NAME: &str = "gen_ai.evaluation.name";
pub(super) const GEN_AI_EVALUATION_SCORE_VALUE: &str = "gen_ai.evaluation.score.value";
pub(super) const GEN_AI_EVALUATION_SCORE_LABEL: &str = "gen_ai.evaluation.score.label";
pub(super) const GEN_AI_EVALUATION_EXPLANATION: &str = "gen_ai.evaluation.explanation";

// Values of `gen_ai.operation.name` and `gen_ai.tool.type` mv37 sends.
pub(super) const OPERATION_CHAT: &str = "chat";
pub(super) const OPERATION_EMBEDDINGS: &str = "embeddings";
pub(super) const OPERATION_RETRIEVAL: &str = "retrieval";
pub(super) const OPERATION_EXECUTE_TOOL: &str = "execute_tool";
pub(super) const OPERATION_INVOKE_AGENT: &str = "invoke_agent";
pub(super) const TOOL_TYPE_FUNCTION: &str = "function";

/// The registered `gen_ai.provider.name` values, keyed by the spellings mv37 users write
/// (compared lowercased, with everything but letters and digits removed). A provider not
/// listed is sent lowercased as written.
pub(super) const PROVIDER_NAMES: &[(&[&str], &str)] = &[
    (&["openai"], "openai"),
    (
        &["azure", "azureopenai", "azureaiopenai", "azaiopenai"],
        "azure.ai.openai",
    ),
    (
        &["azureaiinference", "azaiinference", "azureinference"],
        "azure.ai.inference",
    ),
    (&["anthropic", "claude"], "anthropic"),
    (
        &["gemini", "googlegemini", "gcpgemini", "googleai", "aistudio"],
        "gcp.gemini",
    ),
    (
        &["vertex", "vertexai", "googlevertex", "googlevertexai", "gcpvertexai"],
        "gcp.vertex_ai",
    ),
    (&["google", "googlegenai", "gcpgenai"], "gcp.gen_ai"),
    (&["bedrock", "awsbedrock", "amazonbedrock", "aws"], "aws.bedrock"),
    (&["cohere"], "cohere"),
    (&["watsonx", "ibmwatsonx", "ibmwatsonxai", "ibm"], "ibm.watsonx.ai"),
    (&["perplexity"], "perplexity"),
    (&["xai", "grok"], "x_ai"),
    (&["deepseek"], "deepseek"),
    (&["groq"], "groq"),
    (&["mistral", "mistralai"], "mistral_ai"),
];

/// The `finish_reason` of a message in `gen_ai.output.messages` (the output schema's
/// values), keyed by the reasons providers report (compared lowercased): OpenAI's,
/// Anthropic's, Gemini's. A reason not listed is sent as reported.
pub(super) const FINISH_REASONS: &[(&[&str], &str)] = &[
    (&["stop", "end_turn", "stop_sequence"], "stop"),
    (&["length", "max_tokens", "max_output_tokens"], "length"),
    (&["tool_calls", "tool_call", "function_call", "tool_use"], "tool_call"),
    (
        &["content_filter", "refusal", "safety", "recitation", "blocklist"],
        "content_filter",
    ),
    (&["error"], "error"),
];

// The `error.type` of a failure that names no class of its own (a string error, a boxed
// `dyn Error`): the conventions' fallback value.
pub(super) const ERROR_TYPE_OTHER: &str = "_OTHER";

// Langfuse's own attributes (its OTLP endpoint reads them over the conventions): the
// trace's name, tags and metadata, and each observation's type, model, usage and cost
// details and level.
pub(super) const LANGFUSE_TRACE_NAME: &str = "langfuse.trace.name";
pub(super) const LANGFUSE_TRACE_TAGS: &str = "langfuse.trace.tags";
pub(super) const LANGFUSE_TRACE_METADATA: &str = "langfuse.trace.metadata";
pub(super) const LANGFUSE_OBSERVATION_TYPE: &str = "langfuse.observation.type";
pub(super) const LANGFUSE_OBSERVATION_MODEL_NAME: &str = "langfuse.observation.model.name";
pub(super) const LANGFUSE_OBSERVATION_USAGE_DETAILS: &str = "langfuse.observation.usage_details";
pub(super) const LANGFUSE_OBSERVATION_COST_DETAILS: &str = "langfuse.observation.cost_details";
pub(super) const LANGFUSE_OBSERVATION_LEVEL: &str = "langfuse.observation.level";
pub(super) const LANGFUSE_OBSERVATION_STATUS_MESSAGE: &str = "langfuse.observation.status_message";
// OpenInference's list of the trace's tags.
pub(super) const TAG_TAGS: &str = "tag.tags";
// The trace attribute mv37 reads as the trace's tags (`TraceBuilder::tags`).
pub(super) const TAGS_ATTRIBUTE: &str = "tags";

// OpenInference conventions (Phoenix, Langfuse): span kind, input and output, metadata,
// model, provider, tool, token counts and cost.
pub(super) const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";
pub(super) const INPUT_VALUE: &str = "input.value";
pub(super) const INPUT_MIME_TYPE: &str = "input.mime_type";
pub(super) const OUTPUT_VALUE: &str = "output.value";
pub(super) const OUTPUT_MIME_TYPE: &str = "output.mime_type";
// The value and MIME-type keys together, as the encoder writes them.
pub(super) const INPUT: (&str, &str) = (INPUT_VALUE, INPUT_MIME_TYPE);
pub(super) const OUTPUT: (&str, &str) = (OUTPUT_VALUE, OUTPUT_MIME_TYPE);
pub(super) const METADATA: &str = "metadata";
pub(super) const LLM_MODEL_NAME: &str = "llm.model_name";
pub(super) const LLM_PROVIDER: &str = "llm.provider";
pub(super) const TOOL_NAME: &str = "tool.name";
pub(super) const TOOL_PARAMETERS: &str = "tool.parameters";
pub(super) const LLM_TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
pub(super) const LLM_TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
pub(super) const LLM_TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";
pub(super) const LLM_TOKEN_COUNT_PROMPT_CACHE_READ: &str = "llm.token_count.prompt_details.cache_read";
pub(super) const LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE: &str = "llm.token_count.prompt_details.cache_write";
pub(super) const LLM_TOKEN_COUNT_COMPLETION_REASONING: &str = "llm.token_count.completion_details.reasoning";
pub(super) const LLM_COST_TOTAL: &str = "llm.cost.total";
// The request's sampling parameters as one JSON object.
pub(super) const LLM_INVOCATION_PARAMETERS: &str = "llm.invocation_parameters";
// A retrieval's documents, flattened: `{RETRIEVAL_DOCUMENTS}.{i}.{DOCUMENT_ID}`.
pub(super) const RETRIEVAL_DOCUMENTS: &str = "retrieval.documents";
pub(super) const DOCUMENT_ID: &str = "document.id";
pub(super) const DOCUMENT_CONTENT: &str = "document.content";
pub(super) const DOCUMENT_SCORE: &str = "document.score";
pub(super) const DOCUMENT_METADATA: &str = "document.metadata";

// OpenInference messages, flattened: `{LLM_INPUT_MESSAGES}.{i}.{MESSAGE_ROLE}`, tool calls
// under `{MESSAGE_TOOL_CALLS}.{j}.`, content parts under `{MESSAGE_CONTENTS}.{j}.`.
pub(super) const LLM_INPUT_MESSAGES: &str = "llm.input_messages";
pub(super) const LLM_OUTPUT_MESSAGES: &str = "llm.output_messages";
pub(super) const MESSAGE_ROLE: &str = "message.role";
pub(super) const MESSAGE_CONTENT: &str = "message.content";
pub(super) const MESSAGE_TOOL_CALL_ID: &str = "message.tool_call_id";
pub(super) const MESSAGE_TOOL_CALLS: &str = "message.tool_calls";
pub(super) const TOOL_CALL_ID: &str = "tool_call.id";
pub(super) const TOOL_CALL_FUNCTION_NAME: &str = "tool_call.function.name";
pub(super) const TOOL_CALL_FUNCTION_ARGUMENTS: &str = "tool_call.function.arguments";
pub(super) const MESSAGE_CONTENTS: &str = "message.contents";
pub(super) const MESSAGE_CONTENT_TYPE: &str = "message_content.type";
pub(super) const MESSAGE_CONTENT_TEXT: &str = "message_content.text";
pub(super) const MESSAGE_CONTENT_IMAGE_URL: &str = "message_content.image.image.url";

// mv37's own (`mv37.*`), for what no convention covers: the record kind, the span's own
// name (when the OTLP name follows the conventions instead), trace identity, cancellation,
// internal messages, feedback, signals and the extra usage figures.
pub(super) const MV37_KIND: &str = "mv37.kind";
pub(super) const MV37_SPAN_NAME: &str = "mv37.span.name";
pub(super) const MV37_TRACE_NAME: &str = "mv37.trace.name";
pub(super) const MV37_EXTERNAL_TRACE_ID: &str = "mv37.external_trace_id";
pub(super) const MV37_STATUS: &str = "mv37.status";
pub(super) const MV37_IS_INTERNAL: &str = "mv37.is_internal";
pub(super) const MV37_FEEDBACK_NAME: &str = "mv37.feedback.name";
pub(super) const MV37_FEEDBACK_VALUE: &str = "mv37.feedback.value";
pub(super) const MV37_FEEDBACK_COMMENT: &str = "mv37.feedback.comment";
pub(super) const MV37_SIGNAL_NAME: &str = "mv37.signal.name";
pub(super) const MV37_SIGNAL_VALUE: &str = "mv37.signal.value";
pub(super) const MV37_USAGE_CONTEXT_WINDOW_TOKENS: &str = "mv37.usage.context_window_tokens";
pub(super) const MV37_USAGE_CONTEXT_USED_TOKENS: &str = "mv37.usage.context_used_tokens";
pub(super) const MV37_USAGE_COST_USD: &str = "mv37.usage.cost_usd";
// Read, not written: the streaming helpers' time to first chunk, in milliseconds (the same
// text as `llm::stream::TTFT_MS_ATTRIBUTE`, which this layer cannot import), sent again as
// `gen_ai.response.time_to_first_chunk` in seconds.
pub(super) const MV37_TTFT_MS: &str = "mv37.ttft_ms";
// Read, not written: a span attribute naming the tool call a tool span executes.
pub(super) const TOOL_CALL_ID_ATTRIBUTE: &str = "tool_call_id";
// Read, not written: a span attribute naming the agent an agent span runs, sent as
// `gen_ai.agent.id` unless that attribute is set itself.
pub(super) const AGENT_ID_ATTRIBUTE: &str = "agent_id";

#[cfg(test)]
mod tests {
    /// Every name and value above appears in code in `docs/OTLP.md` (an indexed
    /// OpenInference piece inside the key it builds), so the table stays whole.
    #[test]
    fn every_name_is_in_the_attribute_table_of_the_docs() {
        let docs = include_str!("../../../../docs/OTLP.md");
        let code: Vec<&str> = docs.split('`').skip(1).step_by(2).collect();
        let listed = |name: &str| code.iter().any(|span| span.contains(name));
        let source = include_str!("names.rs");
        let mut checked = 0;
        for line in source.lines().filter(|l| l.starts_with("pub(super) const ")) {
            let Some(name) = line.split('"').nth(1) else { continue };
            assert!(listed(name), "docs/OTLP.md does not list `{name}`");
            checked += 1;
        }
        for (_, name) in super::PROVIDER_NAMES.iter().chain(super::FINISH_REASONS) {
            assert!(listed(name), "docs/OTLP.md does not list `{name}`");
        }
        assert!(checked > 60, "only {checked} names found: has names.rs changed shape?");
    }
}
