//! The `agent` case's workload: one turn of an LLM agent per iteration, the same for
//! every stack that runs it.
//!
//! A turn is a root (`agent_turn`, the user's question as input and the answer as
//! output) holding an agent span (`support_agent`), which holds [`MODEL_CALLS`] model
//! calls and [`TOOL_CALLS`] tool calls, alternating and ending with a model call: nine
//! spans. Each model call has a ~200-byte JSON request as input, a ~200-byte JSON response
//! as output and its token usage; each tool call has JSON arguments and a JSON result.
//! The payloads are built once and serialized for every span, as a program would
//! serialize its own request and response values.
//!
//! The OpenTelemetry stack sets what a program instrumented by hand after the GenAI
//! semantic conventions would: the names [`LLM_SPAN`], [`TOOL_SPAN`] and [`AGENT_SPAN`];
//! `gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.provider.name`,
//! `gen_ai.usage.input_tokens` and `gen_ai.usage.output_tokens` on model calls, with the
//! payloads as `input.value` and `output.value`; `gen_ai.tool.name`,
//! `gen_ai.tool.call.arguments` and `gen_ai.tool.call.result` on tool calls;
//! `gen_ai.agent.name` on the agent span. mv37 sends what its OTLP encoder makes of the
//! same records, which is more (OpenInference's names beside the GenAI ones, MIME types,
//! its own kind): the receiver counts the attributes, so the bytes per span can be read
//! with that in mind.

use serde_json::{json, Value};

/// Model calls per turn.
pub const MODEL_CALLS: u64 = 4;
/// Tool calls per turn (one after each model call but the last).
pub const TOOL_CALLS: u64 = MODEL_CALLS - 1;
/// Spans per turn: the root, the agent span, the model calls and the tool calls.
pub const SPANS_PER_TURN: u64 = 2 + MODEL_CALLS + TOOL_CALLS;
/// The producing loop flushes the stack every this many turns (900 spans: one full
/// batch of 512 and part of another), outside its wall time ([`crate::Meter::pause`]): a
/// real agent waits seconds for each model call, so its exporter keeps up and sends a
/// few turns per batch interval, whereas a loop that makes turns back to back outruns
/// any exporter that encodes, compresses and sends, and both stacks would then drop
/// spans and skip their work. The CPU of the flushes counts. What is queued between two
/// flushes is most of either stack's peak memory: at 1,000 turns per flush (before
/// issue 18's seventh session) mv37 peaked at 19.3 MiB and the OpenTelemetry SDK at
/// 41 MiB, at 100 turns at 12.0 and 35 MiB.
pub const TURNS_PER_FLUSH: u64 = 100;

/// The root's name.
pub const TURN: &str = "agent_turn";
/// The agent's name.
pub const AGENT: &str = "support_agent";
/// The model calls' name in mv37 (its encoder names the OTLP span [`LLM_SPAN`]).
pub const LLM: &str = "chat";
/// The tool's name.
pub const TOOL: &str = "search_orders";
/// The model.
pub const MODEL: &str = "gpt-4.1-mini";
/// The provider.
pub const PROVIDER: &str = "openai";
/// The OTLP name of a model call, as the GenAI conventions form it.
pub const LLM_SPAN: &str = "chat gpt-4.1-mini";
/// The OTLP name of a tool call.
pub const TOOL_SPAN: &str = "execute_tool search_orders";
/// The OTLP name of the agent span.
pub const AGENT_SPAN: &str = "invoke_agent support_agent";
/// Input tokens of every model call.
pub const INPUT_TOKENS: i64 = 812;
/// Output tokens of every model call.
pub const OUTPUT_TOKENS: i64 = 64;

/// The JSON values a turn records.
#[derive(Debug, Clone)]
pub struct Payloads {
    /// The root's input: the user's question.
    pub question: Value,
    /// The root's output: the answer.
    pub answer: Value,
    /// A model call's input: the request.
    pub llm_input: Value,
    /// A model call's output: the response.
    pub llm_output: Value,
    /// A tool call's arguments.
    pub tool_arguments: Value,
    /// A tool call's result.
    pub tool_result: Value,
}

impl Payloads {
    /// The values every run records.
    pub fn sample() -> Self {
        Payloads {
            question: json!({ "user": "cus_123", "text": "Where is my order 4421? It should have arrived on Monday." }),
            answer: json!({ "text": "Order 4421 shipped on Friday and is out for delivery today; it should reach you by 6 pm." }),
            llm_input: json!({
                "model": MODEL,
                "temperature": 0.2,
                "messages": [
                    { "role": "system", "content": "You are the support agent of an online shop. Be brief." },
                    { "role": "user", "content": "Where is my order 4421? It should have arrived on Monday." }
                ]
            }),
            llm_output: json!({
                "role": "assistant",
                "finish_reason": "tool_calls",
                "content": "Let me look the order up.",
                "tool_calls": [
                    { "id": "call_8f2a", "name": TOOL, "arguments": { "order_id": "4421", "fields": ["status", "carrier", "eta"] } }
                ]
            }),
            tool_arguments: json!({
                "order_id": "4421",
                "customer": "cus_123",
                "fields": ["status", "carrier", "eta", "address", "events"],
                "reason": "the customer says the order is late; it was expected on Monday",
                "max_events": 10,
                "locale": "en-GB"
            }),
            tool_result: json!({
                "order_id": "4421",
                "status": "out_for_delivery",
                "carrier": "UPS",
                "tracking": "1Z999AA10123456784",
                "eta": "2026-11-25T18:00:00Z",
                "last_event": "departed the local depot at 07:42",
                "address": "221B Baker Street, London"
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_nine_spans() {
        assert_eq!(SPANS_PER_TURN, 9);
    }

    #[test]
    fn the_model_and_tool_payloads_are_about_200_bytes_of_json() {
        let payloads = Payloads::sample();
        for (name, value) in [
            ("llm_input", &payloads.llm_input),
            ("llm_output", &payloads.llm_output),
            ("tool_arguments", &payloads.tool_arguments),
            ("tool_result", &payloads.tool_result),
        ] {
            let bytes = value.to_string().len();
            assert!((170..=240).contains(&bytes), "{name} is {bytes} bytes");
        }
    }
}
