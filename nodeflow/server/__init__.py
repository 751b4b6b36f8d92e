"""``nodeflow serve``: ComfyUI's HTTP + websocket API on top of NodeFlow's core, so the ecosystem's clients (scripts,
bots, Krita/Photoshop/Blender plugins, front ends) drive NodeFlow, and ``nodeflow run --server`` stays warm.

How a prompt travels:
    POST /prompt -> ``prompts.accept`` (import_api + plan: problems become ComfyUI's 400 + node_errors) -> a ``Job``
    in the bounded ``queue.PromptQueue`` -> a ``dispatch.Dispatcher`` (here one worker thread per device, each holding
    one Executor, so the cache is shared across prompts) -> ``runner.PromptRunner`` plans it again and runs it,
    ``messages.Translator`` turning executor events into ComfyUI's websocket messages -> ``history.History``.

Modules: ``app`` (the aiohttp application and ``serve``), ``routes`` (the endpoints), ``middleware`` (auth, CORS,
origin check, errors as JSON), ``hub`` (websocket clients), ``files`` (/view and uploads, inside their folders),
``object_info`` (ComfyUI's node descriptions, from the declarations), ``client`` (a small client for the CLI and the
editor).
"""
