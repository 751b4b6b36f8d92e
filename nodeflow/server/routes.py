"""ComfyUI's endpoints (its request and response shapes), each also under /api as ComfyUI serves them."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import sys
import tempfile
from functools import partial
from pathlib import Path

from aiohttp import web

from nodeflow.config import KIND_ALIASES, MODEL_KINDS
from nodeflow.server import files as fs
from nodeflow.server.middleware import json_error
from nodeflow.server.object_info import object_info
from nodeflow.server.prompt_queue import QueueFull
from nodeflow.server.prompts import Rejected, make_job, parse_request, prepare
from nodeflow.server.state import STATE

log = logging.getLogger("nodeflow.server")

MAX_FIELD_BYTES = 64 * 1024


def _reject_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


async def read_json(request: web.Request):
    """The JSON body, within the server's limit: a larger body is refused from its Content-Length, before it is
    read; one sent without a length is read only up to the limit."""
    state = request.app[STATE]
    limit = state.options.max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length,
                                            text=f"the body is larger than {limit} bytes")
    body = bytearray()
    while chunk := await request.content.read(1 << 16):
        body += chunk
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body),
                                                text=f"the body is larger than {limit} bytes")
    request["body_size"] = len(body)
    try:
        return json.loads(bytes(body).decode("utf-8-sig") or "null", parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise web.HTTPBadRequest(text=f"the body is not valid JSON: {e}") from None


def _json(data, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, default=str))


async def _in_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))


def setup_routes(app: web.Application) -> None:
    r = web.RouteTableDef()

    @r.get("/ws")
    async def websocket(request):
        return await request.app[STATE].hub.handle(request)

    @r.get("/")
    async def root(request):
        return web.Response(text="NodeFlow server: ComfyUI's API (POST /prompt, /ws, /history, /view, "
                                 "/object_info). Point a ComfyUI client at this address.\n")

    # -- prompts and the queue ------------------------------------------------------------------------------------
    @r.post("/prompt")
    async def post_prompt(request):
        state = request.app[STATE]
        body = await read_json(request)
        try:
            req = parse_request(body)
            prepared = await _in_thread(prepare, req.prompt, state.env, req.outputs)
        except Rejected as e:
            return _json(e.body, e.status)
        nodeflow = req.extra_data.get("nodeflow")
        if isinstance(nodeflow, dict) and nodeflow.get("validate_only") is True:
            return _json({"prompt_id": None, "number": None, "node_errors": prepared.node_errors})
        number = state.next_number(req.number, req.front)
        job = make_job(req, prepared, number, request["body_size"])
        try:
            state.queue.put(job)
        except QueueFull as e:
            return json_error(503, f"{e}; try again later", "queue_full")
        log.info("queued prompt %s (%d nodes)", job.prompt_id, len(job.prompt))
        return _json({"prompt_id": job.prompt_id, "number": number, "node_errors": prepared.node_errors})

    @r.get("/prompt")
    async def get_prompt(request):
        return _json(request.app[STATE].queue_info())

    @r.get("/queue")
    async def get_queue(request):
        running, pending = request.app[STATE].queue.snapshot()
        return _json({"queue_running": [j.queue_tuple() for j in running],
                      "queue_pending": [j.queue_tuple() for j in pending]})

    @r.post("/queue")
    async def post_queue(request):
        state = request.app[STATE]
        body = await read_json(request)
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected {\"clear\": true} or {\"delete\": [prompt ids]}")
        if body.get("clear") is True:
            state.queue.clear()
        if "delete" in body:
            if not isinstance(body["delete"], list):
                raise web.HTTPBadRequest(text="delete must be a list of prompt ids")
            state.queue.delete(body["delete"])
        return web.Response()

    @r.post("/interrupt")
    async def interrupt(request):
        state = request.app[STATE]
        body = await read_json(request) if request.can_read_body else None
        prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
        state.dispatcher.interrupt(prompt_id if isinstance(prompt_id, str) else None)
        return web.Response()

    @r.post("/free")
    async def free(request):
        body = await read_json(request)
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected {\"unload_models\": bool, \"free_memory\": bool}")
        request.app[STATE].dispatcher.free(body.get("unload_models") is True, body.get("free_memory") is True)
        return web.Response()

    # -- history --------------------------------------------------------------------------------------------------
    @r.get("/history")
    async def get_history(request):
        def number(name):
            text = request.query.get(name)
            if text is None:
                return None
            try:
                return int(text)
            except ValueError:
                raise web.HTTPBadRequest(text=f"{name} must be an integer") from None

        max_items, offset = number("max_items"), number("offset")
        return _json(request.app[STATE].history.get(max_items=max_items, offset=-1 if offset is None else offset))

    @r.get("/history/{prompt_id}")
    async def get_history_item(request):
        return _json(request.app[STATE].history.get(request.match_info["prompt_id"]))

    @r.post("/history")
    async def post_history(request):
        state = request.app[STATE]
        body = await read_json(request)
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected {\"clear\": true} or {\"delete\": [prompt ids]}")
        if body.get("clear") is True:
            state.history.clear()
        if "delete" in body:
            if not isinstance(body["delete"], list):
                raise web.HTTPBadRequest(text="delete must be a list of prompt ids")
            state.history.delete(body["delete"])
        return web.Response()

    # -- files ----------------------------------------------------------------------------------------------------
    @r.get("/view")
    async def view(request):
        q = request.query
        if "filename" not in q:
            raise web.HTTPNotFound()
        state = request.app[STATE]
        try:
            path = state.folders.find(q.get("type", "output"), q["filename"], q.get("subfolder", ""))
            variant = await _in_thread(fs.view_variant, path, q.get("preview"), q.get("channel"))
        except fs.FileRequestError as e:
            return json_error(e.status, str(e))
        headers = {"Content-Disposition": f'filename="{path.name}"'}
        if variant is not None:
            return web.Response(body=variant[0], content_type=variant[1], headers=headers)
        return web.FileResponse(path, headers=headers)

    @r.post("/upload/image")
    async def upload_image(request):
        return await _upload(request, mask=False)

    @r.post("/upload/mask")
    async def upload_mask(request):
        return await _upload(request, mask=True)

    # -- what the server has --------------------------------------------------------------------------------------
    @r.get("/object_info")
    async def get_object_info(request):
        env = request.app[STATE].env
        return _json(await _in_thread(object_info, env.registry, env.settings))

    @r.get("/object_info/{node_class}")
    async def get_object_info_node(request):
        env = request.app[STATE].env
        return _json(await _in_thread(object_info, env.registry, env.settings, request.match_info["node_class"]))

    @r.get("/embeddings")
    async def embeddings(request):
        folders = request.app[STATE].env.folders
        names = await _in_thread(folders.list_files, "embeddings")
        return _json([os.path.splitext(n)[0] for n in names])

    @r.get("/models")
    async def model_types(request):
        return _json(list(MODEL_KINDS) + [a for kind in MODEL_KINDS for a in KIND_ALIASES.get(kind, ())])

    @r.get("/models/{folder}")
    async def models(request):
        folder = request.match_info["folder"]
        kind = next((k for k in MODEL_KINDS if folder == k or folder in KIND_ALIASES.get(k, ())), None)
        if kind is None:
            raise web.HTTPNotFound()
        return _json(await _in_thread(request.app[STATE].env.folders.list_files, kind))

    @r.get("/system_stats")
    async def system_stats(request):
        return _json(await _in_thread(_system_stats, request.app[STATE]))

    @r.get("/features")
    async def features(request):
        return _json({"supports_preview_metadata": False,
                      "max_upload_size": request.app[STATE].options.max_upload_bytes})

    app.add_routes([web.route(d.method, "/api" + d.path, d.handler) for d in r])
    app.add_routes(r)


async def _upload(request: web.Request, mask: bool) -> web.Response:
    """Multipart upload, streamed to a staging file (never held in memory), limited to the server's size."""
    state = request.app[STATE]
    limit = state.options.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + MAX_FIELD_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length,
                                            text=f"uploads are limited to {limit} bytes")
    if not request.content_type.startswith("multipart/"):
        raise web.HTTPBadRequest(text="expected a multipart/form-data upload with an \"image\" file")
    fields: dict[str, str] = {}
    staged, filename = None, None
    try:
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError, KeyError):  # no boundary, a broken content type
            raise web.HTTPBadRequest(text="malformed multipart/form-data body") from None
        while (part := await _next_part(reader)) is not None:
            if part.name == "image" and part.filename is not None and staged is None:
                filename = part.filename
                fd, name = tempfile.mkstemp(dir=state.temp_dir, prefix=".upload-")
                staged, size = Path(name), 0
                with os.fdopen(fd, "wb") as out:
                    while chunk := await part.read_chunk(1 << 16):
                        size += len(chunk)
                        if size > limit:
                            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size,
                                                                text=f"uploads are limited to {limit} bytes")
                        out.write(chunk)
            else:
                value = bytearray()
                while chunk := await part.read_chunk(1 << 14):
                    value += chunk
                    if len(value) > MAX_FIELD_BYTES:
                        raise web.HTTPBadRequest(text=f"form field {part.name!r} is too long")
                if part.name and part.filename is None:
                    fields[part.name] = value.decode("utf-8", "replace")
        if staged is None or not filename:
            raise web.HTTPBadRequest(text="no \"image\" file in the upload")
        try:
            if mask:
                await _in_thread(fs.apply_mask, staged, fields.get("original_ref"), state.folders)
            answer = await _in_thread(fs.place_upload, staged, filename, fields, state.folders)
        except fs.FileRequestError as e:
            return json_error(e.status, str(e))
        return _json(answer)
    finally:
        if staged is not None:
            staged.unlink(missing_ok=True)


