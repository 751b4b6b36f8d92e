"""How a server is set up (``nodeflow serve``'s flags)."""
from __future__ import annotations

from dataclasses import dataclass

from nodeflow.server.history import DEFAULT_MAX_ITEMS
from nodeflow.server.prompt_queue import DEFAULT_MAX_PENDING

MB = 1024 * 1024


@dataclass(frozen=True)
class ServerOptions:
    listen: str = "127.0.0.1"
    port: int = 8188
    #: (user, password) for HTTP basic authentication, or None.
    auth: tuple[str, str] | None = None
    #: The origin allowed by CORS ("*" for any), or None: then requests from other sites' pages are refused.
    cors_origin: str | None = None
    #: ComfyUI's --max-upload-size (MB): the largest upload.
    max_upload_bytes: int = 100 * MB
    #: The largest JSON body (a prompt with its workflow in extra_pnginfo).
    max_json_bytes: int = 16 * MB
    max_queue: int = DEFAULT_MAX_PENDING
    max_history: int = DEFAULT_MAX_ITEMS
    #: Live previews as binary websocket frames; off by default, as ComfyUI's --preview-method none.
    previews: bool = False
    #: ``--ray ADDRESS``: run the queue on a Ray cluster ("local": one started here), else on this process.
    ray_address: str | None = None
    #: ``--ray-workers N``: Ray actors (default: one per GPU of the cluster, else one per CPU).
    ray_workers: int | None = None
