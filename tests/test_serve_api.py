"""The HTTP API through FastAPI's test client: ranking, caching, the busy answer, limits and bad input;
slow clients on real loopback sockets, the app under uvicorn as ``labelspace serve`` runs it.

Most tests use a tiny colour model (an image's feature is its mean colour, a label's vector is the
colour it names) so they run in milliseconds; one slow test checks the real ConSE model against
``labelspace.classify``.
"""
import contextlib
import io
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import scipy.special
import skimage
import torch
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image
from starlette import formparsers

from labelspace.errors import LabelspaceError
from labelspace.methods import Classifier
from labelspace.serve import DEFAULT_MODEL, Limits, create_app, load_model
from labelspace.serve.app import STATIC, predict
from labelspace.serve.models import CachedTextEncoder
from labelspace.serve.run import server_config
from labelspace.zeroshot import label_vectors

CAT = Path(skimage.__file__).parent / "data" / "chelsea.png"
COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


class ColourText:
    """A label's vector is the sum of the colours it names; a label naming none is unknown."""

    name, dim, cache_key = "colour", 3, "colour"

    def __init__(self):
        self.calls = []

    def encode(self, labels, on_unknown="error"):
        self.calls.append(list(labels))
        out = np.array([np.sum([COLOURS[w] for w in re.findall(r"[a-z]+", label.lower()) if w in COLOURS] or
                               [(0.0, 0.0, 0.0)], axis=0) for label in labels], dtype=np.float32)
        if on_unknown == "error" and not np.all(out.any(axis=1)):
            raise LabelspaceError(f"no colour in label(s) {[l for l, v in zip(labels, out) if not v.any()]}")
        return out


class ColourImages:
    release = None  # a threading.Event that encode waits for, to hold a worker busy

    def preprocess(self, image):
        return torch.from_numpy(np.asarray(image, dtype=np.float32).mean(axis=(0, 1)) / 255)

    def encode(self, batch):
        if self.release is not None:
            self.release.wait(10)
        return batch


class ColourModel(Classifier):
    def __init__(self):
        self.image_encoder, self.text_encoder = ColourImages(), ColourText()

    def scores(self, features, labels, templates=None):
        vectors = label_vectors(self.text_encoder, labels, templates)
        f = np.asarray(features, dtype=np.float32)
        return (f / np.linalg.norm(f, axis=1, keepdims=True)) @ (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).T