async def _next_part(reader):
    try:
        return await reader.next()
    except (ValueError, AssertionError, KeyError):  # aiohttp's checks of a malformed multipart body
        raise web.HTTPBadRequest(text="malformed multipart/form-data body") from None


def _memory() -> tuple[int, int]:
    try:
        pages, avail, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return pages * size, avail * size
    except (ValueError, OSError, AttributeError):
        return 0, 0


def _system_stats(state) -> dict:
    """ComfyUI's /system_stats; torch is asked only once a run has imported it (a stats call stays cheap)."""
    from importlib import metadata

    ram_total, ram_free = _memory()
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = ""
    try:
        version = metadata.version("nodeflow")
    except metadata.PackageNotFoundError:
        version = "dev"
    device = {"name": "cpu", "type": "cpu", "index": None, "vram_total": ram_total, "vram_free": ram_free,
              "torch_vram_total": 0, "torch_vram_free": 0}
    cuda = getattr(sys.modules.get("torch"), "cuda", None)  # None too while torch is still being imported
    if cuda is not None and cuda.is_available():
        torch = sys.modules["torch"]
        k = torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(k)
        device = {"name": torch.cuda.get_device_name(k), "type": "cuda", "index": k, "vram_total": total,
                  "vram_free": free, "torch_vram_total": torch.cuda.memory_reserved(k),
                  "torch_vram_free": torch.cuda.memory_reserved(k) - torch.cuda.memory_allocated(k)}
    return {"system": {"os": os.name, "platform": platform.platform(), "ram_total": ram_total, "ram_free": ram_free,
                       "comfyui_version": f"nodeflow-{version}", "python_version": sys.version,
                       "pytorch_version": torch_version, "embedded_python": False, "argv": state.public_argv},
            "devices": [device]}

