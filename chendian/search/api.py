"""`chendian serve`: a small JSON search API plus the static site, on the standard library's HTTP server.

GET /api/search?q=…&k=10 → {"query", "k", "found", "hits": [Hit…]} (hits under the relevance floor are left out,
"found": false when none is left; no hits for a query without letters or digits; 400 for a query string that is
not UTF-8). POST /api/curate {"entry", "action", "value"?} stores a review decision as `chendian faq <action>`
does (the review page's buttons). GET /openapi.json describes the API (OpenAPI 3). A request line over 8 KiB is
answered 414, a request body over 64 KiB 413. Everything else is a static file of the built
site (<ws>/site/ unless site_dir). Binds to 127.0.0.1 by default; on any other address a token is required
(`Authorization: Bearer TOKEN` or `?token=TOKEN`). Errors are JSON with a message, never a traceback.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import sys
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ChendianError
from .index import SearchIndexError
from .misses import record_miss
from .query import search

log = logging.getLogger(__name__)
MAX_K = 100
MAX_QUERY_CHARS = 500
MAX_REQUEST_LINE = 8192  # the query is at most 500 characters: 9 bytes each percent-encoded, plus k and the token
MAX_BODY_BYTES = 64 * 1024

_ERROR_SCHEMA = {"type": "object", "required": ["error", "message"],
                 "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def openapi_document() -> dict:
    """The OpenAPI 3 description of what this server answers (served at /openapi.json)."""
    from .. import __version__
    from ..curation import CURATION_ACTIONS

    entry_id = {"type": "string", "pattern": "^f[0-9a-f]{20}$"}
    talk_id = {"type": "string", "pattern": "^k[0-9a-f]{20}$"}

    def decision(actions: list[str], value: dict | None = None, target: dict = entry_id) -> dict:
        """One shape of a review decision: these actions, with this value (or none)."""
        properties = {"entry": target, "action": {"type": "string", "enum": actions}}
        if value:
            properties["value"] = value
        return {"type": "object", "required": ["entry", "action"] + (["value"] if value else []),
                "additionalProperties": False, "properties": properties}

    hit = {"type": "object", "required": ["id", "question", "answer", "score", "kind", "source"],
           "properties": {"id": {"type": "string"}, "question": {"type": "string"}, "answer": {"type": "string"},
                          "score": {"type": "number"}, "kind": {"type": "string", "enum": ["faq", "qa", "message"]},
                          "source": {"type": "object"},
                          "relevance": {"type": "number", "nullable": True,
                                        "description": "compared with the relevance floor; null: not judged"},
                          "held": {"type": "boolean", "description":
                                   "the entry waits for review (待审核): its answer is not confirmed, it has no page"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "chendian search API", "version": __version__,
                 "description": "Hybrid (BM25 + vectors) search over the FAQ of a chendian workspace. "
                                "Off loopback, every request needs `Authorization: Bearer TOKEN`."},
        "paths": {
            "/api/search": {"get": {
                "operationId": "search",
                "summary": "Search the FAQ",
                "parameters": [
                    {"name": "q", "in": "query", "required": True, "description": "the question, in any words",
                     "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS}},
                    {"name": "k", "in": "query", "required": False, "description": "how many hits",
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}},
                ],
                "responses": {
                    "200": {"description": "hits, best first", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["query", "k", "found", "hits"],
                        "properties": {"query": {"type": "string"}, "k": {"type": "integer"},
                                       "found": {"type": "boolean", "description":
                                                 "false: nothing scored above the relevance floor"},
                                       "hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}}}}}}},
                    "400": _error_response("missing or bad q or k, or a query string that is not UTF-8"),
                    "401": _error_response("token required"),
                    "414": _error_response("request line too long"),
                    "503": _error_response("no search index yet (run `chendian run`)"),
                },
            }},
            "/api/curate": {"post": {
                "operationId": "curate",
                "summary": "Store a review decision (approve, reject, hide, edit, merge, split, pin …) by entry id",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    decision([a for a in CURATION_ACTIONS if a not in ("edit", "merge", "split")]),
                    decision(["edit"], {"type": "object", "minProperties": 1, "additionalProperties": False,
                                        "properties": {"question": {"type": "string"}, "answer": {"type": "string"}}}),
                    decision(["merge"], entry_id),
                    decision(["split"], {"type": "string", "pattern": "^q[0-9a-f]{20}$"}),
                    # a talk (`chendian talks …`): its id in "entry"
                    decision(["talk-hide", "talk-unhide"], None, talk_id),
                    decision(["talk-title"], {"type": "string", "minLength": 1}, talk_id),
                    decision(["talk-add", "talk-remove"], {"type": "string", "minLength": 1}, talk_id),
                ]}}}},
                "responses": {
                    "200": {"description": "stored; applied on the next run", "content": {"application/json": {
                        "schema": {"type": "object"}}}},
                    "400": _error_response("not a known action, or a value the action does not take"),
                    "401": _error_response("token required"),
                    "404": _error_response("no FAQ entry (or talk) has this id"),
                    "409": _error_response("the workspace is busy (a run holds its lock), or an entry merged into itself"),
                    "413": _error_response("request body too large"),
                    "415": _error_response("not JSON"),
                },
            }},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This description",
                "responses": {"200": {"description": "OpenAPI 3 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {"schemas": {"Hit": hit, "Error": _ERROR_SCHEMA}},
    }


class ServeError(ChendianError, ValueError):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_handler(ws_path: Path, site_dir: Path | None, token: str | None):
    from ..config import load_config

    count_unfound = load_config(Path(ws_path)).search.count_unfound

    class Handler(SimpleHTTPRequestHandler):
        server_version = "chendian"
        sys_version = ""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site_dir) if site_dir else None, **kwargs)

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            # The standard library allows a 64 KiB request line; no real query needs more than a few.
            if len(self.requestline) > MAX_REQUEST_LINE:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG, f"request line longer than {MAX_REQUEST_LINE} bytes")
                return False
            return self.body_acceptable()

        def body_acceptable(self) -> bool:
            """No endpoint reads a body: a large one is refused (413) before anything else, and never read."""
            length = self.headers.get("Content-Length")
            if length is None:
                return True
            try:
                size = int(length)
            except ValueError:
                size = -1
            if size < 0:
                self.send_error(HTTPStatus.BAD_REQUEST, "Content-Length is not a whole number")
                return False
            if size > MAX_BODY_BYTES:
                self.close_connection = True
                self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body larger than {MAX_BODY_BYTES} bytes")
                return False
            return True

        def log_message(self, fmt, *args):  # one line per request on stderr, no tracebacks
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

        def send_json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def error(self, status: HTTPStatus, message: str) -> None:
            self.send_json(status.value, {"error": status.phrase, "message": message})

        def authorised(self, params: dict) -> bool:
            if not token:
                return True
            given = ""
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                given = auth[7:].strip()
            elif params.get("token"):
                given = params["token"][0]
            return hmac.compare_digest(given.encode(), token.encode())

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            try:
                url = urlsplit(self.path)
                try:
                    params = parse_qs(url.query, keep_blank_values=True, errors="strict")  # k= is an error, not k=10
                except UnicodeDecodeError:
                    return self.error(HTTPStatus.BAD_REQUEST, "the query string is not valid UTF-8 once"
                                                              " percent-decoded (encode the query as UTF-8)")
                if not self.authorised(params):
                    return self.error(HTTPStatus.UNAUTHORIZED, "token required: Authorization: Bearer TOKEN or ?token=")
                if url.path.rstrip("/") == "/api/search":
                    return self.api_search(params)
                if url.path == "/openapi.json":
                    return self.send_json(200, openapi_document())
                if url.path.startswith("/api/"):
                    return self.error(HTTPStatus.NOT_FOUND, f"no such API endpoint: {url.path}; try /api/search?q=")
                if site_dir is None or not site_dir.is_dir():
                    return self.error(HTTPStatus.NOT_FOUND, "no site built yet (run `chendian run`); the API is at /api/search?q=")
                if "\x00" in unquote(url.path):  # open() would raise on it: a 500 for a malformed path
                    return self.error(HTTPStatus.BAD_REQUEST, "the path holds a NUL byte")
                if token and "token" in params:  # keep the token out of static-file logic
                    self.path = url.path
                return super().do_GET()
            except (BrokenPipeError, ConnectionResetError):
                return None  # the client went away (a browser leaving the page mid-request): no one to answer
            except Exception as e:  # never a traceback to the client
                log.exception("request failed")
                return self.error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(e).__name__}: internal error")

        def send_error(self, code, message=None, explain=None):  # static-file errors as JSON too
            status = HTTPStatus(code)
            self.send_json(status.value, {"error": status.phrase, "message": message or status.description})

        def do_POST(self):
            try:
                url = urlsplit(self.path)
                if url.path.rstrip("/") != "/api/curate":
                    return self.error(HTTPStatus.METHOD_NOT_ALLOWED, "only GET, and POST /api/curate")
                if not self.authorised({}):
                    return self.error(HTTPStatus.UNAUTHORIZED, "token required: Authorization: Bearer TOKEN")
                return self.api_curate()
            except (BrokenPipeError, ConnectionResetError):
                return None
            except Exception as e:  # never a traceback to the client
                log.exception("request failed")
                return self.error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(e).__name__}: internal error")

        def do_PUT(self):
            self.error(HTTPStatus.METHOD_NOT_ALLOWED, "only GET, and POST /api/curate")

        do_DELETE = do_PATCH = do_PUT

        def api_curate(self) -> None:
            """Store one review decision, as `chendian faq <action>` does. JSON only: a browser sends a JSON POST
            to another origin only after a CORS preflight this server never grants, so no page elsewhere can
            forge a decision."""
            from ..curation import (CURATION_ACTIONS, TALK_ACTIONS, ConflictingDecision, CurationError, UnknownEntry,
                                    record_curation, record_talk_curation)
            from ..store import Workspace, WorkspaceLocked

            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                return self.error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON: Content-Type: application/json")
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                return self.error(HTTPStatus.BAD_REQUEST, 'expected {"entry": "f…", "action": "approve"}')
            actions = (*CURATION_ACTIONS, *TALK_ACTIONS)
            if not isinstance(body, dict) or not isinstance(body.get("entry"), str) or body.get("action") not in actions:
                return self.error(HTTPStatus.BAD_REQUEST, 'expected {"entry": "f…" or "k…", "action": one of '
                                                          + ", ".join(actions) + ', "value"?: …}')
            value = body.get("value")
            try:
                with Workspace(ws_path) as ws, ws.locked(f"curate {body['action']}"):
                    if body["action"] in TALK_ACTIONS:
                        if value is not None and not isinstance(value, str):
                            raise CurationError(f"{body['action']} takes a string value")
                        record_talk_curation(ws, body["entry"], body["action"], value)
                    else:
                        record_curation(ws, body["entry"], body["action"], value)
            except WorkspaceLocked as e:
                return self.error(HTTPStatus.CONFLICT, str(e))
            except UnknownEntry as e:
                return self.error(HTTPStatus.NOT_FOUND, str(e))
            except ConflictingDecision as e:
                return self.error(HTTPStatus.CONFLICT, str(e))
            except CurationError as e:
                return self.error(HTTPStatus.BAD_REQUEST, str(e))
            again = "talks faq index publish" if body["action"] in TALK_ACTIONS else "faq index publish"
            self.send_json(200, {"entry": body["entry"], "action": body["action"],
                                 "applied": f"on the next run (or `chendian stage {again}`)"})

        def api_search(self, params: dict) -> None:
            raw = (params.get("q") or [""])[0]
            if not raw:
                return self.error(HTTPStatus.BAD_REQUEST, "missing query: /api/search?q=报销流程")
            if len(raw) > MAX_QUERY_CHARS:
                return self.error(HTTPStatus.BAD_REQUEST, f"query longer than {MAX_QUERY_CHARS} characters")
            q = raw.strip()
            k_text = (params.get("k") or ["10"])[0]
            try:
                k = int(k_text)
            except ValueError:
                return self.error(HTTPStatus.BAD_REQUEST, f"k must be a whole number, not {k_text!r}")
            if not 1 <= k <= MAX_K:
                return self.error(HTTPStatus.BAD_REQUEST, f"k must be between 1 and {MAX_K}")
            if not q:  # only spaces: like a query without letters or digits, it finds nothing
                return self.send_json(200, {"query": q, "k": k, "found": False, "hits": []})
            try:
                hits = search(ws_path, q, k)
            except SearchIndexError as e:
                return self.error(HTTPStatus.SERVICE_UNAVAILABLE, str(e))
            if not hits and count_unfound:  # the query text alone: no user, address or time
                record_miss(ws_path, q)
            # "found": false says plainly that nothing scored above the relevance floor
            self.send_json(200, {"query": q, "k": k, "found": bool(hits), "hits": [h.to_json() for h in hits]})

    return Handler


def make_server(ws_path: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
                site_dir: str | os.PathLike | None = None) -> ThreadingHTTPServer:
    """A bound, not yet serving server (port 0 picks a free port: server.server_address[1])."""
    ws_path = Path(ws_path)
    if not is_loopback(host) and not token:
        raise ServeError(f"serving on {host} (not this machine only) needs a token: pass --token "
                         "(clients send Authorization: Bearer TOKEN)")
    site = Path(site_dir) if site_dir else ws_path / "site"
    return ThreadingHTTPServer((host, port), make_handler(ws_path, site, token))


def serve(ws_path: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          site_dir: str | os.PathLike | None = None) -> None:
    """Serve until interrupted."""
    server = make_server(ws_path, host, port, token, site_dir)
    h, p = server.server_address[:2]
    print(f"chendian: 搜索服务 http://{h}:{p}/api/search?q=  (Ctrl-C 停止)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
