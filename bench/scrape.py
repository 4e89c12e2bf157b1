"""Benchmark: download throughput of the urls engine, N threads versus one.

    python bench/scrape.py [--count 300] [--delay 0.02] [--threads N]

Serves `count` generated JPEGs from a loopback HTTP server that waits `delay`
seconds before each answer (like a real, distant server), scrapes them through
the whole safe pipeline (icrawler feeder/parser, SafeImageDownloader, sniff,
pixel cap, full decode, sha256 naming, atomic writes), once with
scrape.threads threads and once with 1 (the baseline), and prints images/second
for both. Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deeptrash.io import encode_image  # noqa: E402
from deeptrash.params import load_params  # noqa: E402
from stages.scrape import scrape_query  # noqa: E402


def make_images(count: int, seed: int = 0) -> list[bytes]:
    """`count` distinct 320x240 JPEGs (smooth gradients plus noise, ~20 KB each)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:240, 0:320].astype(np.float32)
    images = []
    for _ in range(count):
        a, b, c = rng.uniform(0.2, 1.0, 3)
        base = np.stack([xs * a, ys * b, (xs + ys) * c / 2], axis=2)
        noisy = base + rng.normal(0, 12, base.shape)
        images.append(encode_image(np.clip(noisy, 0, 255).astype(np.uint8), ".jpg", quality=90))
    return images


def serve(images: list[bytes], delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            time.sleep(delay)
            index = int(self.path.strip("/").split(".")[0])
            body = images[index]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed_scrape(scrape, threads: int, url_file: Path, work: Path) -> tuple[float, int]:
    params = scrape.model_copy(update=dict(engine="urls", threads=threads, per_query=10_000, delay=0.0,
                                           trash={"bench": str(url_file)}))
    started = time.perf_counter()
    manifest = scrape_query(params, "trash", "bench", work / f"threads{threads}", seed=0)
    return time.perf_counter() - started, int((manifest["status"] == "ok").sum())


def main() -> None:
    scrape = load_params(REPO / "params.yaml").scrape
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="images served (default %(default)s)")
    parser.add_argument("--delay", type=float, default=0.02, help="server delay per request, s (default %(default)s)")
    parser.add_argument("--threads", type=int, default=scrape.threads,
                        help="threads to compare with 1 (default: params scrape.threads = %(default)s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    images = make_images(args.count)
    server = serve(images, args.delay)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"{args.count} JPEGs, {sum(map(len, images)) / len(images) / 1024:.1f} KB average, "
          f"server delay {args.delay * 1000:.0f} ms per request")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url_file = work / "urls.txt"
        url_file.write_text("\n".join(f"{base}/{i}.jpg" for i in range(args.count)))
        results = {}
        for threads in (1, args.threads):  # baseline first
            seconds, kept = timed_scrape(scrape, threads, url_file, work)
            assert kept == args.count, f"kept {kept} of {args.count}"
            results[threads] = seconds
            print(f"threads={threads:2d}: {kept} images in {seconds:6.2f} s = {kept / seconds:7.1f} images/s")
    server.shutdown()
    print(f"speed-up with {args.threads} threads over the 1-thread baseline: {results[1] / results[args.threads]:.2f}x "
          f"(includes icrawler's ~1-2 s start/stop per crawl; shared CPU makes this noisy)")


if __name__ == "__main__":
    main()
