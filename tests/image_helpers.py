"""Hand-made image files for the reliability tests, and a peak-memory probe."""
import os
import struct
import threading
import zlib
from contextlib import contextmanager


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def grey_png(width: int, height: int, rows: int | None = None) -> bytes:
    """A valid 8-bit greyscale PNG of all-black pixels, compressed row by row (never held whole in memory);
    ``rows`` writes only the first rows (a truncated image)."""
    compress, parts, row = zlib.compressobj(9), [], b"\0" * (width + 1)
    block = row * max(1, 1_000_000 // len(row))
    left = height if rows is None else rows
    while left > 0:
        n = min(left, len(block) // len(row))
        parts.append(compress.compress(block[:n * len(row)]))
        left -= n
    parts.append(compress.flush())
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b""))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_rss_growth():
    """Yields a dict whose ``bytes`` is, on exit, the peak resident-memory growth over the block (sampled
    every millisecond from /proc in a thread: it sees C allocations such as Pillow's, which tracemalloc does not)."""
    base, peak, done = _rss(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            done.wait(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result = {}
    try:
        yield result
    finally:
        done.set()
        thread.join()
        result["bytes"] = max(peak[0], _rss()) - base
