#!/usr/bin/env python3
"""Runs one example of examples/ offline, the way a user would, and checks what it wrote.

    .ci/check-example.py support_agent|openai_agent|async_agent|otlp_export|rag_agent|rig_agent [cargo args...]

It runs `cargo run --quiet --example NAME` (plus the extra cargo args, such as
`--locked`; `-p mv37-rig-example` for rig_agent, a package of its own) in a fresh
temporary directory, under a time bound, with no network: openai_agent and rig_agent talk to their local fake APIs,
otlp_export to a collector this script serves on
127.0.0.1 (once over OTLP/HTTP protobuf, the default, and once over JSON with gzip). The
records are read back with the standard library only (json, gzip and a small protobuf
reader), not with mv37's code: each check names the trace, the spans and their parents,
the usage, and that the printed stats balance with nothing dropped.
"""

import gzip
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

# Longest time one example may run, building excluded (CI builds the examples first).
TIMEOUT_S = 120


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def run_example(name, cargo_args, env_extra, workdir):
    env = dict(os.environ)
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MV37_EXPORTER", "MV37_DISABLED", "MV37_SAMPLE_RATE"):
        env.pop(key, None)
    for key in list(env):
        if key.startswith("OTEL_"):
            del env[key]
    env.update(env_extra)
    command = ["cargo", "run", "--quiet", *cargo_args, "--example", name]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"`{' '.join(command)}` did not finish within {TIMEOUT_S} s")
    if done.returncode != 0:
        raise CheckFailed(
            f"`{' '.join(command)}` exited with {done.returncode}\n"
            f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
        )
    return done.stdout, done.stderr


def read_jsonl(path):
    expect(os.path.exists(path), f"{path} was not written")
    records = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise CheckFailed(f"{path}:{number} is not JSON: {error}")
            expect(isinstance(record, dict), f"{path}:{number} is not an object")
            expect(record.get("v") == 1, f"{path}:{number}: version {record.get('v')!r}, expected 1")
            expect(
                record.get("type") in ("trace", "span", "message", "feedback", "signal"),
                f"{path}:{number}: unknown type {record.get('type')!r}",
            )
            expect(re.fullmatch(r"[0-9a-f]{32}", record.get("trace_id", "")), f"{path}:{number}: bad trace_id")
            records.append(record)
    expect(records, f"{path} is empty")
    return records


def the_trace(records, name):
    traces = [r for r in records if r["type"] == "trace"]
    expect(len(traces) == 1, f"expected one trace record, found {len(traces)}")
    trace = traces[0]
    expect(trace["name"] == name, f"the trace is named {trace['name']!r}, expected {name!r}")
    expect(trace["status"] == "ok", f"the trace's status is {trace['status']!r}")
    expect(all(r["trace_id"] == trace["trace_id"] for r in records), "every record belongs to the one trace")
    return trace


def spans_by_name(records):
    spans = {}
    for record in records:
        if record["type"] == "span":
            expect(record["name"] not in spans, f"two spans named {record['name']!r}")
            expect(record["status"] == "ok", f"span {record['name']} has status {record['status']!r}")
            expect(
                record["end_time_unix_nano"] >= record["start_time_unix_nano"],
                f"span {record['name']} ends before it starts",
            )
            spans[record["name"]] = record
    return spans


def expect_spans(spans, trace, tree):
    """tree: {name: (kind, parent name or None for the trace)}."""
    expect(sorted(spans) == sorted(tree), f"spans {sorted(spans)}, expected {sorted(tree)}")
    for name, (kind, parent) in tree.items():
        span = spans[name]
        expect(span["kind"] == kind, f"span {name} is a {span['kind']!r}, expected {kind!r}")
        parent_id = trace["span_id"] if parent is None else spans[parent]["span_id"]
        expect(
            span["parent_span_id"] == parent_id,
            f"span {name}'s parent is {span['parent_span_id']}, expected {parent or 'the trace'} ({parent_id})",
        )


