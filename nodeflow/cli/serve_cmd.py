"""``nodeflow serve``: ComfyUI's API on this machine, so ComfyUI clients (and ``nodeflow run --server``) use it.

Flags follow ComfyUI's names (--listen, --port, --output-directory, --input-directory, --enable-cors-header,
--max-upload-size, --preview-method). Binds to 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import logging
import os
import sys

from nodeflow.cli.common import add_settings_arguments, environment_from_args
from nodeflow.cli.errors import CliError

name = "serve"
help = "serve ComfyUI's HTTP + websocket API, so ComfyUI clients and `nodeflow run --server` run prompts here"

AUTH_ENV = "NODEFLOW_SERVER_AUTH"


def add_arguments(p):
    p.add_argument("--listen", default="127.0.0.1", nargs="?", const="0.0.0.0", metavar="ADDRESS",
                   help="address(es) to listen on, comma-separated (default 127.0.0.1: this machine only; "
                        "--listen alone: all addresses)")
    p.add_argument("--port", type=int, default=8188, help="port (default 8188, ComfyUI's; 0: any free port)")
    p.add_argument("--output-directory", dest="out", metavar="DIR", help="where Save Image writes")
    p.add_argument("--input-directory", dest="input", metavar="DIR", help="where Load Image reads, uploads go")
    p.add_argument("--auth", metavar="USER:PASSWORD",
                   help=f"require HTTP basic authentication (or set {AUTH_ENV}, which `ps` does not show)")
    p.add_argument("--cors-origin", "--enable-cors-header", dest="cors_origin", nargs="?", const="*",
                   metavar="ORIGIN", help="allow browser pages from ORIGIN (alone: any origin) to call the API")
    p.add_argument("--max-upload-size", type=float, default=100, metavar="MB", help="largest upload (default 100)")
    p.add_argument("--max-queue", type=int, default=10_000, metavar="N",
                   help="prompts waiting at once; more are refused with 503 (default 10000)")
    p.add_argument("--preview-method", choices=("none", "auto", "latent2rgb"), default="none",
                   help="live previews over the websocket (default none, as ComfyUI)")
    p.add_argument("--ray", dest="ray_address", metavar="ADDRESS",
                   help="run the queue on a Ray cluster: 'local' starts one here, or a running cluster's address "
                        "('auto', HOST:6379); one worker per GPU (pip install -e \".[ray]\")")
    p.add_argument("--ray-workers", type=int, metavar="N", help="with --ray: how many workers")
    p.add_argument("--verbose", "-v", action="store_true", help="log every prompt")
    add_settings_arguments(p)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise CliError("--auth must be USER:PASSWORD, both non-empty")
    return user, password


def run(args) -> int:
    from nodeflow.server.app import serve
    from nodeflow.server.options import MB, ServerOptions

    if not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port}: must be 0..65535")
    if args.ray_workers is not None and args.ray_workers < 1:
        raise CliError("--ray-workers must be at least 1")
    if args.max_upload_size <= 0 or args.max_queue < 1:
        raise CliError("--max-upload-size and --max-queue must be positive")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="nodeflow serve: %(levelname)s %(message)s")
    options = ServerOptions(listen=args.listen, port=args.port,
                            auth=parse_auth(args.auth or os.environ.get(AUTH_ENV)), cors_origin=args.cors_origin,
                            max_upload_bytes=int(args.max_upload_size * MB), max_queue=args.max_queue,
                            previews=args.preview_method != "none", ray_address=args.ray_address,
                            ray_workers=args.ray_workers)
    env = environment_from_args(args)
    try:
        return serve(env, options, say=lambda text: print(text, flush=True), argv=sys.argv)
    except RuntimeError as e:  # Ray is missing, or its cluster cannot be reached
        if args.ray_address:
            raise CliError(f"--ray {args.ray_address}: {e}", 1) from None
        raise
    except OSError as e:  # the port is taken, the address is not ours
        raise CliError(f"cannot listen on {args.listen}:{args.port}: {e.strerror or e}", 1) from None
