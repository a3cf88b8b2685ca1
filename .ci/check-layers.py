#!/usr/bin/env python3
"""Check that the modules of mv37-runtime import only downwards.

Every module is given a layer (LAYERS below, lowest first). A module may use
modules of its own layer or of lower layers, never a higher one, and the use
graph as a whole must have no cycle. Uses are read from the source: every
`crate::…` and `super::…` path outside comments, string literals and
`#[cfg(test)]` modules and `tests.rs` files (unit tests may reach anywhere).

    .ci/check-layers.py            # check, print the graph's layers, exit 1 on a violation
    .ci/check-layers.py --graph    # also print every edge
"""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "mv37-runtime" / "src"

# Lowest first. A module not listed here is an error, so a new module must be placed.
LAYERS = [
    ("data", ["ids", "in_place", "otel", "clock", "payload", "payload::decimal", "payload::json", "usage", "record", "record::content", "record::call", "redact", "stats",
              "progress", "llm", "llm::cost", "llm::call", "render", "render::group", "render::tree",
              "config::error", "config::entries", "config::endpoint"]),
    ("exporters", ["export", "export::deadline", "export::feedback", "export::memory", "export::jsonl",
                   "export::console", "export::http", "export::ingest", "export::net",
                   "export::otlp", "export::otlp::names", "export::otlp::attributes", "export::otlp::messages",
                   "export::otlp::encode", "export::otlp::langfuse", "export::otlp::parts",
                   "export::otlp::wire", "export::otlp::evaluation", "export::otlp::gzip",
                   "export::otlp::config", "export::otlp::exporter", "export::spool", "export::redeliver",
                   "export::resource"]),
    ("pipeline", ["pipeline", "pipeline::admission", "pipeline::chunk", "pipeline::gather",
                  "pipeline::mailbox", "pipeline::shared", "pipeline::worker", "pipeline::control",
                  "pipeline::recent", "pipeline::reuse"]),
    ("thread state", ["state", "state::open", "state::local"]),
    ("API", ["builder", "context", "scope", "scoped", "span", "trace", "messages", "llm::chat", "llm::stream", "llm::stream::sse",
             "llm::stream::accumulator", "llm::stream::openai", "llm::stream::anthropic"]),
    ("client and config", ["config", "client", "client::builder"]),
    ("instrumented-function runtime", ["instrument", "instrument::input", "instrument::output",
                                       "instrument::span", "instrument::trace", "tracing_bridge", "tracing_bridge::fields",
                                       "integrations", "integrations::api", "integrations::call", "integrations::body",
                                       "integrations::openai", "integrations::http", "lib"]),
]


def strip(text):
    """Blank out comments, string and char literals, keeping line structure."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_test_modules(text):
    """Remove `#[cfg(test)] mod name { … }` blocks (brace-matched)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
        if not m:
            return text
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        text = text[:m.start()] + text[j:]


def module_of(path):
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(parts) or "lib"


def use_paths(text):
    """Yield the paths (as lists of segments) a source text names after crate:: or super::."""
    for m in re.finditer(r"\b(crate|super)((?:\s*::\s*(?:super|\w+))*)\s*::\s*\{", text):
        base = [m.group(1)] + [s for s in re.split(r"\s*::\s*", m.group(2)) if s]
        depth, j, start, items = 1, m.end(), m.end(), []
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            elif text[j] == "," and depth == 1:
                items.append(text[start:j])
                start = j + 1
            j += 1
        items.append(text[start:j - 1])
        for item in items:
            segs = [s for s in re.split(r"\s*::\s*", item.strip().split(" as ")[0]) if s]
            segs = [s for s in (re.match(r"\w+", x).group(0) if re.match(r"\w+", x) else "" for x in segs) if s]
            if segs:
                yield base + segs
    for m in re.finditer(r"\b(crate|super)((?:\s*::\s*\w+)+)", text):
        yield [m.group(1)] + [s for s in re.split(r"\s*::\s*", m.group(2)) if s]


def resolve(segs, here, modules):
    if segs[0] == "crate":
        cur, rest = [], segs[1:]
    else:
        cur = here.split("::") if here != "lib" else []
        rest = segs
        while rest and rest[0] == "super":
            cur = cur[:-1]
            rest = rest[1:]
    best = "::".join(cur) or "lib"
    for s in rest:
        cand = "::".join(cur + [s])
        if cand in modules:
            cur.append(s)
            best = cand
        else:
            break
    return best


def main():
    files = sorted(SRC.rglob("*.rs"))
    # Unit tests in a file of their own (`#[cfg(test)] mod tests;`) may reach anywhere.
    modules = {module_of(f): f for f in files if f.name != "tests.rs"}
    layer = {}
    for k, (_, mods) in enumerate(LAYERS):
        for mod in mods:
            layer[mod] = k
    errors = [f"module `{m}` ({modules[m].relative_to(SRC.parent)}) has no layer in .ci/check-layers.py"
              for m in modules if m not in layer]
    edges = {}
    for mod, f in modules.items():
        text = drop_test_modules(strip(f.read_text()))
        for segs in use_paths(text):
            target = resolve(segs, mod, modules)
            if target != mod and not mod.startswith(target + "::") and not target.startswith(mod + "::"):
                edges.setdefault(mod, set()).add(target)
    for a, targets in sorted(edges.items()):
        for b in sorted(targets):
            if a in layer and b in layer and layer[b] > layer[a]:
                errors.append(f"`{a}` ({LAYERS[layer[a]][0]}) uses `{b}` ({LAYERS[layer[b]][0]}), a higher layer")
    # cycles: Tarjan's strongly connected components
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    for comp in sccs:
        errors.append("cycle among " + ", ".join(f"`{c}`" for c in comp))
    if "--graph" in sys.argv:
        for a, targets in sorted(edges.items()):
            print(f"{a} -> {', '.join(sorted(targets))}")
    for name, mods in LAYERS:
        present = [m for m in mods if m in modules]
        print(f"{name}: {' '.join(present)}")
    if errors:
        print("\n".join(["", "layer check failed:"] + ["  " + e for e in errors]), file=sys.stderr)
        return 1
    print(f"layer check: {len(modules)} modules, {sum(len(t) for t in edges.values())} uses, all downwards, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
