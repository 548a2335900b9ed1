"""HTTP serving vs a direct Python call, side by side: latency, throughput and errors on loopback.

Starts ``labelspace serve`` in a second process on 127.0.0.1, then from this process:
  * direct:     ``serve.app.predict`` in-process on the same image bytes and labels (decode, preprocess,
                encode, score): what the server does without HTTP, the floor;
  * sequential: ``POST /classify`` one at a time, same image and labels (label vectors cached);
    the two alternate call by call so load from other processes hits both alike;
  * load:       ``--requests`` requests from ``--concurrency`` client threads; p50/p95, throughput, errors;
  * slow:       ``--slow`` raw sockets send the headers and part of an upload, then a byte every 2 s (as
                many as the server's slots: 1 worker + ``--slow - 1`` queued), while ``--probes``
                requests are sent one at a time: their statuses and latency, then when the slow ones
                were answered (408 at the server's ``body_seconds``).
Idle OpenMP threads spin-wait after each call, and on a small shared CPU one process's spinning slows
the other several-fold; both processes here wait passively (OMP_WAIT_POLICY=PASSIVE) to compare fairly.
Usage: python benchmarks/serve.py [--requests 200] [--concurrency 8] [--slow 17] [--probes 20] [--model SPEC]
                                  [--image FILE]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP; the server inherits it

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import skimage  # noqa: E402
import torch  # noqa: E402

from labelspace.serve import DEFAULT_MODEL, Limits, load_model  # noqa: E402
from labelspace.serve.app import predict  # noqa: E402

LABELS = ["cat", "dog", "car", "airplane", "guitar"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, queue: int, log) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "labelspace.cli", "serve", "--model", model, "--port", str(port),
                               "--queue", str(queue)], stdout=log, stderr=log)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.5)
    server.kill()
    log.seek(0)
    sys.exit(f"server did not start:\n{log.read().decode(errors='replace')[-3000:]}")


def hold_slow_upload(port: int, head: bytes, body: bytes, until: float) -> tuple[float, bytes]:
    """Send ``head`` and the first 120 bytes of ``body``, then a byte every 2 s until answered or ``until``;
    (seconds to the answer, its status line)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + body[:120])
        sock.settimeout(2)
        start, rest = time.monotonic(), body[120:]
        while time.monotonic() < until:
            try:
                answer = sock.recv(65536)
                return time.monotonic() - start, answer.split(b"\r\n")[0]
            except socket.timeout:
                sock.send(rest[:1])
                rest = rest[1:]
    return time.monotonic() - start, b"no answer"


def slow_clients(port: int, data: bytes, slow: int, probes: int) -> tuple[list, int | None, list]:
    """([(status, seconds)] of the probes sent while ``slow`` uploads dribble in, the bodies the server was still
    receiving after them (``/healthz``), [(seconds, status line)] of the slow uploads)."""
    form = httpx.Request("POST", f"http://127.0.0.1:{port}/classify", files={"image": ("x.png", data, "image/png")},
                         data={"labels": ", ".join(LABELS)})
    body = form.read()
    head = (f"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {form.headers['content-type']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    wait = httpx.get(f"http://127.0.0.1:{port}/limits").json().get("body_seconds", 30) + 15
    held, until = [], time.monotonic() + wait
    threads = [threading.Thread(target=lambda: held.append(hold_slow_upload(port, head, body, until)))
               for _ in range(slow)]
    for t in threads:
        t.start()
    time.sleep(1)  # every slow upload has sent its headers
    answered = []
    with httpx.Client(timeout=120) as client:
        for _ in range(probes):
            start = time.perf_counter()
            status = client.post(f"http://127.0.0.1:{port}/classify", files={"image": ("x.png", data, "image/png")},
                                 data={"labels": ", ".join(LABELS)}).status_code
            answered.append((status, time.perf_counter() - start))
        receiving = client.get(f"http://127.0.0.1:{port}/healthz").json().get("receiving")
    for t in threads:
        t.join()
    return answered, receiving, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--image", type=Path, default=Path(skimage.__file__).parent / "data" / "chelsea.png")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=40, help="alternating direct / HTTP calls")
    parser.add_argument("--slow", type=int, default=17, help="slow uploads held open (the server's slots: 1 + queue)")
    parser.add_argument("--probes", type=int, default=20, help="requests sent while the slow uploads are held")
    args = parser.parse_args()

    data = args.image.read_bytes()
    port = free_port()
    url = f"http://127.0.0.1:{port}/classify"
    with tempfile.TemporaryFile() as log:
        server = start_server(args.model, port, queue=max(args.slow - 1, args.concurrency), log=log)
        try:
            model = load_model(args.model)
            client = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=args.concurrency))

            def request() -> tuple[float, bool]:
                start = time.perf_counter()
                try:
                    ok = client.post(url, files={"image": (args.image.name, data, "image/png")},
                                     data={"labels": ", ".join(LABELS)}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                return time.perf_counter() - start, ok

            def direct() -> float:
                start = time.perf_counter()
                predict(model, data, LABELS, ["{}"], Limits())
                return time.perf_counter() - start

            for _ in range(3):  # warm-up; fills the server's label cache
                direct(), request()
            pairs = [(direct(), request()[0]) for _ in range(args.pairs)]

            start = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(lambda _: request(), range(args.requests)))
            wall = time.perf_counter() - start
            probes, receiving, held = slow_clients(port, data, args.slow, args.probes)
        finally:
            server.terminate()
            server.wait(30)

    d50, s50 = np.median(pairs, axis=0)
    latencies = np.array([t for t, _ in results])
    errors = sum(not ok for _, ok in results)
    print(f"model {args.model}, image {args.image.name} ({len(data)} bytes), {len(LABELS)} labels, loopback, "
          f"{args.pairs} alternating pairs, torch threads {torch.get_num_threads()}")
    print(f"direct Python call (predict)      : p50 {1000 * d50:7.1f} ms")
    print(f"POST /classify, one at a time     : p50 {1000 * s50:7.1f} ms   ratio to direct {s50 / d50:.2f} (goal <= 1.2)")
    print(f"load: {args.requests} requests, {args.concurrency} concurrent: p50 {1000 * np.median(latencies):.1f} ms, "
          f"p95 {1000 * np.percentile(latencies, 95):.1f} ms, {args.requests / wall:.2f} requests/s "
          f"({args.requests / wall * d50:.2f}x the direct call's 1/p50), errors {errors}")

    probe_times = np.array([t for _, t in probes])
    statuses = Counter(status for status, _ in probes)
    print(f"slow: {args.probes} requests while {args.slow} uploads send a byte every 2 s: statuses {dict(statuses)}, "
          f"p50 {1000 * np.median(probe_times):.1f} ms, max {1000 * probe_times.max():.1f} ms, still receiving "
          f"{receiving} bodies after them; the slow uploads: {dict(Counter(line.decode() for _, line in held))} "
          f"after {min(t for t, _ in held):.1f} to {max(t for t, _ in held):.1f} s")


if __name__ == "__main__":
    main()
