"""``labelspace serve``: a zero-shot web page and HTTP API over the loaded models."""
from labelspace.serve.app import create_app
from labelspace.serve.limits import Limits
from labelspace.serve.models import DEFAULT_MODEL, load_model

__all__ = ["DEFAULT_MODEL", "Limits", "create_app", "load_model"]