def expect_stats_line(stdout, records, path):
    match = re.search(r"mv37: (\d+) records exported to (.+) \((\d+) dropped, (\d+) queued\)", stdout)
    expect(match, f"no stats line on stdout:\n{stdout}")
    exported, printed_path, dropped, queued = match.groups()
    expect(printed_path == path, f"the stats line names {printed_path}, the file is {path}")
    expect(
        (int(dropped), int(queued)) == (0, 0),
        f"{dropped} records dropped, {queued} queued: {match.group(0)}",
    )
    expect(
        int(exported) == len(records),
        f"{exported} records counted as exported, {len(records)} in the file",
    )
    return int(exported)


def check_support_agent(cargo_args, workdir):
    path = os.path.join(workdir, "traces.jsonl")
    stdout, stderr = run_example("support_agent", cargo_args, {"MV37_JSONL_PATH": path}, workdir)
    records = read_jsonl(path)
    trace = the_trace(records, "support_agent")
    expect(trace.get("user_id") == "cus_123" and trace.get("conversation_id") == "thread_123", "trace ids")
    expect(trace.get("context") == {"tenant": "acme"}, f"trace context {trace.get('context')!r}")
    expect(len(trace.get("messages", [])) == 4, "the trace carries its four messages")
    spans = spans_by_name(records)
    expect_spans(
        spans,
        trace,
        {
            "search_docs": ("retrieval", None),
            "resolve_ticket": ("task", None),
            "openai.responses": ("llm", "resolve_ticket"),
            "issue_refund": ("tool", "resolve_ticket"),
        },
    )
    usage = spans["openai.responses"].get("usage", {})
    expect(
        (usage.get("input_tokens"), usage.get("output_tokens"), usage.get("cached_tokens")) == (812, 64, 512),
        f"llm usage {usage!r}",
    )
    feedback = sorted(r["name"] for r in records if r["type"] == "feedback")
    expect(feedback == ["csat", "helpfulness"], f"feedback {feedback!r}")
    signals = [(r["name"], r["value"]) for r in records if r["type"] == "signal"]
    expect(signals == [("refund_issued", True)], f"signals {signals!r}")
    exported = expect_stats_line(stdout, records, path)
    expect(f"trace support_agent ok" in stderr, "the console tree is on stderr")
    return f"{exported} records: trace support_agent, {len(spans)} spans with their parents, 2 feedback, 1 signal; stats balanced, 0 dropped"


def check_openai_agent(cargo_args, workdir):
    path = os.path.join(workdir, "traces.jsonl")
    stdout, stderr = run_example("openai_agent", cargo_args, {"MV37_JSONL_PATH": path}, workdir)
    expect("local fake Responses API at http://127.0.0.1:" in stderr, "it used the local fake API")
    expect("agent: Your order 4421 has shipped" in stdout, f"the agent's answer:\n{stdout}")
    records = read_jsonl(path)
    trace = the_trace(records, "openai_agent")
    spans = spans_by_name(records)
    expect_spans(
        spans,
        trace,
        {
            "search_docs": ("retrieval", None),
            "resolve_ticket": ("task", None),
            "openai.responses": ("llm", "resolve_ticket"),
            "issue_refund": ("tool", "resolve_ticket"),
            "openai.responses.stream": ("llm", "resolve_ticket"),
        },
    )
    for name in ("openai.responses", "openai.responses.stream"):
        usage = spans[name].get("usage", {})
        expect(usage.get("input_tokens", 0) > 0 and usage.get("output_tokens", 0) > 0, f"{name} usage {usage!r}")
        expect(usage.get("cost_usd", 0) > 0, f"{name} has a cost: {usage!r}")
        expect(spans[name].get("messages"), f"{name} carries its messages")
    streamed = spans["openai.responses.stream"]["messages"][-1]
    expect(
        streamed.get("role") == "assistant" and "refunded" in json.dumps(streamed.get("content")),
        f"the streamed answer is the stream span's last message: {streamed!r}",
    )
    exported = expect_stats_line(stdout, records, path)
    return f"{exported} records: trace openai_agent, {len(spans)} spans (one streamed) with usage and cost; stats balanced, 0 dropped"


