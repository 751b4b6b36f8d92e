"""Where the project's own files live (assets, example workflows, built-in node packs)."""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
ASSETS_DIR = REPO_DIR / "assets"
WORKFLOWS_DIR = REPO_DIR / "workflows"
BUILTIN_NODES_DIR = REPO_DIR / "nodes"
