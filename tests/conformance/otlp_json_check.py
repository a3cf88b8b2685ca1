"""Checks an OTLP/JSON request body against the OTLP JSON encoding rules and the official
opentelemetry-proto messages, with Google's protobuf JSON parser (an implementation
independent of mv37's serde code).

Usage: python otlp_json_check.py BODY.json > SUMMARY.json

It fails (exit 1, reason on stderr) when the body breaks a rule; otherwise it prints a
summary of what the official messages decoded, for the Rust test to compare with what it
sent. The rules (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
- field names are lowerCamelCase (the parser rejects unknown fields);
- traceId and spanId are lowercase hex, not base64 (the one departure from the protobuf
  JSON mapping; converted to base64 here before parsing);
- 64-bit integers (times, intValue) are strings;
- enums (span kind, status code) are integers.
"""

import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ID_LENGTHS = {"traceId": 32, "spanId": 16, "parentSpanId": 16}
INT64_FIELDS = {"startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "intValue"}
ENUM_FIELDS = {"kind", "code"}

problems = []


def check(node, path):
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if "_" in key:
                problems.append(f"{where}: not lowerCamelCase")
            if key in ID_LENGTHS:
                if not (isinstance(value, str) and (value == "" and key == "parentSpanId" or (
                        len(value) == ID_LENGTHS[key] and all(c in "0123456789abcdef" for c in value)))):
                    problems.append(f"{where}: {value!r} is not {ID_LENGTHS[key]} lowercase hex digits")
                else:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                continue
            if key in INT64_FIELDS and not (isinstance(value, str) and value.lstrip("-").isdigit()):
                problems.append(f"{where}: {value!r} is a 64-bit integer and must be a decimal string")
            if key in ENUM_FIELDS and not isinstance(value, int):
                problems.append(f"{where}: {value!r} is an enum and must be an integer")
            check(value, where)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            check(item, f"{path}[{index}]")


def main():
    with open(sys.argv[1], encoding="utf-8") as body:
        raw = json.load(body)
    check(raw, "$")
    request = ExportTraceServiceRequest()
    try:
        json_format.Parse(json.dumps(raw), request, ignore_unknown_fields=False)
    except json_format.ParseError as error:
        problems.append(f"the official messages reject it: {error}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: json_format.MessageToDict(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append({
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": span.kind,
                    "start": span.start_time_unix_nano,
                    "end": span.end_time_unix_nano,
                    "status": span.status.code,
                    "attributes": {a.key: json_format.MessageToDict(a.value) for a in span.attributes},
                    "events": [e.name for e in span.events],
                    "scope": scope_spans.scope.name,
                    "service": resource.get("service.name"),
                })
    json.dump({"spans": spans}, sys.stdout)


main()
