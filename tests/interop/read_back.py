"""Reads mv37's spans and feedback back from Phoenix or MLflow through the server's own
Python client and compares them, field by field, with the records mv37 wrote to JSONL.
Run by run.py in the virtualenv that has the servers' packages:

    python read_back.py REQUEST.json

REQUEST.json: {"backend": "phoenix"|"mlflow", "base": URL, "records": [JSONL records]}.
Prints a Markdown table (field | sent as | result) and exits 1 if a field is wrong.
"""

import json
import sys
import time

PROJECT = "mv37-interop"
READ_BACK_SECONDS = 120

PHOENIX_KINDS = {"llm": "LLM", "tool": "TOOL", "retrieval": "RETRIEVER", "agent": "AGENT"}
TOKENS = [
    # (usage field, OpenInference key, MLflow tokenUsage key, OTel GenAI key)
    ("input_tokens", "llm.token_count.prompt", "input_tokens", "gen_ai.usage.input_tokens"),
    ("output_tokens", "llm.token_count.completion", "output_tokens", "gen_ai.usage.output_tokens"),
    ("cached_tokens", "llm.token_count.prompt_details.cache_read", "cache_read_input_tokens",
     "gen_ai.usage.cache_read.input_tokens"),
    ("cache_write_tokens", "llm.token_count.prompt_details.cache_write", "cache_creation_input_tokens",
     "gen_ai.usage.cache_creation.input_tokens"),
    ("reasoning_tokens", "llm.token_count.completion_details.reasoning", None,
     "gen_ai.usage.reasoning.output_tokens"),
]


class Table:
    """One row per field: how many records had it, how many arrived right, the first miss."""

    def __init__(self):
        self.rows = {}

    def check(self, field, sent_as, ok, detail):
        row = self.rows.setdefault(field, {"sent_as": sent_as, "ok": 0, "total": 0, "miss": None})
        row["total"] += 1
        if ok:
            row["ok"] += 1
        elif row["miss"] is None:
            row["miss"] = detail

    def equal(self, field, sent_as, expected, actual, where):
        self.check(field, sent_as, expected == actual, f"{where}: expected {expected!r}, got {actual!r}")

    def print(self, backend):
        print(f"\n| field | sent as | {backend} |")
        print("|---|---|---|")
        failed = False
        for field, row in self.rows.items():
            if row["ok"] == row["total"]:
                result = f"ok ({row['ok']}/{row['total']})"
            else:
                failed = True
                result = f"**{row['ok']}/{row['total']}**: {row['miss']}"
            print(f"| {field} | {row['sent_as']} | {result} |")
        return failed


def otlp_name(record):
    kind, name, model = record.get("kind"), record["name"], record.get("model")
    if kind == "llm":
        return f"chat {model}" if model else "chat"
    if kind == "tool":
        return f"execute_tool {name}"
    if kind == "agent":
        return f"invoke_agent {name}"
    return name


def spans_of(records):
    """Every record that becomes an OTLP span of its own: traces and spans."""
    return [r for r in records if r["type"] in ("trace", "span")]


def scope_of(records):
    """trace id → (user, session) as the trace recorded them."""
    scopes = {}
    for r in records:
        if r["type"] == "trace":
            scopes[r["trace_id"]] = (r.get("user_id"), r.get("session_id") or r.get("conversation_id"))
    return scopes


def verdicts(records):
    """Feedback and signals: what each backend should hold as feedback objects."""
    return [r for r in records if r["type"] in ("feedback", "signal")]


def score_and_label(value):
    if isinstance(value, bool):
        return (1.0 if value else 0.0), str(value).lower()
    if isinstance(value, (int, float)):
        return float(value), None
    if isinstance(value, str):
        return None, value
    return None, json.dumps(value, separators=(",", ":"))


def poll(fetch, complete, what):
    deadline = time.time() + READ_BACK_SECONDS
    while True:
        got = fetch()
        if complete(got) or time.time() > deadline:
            if not complete(got):
                print(f"(gave up waiting for {what} after {READ_BACK_SECONDS} s)", file=sys.stderr)
            return got
        time.sleep(1)