def check_rag_agent(cargo_args, workdir):
    path = os.path.join(workdir, "traces.jsonl")
    stdout, stderr = run_example("rag_agent", cargo_args, {"MV37_JSONL_PATH": path}, workdir)
    records = read_jsonl(path)
    traces = [r for r in records if r["type"] == "trace"]
    expect([(t["name"], t["status"]) for t in traces] == [("rag_agent", "ok"), ("rag_agent", "error")],
           f"traces {[(t['name'], t['status']) for t in traces]}")
    answered, failed = traces
    expect(answered.get("user_id") == "cus_123" and answered.get("session_id") == "sess_42", "trace ids")
    expect(answered.get("attributes", {}).get("tags") == ["rag", "anthropic"], "the trace's tags")
    spans = {r["name"]: r for r in records if r["type"] == "span"}
    tree = {
        "support_agent": ("agent", answered["span_id"]),
        "search_kb": ("retrieval", spans.get("support_agent", {}).get("span_id")),
        "anthropic.messages": ("llm", spans.get("support_agent", {}).get("span_id")),
        "issue_refund": ("tool", spans.get("support_agent", {}).get("span_id")),
        "track_parcel": ("tool", failed["span_id"]),
    }
    expect(sorted(spans) == sorted(tree), f"spans {sorted(spans)}, expected {sorted(tree)}")
    for name, (kind, parent) in tree.items():
        expect(spans[name]["kind"] == kind, f"span {name} is a {spans[name]['kind']!r}, expected {kind!r}")
        expect(spans[name]["parent_span_id"] == parent, f"span {name}'s parent is {spans[name]['parent_span_id']}")
    expect(spans["track_parcel"]["status"] == "error", "the failed tool span is an error")
    documents = spans["search_kb"].get("documents", [])
    expect([d.get("id") for d in documents] == ["kb-12", "kb-47"], f"documents {documents!r}")
    expect(all(d.get("content") and d.get("score") is not None for d in documents), "documents have text and scores")
    llm = spans["anthropic.messages"]
    usage = llm.get("usage", {})
    got = tuple(usage.get(k) for k in ("input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens"))
    expect(got == (3638, 2400, 1200, 96), f"llm usage {usage!r}")
    expect(usage.get("cost_usd", 0) > 0, "the llm call is priced")
    expect((llm.get("request") or {}).get("temperature") == 0.2, f"request parameters {llm.get('request')!r}")
    expect((llm.get("response") or {}).get("id") == "msg_01RagAgentExample", f"response {llm.get('response')!r}")
    feedback = {r["name"]: r for r in records if r["type"] == "feedback"}
    expect(sorted(feedback) == ["csat", "grounded", "thumbs"], f"feedback {sorted(feedback)}")
    expect(feedback["thumbs"]["trace_id"] == failed["trace_id"], "the thumbs-down is on the failed trace")
    late = feedback["csat"]
    expect(late.get("root_span_id") == answered["span_id"], "late feedback names the trace's root span")
    expect(late.get("context") == {"tenant": "acme"}, f"late feedback keeps the trace's context: {late.get('context')!r}")
    exported = expect_stats_line(stdout, records, path)
    expect("agent support_agent ok" in stderr, "the console tree is on stderr")
    return (f"{exported} records: two rag_agent traces (ok, error), agent → retrieval (2 documents), llm "
            "(cache reads and writes, priced), tool; 3 feedback, the late one under the trace's root; stats balanced")


