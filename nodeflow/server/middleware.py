"""What every request passes through: errors as JSON (never a traceback), HTTP basic authentication, and either CORS
for the allowed origin or, without it, ComfyUI's check that a web page on another site cannot post to a server on
this machine (a browser sends such requests with a foreign Origin; ComfyUI answers them 403)."""
from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import logging
import socket
import urllib.parse

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("nodeflow.server")


def json_error(status: int, message: str, type_: str | None = None) -> web.Response:
    body = {"error": {"type": type_ or f"http_{status}", "message": message, "details": message, "extra_info": {}},
            "node_errors": {}}
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, default=str))


@web.middleware
async def errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status >= 400 and e.content_type != "application/json" and e.status != 401:
            return json_error(e.status, e.text or e.reason)
        raise
    except HttpProcessingError as e:  # a malformed body found while reading it (a multipart line too long, ...)
        return json_error(e.code if 400 <= (e.code or 0) < 500 else 400, f"malformed request: {e.message}")
    except Exception:  # a bug answers 500 with no detail; the traceback goes to the server's log
        log.exception("%s %s failed", request.method, request.path)
        return json_error(500, "internal server error (see the server's log)", "server_error")


def basic_auth(user: str, password: str):
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    @web.middleware
    async def auth(request: web.Request, handler):
        if request.method == "OPTIONS":  # CORS preflights carry no credentials
            return await handler(request)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(status=401, text="authentication required",
                                headers={"WWW-Authenticate": 'Basic realm="NodeFlow"'})
        return await handler(request)

    return auth


def cors(allowed_origin: str):
    @web.middleware
    async def allow(request: web.Request, handler):
        response = web.Response() if request.method == "OPTIONS" else await handler(request)
        response.headers["Access-Control-Allow-Origin"] = allowed_origin
        response.headers["Access-Control-Allow-Methods"] = "POST, GET, DELETE, PUT, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    return allow


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


@web.middleware
async def same_origin(request: web.Request, handler):
    host, origin = request.headers.get("Host"), request.headers.get("Origin")
    if host and origin:
        h = urllib.parse.urlsplit("//" + host.lower())
        o = urllib.parse.urlsplit(origin.lower())
        if _is_loopback(h.hostname):
            same = (h.hostname, h.port) == (o.hostname, o.port) if (h.port and o.port) else h.hostname == o.hostname
            if not same:
                log.warning("refused a request from origin %s to host %s", origin, host)
                return web.Response(status=403, text="cross-origin request refused")
    if request.method == "OPTIONS":
        return web.Response()
    return await handler(request)
