"""End to end: the real server on loopback and the real page in headless Debian Chromium (Playwright).

A screenshot of the ranked result is saved in pytest's tmp dir (path printed); with
LABELSPACE_UPDATE_SCREENSHOT=1 it also replaces docs/serve.png, the one the README shows.
"""
import base64
import os
import re
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import skimage
import uvicorn

from labelspace.serve import DEFAULT_MODEL, create_app

pytestmark = pytest.mark.slow
CAT = Path(skimage.__file__).parent / "data" / "chelsea.png"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "serve.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server():
    """``labelspace serve``'s app in a uvicorn thread on a free loopback port; the model loads once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    uv = uvicorn.Server(uvicorn.Config(create_app([DEFAULT_MODEL]), log_level="warning"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    uv.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian chromium not found on PATH (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    yield page
    context.close()


def results(page):
    page.wait_for_selector("#results .row")
    return (page.locator("#results .label").all_text_contents(),
            [float(s) for s in page.locator("#results .score").all_text_contents()])


def test_pick_photo_type_labels_and_read_the_ranking(page, tmp_path):
    page.set_input_files("#file", str(CAT))
    page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
    page.fill("#labels", "cat, dog, car, airplane, guitar")
    page.type("#labels", ", motorb")
    page.click("#suggestions button:text-is('motorbike')")  # a PASCAL VOC suggestion
    assert page.input_value("#labels") == "cat, dog, car, airplane, guitar, motorbike, "
    page.select_option("#model", DEFAULT_MODEL)
    page.click("#go")
    labels, scores = results(page)
    assert labels[0] == "cat" and sorted(labels) == ["airplane", "car", "cat", "dog", "guitar", "motorbike"]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    assert page.is_hidden("#error")
    assert DEFAULT_MODEL in page.text_content("#status")
    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    if os.environ.get("LABELSPACE_UPDATE_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_pick_a_21k_label_set_and_read_synset_answers(page, tmp_path):
    """imagenet-21k+1k from the page's label sets: the best 10 of its 21,841 scored synsets, each with its wnid
    and hypernym path (gloss as small text and tooltip), and the hedged answer; screenshot in pytest's tmp dir."""
    page.set_input_files("#file", str(CAT))
    page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
    assert "imagenet-21k+1k (21,842 synsets)" in page.locator("#label-set option").all_text_contents()
    page.select_option("#label-set", "imagenet-21k+1k")
    assert page.is_disabled("#labels") and page.is_enabled("#hedge")
    page.fill("#hedge", "0.5")
    page.click("#go")
    labels, scores = results(page)
    synsets = page.locator("#results .synset").all_text_contents()
    assert len(labels) == len(synsets) == 10 and scores == sorted(scores, reverse=True)
    assert all(re.fullmatch(r"n\d{8} \u00b7 .+ < .+", s) for s in synsets)
    assert labels[0] == "tiger cat" and synsets[0] == "n02123159 \u00b7 tiger cat < domestic cat < cat < feline < carnivore"
    assert page.locator("#results .gloss").first.text_content() == "a cat having a striped coat"
    assert page.get_attribute("#results .synset >> nth=0", "title") == "a cat having a striped coat"
    hedged = page.text_content("#hedged")
    # the default model is ConSE, whose numbers are uncalibrated scores, and the page says so
    assert re.search(r"\(n\d{8}\), subtree score \(uncalibrated\) (0\.[5-9]\d\d|1\.000) \u00b7 .+ < ", hedged), hedged
    assert "the best 10 of 21,841 synsets of imagenet-21k+1k (1 without a word" in page.text_content("#status")
    assert page.text_content("#status").endswith("; each number: score (uncalibrated)")
    assert page.is_hidden("#error")
    shot = tmp_path / "serve-21k.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000


def test_dropped_photo_and_html_labels_are_shown_as_text(page):
    page.evaluate("window.hacked = false")
    data_transfer = page.evaluate_handle("""async (b64) => {
        const blob = await (await fetch('data:image/png;base64,' + b64)).blob();
        const dt = new DataTransfer();
        dt.items.add(new File([blob], 'cat.png', {type: 'image/png'}));
        return dt;
    }""", base64.b64encode(CAT.read_bytes()).decode())
    page.dispatch_event("#drop", "drop", {"dataTransfer": data_transfer})
    page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
    evil = ['dog <b>bold</b>', '<img src=x onerror="window.hacked=true"> cat']
    page.fill("#labels", ", ".join(["car", *evil]))
    page.click("#go")
    labels, _ = results(page)
    assert sorted(labels) == sorted(["car", *evil])
    assert page.locator("#results b, #results img").count() == 0
    assert page.evaluate("window.hacked") is False


@pytest.mark.parametrize("upload,labels,message", [
    ({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"}, "cat, dog", "content type"),
    ({"name": "cut.png", "mimeType": "image/png", "buffer": CAT.read_bytes()[:5000]}, "cat, dog", "truncated"),
    (str(CAT), ",".join(f"l{i}" for i in range(10_000)), "at most 200"),
    (str(CAT), "cat, Cat", "duplicate"),
    (str(CAT), " , ", "Type at least one label"),
], ids=["text-file", "truncated", "10000-labels", "duplicates", "no-labels"])
def test_errors_are_shown_in_the_page(page, server, upload, labels, message):
    page.set_input_files("#file", upload)
    page.fill("#labels", labels)
    page.click("#go")
    page.wait_for_selector("#error:not([hidden])")
    text = page.text_content("#error")
    assert message in text and not text.lstrip().startswith("{")
    assert page.is_hidden("#output")
    with urllib.request.urlopen(f"{server}/healthz", timeout=10) as response:
        assert response.status == 200