def check_axum_otel(cargo_args, workdir):
    path = os.path.join(workdir, "traces.jsonl")
    stdout, _ = run_example(
        "axum_otel", [*cargo_args, "--features", "tracing,opentelemetry"], {"MV37_JSONL_PATH": path}, workdir
    )
    records = read_jsonl(path)
    trace = the_trace(records, "answer_order")
    match = re.search(r"http trace ([0-9a-f]{32}) span ([0-9a-f]{16})", stdout)
    expect(match, f"no http trace line on stdout:\n{stdout}")
    http_trace, http_span = match.groups()
    expect(trace["trace_id"] == http_trace, f"mv37 trace {trace['trace_id']}, HTTP trace {http_trace}: not one trace")
    expect(trace.get("parent_span_id") == http_span, f"the mv37 trace's parent is {trace.get('parent_span_id')}, not the HTTP span {http_span}")
    spans = spans_by_name(records)
    expect_spans(spans, trace, {"lookup_order": ("tool", None)})
    exported = expect_stats_line(stdout, records, path)
    return f"{exported} records: the handler's mv37 trace continues the HTTP span's OpenTelemetry trace ({http_trace}); stats balanced"


def check_async_agent(cargo_args, workdir):
    # The example exports to the console only: read its tree on stderr.
    stdout, stderr = run_example("async_agent", cargo_args, {}, workdir)
    lines = [line for line in stderr.splitlines() if line.strip()]
    roots = [i for i, line in enumerate(lines) if line.startswith("trace ")]
    expect(len(roots) == 1, f"expected one trace tree on stderr, found {len(roots)}:\n{stderr}")
    expect(re.match(r"trace support_agent ok .*user=cus_123", lines[roots[0]]), f"the root: {lines[roots[0]]}")
    children = [line for line in lines[roots[0] + 1 :] if re.match(r"[├└]─ ", line)]
    nested = [line for line in lines[roots[0] + 1 :] if not re.match(r"[├└]─ ", line)]
    expect(not nested, f"every span is a direct child of the trace (spawned tasks included): {nested}")
    kinds = sorted(" ".join(line[3:].split()[:2]) for line in children if not line[3:].startswith("message"))
    expect(
        kinds == ["llm openai.responses", "tool carrier_eta", "tool order_status"],
        f"spans under the trace: {kinds}",
    )
    expect(all(" ok " in line for line in children if not line[3:].startswith("message")), "every span ok")
    messages = [line for line in children if line[3:].startswith("message")]
    expect(len(messages) == 2, f"two messages: {messages}")
    return "one trace support_agent with llm openai.responses and both spawned tools (order_status, carrier_eta) as its children, 2 messages"


