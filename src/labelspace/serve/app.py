"""The FastAPI app: ``POST /classify``, ``GET /models``, ``/healthz``, ``/limits``, ``/suggestions``, ``/label-sets``
and the web page.

``labels`` is comma-separated names or a label-set name (``imagenet-21k``, ``wordnet:<wnid>``: ``vocab``'s
registered specs, never a file); a WordNet set's answers carry ``wnid``, ``gloss`` and ``path``, and ``hedge``
(optional) adds the hedged answer (``vocab.hedging``).

Inference (decode, preprocess, encode, score) runs on a bounded thread pool so the event loop stays
free; when ``workers + queue`` requests are already in flight the next one is answered 503 at once. A
request's body is read before it takes one of those slots, under a deadline and a byte budget of its own
(``Intake``), so clients that send slowly hold no slot. Every refusal is JSON ``{"error": message}`` with a
4xx status.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from labelspace.api import answer_features, check_hedged
from labelspace.data.datasets import FASHION_MNIST_CLASSES
from labelspace.errors import LabelspaceError
from labelspace.serve.limits import (Limits, Refused, capped, check_content_type, decode_image, parse_hedge,
                                     parse_labels, parse_templates, parse_top)
from labelspace.serve.models import DEFAULT_MODEL, CachedTextEncoder, load_model
from labelspace.vocab import LabelSet, label_set, packaged_label_sets

STATIC = Path(__file__).parent / "static"
PASCAL_VOC = ["airplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "dining table",
              "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa", "train", "tv monitor"]


class Ranked(BaseModel):
    label: str
    score: float
    wnid: str | None = None  # these three for a WordNet label set
    gloss: str | None = None
    path: str | None = None


class Hedged(BaseModel):
    label: str
    probability: float  # of the synset's subtree (a score where score_name says the scores are)
    wnid: str
    gloss: str
    path: str


class ScoredSet(BaseModel):
    spec: str
    size: int  # synsets scored
    excluded: int  # synsets left out: the text model has no word for them


class Classification(BaseModel):
    model: str
    labels: list[Ranked]
    score_name: str  # what each label's score is: "probability" (calibrated) or "score (uncalibrated)"
    label_set: ScoredSet | None = None
    hedge: Hedged | None = None
    seconds: float


class Error(BaseModel):
    error: str


@lru_cache(maxsize=8)
def named_label_set(spec: str) -> LabelSet:
    """A label set a request names (``limits.parse_labels``), built once per process: 0.2 s for a 21K set."""
    return label_set(spec)


def predict(model, data: bytes, labels: str | list[str], templates: list[str], limits: Limits, top: int | None = None,
            hedge: float | None = None) -> dict:
    """``Classification``'s answers for one uploaded image, scored as ``labelspace.api.answers`` scores them; a
    label-set name is resolved here, off the event loop; templates other than the bare label are
    prompt-ensembled (``zeroshot.ensemble``: the mean of unit prompt vectors)."""
    labels = named_label_set(labels) if isinstance(labels, str) else labels
    check_hedged(labels, hedge)
    image = decode_image(data, limits)
    features = model.image_encoder.encode(model.image_encoder.preprocess(image)[None])
    named = isinstance(labels, LabelSet)
    ranked, hedged, labels, score_name = answer_features(
        model, features, labels, limits.set_top if named and top is None else top, hedge,
        None if templates == ["{}"] else templates)
    return {"labels": ranked[0], "score_name": score_name, "hedge": hedged and hedged[0],
            "label_set": {"spec": labels.spec, "size": len(labels), "excluded": labels.excluded} if named else None}


class Gate:
    """A thread pool with ``workers + queue`` slots: a request takes one once its body has been read and keeps
    it until its inference ends (even if the client has gone); with none free it is refused with 503, before
    its body is read when none is free as it arrives."""

    def __init__(self, workers: int, queue: int):
        if workers < 1 or queue < 0:
            raise LabelspaceError(f"workers must be >= 1 and queue >= 0, got workers={workers}, queue={queue}")
        self.capacity, self.in_flight = workers + queue, 0
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="labelspace-serve")

    def check(self) -> None:
        if self.in_flight >= self.capacity:
            raise Refused(503, f"server busy: {self.capacity} requests already queued or running; retry shortly")

    def acquire(self) -> None:
        with self.lock:
            self.check()
            self.in_flight += 1

    def release(self, _future=None) -> None:
        with self.lock:
            self.in_flight -= 1

    def submit(self, fn, *args):
        """Run ``fn`` in the pool for a request holding a slot; the slot is released when ``fn`` ends."""
        future = self.pool.submit(fn, *args)
        future.add_done_callback(self.release)
        return asyncio.wrap_future(future)


class Intake:
    """Request bodies while they arrive, before any takes a slot: each must arrive within ``seconds`` of its
    headers (else 408) and together they hold at most ``budget`` bytes (else 503), so memory stays bounded and
    a slow client holds a few bytes for a while, never a slot."""

    def __init__(self, budget: int, seconds: float):
        self.budget, self.seconds = budget, seconds
        self.requests = self.buffered = 0

    @asynccontextmanager
    async def receiving(self, request: Request):
        """The body's chunks, counted against the budget until the block ends, which must be within ``seconds``."""
        counted = 0

        async def chunks():
            nonlocal counted
            async for chunk in request.stream():
                if self.buffered + len(chunk) > self.budget:
                    raise Refused(503, f"uploads being received already hold {self.buffered} of the server's "
                                       f"{self.budget} bytes; retry shortly")
                self.buffered += len(chunk)
                counted += len(chunk)
                yield chunk

        self.requests += 1
        try:
            async with asyncio.timeout(self.seconds):
                yield chunks()
        except TimeoutError:
            raise Refused(408, f"the request body did not arrive within {self.seconds:g} s") from None
        finally:
            self.requests -= 1
            self.buffered -= counted