def png(colour=(200, 30, 30), size=(32, 24), noise=False) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) if noise else None
    image = Image.fromarray(pixels) if noise else Image.new("RGB", size, colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def post(client, image=None, labels="red, green, blue", content_type="image/png", **fields):
    files = {"image": ("x.png", png() if image is None else image, content_type)}
    return client.post("/classify", files=files, data={"labels": labels, **fields})


@pytest.fixture()
def model():
    return ColourModel()


@pytest.fixture()
def client(model):
    limits = Limits(max_upload_bytes=200_000, max_pixels=100_000, max_labels=5, max_label_chars=30)
    with TestClient(create_app({"colour": model}, limits=limits)) as c:
        yield c


def test_classify_ranks_labels_by_score(client):
    response = post(client, png((20, 40, 220)))
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "colour"
    assert [r["label"] for r in body["labels"]][0] == "blue"
    scores = [r["score"] for r in body["labels"]]
    assert scores == sorted(scores, reverse=True)
    cosines = np.array([20, 40, 220]) / np.linalg.norm([20, 40, 220])  # of the mean colour with red, green, blue
    expected = dict(zip(["red", "green", "blue"], scipy.special.softmax(cosines)))  # the model's temperature is 1
    assert {r["label"]: r["score"] for r in body["labels"]} == pytest.approx(expected, abs=1e-4)


def test_answers_say_whether_their_scores_are_probabilities(model):
    """An uncalibrated classifier's answers are scores; after ``calibrate`` (a temperature fitted on labelled
    images) and for CLIP (its trained logit scale) they are probabilities."""
    from labelspace.methods.clip import CLIPClassifier

    features = np.array([[1.0, 0.1, 0.0], [0.1, 1.0, 0.0], [0.0, 0.1, 1.0], [1.0, 0.0, 0.2]], dtype=np.float32)
    with TestClient(create_app({"colour": model, "clip": CLIPClassifier("open_clip:ls-clip-tiny")})) as c:
        shown = post(c, png((200, 30, 30))).json()
        assert shown["score_name"] == "score (uncalibrated)" and shown["labels"][0]["label"] == "red"
        temperature = model.calibrate(features, [0, 1, 2, 0], ["red", "green", "blue"])
        calibrated = post(c, png((200, 30, 30))).json()
        assert calibrated["score_name"] == "probability" and temperature != 1.0
        assert calibrated["labels"][0]["score"] != pytest.approx(shown["labels"][0]["score"], abs=1e-3)
        with open(CAT, "rb") as f:
            assert post(c, f.read(), labels="cat, dog", model="clip").json()["score_name"] == "probability"


def test_templates_ensemble_unit_prompt_vectors_like_a_plain_loop(model):
    data, labels, templates = png((150, 120, 30)), ["red", "green"], ["{} light", "dark {} and blue"]
    ranked = {r["label"]: r["score"] for r in predict(model, data, labels, templates, Limits())["labels"]}
    feature = np.asarray(model.image_encoder.preprocess(Image.open(io.BytesIO(data)).convert("RGB")), dtype=np.float64)
    cosines = []
    for label in labels:
        prompts = [np.sum([COLOURS[w] for w in t.replace("{}", label).split() if w in COLOURS], axis=0)
                   for t in templates]
        mean = np.mean([p / np.linalg.norm(p) for p in prompts], axis=0)
        cosines.append(feature @ mean / np.linalg.norm(feature) / np.linalg.norm(mean))
    assert [ranked[label] for label in labels] == pytest.approx(scipy.special.softmax(cosines), abs=1e-6)


def test_label_vectors_are_cached_across_requests(client, model):
    for _ in range(3):
        assert post(client, labels="red, green").status_code == 200
    assert post(client, labels="green, blue").status_code == 200
    encoded = [label for call in model.text_encoder.encoder.calls for label in call]
    assert sorted(encoded) == ["blue", "green", "red"]  # each label encoded once
    cache = client.get("/models").json()["models"][0]["label_cache"]
    assert cache == {"size": 3, "hits": 5, "misses": 3}


def test_cached_text_encoder_is_an_lru_with_the_inner_rows():
    inner = ColourText()
    cached = CachedTextEncoder(inner, maxsize=2)
    labels = ["red", "green", "blue", "green"]
    np.testing.assert_array_equal(cached.encode(labels), inner.encode(labels))
    assert list(cached.rows) == ["green", "blue"]
    with pytest.raises(LabelspaceError, match="no colour"):
        cached.encode(["red", "purple"])
    assert "purple" not in cached.rows


@contextlib.contextmanager
def only_worker_held(model):
    """A server with one worker and no queue, whose worker a first request holds in inference until
    ``release()``; yields (client, [the first response, once released], release)."""
    model.image_encoder.release = threading.Event()
    with TestClient(create_app({"colour": model}, workers=1, queue=0)) as client:
        first = []
        worker = threading.Thread(target=lambda: first.append(post(client)))
        worker.start()
        for _ in range(200):
            if client.get("/healthz").json()["in_flight"] == 1:
                break
            threading.Event().wait(0.01)

        def release():
            model.image_encoder.release.set()
            worker.join(10)
        try:
            yield client, first, release
        finally:
            release()


def test_full_queue_answers_503_and_recovers(model):
    with only_worker_held(model) as (client, first, release):
        busy = post(client)
        release()
        assert busy.status_code == 503 and "busy" in busy.json()["error"]
        assert first[0].status_code == 200
        assert post(client).status_code == 200
        assert client.get("/healthz").json()["in_flight"] == 0


def bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG claiming ``width`` x ``height`` pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * (width // 8 + 1) * 64)  # the first rows of all-black pixels
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


@pytest.mark.parametrize("kwargs,status,message", [
    ({"image": b"this is not an image"}, 400, "not a readable image"),
    ({"image": png()[:60]}, 400, "truncated"),
    ({"image": b""}, 400, "empty"),
    ({"content_type": "text/plain"}, 415, "content type"),
    ({"content_type": "application/json"}, 415, "content type"),
    ({"image": png(size=(400, 300))}, 413, "pixels"),
    ({"image": bomb_png(9000, 9000)}, 413, "pixels"),
    ({"image": bomb_png(40000, 40000)}, 413, "pixels"),
    ({"image": png(size=(300, 300), noise=True)}, 413, "limit is 200000"),
    ({"image": b"\0" * 600_000}, 413, "request body is larger"),
    ({"labels": ""}, 400, "no labels"),
    ({"labels": " , ,"}, 400, "no labels"),
    ({"labels": ",".join(f"label{i}" for i in range(10_000))}, 413, "exceeded"),
    ({"labels": ",".join("red" * (i + 1) for i in range(6))}, 400, "at most 5"),
    ({"labels": "red, " + "blue" * 10}, 400, "at most 30 characters"),
    ({"labels": "red, Red"}, 400, "duplicate"),
    ({"labels": "red, purple"}, 400, "no colour"),
    ({"model": "clip:ViT-B-32"}, 400, "not loaded"),
    ({"templates": "a photo"}, 400, "must contain '{}'"),
    ({"top": "0"}, 400, "'top' must be a whole number from 1 to 5, got '0'"),
    ({"top": "6"}, 400, "'top' must be a whole number from 1 to 5"),
    ({"hedge": "0.5"}, 400, "hedging answers over WordNet"),
    ({"labels": "wordnet:n04962784", "hedge": "0"}, 400, "must be a probability in (0, 1], got 0.0"),
    ({"labels": "wordnet:n04962784", "hedge": "half"}, 400, "'hedge' must be a probability in (0, 1], got 'half'"),
    ({"labels": "wordnet:n99999999"}, 400, "names no WordNet 3.0 noun synset"),
    ({"labels": "wordnet:n04264361"}, 400, "has no word for any synset"),  # sou'wester: no colour in it
    ({"labels": "file:/etc/hostname"}, 400, "label files are not read from the web"),
])
def test_bad_input_is_a_4xx_json_error_and_the_server_keeps_serving(client, kwargs, status, message):
    response = post(client, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert post(client).status_code == 200
    health = client.get("/healthz").json()
    assert (health["in_flight"], health["receiving"], health["receiving_bytes"]) == (0, 0, 0)


def test_uploads_being_received_share_a_byte_budget(model):
    image = png(size=(60, 40), noise=True)
    with TestClient(create_app({"colour": model}, limits=Limits(max_receiving_bytes=len(image)))) as c:
        response = post(c, image=image)  # the form around the image takes it past the budget
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error.startswith(f"uploads being received already hold 0 of the server's {len(image)} bytes")
        assert "busy" not in error  # that answer is for inference load
        assert post(c).status_code == 200 and c.get("/healthz").json()["receiving_bytes"] == 0


def test_a_label_set_is_answered_with_synsets_and_a_hedge(model):
    """wordnet:n04956594 (colour) is 139 synsets, 31 of them with a colour word: those 31 are scored, the rest
    counted; the hedged synset holds the probability of the answers under it, and no synset below it does."""
    from labelspace.vocab.labelsets import wordnet

    with TestClient(create_app({"colour": model})) as c:
        response = post(c, png((200, 30, 30)), labels="wordnet:n04956594", top="200", hedge="0.5")
    assert response.status_code == 200, response.text
    body, net = response.json(), wordnet()
    assert body["label_set"] == {"spec": "wordnet:n04956594", "size": 31, "excluded": 108}
    ranked = body["labels"]
    assert len(ranked) == 31 and sum(r["score"] for r in ranked) == pytest.approx(1, abs=1e-5)
    assert ranked[0]["wnid"] in net.descendants("n04962784")  # a red
    assert all(re.fullmatch(r"n\d{8}", r["wnid"]) and r["path"].split(" < ")[0] == net.name(r["wnid"]).replace("_", " ")
               and r["gloss"] == net.glosses[r["wnid"]] for r in ranked)

    def mass(wnid):
        under = set(net.descendants(wnid))
        return sum(r["score"] for r in ranked if r["wnid"] in under)

    hedge = body["hedge"]
    assert hedge["probability"] == pytest.approx(mass(hedge["wnid"]), abs=1e-6) and hedge["probability"] >= 0.5
    children = [w for w, ups in net.parents.items() if hedge["wnid"] in ups]
    assert children and max(mass(w) for w in children) < 0.5
    assert hedge["path"].startswith(hedge["label"] + " < ")


def test_a_label_set_is_a_name_not_held_to_the_typed_label_limit(client):
    response = post(client, png((200, 30, 30)), labels="wordnet:n04962784")  # red: 17 synsets; at most 5 typed labels
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["label_set"] == {"spec": "wordnet:n04962784", "size": 9, "excluded": 8} and len(body["labels"]) == 9
    assert "hedge" not in body
    assert post(client, labels=",".join(["red"] * 6)).status_code == 400  # six typed labels are refused


def test_a_file_path_from_a_client_is_never_read(client, tmp_path, monkeypatch):
    """A path is no label set on the web: the server reads no file a client names (the file in its working
    folder holds other labels, which would be answered if it were read; `labelspace classify` would read it)."""
    monkeypatch.chdir(tmp_path)
    Path("red.txt").write_text("green\nblue\n")
    response = post(client, labels="red.txt")
    assert response.status_code == 200 and [r["label"] for r in response.json()["labels"]] == ["red.txt"]
    assert "label_set" not in response.json()
    response = post(client, labels=f"file:{tmp_path / 'red.txt'}")
    assert response.status_code == 400 and "not read from the web" in response.json()["error"]


def test_label_sets_route_lists_the_packaged_sets_with_their_sizes(client):
    sets = {s["spec"]: s["size"] for s in client.get("/label-sets").json()}
    assert sets == {"imagenet-1k": 1000, "imagenet-2hops": 1549, "imagenet-2hops+1k": 2549, "imagenet-3hops": 7860,
                    "imagenet-3hops+1k": 8860, "imagenet-21k": 20842, "imagenet-21k+1k": 21842}


def test_generic_content_type_is_decoded_like_an_image(client):
    assert post(client, content_type="application/octet-stream").status_code == 200


def test_bad_requests_without_a_form(client):
    assert client.post("/classify", json={"labels": "red"}).status_code == 415
    response = client.post("/classify", data={"labels": "red"}, files={"other": ("a", b"b", "text/plain")})
    assert response.status_code == 400 and "'image'" in response.json()["error"]
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.json() == {"error": "Not Found"}


def test_html_in_labels_comes_back_verbatim_as_json_text(client):
    label = "<script>alert('red')</script>"
    response = post(client, labels=f"{label}, blue")
    assert response.status_code == 200
    assert label in [r["label"] for r in response.json()["labels"]]


def test_uploads_stay_in_memory(client, monkeypatch):
    """Starlette spools file parts over 1 MB to disk; ours must never roll over to a file."""
    rolled = []

    class Recording(formparsers.SpooledTemporaryFile):
        def rollover(self):
            rolled.append(self._max_size)
            super().rollover()

    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", Recording)
    big = png(size=(800, 600), noise=True)
    assert len(big) > 1_200_000
    with TestClient(create_app({"colour": ColourModel()}, limits=Limits(max_upload_bytes=2_000_000))) as c:
        assert post(c, image=big).status_code == 200
    assert rolled == []


def test_models_health_schema_and_page(client):
    assert client.get("/models").json()["default"] == "colour"
    assert client.get("/healthz").json()["status"] == "ok"
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/classify"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["image", "labels"]
    assert {"200", "400", "413", "415", "503"} <= set(schema["paths"]["/classify"]["post"]["responses"])
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text


@pytest.mark.slow  # the ImageNet names come from open_clip, a slow first import
def test_suggestions(client):
    sets = client.get("/suggestions").json()
    assert len(sets["ImageNet-1k"]) == 1000 and "dog" in sets["PASCAL VOC"] and len(sets["Fashion-MNIST"]) == 10


def test_page_needs_nothing_from_outside():
    for path in STATIC.iterdir():
        assert not re.search(r"https?://|//cdn", path.read_text()), path.name


def test_model_specs():
    with pytest.raises(LabelspaceError, match="unknown method .magic:thing."):
        load_model("magic:thing")
    with pytest.raises(LabelspaceError, match="IMAGE\\+TEXT"):
        load_model("conse:efficientnet-lite0")


@pytest.mark.slow
def test_real_model_matches_labelspace_classify():
    from labelspace import classify

    labels = ["cat", "dog", "car", "airplane", "guitar"]
    with TestClient(create_app([DEFAULT_MODEL])) as client:
        response = client.post("/classify", files={"image": ("cat.png", CAT.read_bytes(), "image/png")},
                               data={"labels": ", ".join(labels), "model": "conse"})
    assert response.status_code == 200
    served = response.json()["labels"]
    direct = classify([CAT], labels, top=len(labels))[0]
    assert [r["label"] for r in served] == [r["label"] for r in direct] and served[0]["label"] == "cat"
    assert [r["score"] for r in served] == pytest.approx([r["score"] for r in direct], abs=1e-5)


def test_a_busy_server_refuses_before_reading_the_upload(model, monkeypatch):
    """With every ``workers + queue`` slot taken, an upload is refused before its body is parsed."""
    from labelspace.serve import app as app_module

    parsed = []
    real_parse = app_module.MultiPartParser.parse

    async def counting(self):
        parsed.append(1)
        return await real_parse(self)

    monkeypatch.setattr(app_module.MultiPartParser, "parse", counting)
    with only_worker_held(model) as (client, first, release):
        busy = post(client, image=png(size=(300, 300), noise=True))
        release()
    assert busy.status_code == 503 and len(parsed) == 1 and first[0].status_code == 200


def test_a_client_disconnecting_mid_upload_is_answered_without_a_traceback(model, caplog):
    import asyncio

    app = create_app({"colour": model})
    body = b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n"
    messages = [{"type": "http.request", "body": body, "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/classify", "raw_path": b"/classify", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"multipart/form-data; boundary=b")], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400 and "disconnected" in sent[1]["body"].decode()
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelname == "ERROR"]


@contextlib.contextmanager
def serving(app):
    """``app`` under uvicorn as ``labelspace serve`` runs it (``serve.run``), in a thread on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(server_config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(250):
        if server.started:
            break
        time.sleep(0.02)
    try:
        assert server.started, "uvicorn did not start"
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def dribble(sock: socket.socket, data: bytes, every: float, until: float) -> tuple[bytes, float]:
    """Send ``data`` a byte every ``every`` s until the server answers (or closes) or ``until`` passes; (what came
    back up to the server's close, when its first bytes came)."""
    sock.settimeout(every)
    answer, answered = b"", None
    while time.monotonic() < until:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            if answered is None and data:
                sock.send(data[:1])
                data = data[1:]
            continue
        answered = answered or time.monotonic()
        if not chunk:
            break
        answer += chunk
    return answer, answered


def test_slow_uploads_hold_no_slot_and_get_408_after_the_deadline(model):
    """17 uploads sending a byte every 0.3 s (as many as the slots: 1 worker + 16 queued) while 8 probes are
    answered 200, each within 1 s; the slow ones are answered 408 at the 2 s deadline and hold nothing after."""
    slow, deadline = 17, 2.0
    form = httpx.Request("POST", "http://x/classify", files={"image": ("x.png", png(), "image/png")},
                         data={"labels": "red, green"})
    body = form.read()
    head = (f"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: {form.headers['content-type']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with serving(create_app({"colour": model}, limits=Limits(body_seconds=deadline))) as port:
        url = f"http://127.0.0.1:{port}"
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(slow)]
        started, answers = time.monotonic(), [None] * slow
        for sock in sockets:
            sock.sendall(head + body[:120])

        def hold(i):
            answers[i] = dribble(sockets[i], body[120:], 0.3, started + deadline + 3)

        holders = [threading.Thread(target=hold, args=(i,)) for i in range(slow)]
        for t in holders:
            t.start()
        with httpx.Client(base_url=url, timeout=5) as client:
            while client.get("/healthz").json()["receiving"] < slow and time.monotonic() < started + 1:
                time.sleep(0.02)
            assert client.get("/healthz").json()["receiving"] == slow
            probes = []
            for _ in range(8):
                t0 = time.monotonic()
                response = client.post("/classify", files={"image": ("x.png", png(), "image/png")},
                                       data={"labels": "red, green"})
                probes.append((response.status_code, time.monotonic() - t0))
            health = client.get("/healthz").json()
            assert time.monotonic() < started + deadline  # the probes ran while the slow uploads were held
            for t in holders:
                t.join(deadline + 4)
            after = client.get("/healthz").json()
        for sock in sockets:
            sock.close()
    assert [status for status, _ in probes] == [200] * 8 and max(t for _, t in probes) < 1.0, probes
    assert (health["receiving"], health["in_flight"]) == (slow, 0)
    for answer, answered in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"did not arrive within 2 s" in answer and b"connection: close" in answer.lower()
        assert deadline <= answered - started < deadline + 1.5
    assert (after["receiving"], after["receiving_bytes"], after["in_flight"]) == (0, 0, 0)


def test_a_slow_request_head_is_cut_off_at_its_deadline(model):
    """A head sent a byte every 0.2 s is closed at the 1 s deadline (uvicorn's own timer stops at the first byte)."""
    with serving(create_app({"colour": model}, limits=Limits(head_seconds=1.0))) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        sock.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\n")
        answer, closed = dribble(sock, b"X-Slow: " + b"a" * 100, 0.2, started + 4)
        sock.close()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    assert answer == b"" and closed is not None and 1.0 <= closed - started < 1.8
