"""What an import changed or could not bring across, in a few plain messages for the editor and the CLI."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MissingModel:
    name: str
    folder: str  # checkpoints, loras, vae, ... (ComfyUI's folder names)
    nodes: tuple[int, ...]
    field: str
    urls: tuple[str, ...] = ()


@dataclass
class ImportReport:
    #: "ComfyUI workflow (version 0.4)", "ComfyUI API prompt", ...
    source: str = ""
    #: Node types with no NodeFlow counterpart -> ids of the placeholder nodes kept for them.
    placeholders: dict[str, list[int]] = field(default_factory=dict)
    #: Readable names for placeholder types that are not plain class names (subgraphs: their title).
    placeholder_names: dict[str, str] = field(default_factory=dict)
    missing_models: list[MissingModel] = field(default_factory=list)
    #: Everything else changed on the way in (primitives inlined, stale links dropped, extra values kept aside).
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def add_placeholder(self, type_name: str, node_id: int) -> None:
        self.placeholders.setdefault(type_name, []).append(node_id)

    def placeholder_message(self) -> str | None:
        if not self.placeholders:
            return None
        count = sum(len(v) for v in self.placeholders.values())
        parts = []
        for t, ids in sorted(self.placeholders.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            name = self.placeholder_names.get(t, t)
            parts.append(f"{name} ({_ids(ids)})")
        return (f"{count} node(s) of {len(self.placeholders)} type(s) have no NodeFlow counterpart and were kept as "
                f"placeholders (they keep their values and links, but cannot run): " + "; ".join(parts))

    def models_message(self) -> str | None:
        if not self.missing_models:
            return None
        lines = [f"{len(self.missing_models)} model file(s) are not in the configured model folders:"]
        for m in self.missing_models:
            line = f"  {m.name} ({m.folder}; {_ids(m.nodes)}, {m.field})"
            if m.urls:
                line += " - download: " + ", ".join(m.urls)
            lines.append(line)
        return "\n".join(lines)

    def messages(self) -> list[str]:
        out = [m for m in (self.placeholder_message(), self.models_message()) if m]
        return out + list(self.notes)

    def to_json(self) -> dict:
        return {"source": self.source, "placeholders": {k: list(v) for k, v in self.placeholders.items()},
                "missing_models": [{"name": m.name, "folder": m.folder, "nodes": list(m.nodes), "field": m.field,
                                    "urls": list(m.urls)} for m in self.missing_models],
                "notes": list(self.notes)}


def _ids(ids) -> str:
    ids = sorted(ids)
    shown = ", ".join(str(i) for i in ids[:10]) + (", ..." if len(ids) > 10 else "")
    return f"node {shown}" if len(ids) == 1 else f"nodes {shown}"
