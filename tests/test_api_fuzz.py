"""`chendian serve` under fuzzing: its OpenAPI description (/openapi.json) drives schemathesis (property-based
cases for every operation, valid and invalid, every response checked against the description), and a
hypothesis fuzzer of our own sends raw paths, query strings and headers. Never a 5xx, never a traceback in a
body; an overlong request line is a 414, a big body a 413.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chendian.pipeline import RunContext
from chendian.pipeline.stages import index as index_mod
from chendian.search.api import MAX_BODY_BYTES, make_server
from test_search import load_faq

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (the test extra) is not installed")

CASES: dict[str, int] = {}  # operation → cases run, for the summary at the end
STATUSES: dict[int, int] = {}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from chendian.store import Workspace

    ws = Workspace(tmp_path_factory.mktemp("fuzz") / "ws", create=True)
    load_faq(ws)
    index_mod.run(ws, RunContext(quiet=True, stage="index"))
    site = ws.path("site")
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text("<h1>沉淀</h1>", encoding="utf-8")
    server = make_server(ws.root, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()
    ws.close()


@pytest.fixture(scope="module")
def api_schema(served):
    host, port = served
    return schemathesis.openapi.from_url(f"http://{host}:{port}/openapi.json")


def no_traceback(ctx, response, case):
    """No Python internals in any answer, whatever the status."""
    body = response.text
    assert "Traceback" not in body and 'File "' not in body, body[:300]
    STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1


# schemathesis' pytest plugin (schema.parametrize) does not run under this pytest; its strategies drive
# hypothesis directly instead: every operation, valid cases and cases that break the description.
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_every_operation_against_its_description(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert "GET /api/search" in {op.label for op in operations}  # (schemathesis leaves out the document itself)
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            CASES[case.operation.label] = CASES.get(case.operation.label, 0) + 1
            case.call_and_validate(additional_checks=[no_traceback])

        call()


def _raw(host: str, port: int, method: str, target: str, headers: dict | None = None, body: bytes | None = None):
    """One request written byte by byte (raw UTF-8 and junk allowed in the target): (status, body)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode("utf-8") + b"\r\n\r\n" + (body or b""))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    head, _, payload = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


# Printable, percent-encoded and plain Chinese pieces of request targets.
_SEGMENT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40).map(lambda s: quote(s, safe=""))
_RAW_QUERY = st.lists(st.sampled_from(["q=", "k=", "token=", "&", "=", "%", "%ZZ", "%ff", "%e6%8a", "报销", "a", ";",
                                       "..", "/", "+", "%00", "-1", "1e9", "100", "0x10", "%20"]), max_size=25).map("".join)
_PATH = st.one_of(st.just("/api/search"), st.just("/openapi.json"), st.just("/"),
                  st.lists(_SEGMENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
                  st.sampled_from(["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/", "/api/search/",
                                   "//api//search", "/index.html%00.txt", "/.git/config"]))
_HEADER_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=60)


@given(path=_PATH, query=_RAW_QUERY, auth=_HEADER_VALUE, method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE"]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_raw_paths_queries_and_headers_never_5xx(served, path, query, auth, method):
    status, body = _raw(*served, method, f"{path}?{query}" if query else path,
                        {"Authorization": auth, "X-Forwarded-For": auth})
    STATUSES[status] = STATUSES.get(status, 0) + 1
    assert status < 500, (method, path, query, status, body[:200])
    assert b"Traceback" not in body


def test_size_limits(served):
    status, body = _raw(*served, "GET", "/api/search?q=" + "a" * 10_000)
    assert status == 414 and b"Traceback" not in body
    status, _ = _raw(*served, "GET", "/api/search?q=" + quote("报销" * 300))  # 600 characters, a short line
    assert status == 400
    status, _ = _raw(*served, "POST", "/api/search", body=b"x" * (MAX_BODY_BYTES + 1))
    assert status == 413
    status, _ = _raw(*served, "GET", "/api/search?q=a", {"Content-Length": "-5"})
    assert status == 400


def test_zz_summary():
    """Printed with -s: operations, cases and answers seen (runs after the fuzzers in this module)."""
    fives = sum(n for s, n in STATUSES.items() if s >= 500)
    print(f"\nschemathesis: {len(CASES)} operations, {sum(CASES.values())} cases {CASES}; "
          f"all requests by status {dict(sorted(STATUSES.items()))}; 5xx: {fives}")
    assert fives == 0