MULTIPART_SCHEMA = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image", "labels"],
        "properties": {
            "image": {"type": "string", "format": "binary", "description": "JPEG, PNG, WebP, ... (image/* content type)"},
            "labels": {"type": "string", "description": "comma-separated candidate labels, or a label-set name "
                       "(GET /label-sets, wordnet:<wnid>)", "example": "cat, dog, car"},
            "hedge": {"type": "number", "description": "label sets: also the most specific synset whose subtree "
                      "holds at least this probability, in (0, 1]"},
            "top": {"type": "integer", "description": "answers to send (default: every typed label, or a label set's "
                    "best set_top of GET /limits)"},
            "templates": {"type": "string", "description": "prompt templates, one per line, each with {} for the label"},
            "model": {"type": "string", "description": "a spec from GET /models, or a method name; default: the first"},
        }}}}},
}


def add_error_handlers(app: FastAPI) -> None:
    """Every refusal and failure as JSON ``{"error": message}``."""

    @app.exception_handler(LabelspaceError)
    async def refused(request, e: LabelspaceError):
        status = getattr(e, "status", 400)  # a 408 closes the connection: the rest of that body is not awaited
        return JSONResponse({"error": str(e)}, status_code=status,
                            headers={"connection": "close"} if status == 408 else None)

    @app.exception_handler(HTTPException)
    async def http_error(request, e: HTTPException):
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code, headers=e.headers)

    @app.exception_handler(Exception)
    async def crashed(request, e: Exception):
        return JSONResponse({"error": f"internal error ({type(e).__name__}); see the server log"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, e: RequestValidationError):
        return JSONResponse({"error": "; ".join(str(err.get("msg")) for err in e.errors())}, status_code=422)


def add_info_routes(app: FastAPI, loaded: dict, limits: Limits, gate: Gate, intake: Intake) -> None:
    """``GET /models``, ``/healthz``, ``/limits``, ``/suggestions`` and the page."""

    @app.get("/models")
    async def models_list():
        """The loaded models (the first is the default) and their label-vector caches."""
        return {"default": next(iter(loaded)), "models": [
            {"spec": spec, "method": spec.partition(":")[0],
             "label_cache": model.text_encoder.stats() if isinstance(getattr(model, "text_encoder", None), CachedTextEncoder) else None}
            for spec, model in loaded.items()]}

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "models": len(loaded), "in_flight": gate.in_flight, "capacity": gate.capacity,
                "receiving": intake.requests, "receiving_bytes": intake.buffered}

    @app.get("/limits")
    async def limits_info():
        return {**asdict(limits), "max_body_bytes": limits.max_body_bytes}

    @app.get("/suggestions")
    async def suggestions():
        """Label sets the page offers: PASCAL VOC, Fashion-MNIST and ImageNet-1k class names."""
        from labelspace.encoders.image import imagenet_labels

        return {"PASCAL VOC": PASCAL_VOC, "Fashion-MNIST": FASHION_MNIST_CLASSES, "ImageNet-1k": imagenet_labels()[0]}

    @app.get("/label-sets")
    async def label_sets():
        """The packaged label sets ``labels`` may name, with their sizes (``wordnet:<wnid>`` names any subtree)."""
        return packaged_label_sets()

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")


