import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _offline_cache(tmp_path_factory):
    """Keep tests offline and give them their own feature cache."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("LABELSPACE_CACHE", str(tmp_path_factory.mktemp("labelspace-cache")))
