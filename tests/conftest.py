import os

# No test may reach a model hub, and Qt renders offscreen (set before anything imports Qt or huggingface).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests compare against fp32 references: precision "auto" must not pick bf16 on CPUs that have it natively.
os.environ.setdefault("NODEFLOW_CPU_BF16", "none")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Settings isolated in a temporary data folder (no user settings file, no user packs)."""
    from nodeflow.config import Settings

    monkeypatch.setenv("NODEFLOW_SETTINGS", str(tmp_path / "no-settings.json"))
    s = Settings(data_dir=tmp_path, model_roots=(tmp_path / "models",), input_dir=tmp_path / "input",
                 output_dir=tmp_path / "output", pack_dirs=())
    for d in ("models/checkpoints", "models/loras", "models/vae", "input", "output"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    yield s


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("NODEFLOW_HOME", str(home))
    monkeypatch.setenv("NODEFLOW_SETTINGS", str(home / "settings.json"))


REPO = Path(__file__).resolve().parent.parent