def create_app(models: Sequence[str] | Mapping[str, object] = (DEFAULT_MODEL,), limits: Limits = Limits(),
               workers: int = 1, queue: int = 16, device="cpu", precision: str = "fp32") -> FastAPI:
    """The app serving ``models``: spec strings to load (on ``device``, in ``precision``), or name -> ready classifier."""
    loaded = dict(models) if isinstance(models, Mapping) else \
        {spec: load_model(spec, device, precision) for spec in models}
    if not loaded:
        raise LabelspaceError("no model to serve; pass at least one spec such as " + repr(DEFAULT_MODEL))
    for model in loaded.values():
        if hasattr(model, "text_encoder") and not isinstance(model.text_encoder, CachedTextEncoder):
            model.text_encoder = CachedTextEncoder(model.text_encoder)
    gate, intake = Gate(workers, queue), Intake(limits.max_receiving_bytes, limits.body_seconds)

    @asynccontextmanager
    async def lifespan(app):
        yield
        gate.pool.shutdown(wait=False, cancel_futures=True)

    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN. The schema is /openapi.json.
    app = FastAPI(title="labelspace", summary="Zero-shot image classification against any labels.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.models, app.state.limits, app.state.gate = loaded, limits, gate

    add_error_handlers(app)

    def pick(name: str | None):
        if not name:
            return next(iter(loaded.items()))
        for spec, model in loaded.items():
            if name in (spec, spec.partition(":")[0]):
                return spec, model
        raise Refused(400, f"model {name!r} is not loaded (loaded: {', '.join(loaded)})")

    @app.post("/classify", response_model=Classification, response_model_exclude_none=True,
              openapi_extra=MULTIPART_SCHEMA,
              responses={code: {"model": Error} for code in (400, 408, 413, 415, 503)})
    async def classify(request: Request):
        """Rank the labels for the uploaded image, best first."""
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise Refused(415, "POST /classify takes multipart/form-data with an 'image' file and 'labels'")
        gate.check()  # a busy server refuses before reading the body
        args = await read_form(request)
        gate.acquire()
        start = time.perf_counter()
        spec, answered = args[0], await gate.submit(predict, *args[1:])
        return {"model": spec, **answered, "seconds": round(time.perf_counter() - start, 4)}

    async def read_form(request: Request):
        """(spec, model, image bytes, labels, templates, limits, top, hedge) from the multipart body, or a 4xx."""
        async with intake.receiving(request) as body:
            parser = MultiPartParser(request.headers, capped(body, limits.max_body_bytes), max_files=1,
                                     max_fields=8, max_part_size=limits.max_field_bytes)
            parser.spool_max_size = limits.max_body_bytes + 1  # keep the file part in memory: never written to disk
            try:
                form = await parser.parse()
            except MultiPartException as e:
                raise Refused(413 if "exceeded" in str(e) else 400, f"bad multipart form: {e}") from e
            except ClientDisconnect as e:  # nobody to answer: no traceback in the log
                raise Refused(400, "the client disconnected before the upload ended") from e
        image = form.get("image")
        if not isinstance(image, UploadFile):
            raise Refused(400, "no 'image' file part in the form; send the image as a file field named 'image'")
        check_content_type(image.content_type)
        labels = parse_labels(str(form.get("labels") or ""), limits)
        templates = parse_templates(str(form.get("templates") or ""), limits)
        top, hedge = parse_top(str(form.get("top") or ""), limits), parse_hedge(str(form.get("hedge") or ""))
        spec, model = pick(str(form.get("model") or ""))
        return spec, model, await image.read(), labels, templates, limits, top, hedge

    add_info_routes(app, loaded, limits, gate, intake)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
