import pytest


@pytest.fixture(scope="session")
def registry():
    """The built-in node packs only (no user packs, no entry points): what every NodeFlow install has."""
    from nodeflow.core.registry import load_registry

    reg = load_registry([], entry_points=False)
    assert not reg.errors, reg.errors
    return reg