def message_count(attributes, prefix):
    indices = set()
    for key in attributes:
        if key.startswith(prefix + "."):
            rest = key[len(prefix) + 1:]
            indices.add(rest.split(".", 1)[0])
    return len(indices)


def check_phoenix(base, records):
    from phoenix.client import Client

    client = Client(base_url=base)
    expected = spans_of(records)
    wanted = {r["span_id"] for r in expected}

    def fetch_spans():
        spans = client.spans.get_spans(project_identifier=PROJECT, limit=10000)
        return {s["context"]["span_id"]: s for s in spans}

    by_id = poll(fetch_spans, lambda got: wanted <= set(got), "Phoenix spans")
    table = Table()
    scopes = scope_of(records)
    for r in expected:
        span = by_id.get(r["span_id"])
        where = f"{r['type']} {r['name']}"
        table.check("span present", "OTLP span, same span id", span is not None, f"{where} missing")
        if span is None:
            continue
        attrs = span.get("attributes") or {}
        table.equal("name", "span name (`chat {model}`, `execute_tool {tool}`, `invoke_agent {agent}`)",
                    otlp_name(r), span["name"], where)
        table.equal("parent link", "parent span id", r.get("parent_span_id"), span.get("parent_id"), where)
        kind = "CHAIN" if r["type"] == "trace" else PHOENIX_KINDS.get(r.get("kind"), "CHAIN")
        table.equal("kind", "`openinference.span.kind`", kind, span.get("span_kind"), where)
        status = "ERROR" if r["status"] == "error" else "OK"
        table.equal("status", "span status (OK / ERROR + `exception` event)", status, span.get("status_code"), where)
        if r.get("model"):
            table.equal("model", "`llm.model_name`, `gen_ai.request.model`", r["model"], attrs.get("llm.model_name"), where)
        if r.get("provider"):
            table.equal("provider", "`llm.provider`, `gen_ai.provider.name`", r["provider"], attrs.get("llm.provider"), where)
        if r.get("error"):
            table.equal("error message", "span status message, `exception` event", r["error"]["message"],
                        span.get("status_message"), where)
        request = r.get("request") or {}
        if request.get("temperature") is not None:
            params = json.loads(attrs.get("llm.invocation_parameters") or "{}")
            table.equal("request parameters", "`llm.invocation_parameters`, `gen_ai.request.*`",
                        request["temperature"], params.get("temperature"), where)
        response = r.get("response") or {}
        if response.get("id"):
            table.equal("response id", "`gen_ai.response.id`", response["id"], attrs.get("gen_ai.response.id"), where)
        usage = r.get("usage") or {}
        for field, oi_key, _, genai_key in TOKENS:
            if usage.get(field) is not None:
                table.equal(f"tokens: {field}", f"`{oi_key}`, `{genai_key}`", usage[field], attrs.get(oi_key), where)
        if r.get("input") is not None:
            table.check("input", "`input.value`", attrs.get("input.value") is not None, f"{where}: no input.value")
        if r.get("output") is not None:
            table.check("output", "`output.value`", attrs.get("output.value") is not None, f"{where}: no output.value")
        messages = r.get("messages") or []
        if messages:
            got = message_count(attrs, "llm.input_messages") + message_count(attrs, "llm.output_messages")
            table.equal("messages", "`llm.{input,output}_messages.N.*`, `gen_ai.{input,output}.messages`",
                        len(messages), got, where)
        documents = r.get("documents") or []
        if documents:
            got = message_count(attrs, "retrieval.documents")
            table.equal("documents", "`retrieval.documents.N.document.*`, `gen_ai.retrieval.documents`",
                        len(documents), got, where)
        user, session = scopes.get(r["trace_id"], (None, None))
        if user:
            table.equal("user", "`user.id`", user, attrs.get("user.id"), where)
        if session:
            table.equal("session", "`session.id`", session, attrs.get("session.id"), where)

    expected_verdicts = verdicts(records)
    span_ids = sorted({v.get("span_id") for v in expected_verdicts if v.get("span_id")})
    trace_ids = sorted({v["trace_id"] for v in expected_verdicts if not v.get("span_id")})

    def fetch_annotations():
        found = []
        if span_ids:
            found += client.spans.get_span_annotations(span_ids=span_ids, project_identifier=PROJECT)
        if trace_ids:
            response = client._client.get(
                f"v1/projects/{PROJECT}/trace_annotations", params={"trace_ids": trace_ids, "limit": 1000}
            )
            response.raise_for_status()
            found += response.json()["data"]
        return found

    annotations = poll(fetch_annotations, lambda got: len(got) >= len(expected_verdicts), "Phoenix annotations")
    for v in expected_verdicts:
        target = v.get("span_id") or v["trace_id"]
        key = "span_id" if v.get("span_id") else "trace_id"
        where = f"{v['type']} {v['name']} on {key} {target}"
        match = [a for a in annotations if a.get(key) == target and a["name"] == v["name"]]
        table.check("feedback → annotation", "Phoenix span / trace annotation (REST)", bool(match), f"{where}: none")
        if not match:
            continue
        result = match[0]["result"] or {}
        score, label = score_and_label(v["value"])
        if score is not None:
            table.equal("feedback score", "annotation `result.score`", score, result.get("score"), where)
        if label is not None:
            table.equal("feedback label", "annotation `result.label`", label, result.get("label"), where)
        if v.get("comment"):
            table.equal("feedback comment", "annotation `result.explanation`", v["comment"], result.get("explanation"), where)
        kind = "HUMAN" if v["type"] == "feedback" else "CODE"
        table.equal("annotator kind", "`HUMAN` (feedback), `CODE` (signal)", kind, match[0].get("annotator_kind"), where)

    roots = {}
    for span in by_id.values():
        if span.get("parent_id") is None:
            roots.setdefault(span["context"]["trace_id"], []).append(span["name"])
    for r in records:
        if r["type"] == "trace":
            table.equal("one root per trace", "no parentless feedback span", [r["name"]], roots.get(r["trace_id"]), r["name"])
    return table


