"""The websocket clients (/ws?clientId=...), and sending to them from any thread.

Workers call ``send`` / ``send_bytes`` from their threads; delivery happens on the event loop, through one bounded
outbox per client, so a slow or vanished client never holds up a run or the other clients: a full outbox drops
previews, and a client that cannot keep up with the JSON messages is disconnected (it reconnects with its
clientId, as ComfyUI's clients do, and is told the node being run).
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from typing import Callable

from aiohttp import WSMsgType, web

log = logging.getLogger("nodeflow.server")

OUTBOX = 2048
MAX_INCOMING_BYTES = 64 * 1024
MAX_CLIENT_ID_CHARS = 256


class _Client:
    def __init__(self, sid: str, ws: web.WebSocketResponse):
        self.sid, self.ws = sid, ws
        self.outbox: asyncio.Queue = asyncio.Queue(OUTBOX)
        self.task = asyncio.ensure_future(self._pump())

    def push(self, message) -> None:
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            if not isinstance(message, bytes):
                log.warning("websocket client %s cannot keep up; disconnecting it", self.sid)
                self.task.cancel()
                asyncio.ensure_future(self.ws.close())

    async def _pump(self) -> None:
        while True:
            message = await self.outbox.get()
            try:
                if isinstance(message, bytes):
                    await self.ws.send_bytes(message)
                else:
                    await self.ws.send_str(message)
            except asyncio.CancelledError:
                return
            except Exception as e:  # ConnectionResetError, aiohttp's ClientConnectionResetError: the client is gone
                log.debug("websocket %s: %s", self.sid, e)
                await self.ws.close()  # ends its handler, which forgets the client
                return


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop, queue_info: Callable[[], dict]):
        self.loop = loop
        self.queue_info = queue_info
        self.clients: dict[str, _Client] = {}
        #: The node each client's prompt is running ("executing"), told again to a client that reconnects.
        self._executing: dict[str, dict] = {}
        self._lock = threading.Lock()

    # -- any thread -----------------------------------------------------------------------------------------------
    def send(self, event: str, data: dict, sid: str | None = None) -> None:
        text = json.dumps({"type": event, "data": data}, default=str)
        if event == "executing" and sid is not None:
            with self._lock:
                if data.get("node") is None:
                    self._executing.pop(sid, None)
                else:
                    self._executing[sid] = data
        self._call(self._deliver, text, sid)

    def send_bytes(self, payload: bytes, sid: str) -> None:
        self._call(self._deliver, bytes(payload), sid)

    def connected(self, sid: str | None) -> bool:
        return sid is not None and sid in self.clients

    def broadcast_status(self) -> None:
        self.send("status", {"status": self.queue_info()})

    def _call(self, fn, *args) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass

    # -- the event loop -------------------------------------------------------------------------------------------
    def _deliver(self, message, sid: str | None) -> None:
        if sid is None:
            for client in list(self.clients.values()):
                client.push(message)
        else:
            client = self.clients.get(sid)
            if client is not None:
                client.push(message)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sid = request.query.get("clientId", "")
        if len(sid) > MAX_CLIENT_ID_CHARS:
            raise web.HTTPBadRequest(text=f"clientId is longer than {MAX_CLIENT_ID_CHARS} characters")
        # heartbeat: a peer that vanished without closing is noticed (every websocket client answers pings)
        ws = web.WebSocketResponse(max_msg_size=MAX_INCOMING_BYTES, heartbeat=30.0)
        await ws.prepare(request)
        sid = sid or uuid.uuid4().hex
        old = self.clients.pop(sid, None)
        if old is not None:  # the same client again: the old connection is dropped, as ComfyUI does
            old.task.cancel()
        client = self.clients[sid] = _Client(sid, ws)
        try:
            client.push(json.dumps({"type": "status", "data": {"status": self.queue_info(), "sid": sid}}))
            with self._lock:
                executing = self._executing.get(sid)
            if executing is not None:
                client.push(json.dumps({"type": "executing", "data": executing}))
            async for msg in ws:  # clients only listen; whatever they send is read and dropped
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            if self.clients.get(sid) is client:
                del self.clients[sid]
            client.task.cancel()
        return ws

    async def close_all(self) -> None:
        for client in list(self.clients.values()):
            client.task.cancel()
            await client.ws.close()
        self.clients.clear()