def check_rig_agent(cargo_args, workdir):
    # The example is in its own package, examples/rig (not a default member).
    path = os.path.join(workdir, "traces.jsonl")
    cargo_args = [*cargo_args, "-p", "mv37-rig-example"]
    stdout, stderr = run_example("rig_agent", cargo_args, {"MV37_JSONL_PATH": path}, workdir)
    expect("local fake Chat Completions API at http://127.0.0.1:" in stderr, "it used the local fake API")
    expect("agent: Your order 4421 has shipped" in stdout, f"the agent's answer:\n{stdout}")
    expect("agent (streamed): Done:" in stdout, f"the streamed answer:\n{stdout}")
    records = read_jsonl(path)
    trace = the_trace(records, "rig_agent")
    # rig names its spans after the agent and the operation: several share a name, so
    # the tree is read in start order.
    spans = sorted((r for r in records if r["type"] == "span"), key=lambda r: r["start_time_unix_nano"])
    shape = [(s["kind"], s["name"]) for s in spans]
    expect(
        shape
        == [
            ("agent", "support"),
            ("llm", "chat"),
            ("tool", "lookup_order"),
            ("task", "find_order"),
            ("llm", "chat"),
            ("agent", "support"),
            ("llm", "chat"),
        ],
        f"spans in start order {shape}",
    )
    agent, call_tool, tool, find_order, answer, follow_up, streamed = spans
    for span, parent, parent_name in (
        (agent, trace, "the trace"),
        (call_tool, agent, "the agent"),
        (tool, agent, "the agent"),
        (find_order, tool, "rig's tool span"),
        (answer, agent, "the agent"),
        (follow_up, trace, "the trace"),
        (streamed, follow_up, "the second agent"),
    ):
        expect(span["status"] == "ok", f"span {span['kind']} {span['name']} has status {span['status']!r}")
        expect(
            span["parent_span_id"] == parent["span_id"],
            f"{span['kind']} {span['name']}'s parent is {span['parent_span_id']}, expected {parent_name}",
        )
    for call, expected in ((call_tool, (412, 19)), (answer, (468, 17)), (streamed, (505, 12))):
        usage = call.get("usage", {})
        expect((usage.get("input_tokens"), usage.get("output_tokens")) == expected, f"llm usage {usage!r}")
        expect(call.get("model") == "gpt-4.1-mini" and call.get("provider") == "openai", f"model {call.get('model')!r}")
        expect(call.get("messages"), "each llm span carries its messages")
    roles = [m["role"] for m in answer["messages"]]
    expect(roles == ["system", "user", "assistant", "tool", "assistant"], f"the second call's messages: {roles}")
    expect(streamed.get("attributes", {}).get("gen_ai.request.stream") is True, "the streamed call says so")
    expect(tool.get("input") == {"order_id": "4421"}, f"the tool's arguments {tool.get('input')!r}")
    exported = expect_stats_line(stdout, records, path)
    expect("tool lookup_order ok" in stderr and "task find_order ok" in stderr, "the console tree is on stderr")
    return (f"{exported} records: trace rig_agent, agent → llm → tool (the mv37 task inside) → llm, then agent → "
            "streamed llm, with usage and messages; stats balanced, 0 dropped")


# --- otlp_export: a collector on loopback, and an independent reader of what it got ---


