import os
import socket
import sys

import pytest


@pytest.fixture(autouse=True, scope="session")
def _offline_cache(tmp_path_factory):
    """Keep tests offline and give them their own feature cache."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("LABELSPACE_CACHE", str(tmp_path_factory.mktemp("labelspace-cache")))


@pytest.fixture
def cli_main(monkeypatch, capsys):
    """Run the CLI entry point in this process: ``cli_main(*args) -> (exit code, stdout, stderr)``."""
    from labelspace.cli import main

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["labelspace", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        captured = capsys.readouterr()
        return exit_info.value.code, captured.out, captured.err

    return run


@pytest.fixture
def free_port() -> int:
    """A TCP port free on this machine now, for a test's torch.distributed rendezvous (no fixed port to clash)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
