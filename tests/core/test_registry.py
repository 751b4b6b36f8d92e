"""Node packs: built-in, user folder and entry points; a broken pack or declaration is reported, the rest load."""
import subprocess
import sys
import textwrap

import pytest

from nodeflow.core.nodedef import INT, Input, NodeType, Output, node
from nodeflow.core.registry import Registry, load_registry


def test_builtin_packs_load_without_errors_and_without_torch():
    code = ("import sys; from nodeflow.core.registry import load_registry; r = load_registry(); "
            "assert not r.errors, r.errors; assert 'Seed' in r and 'Note' in r; "
            "assert 'torch' not in sys.modules, 'declaring packs must not import torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(inputs=[Input("steps", INT, default=500, min=1, max=100)]), "default 500 outside [1, 100]"),
    (dict(inputs=[Input("x", "NO_SUCH_TYPE")]), "unknown socket type 'NO_SUCH_TYPE'"),
    (dict(inputs=[Input("x", INT, default=1), Input("x", INT, default=2)]), "input 'x' declared twice"),
    (dict(inputs=[Input("class", INT, default=1)]), "must be a Python identifier"),
    (dict(inputs=[Input("mode", "COMBO")]), "needs choices or files"),
    (dict(inputs=[Input("m", "MODEL", kind="widget")]), "a MODEL input cannot be a widget"),
    (dict(inputs=[Input("n", INT)]), "a widget input needs a default"),
    (dict(outputs=[Output("o", "NOPE")]), "unknown socket type 'NOPE'"),
    (dict(version=0), "version 0 must be an integer >= 1"),
])
def test_bad_declarations_are_reported_with_pack_and_type(kwargs, message):
    reg = Registry()
    reg.socket_types.register("MODEL", "#b39ddb")  # a link type some pack declared
    bad = node("Broken", **kwargs)(lambda ctx, **kw: None)
    assert not reg.add(bad, "mypack")
    assert "Broken" not in reg
    err = reg.errors[0]
    assert err.pack == "mypack" and err.type_name == "Broken" and message in err.message
    assert str(err).startswith("node pack mypack:Broken: bad declaration")


def test_duplicate_type_names_are_refused():
    reg = Registry()
    t = NodeType("Same", "Same", "x", lambda ctx: (1,), outputs=(Output("INT", INT),))
    assert reg.add(t, "one") and not reg.add(t, "two")
    assert "already registered by pack 'one'" in reg.errors[0].message


def test_user_folder_packs_and_broken_packs(tmp_path):
    (tmp_path / "good.py").write_text(textwrap.dedent('''
        from nodeflow.core.nodedef import INT, Input, Output, node
        @node("UserDouble", category="user", inputs=[Input("x", INT, default=1)], outputs=[Output("INT", INT)])
        def double(ctx, x):
            return (2 * x,)
        NODE_TYPES = [double]
    '''))
    (tmp_path / "broken.py").write_text("import not_a_real_module_xyz\n")
    pkg = tmp_path / "pkgpack"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .impl import NODE_TYPES\n")
    (pkg / "impl.py").write_text(textwrap.dedent('''
        from nodeflow.core.nodedef import Output, node
        @node("PkgNode", category="user", outputs=[Output("STRING", "STRING")])
        def f(ctx):
            return ("hi",)
        NODE_TYPES = [f]
    '''))
    (tmp_path / "nodecl.py").write_text("X = 1\n")
    reg = load_registry([tmp_path], entry_points=False)
    assert "UserDouble" in reg and "PkgNode" in reg and "Seed" in reg
    messages = {e.pack: e.message for e in reg.errors}
    assert "ModuleNotFoundError" in messages["user:broken"]
    assert messages["user:nodecl"] == "module has no NODE_TYPES list"


def test_entry_point_packs(monkeypatch):
    import importlib.metadata as md
    import types

    module = types.SimpleNamespace(NODE_TYPES=[
        NodeType("EpNode", "Entry point node", "ext", lambda ctx: (1,), outputs=(Output("INT", INT),))])

    class EP:
        name = "extpack"

        def load(self):
            return module

    class BadEP:
        name = "badpack"

        def load(self):
            raise RuntimeError("boom")

    monkeypatch.setattr(md, "entry_points", lambda group: [EP(), BadEP()] if group == "nodeflow.nodes" else [])
    reg = load_registry(builtin=False)
    assert reg.get("EpNode").pack == "entry:extpack"
    assert [str(e) for e in reg.errors] == ["node pack entry:badpack: failed to import: RuntimeError: boom"]


def test_a_docstring_description_reads_as_paragraphs_not_source_lines():
    from nodeflow.core.nodedef import node

    @node("DocShape", category="test")
    def doc_shape(ctx):
        """Grows the mask ``|expand|`` times, wrapped in
        the source at 120 columns.

        A second paragraph."""

    assert doc_shape.description == ("Grows the mask |expand| times, wrapped in the source at 120 columns.\n\n"
                                     "A second paragraph.")
