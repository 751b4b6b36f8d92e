import pytest

from tests.server.harness import ServerProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server for the tests that use ComfyUI's defaults (no auth, no previews); stopped by its process id."""
    srv = ServerProcess(tmp_path_factory.mktemp("server"))
    yield srv
    assert srv.alive, "the server died during the tests:\n" + "".join(srv.lines[-40:])
    srv.stop()


@pytest.fixture(scope="session")
def strict_server(tmp_path_factory):
    """A server with authentication, CORS for one origin, live previews, small upload and queue limits."""
    srv = ServerProcess(tmp_path_factory.mktemp("strict"), "--cors-origin", "https://app.example",
                        "--preview-method", "auto", "--max-upload-size", "1", "--max-queue", "40",
                        auth=("ann", "s3cret word"))
    yield srv
    assert srv.alive, "the server died during the tests:\n" + "".join(srv.lines[-40:])
    srv.stop()
