"""An MCP server written with the official Python SDK (PyPI `mcp`), for the attest-gateway tests.

It is the gateway's HTTP upstream: streamable HTTP at `http://127.0.0.1:PORT/mcp`, stateful
(an `initialize` returns an `Mcp-Session-Id`). Nothing in it knows about attestation; it only
makes what reaches it observable, so a test can check what the gateway forwarded.

Tools:
- `count`: returns the number of `tools/call` requests this process has received, this one
  included. Every `tools/call` counts, whatever the tool (even an unknown one), so a test can
  prove that a refused request never reached the upstream.
- `echo` (`text`: string): returns `text` unchanged.
- `meta`: returns, as JSON text, the `_meta` object of the `tools/call` request it received
  (`{}` when there was none), exactly as it arrived on the wire.

Every received JSON-RPC message (requests and notifications) is logged to stderr as one line,
`recv {"method": ..., "id": ..., "name": ...}`, and `GET /calls` answers `{"tools_call": N}`
without counting as a call.

Usage: python3 python_server.py [--port PORT] [--host HOST] [--json-response]
The port also comes from the environment variable PYTHON_MCP_PORT; the default, 0, lets the
system pick a free one. Once the socket is bound and listening, one line
goes to stdout: `listening http://HOST:PORT/mcp`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import threading
from typing import Any

import uvicorn
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_lock = threading.Lock()
_tools_call_count = 0


def _tools_calls() -> int:
    with _lock:
        return _tools_call_count


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class RecordEveryMessage:
    """SDK middleware: runs on every inbound request and notification, before validation and
    before the handler lookup, so it sees what arrived even when the SDK then refuses it."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        global _tools_call_count
        params = ctx.params or {}
        name = params.get("name") if isinstance(params, dict) else None
        if ctx.method == "tools/call":
            with _lock:
                _tools_call_count += 1
        _log("recv " + json.dumps({"method": ctx.method, "id": ctx.request_id, "name": name}))
        return await call_next(ctx)


server = MCPServer(
    name="attest-gateway-python-upstream",
    version="1.0.0",
    log_level="WARNING",
    middleware=[RecordEveryMessage()],
)


@server.tool(description="The number of tools/call requests this server has received, this one included.", structured_output=False)
def count() -> str:
    return str(_tools_calls())


@server.tool(description="Returns its text unchanged.", structured_output=False)
def echo(text: str) -> str:
    return text


@server.tool(description="Returns the _meta object of the tools/call request it received, as JSON.", structured_output=False)
def meta(ctx: Context) -> str:
    params = ctx.request_context.params or {}
    return json.dumps(params.get("_meta") or {}, sort_keys=True)


@server.custom_route("/calls", methods=["GET"])
async def calls(_request: Request) -> Response:
    return JSONResponse({"tools_call": _tools_calls()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PYTHON_MCP_PORT", "0")))
    parser.add_argument("--json-response", action="store_true", help="answer POSTs with JSON instead of SSE")
    args = parser.parse_args()

    # Bind first, so that port 0 works and the line we print names the real port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    host, port = sock.getsockname()[:2]

    app = server.streamable_http_app(streamable_http_path="/mcp", json_response=args.json_response, host=args.host)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uv = uvicorn.Server(config)

    # The socket already listens, so a client that connects as soon as it reads this line is
    # queued, not refused.
    print(f"listening http://{host}:{port}/mcp", flush=True)
    asyncio.run(uv.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