def check_mlflow(base, records):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(base)
    client = MlflowClient()
    traces = {}
    table = Table()
    expected_verdicts = verdicts(records)
    scopes = scope_of(records)
    for trace_record in (r for r in records if r["type"] == "trace"):
        trace_id = trace_record["trace_id"]
        wanted = sum(1 for v in expected_verdicts if v["trace_id"] == trace_id)

        def fetch():
            try:
                return client.get_trace(f"tr-{trace_id}")
            except Exception:  # not stored yet
                return None

        traces[trace_id] = poll(
            fetch,
            lambda t: t is not None and len(t.info.assessments) >= wanted,
            f"MLflow trace tr-{trace_id}",
        )
    for trace_id, trace in traces.items():
        record = next(r for r in records if r["type"] == "trace" and r["trace_id"] == trace_id)
        table.check("trace present", "OTLP spans, trace id `tr-{hex}`", trace is not None, f"tr-{trace_id} missing")
        if trace is None:
            continue
        state = "ERROR" if record["status"] == "error" else "OK"
        table.equal("trace state", "root span status", state, str(trace.info.state).split(".")[-1], record["name"])
        if record.get("messages") or record.get("input") is not None:
            table.check("request preview", "`gen_ai.input.messages` / `input.value` of the root",
                        bool(trace.info.request_preview), f"{record['name']}: empty request preview")
        if record.get("output") is not None or any(m.get("role") == "assistant" for m in record.get("messages") or []):
            table.check("response preview", "`gen_ai.output.messages` / `output.value` of the root",
                        bool(trace.info.response_preview), f"{record['name']}: empty response preview")
        user, session = scopes.get(trace_id, (None, None))
        meta = trace.info.trace_metadata or {}
        if user:
            table.equal("user", "`user.id`", user, meta.get("mlflow.trace.user"), record["name"])
        if session:
            table.equal("session", "`session.id`", session, meta.get("mlflow.trace.session"), record["name"])
        spans = {s.span_id: s for s in trace.data.spans}
        for r in (x for x in spans_of(records) if x["trace_id"] == trace_id):
            span = spans.get(r["span_id"])
            where = f"{r['type']} {r['name']}"
            table.check("span present", "OTLP span, same span id", span is not None, f"{where} missing")
            if span is None:
                continue
            attrs = span.attributes or {}
            table.equal("name", "span name (`chat {model}`, `execute_tool {tool}`, `invoke_agent {agent}`)",
                        otlp_name(r), span.name, where)
            table.equal("parent link", "parent span id", r.get("parent_span_id"), span.parent_id, where)
            kind = "CHAIN" if r["type"] == "trace" else PHOENIX_KINDS.get(r.get("kind"), "CHAIN")
            table.equal("kind", "`openinference.span.kind`, `gen_ai.operation.name`", kind, span.span_type, where)
            status = "ERROR" if r["status"] == "error" else "OK"
            table.equal("status", "span status (OK / ERROR + `exception` event)", status,
                        str(span.status.status_code).split(".")[-1], where)
            if r.get("model"):
                table.equal("model", "`llm.model_name`, `gen_ai.request.model`", r["model"], attrs.get("mlflow.llm.model"), where)
            if r.get("provider"):
                table.equal("provider", "`llm.provider`, `gen_ai.provider.name`", r["provider"],
                            attrs.get("mlflow.llm.provider"), where)
            if r.get("error"):
                table.equal("error message", "span status message, `exception` event", r["error"]["message"],
                            span.status.description, where)
            request = r.get("request") or {}
            if request.get("temperature") is not None:
                table.equal("request parameters", "`llm.invocation_parameters`, `gen_ai.request.*`",
                            request["temperature"], attrs.get("gen_ai.request.temperature"), where)
            response = r.get("response") or {}
            if response.get("id"):
                table.equal("response id", "`gen_ai.response.id`", response["id"], attrs.get("gen_ai.response.id"), where)
            usage = r.get("usage") or {}
            mlflow_usage = attrs.get("mlflow.chat.tokenUsage") or {}
            for field, oi_key, mlflow_key, genai_key in TOKENS:
                if usage.get(field) is None:
                    continue
                if mlflow_key:
                    table.equal(f"tokens: {field}", f"`{oi_key}`, `{genai_key}`", usage[field],
                                mlflow_usage.get(mlflow_key), where)
                else:
                    # MLflow's token usage has no reasoning count: the attribute is kept.
                    table.equal(f"tokens: {field}", f"`{oi_key}`, `{genai_key}` (span attribute)", usage[field],
                                attrs.get(genai_key), where)
            if r.get("input") is not None:
                table.check("input", "`input.value`", span.inputs is not None, f"{where}: no inputs")
            if r.get("output") is not None:
                table.check("output", "`output.value`", span.outputs is not None, f"{where}: no outputs")
            documents = r.get("documents") or []
            if documents:
                table.check("documents", "`retrieval.documents.N.document.*`, `gen_ai.retrieval.documents`",
                            attrs.get("gen_ai.retrieval.documents") is not None
                            or "retrieval.documents.0.document.id" in attrs,
                            f"{where}: no documents attribute")
        for v in (x for x in expected_verdicts if x["trace_id"] == trace_id):
            where = f"{v['type']} {v['name']}"
            match = [a for a in trace.info.assessments if a.name == v["name"]]
            table.check("feedback → assessment", "MLflow assessment (REST)", bool(match), f"{where}: none")
            if not match:
                continue
            table.equal("feedback value", "assessment `feedback.value`", v["value"], match[0].value, where)
            if v.get("comment"):
                table.equal("feedback comment", "assessment `rationale`", v["comment"], match[0].rationale, where)
            source = "HUMAN" if v["type"] == "feedback" else "CODE"
            table.equal("annotator kind", "`HUMAN` (feedback), `CODE` (signal)", source,
                        str(match[0].source.source_type).split(".")[-1], where)
            table.equal("feedback span", "assessment `span_id`", v.get("span_id"), match[0].span_id, where)
    return table


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    backend = request["backend"]
    started = time.time()
    check = check_phoenix if backend == "phoenix" else check_mlflow
    table = check(request["base"], request["records"])
    failed = table.print(backend)
    print(f"\n{backend}: read back in {time.time() - started:.1f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
