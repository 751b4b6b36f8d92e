"""Lazy re-exports for packages whose modules import heavy libraries (torch, diffusers): a name loads its module on
first use, so importing the package itself stays cheap (PEP 562 module ``__getattr__``)."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: ``exports`` maps each re-exported name to the submodule defining it.

    Use: ``__getattr__ = lazy_exports(__name__, _EXPORTS)`` next to ``__all__ = sorted(_EXPORTS)``.
    """
    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