def varint(data, at):
    value = shift = 0
    while True:
        expect(at < len(data), "truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def protobuf_fields(data):
    """(field number, wire type, value) of one protobuf message; bytes for length-delimited."""
    at = 0
    while at < len(data):
        key, at = varint(data, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 2:
            length, at = varint(data, at)
            value, at = data[at : at + length], at + length
            expect(at <= len(data), "truncated field")
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            raise CheckFailed(f"unexpected wire type {wire}")
        yield field, wire, value


def spans_from_protobuf(body):
    """ExportTraceServiceRequest: resource_spans = 1 > scope_spans = 2 > spans = 2; a span's
    trace_id = 1, span_id = 2, parent_span_id = 4, name = 5; resource = 1 > attributes = 1."""
    spans, services = [], []
    for field, _, resource_spans in protobuf_fields(body):
        expect(field == 1, f"unexpected field {field} in ExportTraceServiceRequest")
        for field, _, value in protobuf_fields(resource_spans):
            if field == 1:  # Resource
                for attr_field, _, attribute in protobuf_fields(value):
                    if attr_field != 1:
                        continue
                    key = next((v for f, _, v in protobuf_fields(attribute) if f == 1), b"").decode()
                    any_value = next((v for f, _, v in protobuf_fields(attribute) if f == 2), b"")
                    if key == "service.name":
                        services.append(next(v for f, _, v in protobuf_fields(any_value) if f == 1).decode())
            elif field == 2:  # ScopeSpans
                for scope_field, _, span in protobuf_fields(value):
                    if scope_field != 2:
                        continue
                    fields = {f: v for f, _, v in protobuf_fields(span)}
                    spans.append(
                        {
                            "trace_id": fields.get(1, b"").hex(),
                            "span_id": fields.get(2, b"").hex(),
                            "parent_span_id": fields.get(4, b"").hex(),
                            "name": fields.get(5, b"").decode(),
                        }
                    )
    return spans, services


def spans_from_json(body):
    request = json.loads(body)
    spans, services = [], []
    for resource_spans in request.get("resourceSpans", []):
        for attribute in resource_spans.get("resource", {}).get("attributes", []):
            if attribute["key"] == "service.name":
                services.append(attribute["value"]["stringValue"])
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                spans.append(
                    {
                        "trace_id": span.get("traceId", ""),
                        "span_id": span.get("spanId", ""),
                        "parent_span_id": span.get("parentSpanId", ""),
                        "name": span.get("name", ""),
                    }
                )
    return spans, services


class Collector(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), CollectorHandler)
        self.requests = []
        self.lock = threading.Lock()


class CollectorHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.lock:
            self.server.requests.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def check_otlp_export_once(cargo_args, workdir, protocol, compression):
    collector = Collector()
    server = threading.Thread(target=collector.serve_forever, daemon=True)
    server.start()
    try:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_COMPRESSION": compression,
        }
        stdout, stderr = run_example("otlp_export", cargo_args, env, workdir)
    finally:
        collector.shutdown()
        server.join(timeout=10)
    match = re.search(r"mv37: (\d+) records exported, (\d+) dropped", stdout)
    expect(match, f"no stats line on stdout:\n{stdout}\n{stderr}")
    exported, dropped = map(int, match.groups())
    expect(dropped == 0, f"{dropped} records dropped: {stdout}")
    expect(collector.requests, "the collector received nothing")
    spans, services = [], []
    for path, content_type, body in collector.requests:
        expect(path == "/v1/traces", f"request to {path}")
        if protocol == "http/json":
            expect(content_type.startswith("application/json"), f"content type {content_type!r}")
            got, service = spans_from_json(body)
        else:
            expect(content_type.startswith("application/x-protobuf"), f"content type {content_type!r}")
            got, service = spans_from_protobuf(body)
        spans += got
        services += service
    expect(set(services) == {"support-agent-example"}, f"service.name {services!r}")
    expect(len(spans) == exported, f"{len(spans)} spans arrived, {exported} counted as exported")
    named = {}
    for span in spans:
        expect(re.fullmatch(r"[0-9a-f]{32}", span["trace_id"]), f"trace id {span['trace_id']!r}")
        expect(re.fullmatch(r"[0-9a-f]{16}", span["span_id"]), f"span id {span['span_id']!r}")
        named.setdefault(span["name"], []).append(span)
    expect(len({s["trace_id"] for s in spans}) == 1, "one trace")
    # LLM and tool spans are named by the OpenTelemetry GenAI conventions in OTLP
    # ("{operation} {model}", "execute_tool {tool}"); the others keep mv37's names.
    llm, tool = "chat gpt-4.1-mini", "execute_tool track_order"
    for name in ("support_agent", "search_docs", "resolve_ticket", llm, tool):
        expect(len(named.get(name, [])) == 1, f"one span named {name}, got {sorted(named)}")
    one = {name: found[0] for name, found in named.items()}
    root = one["support_agent"]
    expect(root["parent_span_id"] == "", f"the trace's span is a root: {root}")
    for child, parent in (
        ("search_docs", "support_agent"),
        ("resolve_ticket", "support_agent"),
        (llm, "resolve_ticket"),
        (tool, "resolve_ticket"),
    ):
        expect(
            one[child]["parent_span_id"] == one[parent]["span_id"],
            f"{child}'s parent is {one[child]['parent_span_id']}, expected {parent}",
        )
    return f"{protocol}{' + gzip' if compression == 'gzip' else ''}: {len(spans)} spans in {len(collector.requests)} request(s), tree as recorded"


def check_otlp_export(cargo_args, workdir):
    return "; ".join(
        check_otlp_export_once(cargo_args, workdir, protocol, compression)
        for protocol, compression in (("http/protobuf", "none"), ("http/json", "gzip"))
    ) + "; 0 dropped"


