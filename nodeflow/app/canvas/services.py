"""The narrow interfaces the canvas's helper modules are written against, so that they never import the modules that
own them (no import circles inside the canvas: ``view`` imports the helpers, helpers import only this).

    CanvasServices   what gestures, menus, edit actions, the minimap and edge panning use of the ``Canvas`` view
    SceneContext     what node, wire and frame items read from the ``GraphScene`` that holds them
    PaintedNode      what ``paint_node`` reads from a node item (plain values, no scene access)

They are ``typing.Protocol``s: the real classes satisfy them structurally and nothing here is instantiated.
"""
from __future__ import annotations

from typing import Any, Iterable, Protocol

from nodeflow.app.theme_colors import Palette
from nodeflow.core.graph import Graph, Node
from nodeflow.core.nodedef import NodeType
from nodeflow.core.registry import Registry


class SceneContext(Protocol):
    graph: Graph
    registry: Registry
    palette: Palette
    nodes: dict[int, Any]  # node id -> NodeItem
    wires: dict[int, Any]  # link id -> Wire

    def links_of(self, node_id: int) -> Iterable[Any]: ...

    def update_wires(self, node_ids: Iterable[int]) -> None: ...


class PaintedNode(Protocol):
    node: Node
    node_type: NodeType | None
    palette: Palette
    layout: Any
    state: Any
    problems: list
    problem_fields: set
    connected_inputs: set[str]
    connected_outputs: set[str]
    message_lines: list[str]
    shown_pixmaps: list
    preview: Any
    images_stale: bool
    reroute_type: str | None
    title_text: str
    title_color: str
    title_text_color: str

    def isSelected(self) -> bool: ...  # noqa: N802 - Qt's name


class CanvasServices(Protocol):
    """The view as its helpers see it: the model, the scene, the undo-aware edit actions and the view calls."""
    graph: Graph
    registry: Registry
    settings: Any
    undo_stack: Any
    palette_colors: Palette
    graph_scene: Any  # GraphScene
    actions: Any  # EditActions
    mouse: Any  # MouseRouter
    edge_pan: Any
    runToRequested: Any  # Signal(int)
    maskEditRequested: Any  # Signal(int)
    imageClicked: Any  # Signal(int, int)
    nodeActivated: Any  # Signal(int)
    message: Any  # Signal(str)

    def viewport(self) -> Any: ...
    def to_scene(self, view_pos) -> Any: ...
    def pan_by(self, dx: float, dy: float) -> None: ...
    def zoom(self) -> float: ...
    def visible_scene_rect(self) -> Any: ...
    def update_scene_area(self, rect) -> None: ...
    def centerOn(self, *args) -> None: ...  # noqa: N802 - Qt's name
    def mapFromScene(self, *args) -> Any: ...  # noqa: N802 - Qt's name
    def setFocus(self, *args) -> None: ...  # noqa: N802 - Qt's name
    def select_nodes(self, ids, group_ids=()) -> None: ...
    def selected_node_ids(self) -> list[int]: ...
    def select_all(self) -> None: ...
    def has_selection(self) -> bool: ...
    def open_search(self, scene_pos=None, filter_from=None) -> None: ...
    def show_menu(self, menu, global_pos=None) -> None: ...
    def close_popups(self) -> None: ...
    def edit_number(self, node_id: int, name: str) -> None: ...
    def edit_text_value(self, node_id: int, name: str) -> None: ...
    def edit_title(self, node_id: int) -> None: ...
    def edit_frame_title(self, group_id: int) -> None: ...
    def open_choice_menu(self, node_id: int, name: str) -> Any: ...
    def cycle_choice(self, node_id: int, name: str, direction: int) -> None: ...
    def open_control_menu(self, node_id: int, name: str) -> Any: ...
    def flash_refusal(self, scene_pos, reason: str) -> None: ...
    def add_frame_at(self, scene_pos) -> int: ...
    def fit_all(self) -> None: ...
    def copy_to_clipboard(self) -> str: ...
    def paste_from_clipboard(self, at=None, keep_links: bool = False) -> list[int]: ...
    def duplicate_selection(self) -> list[int]: ...
    def delete_selection(self) -> None: ...

