"""The scrape stage against a real HTTP server on 127.0.0.1 (no other traffic).

The server serves good images, HTTP errors, lies (HTML as image/jpeg, a tiny
file declaring 30000x30000 pixels), broken and slow responses, redirects and a
redirect loop; the urls engine must keep exactly the good images, once each,
and give every URL its status. A SIGKILLed stage must leave no partial output.
"""
from __future__ import annotations

import hashlib
import html
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from PIL import Image

from deeptrash.errors import UserError
from deeptrash.params import ScrapeParams
from deeptrash.scrape import engines
from deeptrash.scrape.download import ImageSink, fetch_into_sink
from stages.scrape import scrape_query

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 1.0          # scrape.timeout used against the server
SLOW_SECONDS = 2.5     # the slow route answers after this (> TIMEOUT)
MAX_BYTES = 60_000
MAX_PIXELS = 1_000_000
RETRY_BACKOFF = 0.01   # scrape.retry_backoff: tiny, so retried routes cost no test time


def encode(seed: int, fmt: str, size=(64, 48), block: int = 8) -> bytes:
    """A small picture of random block x block squares (distinct per seed) as JPEG/PNG/WEBP/GIF bytes."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1] // block, size[0] // block, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize(size, Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A ~70-byte PNG whose header declares width x height (a decompression-bomb stand-in)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


JPEG = encode(1, "JPEG")
PNG = encode(2, "PNG")
WEBP = encode(3, "WEBP")
GIF = encode(4, "GIF")
REDIRECTED = encode(5, "JPEG")
DISGUISED = encode(6, "PNG")            # PNG bytes at a .jpg URL, sent as image/jpeg
SAME = encode(7, "JPEG")                # served under two URLs
BIG = encode(8, "PNG", size=(200, 150), block=1)  # noisy enough to exceed MAX_BYTES
assert len(BIG) > MAX_BYTES


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "image/jpeg"
    location: str | None = None
    delay: float = 0.0
    send_length: bool = True
    fail_first: int = 0         # answer the first this-many requests with fail_status instead
    fail_status: int = 503
    retry_after: str | None = None  # Retry-After header sent with those failures


class Server:
    """A threaded HTTP server on 127.0.0.1 with a table of routes; `slow` delays /slow/* routes.

    `hits[path]` lists the monotonic time of every request to `path`.
    """

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, list[float]] = {}
        self.slow = threading.Event()
        self.slow_delay = 0.3
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                with lock:
                    seen = outer.hits.setdefault(self.path, [])
                    seen.append(time.monotonic())
                    attempt = len(seen)
                route = outer.routes.get(self.path)
                if route is None:
                    route = Route(b"not found", 404, "text/plain")
                if attempt <= route.fail_first:
                    route = Route(b"try again later", route.fail_status, "text/plain", retry_after=route.retry_after)
                delay = route.delay + (outer.slow_delay if outer.slow.is_set() and self.path.startswith("/slow/") else 0)
                time.sleep(delay)
                try:
                    self.send_response(route.status)
                    self.send_header("Content-Type", route.content_type)
                    if route.location:
                        self.send_header("Location", route.location)
                    if route.retry_after and route.status >= 400:
                        self.send_header("Retry-After", route.retry_after)
                    if route.send_length:
                        self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout, too large): fine

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    srv = Server()
    srv.routes.update({
        "/a.jpg": Route(JPEG),
        "/b.png": Route(PNG, content_type="image/png"),
        "/c.webp": Route(WEBP, content_type="image/webp"),
        "/e.gif": Route(GIF, content_type="image/gif"),
        "/boom.jpg": Route(b"oops", 500, "text/plain"),
        "/page.jpg": Route(b"<!doctype html><html><body>Not an image</body></html>"),
        "/truncated.jpg": Route(JPEG[: len(JPEG) // 2]),
        "/empty.jpg": Route(b""),
        "/bomb.png": Route(png_header_only(30000, 30000), content_type="image/png"),
        "/wide.png": Route(png_header_only(1200, 1000), content_type="image/png"),
        "/slow.jpg": Route(encode(9, "JPEG"), delay=SLOW_SECONDS),
        "/hop.jpg": Route(status=302, location="/target.jpg"),
        "/target.jpg": Route(REDIRECTED),
        "/loop1": Route(status=302, location="/loop2"),
        "/loop2": Route(status=302, location="/loop1"),
        "/same1.jpg": Route(SAME),
        "/same2.jpg": Route(SAME),
        "/disguised.jpg": Route(DISGUISED),
        "/big.png": Route(BIG, content_type="image/png"),
        "/big-unannounced.png": Route(BIG, content_type="image/png", send_length=False),
    })
    yield srv
    srv.close()


def scrape_params(**overrides) -> ScrapeParams:
    values = dict(engine="urls", per_query=50, threads=4, timeout=TIMEOUT, max_bytes=MAX_BYTES,
                  max_pixels=MAX_PIXELS, retry_backoff=RETRY_BACKOFF, trash={"t": "unused"},
                  landscape={"l": "unused"})
    values.update(overrides)
    return ScrapeParams(**values)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


EXPECTED = {
    "/a.jpg": ("ok", JPEG, "jpg"),
    "/b.png": ("ok", PNG, "png"),
    "/c.webp": ("ok", WEBP, "webp"),
    "/e.gif": ("ok", GIF, "gif"),
    "/hop.jpg": ("ok", REDIRECTED, "jpg"),
    "/disguised.jpg": ("ok", DISGUISED, "png"),   # named by its real type
    "/missing.jpg": ("http_error", None, None),
    "/boom.jpg": ("http_error", None, None),
    "/loop1": ("http_error", None, None),
    "/page.jpg": ("not_image", None, None),
    "/empty.jpg": ("not_image", None, None),
    "/truncated.jpg": ("corrupt", None, None),
    "/bomb.png": ("too_many_pixels", None, None),
    "/wide.png": ("too_many_pixels", None, None),
    "/slow.jpg": ("timeout", None, None),
    "/big.png": ("too_large", None, None),
    "/big-unannounced.png": ("too_large", None, None),
}


def test_urls_engine_keeps_only_valid_images_and_records_every_status(server, tmp_path):
    url_file = tmp_path / "urls.txt"
    paths = [*EXPECTED, "/same1.jpg", "/same2.jpg"]
    url_file.write_text("# a comment line\n\n" + "\n".join(server.url(p) for p in paths) + "\n")
    out = tmp_path / "raw" / "trash" / "t"

    manifest = scrape_query(scrape_params(trash={"t": str(url_file)}), "trash", "t", out, seed=0)

    on_disk = pd.read_csv(out / "manifest.csv", keep_default_na=False)
    assert len(on_disk) == len(manifest) == len(paths)  # one row per URL attempt
    status = dict(zip(manifest["url"], manifest["status"]))
    for path, (expected, _, _) in EXPECTED.items():
        assert status[server.url(path)] == expected, path
    assert sorted([status[server.url("/same1.jpg")], status[server.url("/same2.jpg")]]) == ["duplicate", "ok"]

    expected_files = {f"{hashlib.sha256(data).hexdigest()}.{ext}"
                      for _, data, ext in [*EXPECTED.values(), ("ok", SAME, "jpg")] if data is not None}
    assert len(expected_files) == 7
    assert {p.name for p in out.iterdir()} == expected_files | {"manifest.csv"}  # no temp or junk files
    for name in expected_files:
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == name.split(".")[0]  # original bytes

    ok = manifest[manifest["status"] == "ok"].set_index("url")
    assert ok.loc[server.url("/a.jpg"), "width"] == 64 and ok.loc[server.url("/a.jpg"), "height"] == 48
    wide = manifest.set_index("url").loc[server.url("/wide.png")]
    assert (wide["width"], wide["height"]) == (1200, 1000)  # read from the header, refused before decoding
    assert not (tmp_path / "raw" / "trash" / ".t.partial").exists()


def test_failures_are_retried_with_backoff_and_a_lasting_one_is_recorded_once(server, tmp_path):
    server.routes.update({
        "/flaky.jpg": Route(encode(300, "JPEG"), fail_first=2),               # 503, 503, then the image
        "/throttled.jpg": Route(encode(301, "JPEG"), fail_first=1, fail_status=429, retry_after="1"),
        "/down.jpg": Route(b"busy", 503, "text/plain"),                       # never recovers
    })
    url_file = tmp_path / "urls.txt"
    paths = ("/flaky.jpg", "/throttled.jpg", "/down.jpg", "/gone.jpg")  # /gone.jpg: 404, final
    url_file.write_text("\n".join(server.url(p) for p in paths))

    manifest = scrape_query(scrape_params(retries=2, trash={"t": str(url_file)}), "trash", "t",
                                    tmp_path / "out", seed=0)

    assert len(manifest) == 4  # one row per URL, however often it was tried
    rows = manifest.set_index("url")
    assert rows.loc[server.url("/flaky.jpg"), "status"] == "ok"
    assert len(server.hits["/flaky.jpg"]) == 3
    assert rows.loc[server.url("/throttled.jpg"), "status"] == "ok"
    first, second = server.hits["/throttled.jpg"]
    assert second - first >= 0.9  # the server's Retry-After (1 s), not the 0.01 s backoff
    down = rows.loc[server.url("/down.jpg")]
    assert (down["status"], down["detail"]) == ("http_error", "HTTP 503 after 2 retries")
    assert len(server.hits["/down.jpg"]) == 3  # the first try and scrape.retries more
    assert rows.loc[server.url("/gone.jpg"), "detail"] == "HTTP 404" and len(server.hits["/gone.jpg"]) == 1
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"manifest.csv", *manifest["file"][manifest["file"] != ""]}


def test_retries_zero_asks_once(server, tmp_path):
    server.routes["/once.jpg"] = Route(b"busy", 503, "text/plain")
    url_file = tmp_path / "urls.txt"
    url_file.write_text(server.url("/once.jpg"))
    manifest = scrape_query(scrape_params(retries=0, trash={"t": str(url_file)}), "trash", "t",
                                    tmp_path / "out", seed=0)
    assert list(manifest["detail"]) == ["HTTP 503"]
    assert len(server.hits["/once.jpg"]) == 1


def test_a_body_that_trickles_past_the_deadline_is_a_timeout(tmp_path):
    """A server that sends one byte at a time beats a per-read timeout; the total deadline stops it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"\xff")
                except OSError:
                    return
                time.sleep(0.05)

    threading.Thread(target=trickle, daemon=True).start()
    sink = ImageSink(tmp_path, "urls", "q", MAX_BYTES, MAX_PIXELS)
    started = time.monotonic()
    row = fetch_into_sink(requests.Session(), f"http://127.0.0.1:{listener.getsockname()[1]}/x.jpg", sink, 0.3)
    elapsed = time.monotonic() - started
    stop.set()
    listener.close()
    assert row["status"] == "timeout"
    assert elapsed < 5.0
    assert not any(tmp_path.iterdir())


def test_per_query_caps_kept_images_exactly(server, tmp_path):
    for i in range(12):
        server.routes[f"/cap/{i}.jpg"] = Route(encode(100 + i, "JPEG"))
    url_file = tmp_path / "urls.txt"
    url_file.write_text("\n".join(server.url(f"/cap/{i}.jpg") for i in range(12)))
    manifest = scrape_query(scrape_params(per_query=5, trash={"t": str(url_file)}), "trash", "t",
                                    tmp_path / "out", seed=0)
    assert (manifest["status"] == "ok").sum() == 5
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 5


def test_empty_url_list_writes_an_empty_folder_and_manifest(tmp_path, caplog):
    url_file = tmp_path / "urls.txt"
    url_file.write_text("# nothing yet\n")
    manifest = scrape_query(scrape_params(trash={"t": str(url_file)}), "trash", "t", tmp_path / "out", 0)
    assert manifest.empty
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.csv"]
    assert list(pd.read_csv(tmp_path / "out" / "manifest.csv").columns)[:10] == [
        "engine", "query", "url", "status", "bytes", "width", "height", "sha256", "file", "fetched_at"]
    assert any("yielded no usable image" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_a_query_that_is_not_a_url_list_is_one_line_error_naming_it(tmp_path):
    for value in (str(tmp_path / "nope.txt"), "plastic bottle litter"):
        with pytest.raises(UserError, match=r"^scrape\.trash\.t: engine urls needs the path of a URL list") as error:
            scrape_query(scrape_params(trash={"t": value}), "trash", "t", tmp_path / "out", 0)
        assert repr(value) in str(error.value) and "\n" not in str(error.value)
        assert not (tmp_path / "out").exists()


# --- a SIGKILLed stage --------------------------------------------------------

def copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("deeptrash", "stages"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return dest


def run_stage(repo: Path, *args: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, DEEPTRASH_LOG="WARNING")
    env.pop("PYTHONPATH", None)
    return subprocess.Popen([sys.executable, "-m", "stages.scrape", "trash", "slow", *args], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in (".jpg", ".png")) if folder.exists() else []


def kill_mid_download(repo: Path, staging: Path) -> None:
    """Start the stage, wait until some images have landed in its staging folder, SIGKILL it."""
    process = run_stage(repo)
    deadline = time.monotonic() + 60
    while len(images_in(staging)) < 2:
        assert process.poll() is None, f"stage ended before the kill: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no download started"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


def test_killed_stage_leaves_no_partial_output_and_rerun_completes(server, tmp_path):
    count = 16
    for i in range(count):
        server.routes[f"/slow/{i}.jpg"] = Route(encode(200 + i, "JPEG"))
    repo = copy_repo(tmp_path / "repo")
    (repo / "urls.txt").write_text("\n".join(server.url(f"/slow/{i}.jpg") for i in range(count)))
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["scrape"].update(engine="urls", threads=1, timeout=5, trash={"slow": "urls.txt"})
    (repo / "params.yaml").write_text(yaml.safe_dump(raw))
    out = repo / "data" / "raw" / "trash" / "slow"
    staging = out.parent / ".slow.partial"

    server.slow.set()
    try:
        kill_mid_download(repo, staging)
        assert not out.exists()  # the killed run published nothing
        assert [p.name for p in out.parent.iterdir()] == [".slow.partial"]

        server.slow.clear()
        finished = run_stage(repo)
        _, stderr = finished.communicate(timeout=120)
        assert finished.returncode == 0, stderr[-2000:]
        assert [p.name for p in out.parent.iterdir()] == ["slow"]  # the leftover staging folder is gone
        manifest = pd.read_csv(out / "manifest.csv")
        assert (manifest["status"] == "ok").sum() == count
        assert {p.name for p in images_in(out)} == set(manifest["file"])
        before = {p.name: p.read_bytes() for p in out.iterdir()}

        # Killed again while a complete output exists: that output stays exactly as it was.
        server.slow.set()
        kill_mid_download(repo, staging)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    finally:
        server.slow.clear()


# --- web engines ---------------------------------------------------------------

def test_web_engine_without_network_fails_fast_with_one_line(tmp_path):
    for host in [("127.0.0.1", closed_port()), ("nonexistent.invalid", 443)]:
        started = time.monotonic()
        with pytest.raises(UserError) as error:
            scrape_query(scrape_params(engine="bing"), "trash", "t", tmp_path / "out", 0,
                                 search_hosts={"bing": host})
        assert time.monotonic() - started < 10
        message = str(error.value)
        assert "\n" not in message
        assert host[0] in message and "demo, folder, urls" in message
        assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def test_flickr_needs_its_key_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("FLICKR_API_KEY", raising=False)
    with pytest.raises(UserError, match="FLICKR_API_KEY"):
        scrape_query(scrape_params(engine="flickr"), "trash", "t", tmp_path / "out", 0)
    assert not (tmp_path / "out").exists()


def test_bad_web_filter_is_one_line_error(tmp_path):
    with pytest.raises(UserError, match="scrape.filters: .*color"):
        scrape_query(scrape_params(engine="bing", filters={"color": "plaid"}), "trash", "t",
                             tmp_path / "out", 0)


def loopback_bing(page_url: str):
    """icrawler's real Bing crawler and parser, with a feeder that asks our loopback server."""
    from icrawler.builtin import BingImageCrawler
    from icrawler.builtin.bing import BingFeeder

    class LoopbackFeeder(BingFeeder):
        def feed(self, keyword, offset, max_num, filters=None):
            self.out_queue.put(page_url)

    class LoopbackBing(BingImageCrawler):
        def __init__(self, **kwargs):
            super().__init__(feeder_cls=LoopbackFeeder, **kwargs)

    return LoopbackBing


def bing_results_page(image_urls: list[str]) -> bytes:
    """A page shaped like Bing's async image results (what BingParser reads)."""
    divs = "".join('<div class="imgpt"><a m="%s">x</a></div>' % html.escape('{"murl":"%s"}' % url)
                   for url in image_urls)
    return f"<html><body>{divs}</body></html>".encode()


def test_web_engine_crawls_through_icrawler_parser(server, tmp_path, monkeypatch):
    server.routes["/bing"] = Route(bing_results_page([server.url("/a.jpg"), server.url("/page.jpg")]),
                                   content_type="text/html")
    monkeypatch.setattr(engines, "crawler_class", lambda engine: loopback_bing(server.url("/bing")))
    host = ("127.0.0.1", int(server.base.rsplit(":", 1)[1]))
    manifest = scrape_query(scrape_params(engine="bing"), "trash", "t", tmp_path / "out", 0,
                                    search_hosts={"bing": host})
    assert dict(zip(manifest["url"], manifest["status"])) == {
        server.url("/a.jpg"): "ok", server.url("/page.jpg"): "not_image"}
    assert (manifest["engine"] == "bing").all()


def test_web_engine_with_no_links_and_errors_fails_loudly(server, tmp_path, monkeypatch):
    dead_page = f"http://127.0.0.1:{closed_port()}/results"
    monkeypatch.setattr(engines, "crawler_class", lambda engine: loopback_bing(dead_page))
    host = ("127.0.0.1", int(server.base.rsplit(":", 1)[1]))
    with pytest.raises(UserError, match="found no image links .* error") as error:
        scrape_query(scrape_params(engine="bing"), "trash", "t", tmp_path / "out", 0,
                             search_hosts={"bing": host})
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


# --- demo engine ------------------------------------------------------------------

@dataclass(frozen=True)
class StubPhoto:
    data: bytes
    suffix: str
    truth: np.ndarray | None
    junk: str | None


def stub_demo_photos(kind, query, count, seed, size=320, junk_share=0.2, dirty_share=0.0):
    """Stand-in for deeptrash.scrape.demo.photos.demo_photos: count photos, the last one an exact duplicate."""
    for i in range(count - 1):
        truth = np.zeros((48, 64), np.uint8)
        truth[10:30, 20:40] = 255
        yield StubPhoto(encode(seed * 1000 + i, "JPEG"), ".jpg", truth if kind == "trash" else None, None)
    yield StubPhoto(encode(seed * 1000, "JPEG"), ".jpg", None, "duplicate")


def test_demo_engine_writes_images_truth_masks_and_manifest(tmp_path):
    manifest = scrape_query(scrape_params(engine="demo", per_query=4, trash={"bottle": "plastic bottle"}),
                                    "trash", "bottle", tmp_path / "out", seed=3, demo_photos=stub_demo_photos)
    assert list(manifest["status"]) == ["ok", "ok", "ok", "duplicate"]
    assert list(manifest["url"]) == [f"demo://trash/plastic bottle/{i}" for i in range(4)]
    assert (manifest["fetched_at"] == "").all()  # rendered, not fetched: output is byte-stable
    out = tmp_path / "out"
    for sha in manifest.loc[manifest["status"] == "ok", "sha256"]:
        mask = np.asarray(Image.open(out / "truth" / f"{sha}.png"))
        assert mask.shape == (48, 64) and set(np.unique(mask)) == {0, 255}
        assert (out / f"{sha}.jpg").exists()


def test_real_demo_engine_runs(tmp_path):
    pytest.importorskip("deeptrash.scrape.demo.photos")
    params = scrape_params(engine="demo", per_query=3, demo={"size": 96}, trash={"bottle": "plastic bottle"})
    manifest = scrape_query(params, "trash", "bottle", tmp_path / "out", seed=1)
    assert len(manifest) == 3 and (manifest["status"] == "ok").sum() >= 1
    for _, row in manifest[manifest["status"] == "ok"].iterrows():
        assert (tmp_path / "out" / row["file"]).exists()
        assert (tmp_path / "out" / "truth" / f"{row['sha256']}.png").exists()
