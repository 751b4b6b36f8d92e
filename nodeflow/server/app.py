"""The aiohttp application and the server's life: ``start`` (build, bind, start the workers), ``Server.stop``, and
``serve`` (what ``nodeflow serve`` runs: until Ctrl-C or SIGTERM)."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from aiohttp import web

from nodeflow.server import middleware
from nodeflow.server.dispatch import LocalDispatcher
from nodeflow.server.files import ServerFolders
from nodeflow.server.history import History
from nodeflow.server.hub import Hub
from nodeflow.server.options import ServerOptions
from nodeflow.server.outputs import OutputRefs
from nodeflow.server.prompt_queue import PromptQueue
from nodeflow.server.routes import setup_routes
from nodeflow.server.runner import PromptRunner
from nodeflow.server.state import STATE, ServerState

log = logging.getLogger("nodeflow.server")


def make_app(state: ServerState) -> web.Application:
    o = state.options
    chain = [middleware.errors, middleware.cors(o.cors_origin) if o.cors_origin else middleware.same_origin]
    if o.auth is not None:
        chain.append(middleware.basic_auth(*o.auth))
    # client_max_size bounds whatever aiohttp buffers itself; JSON bodies and uploads have their own, smaller or
    # streamed, limits (routes.read_json, routes._upload).
    app = web.Application(client_max_size=o.max_upload_bytes + 1024 * 1024, middlewares=chain)
    app[STATE] = state
    setup_routes(app)
    return app


def is_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass
class Server:
    state: ServerState
    runner: web.AppRunner
    #: (host, port) of every socket listened on (port 0 asks for a free port: this says which).
    addresses: list[tuple[str, int]]

    @property
    def url(self) -> str:
        host, port = self.addresses[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        self.state.dispatcher.stop(timeout=10.0)
        await self.state.hub.close_all()
        await self.runner.cleanup()
        shutil.rmtree(self.state.temp_dir, ignore_errors=True)


async def start(env, options: ServerOptions, argv: list[str] | None = None) -> Server:
    temp_dir = Path(tempfile.mkdtemp(prefix="nodeflow-serve-"))
    state = ServerState(env, options, PromptQueue(options.max_queue), History(options.max_history),
                        ServerFolders(env.folders, temp_dir), temp_dir, public_argv=_public_argv(argv or []))
    hub = Hub(asyncio.get_running_loop(), state.queue_info)
    state.hub = hub
    state.queue.on_change = hub.broadcast_status
    refs = OutputRefs(env.settings.output_dir, temp_dir)
    if options.ray_address:  # a pool of Ray actors (issue 16): N GPUs behind this one URL
        from nodeflow.server.ray_dispatch import RayDispatcher

        state.dispatcher = RayDispatcher(state.queue, state.history, hub, env, temp_dir,
                                         address=options.ray_address, workers=options.ray_workers,
                                         previews=options.previews)
    else:  # one worker per device; one device today (the settings' own)
        state.dispatcher = LocalDispatcher(state.queue, state.history, hub,
                                           [PromptRunner(env, hub, refs, previews=options.previews)])
    runner = web.AppRunner(make_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    addresses = []
    for host in [h.strip() for h in options.listen.split(",") if h.strip()]:
        site = web.TCPSite(runner, host, options.port, reuse_address=True)
        await site.start()
        for sock in site._server.sockets:  # the port really bound (options.port may be 0)
            addr = sock.getsockname()
            addresses.append((addr[0], addr[1]))
    state.dispatcher.start()
    return Server(state, runner, addresses)


def _public_argv(argv: list[str]) -> list[str]:
    out, hide = [], False
    for arg in argv:
        if hide:
            out.append("***")
            hide = False
        elif arg == "--auth":
            out.append(arg)
            hide = True
        elif arg.startswith("--auth="):
            out.append("--auth=***")
        else:
            out.append(arg)
    return out


def startup_notes(addresses: list[tuple[str, int]], options: ServerOptions, settings) -> list[str]:
    """What ``nodeflow serve`` says when it starts: where it listens, who can connect, where files go."""
    lines = []
    for host, port in addresses:
        shown = f"[{host}]" if ":" in host else host
        lines.append(f"NodeFlow server listening on http://{shown}:{port} (ComfyUI's API)")
    if all(is_local(h) for h, _ in addresses):
        lines.append("only this machine can connect (--listen 0.0.0.0 opens it to others)")
    elif options.auth is None:
        lines.append("warning: listening on all addresses without --auth: anyone who can reach this machine can "
                     "run prompts and read its output folder")
    lines.append(f"output folder: {settings.output_dir}; input folder: {settings.input_dir}")
    return lines


def serve(env, options: ServerOptions, say: Callable[[str], None] = print, argv: list[str] | None = None) -> int:
    """Run a server until interrupted (Ctrl-C, SIGTERM)."""
    async def main() -> None:
        server = await start(env, options, argv)
        for line in startup_notes(server.addresses, options, env.settings):
            say(line)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises KeyboardInterrupt instead
                pass
        try:
            await stop.wait()
        finally:
            say("stopping")
            await server.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()
    return 0
