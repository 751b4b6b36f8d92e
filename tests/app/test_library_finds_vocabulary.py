"""The node library's search finds the conditioning, custom-sampling, patch, ControlNet and CLIP vision nodes by
their ComfyUI class name and by their display name; their sockets have colours of their own."""
from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from nodeflow.app.panels.library import matches  # noqa: E402
from nodeflow.core.registry import load_registry  # noqa: E402


def test_every_new_node_is_found_by_both_names():
    from nodes.diffusion import (nodes_clip_vision, nodes_conditioning, nodes_controlnet, nodes_custom_sampling,
                                 nodes_model_patches)

    registry = load_registry(entry_points=False)
    types = [t for m in (nodes_conditioning, nodes_custom_sampling, nodes_model_patches, nodes_controlnet,
                         nodes_clip_vision) for t in m.NODE_TYPES]
    assert len(types) == 40
    everything = list(registry.types.values())
    for t in types:
        assert matches(t.type_name, t) and matches(t.display_name, t)
        found = [o.type_name for o in everything if matches(t.type_name, o)]
        assert t.type_name in found
    colours = {registry.socket_types.get(name).color
               for name in ("SAMPLER", "SIGMAS", "NOISE", "GUIDER", "CONTROL_NET", "CLIP_VISION", "MODEL", "LATENT")}
    assert len(colours) == 8
