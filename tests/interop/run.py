#!/usr/bin/env python3
"""Interop suite: mv37's examples against a real Arize Phoenix and a real MLflow tracking
server, each started on loopback, every span read back through the server's own API and
compared field by field with what mv37 recorded (the same run's JSONL).

    python3 tests/interop/run.py --python ~/.cache/mv37/interop-venv/bin/python \
        --examples target/debug/examples [--keep]

The Python given must have the packages of tests/interop/requirements.txt (.ci/run makes
that virtualenv and caches it). Each example runs with MV37_EXPORTER=otlp,jsonl and
MV37_FEEDBACK_BACKEND set to the server, so the spans go out as OTLP and the feedback as
Phoenix annotations / MLflow assessments. The read-back itself runs in the server
package's Python (this script re-runs itself there with --read-back).

It prints one table per backend (field | sent as | result) and exits non-zero if any
field did not arrive as sent.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = "mv37-interop"
# Examples sent to each backend: support_agent (messages, retrieval, llm, tool, signal,
# feedback during and after the trace), openai_agent (a streamed llm call, cached and
# reasoning tokens), rag_agent (an agent span, retrieved documents, cache writes, a
# failed trace with feedback), async_openai_agent (async-openai instrumented: llm spans
# nobody wrote by hand, one streamed; it is built by .ci/check-example.py with its feature).
EXAMPLES = ["support_agent", "openai_agent", "rag_agent", "async_openai_agent"]
STARTUP_SECONDS = 420
READ_BACK_SECONDS = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, process, log, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited ({process.returncode}) before answering {url}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"no answer from {url} within {seconds} s:\n{tail(log)}")


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Server:
    """A backend started in its own process group, stopped with it."""

    def __init__(self, name, argv, env, health, workdir):
        self.name = name
        self.log = os.path.join(workdir, f"{name}.log")
        self.health = health
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir
            )

    def wait(self):
        wait_http(self.health, self.process, self.log, STARTUP_SECONDS)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_phoenix(python, workdir):
    port, grpc = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        PHOENIX_WORKING_DIR=os.path.join(workdir, "phoenix"),
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc),
        PHOENIX_TELEMETRY_ENABLED="false",
    )
    bin_dir = os.path.dirname(python)
    server = Server("phoenix", [os.path.join(bin_dir, "phoenix"), "serve"], env, f"http://127.0.0.1:{port}/healthz", workdir)
    server.base = f"http://127.0.0.1:{port}"
    server.env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": server.base,
        # Phoenix files spans under the project this resource attribute names.
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={PROJECT}",
        "MV37_FEEDBACK_BACKEND": "phoenix",
    }
    return server


def start_mlflow(python, workdir):
    port = free_port()
    env = dict(os.environ)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    store = os.path.join(workdir, "mlflow.db")
    argv = [
        os.path.join(os.path.dirname(python), "mlflow"),
        "server",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--backend-store-uri", f"sqlite:///{store}",
        "--default-artifact-root", os.path.join(workdir, "mlflow-artifacts"),
        "--workers", "1",
    ]
    server = Server("mlflow", argv, env, f"http://127.0.0.1:{port}/health", workdir)
    server.base = f"http://127.0.0.1:{port}"
    server.env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": server.base,
        # MLflow files spans under the experiment this header names (0: Default).
        "OTEL_EXPORTER_OTLP_HEADERS": "x-mlflow-experiment-id=0",
        "MV37_FEEDBACK_BACKEND": "mlflow",
    }
    return server


def run_example(examples_dir, name, server, workdir):
    jsonl = os.path.join(workdir, f"{server.name}-{name}.jsonl")
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("MV37_", "OTEL_")):
            del env[key]
    env.update(server.env)
    env.update(
        MV37_EXPORTER="otlp,jsonl",
        MV37_JSONL_PATH=jsonl,
        OTEL_SERVICE_NAME="mv37-interop",
        # MLflow answers an OTLP request after it has stored it: seconds on a busy machine.
        MV37_SHUTDOWN_TIMEOUT_MS="120000",
        OTEL_EXPORTER_OTLP_TIMEOUT="60000",
    )
    started = time.time()
    result = subprocess.run(
        [os.path.join(examples_dir, name)], env=env, cwd=workdir, capture_output=True, text=True, timeout=600
    )
    took = time.time() - started
    if result.returncode != 0:
        raise SystemExit(f"{name} → {server.name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    with open(jsonl) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return records, result.stdout + result.stderr, took


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", required=True, help="a Python with Phoenix and MLflow installed")
    parser.add_argument("--examples", required=True, help="the directory of the built examples")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--only", choices=["phoenix", "mlflow"])
    parser.add_argument("--example", action="append", help="run only this example (repeatable)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="mv37-interop-")
    started = time.time()
    servers = []
    failures = 0
    try:
        if args.only != "mlflow":
            servers.append(start_phoenix(args.python, workdir))
        if args.only != "phoenix":
            servers.append(start_mlflow(args.python, workdir))
        for server in servers:
            server.wait()
        print(f"servers up in {time.time() - started:.0f} s")
        for server in servers:
            sent = []
            for name in args.example or EXAMPLES:
                records, output, took = run_example(os.path.abspath(args.examples), name, server, workdir)
                if not re.search(r"\(0 dropped, 0 queued\)", output):
                    print(f"{name} → {server.name}: records were dropped:\n{output}")
                    failures += 1
                print(f"{name} → {server.name}: {len(records)} records in {took:.1f} s")
                sent.extend(records)
            request = os.path.join(workdir, f"{server.name}-request.json")
            with open(request, "w") as f:
                json.dump({"backend": server.name, "base": server.base, "records": sent}, f)
            check = subprocess.run(
                [args.python, os.path.join(HERE, "read_back.py"), request], capture_output=True, text=True, timeout=900
            )
            print(check.stdout, end="")
            if check.returncode != 0:
                print(check.stderr[-4000:], file=sys.stderr)
                failures += 1
    finally:
        for server in servers:
            server.stop()
        if failures and not args.keep:
            for server in servers:
                print(f"--- {server.name} log (tail)\n{tail(server.log)}")
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"interop suite: {time.time() - started:.0f} s, {'FAILED' if failures else 'passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