def check_async_openai_agent(cargo_args, workdir):
    path = os.path.join(workdir, "traces.jsonl")
    stdout, stderr = run_example(
        "async_openai_agent", [*cargo_args, "--features", "async-openai"], {"MV37_JSONL_PATH": path}, workdir
    )
    expect("local fake Chat Completions API at http://127.0.0.1:" in stderr, "it used the local fake API")
    expect("agent: Your order 4421 has shipped" in stdout, f"the agent's answer:\n{stdout}")
    records = read_jsonl(path)
    trace = the_trace(records, "async_openai_agent")
    spans = [r for r in records if r["type"] == "span"]
    agent = [s for s in spans if s["name"] == "support_agent"]
    expect(len(agent) == 1 and agent[0]["parent_span_id"] == trace["span_id"], "the agent span under the trace")
    calls = sorted((s for s in spans if s["kind"] == "llm"), key=lambda s: s["start_time_unix_nano"])
    expect(len(calls) == 2, f"two llm spans, none written by hand: {[s['name'] for s in spans]}")
    tool = [s for s in spans if s["kind"] == "tool"]
    expect(len(tool) == 1 and tool[0]["name"] == "lookup_order", f"the tool span: {tool}")
    for call in calls + tool:
        expect(call["parent_span_id"] == agent[0]["span_id"], f"{call['name']} is a child of the agent span")
    for call in calls:
        expect(call["name"] == "chat gpt-4.1-mini" and call.get("model") == "gpt-4.1-mini", f"name and model: {call['name']}")
        expect(call.get("provider") == "openai_compatible", f"provider {call.get('provider')!r}")
        usage = call.get("usage", {})
        expect(usage.get("input_tokens") == 182 and usage.get("cached_tokens") == 128, f"usage {usage!r}")
        expect(usage.get("cost_usd", 0) > 0, f"a cost: {usage!r}")
        expect(call.get("request", {}).get("temperature") == 0.2, f"request params {call.get('request')!r}")
        expect(call.get("attributes", {}).get("http.response.status_code") == 200, "the HTTP status")
    asked, streamed = calls
    expect(asked.get("response", {}).get("finish_reasons") == ["tool_calls"], f"finish {asked.get('response')!r}")
    expect("gen_ai.tool.definitions" in asked.get("attributes", {}), "the tools offered")
    expect("mv37.ttft_ms" in streamed.get("attributes", {}), "the stream's time to first token")
    expect(
        streamed.get("output") == "Your order 4421 has shipped with DHL and arrives tomorrow.",
        f"the streamed output, assembled: {streamed.get('output')!r}",
    )
    exported = expect_stats_line(stdout, records, path)
    return f"{exported} records: two async-openai calls (one streamed) recorded as llm spans under the agent, with usage, cost and TTFT; stats balanced"


CHECKS = {
    "support_agent": check_support_agent,
    "openai_agent": check_openai_agent,
    "async_agent": check_async_agent,
    "otlp_export": check_otlp_export,
    "rag_agent": check_rag_agent,
    "axum_otel": check_axum_otel,
    "rig_agent": check_rig_agent,
    "async_openai_agent": check_async_openai_agent,
}


def main():
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} {{{'|'.join(CHECKS)}}} [cargo args...]", file=sys.stderr)
        return 64
    if sys.argv[1] not in CHECKS:
        print(
            f"example {sys.argv[1]}: FAILED: no check for it in {sys.argv[0]}: add one"
            f" (the examples checked are {', '.join(CHECKS)})",
            file=sys.stderr,
        )
        return 1
    name, cargo_args = sys.argv[1], sys.argv[2:]
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix=f"mv37-example-{name}-") as workdir:
        # Run from the repository (cargo finds the workspace), write into workdir.
        os.chdir(repository)
        try:
            summary = CHECKS[name](cargo_args, workdir)
        except CheckFailed as failure:
            print(f"example {name}: FAILED: {failure}", file=sys.stderr)
            return 1
    print(f"example {name}: ok: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
