"""Safe image intake: the checks every scraped file goes through, and the
icrawler downloader that feeds them.

Anything that came from the web (or from a folder nobody vetted) is untrusted:

1. at most `max_bytes` are read (Content-Length is checked first, then the
   stream is cut off, so a lying header or a gzip bomb cannot fill memory);
2. the real type is sniffed from the magic bytes (JPEG, PNG, WebP, GIF), never
   taken from the URL extension or the Content-Type;
3. width x height is read from the header and refused above `max_pixels`
   *before* any pixel is decoded (decompression-bomb guard);
4. the image is then fully decoded once (first frame of a GIF) to prove it is
   not truncated or broken; the original bytes are kept, nothing re-encoded;
5. it is named `<sha256>.<real ext>`; exact duplicates are skipped;
6. it is written atomically, and every attempt becomes one manifest row.

HTTP 429/5xx answers and failed connections are retried (scrape.retries, with
exponential backoff and the server's Retry-After) by urllib3 inside the
session's adapter (:func:`retrying_adapter`): a URL is still one manifest row,
with the status of its last attempt.

Steps 2-6 are :meth:`ImageSink.accept`, the one function every engine (demo,
folder, urls, web) goes through. :func:`fetch_bytes` is step 1 for HTTP and
:class:`SafeImageDownloader` plugs both into icrawler's thread pool.
"""
from __future__ import annotations

import io
import logging
import queue
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import requests
import urllib3
from icrawler import ImageDownloader
from PIL import Image
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from deeptrash.io import atomic_write_bytes, atomic_write_csv, sha256_bytes

log = logging.getLogger(__name__)

STATUSES = ("ok", "http_error", "timeout", "not_image", "too_large", "too_many_pixels", "corrupt", "duplicate")
MANIFEST_COLUMNS = ["engine", "query", "url", "status", "bytes", "width", "height", "sha256", "file", "fetched_at", "detail"]

# Pillow's decoder name for each type we accept, keyed by the file extension we write.
PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}

# We apply our own (configurable) pixel cap before decoding; Pillow's built-in
# warning at ~89 Mpx would only add noise. Its hard error at ~179 Mpx still
# fires on open and is reported as too_many_pixels.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

CHUNK_BYTES = 64 * 1024
# A per-read timeout alone lets a server that trickles one byte a second keep a
# thread forever; the whole body must also arrive within this many timeouts.
TOTAL_TIMEOUT_FACTOR = 5
# Answers worth asking again: rate limited, or the server (or a proxy) failing for now.
RETRY_STATUSES = (429, 500, 502, 503, 504)
# A Retry-After longer than this (seconds) is cut to it: one server must not park a thread for hours.
RETRY_AFTER_MAX = 60


def retrying_adapter(retries: int, backoff: float, pool_maxsize: int = 10) -> HTTPAdapter:
    """A requests adapter whose GETs are retried up to `retries` times by urllib3.

    Retried: HTTP 429/500/502/503/504 and connections that could not be made.
    The server's Retry-After (429, 503) is honoured up to RETRY_AFTER_MAX s;
    otherwise the waits are 0, 2 x backoff, 4 x backoff... A read timeout is
    not retried (the server got the request and is slow: another wait of the
    same length rarely helps), nor any other error. When the retries run out,
    the last answer is returned, so it is recorded with its own status.
    """
    retry = Retry(total=retries, connect=retries, read=False, status=retries, other=0,
                  backoff_factor=backoff, status_forcelist=RETRY_STATUSES, allowed_methods=("GET", "HEAD"),
                  respect_retry_after_header=True, retry_after_max=RETRY_AFTER_MAX, raise_on_status=False)
    return HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_maxsize)


def retries_used(response: requests.Response) -> int:
    """How many times urllib3 retried the request behind `response` (0 when it was not)."""
    retry = getattr(response.raw, "retries", None)
    return len(retry.history) if retry is not None else 0


def sniff_image_type(data: bytes) -> str | None:
    """The real image type from the first bytes: 'jpg', 'png', 'webp', 'gif' or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class Inspection:
    """What :func:`inspect_image` found: a status from STATUSES and what it could read."""
    status: str
    suffix: str | None = None
    width: int | None = None
    height: int | None = None
    detail: str = ""


def inspect_image(data: bytes, max_bytes: int, max_pixels: int) -> Inspection:
    """Check untrusted image bytes without trusting anything they claim.

    Returns status 'ok' (with suffix, width, height) or one of too_large,
    not_image, too_many_pixels, corrupt with a short `detail`. The pixel cap is
    applied from the header alone, before any decoding.
    """
    if len(data) > max_bytes:
        return Inspection("too_large", detail=f"{len(data)} bytes > max_bytes {max_bytes}")
    suffix = sniff_image_type(data)
    if suffix is None:
        what = "empty" if not data else f"starts with {data[:8]!r}"
        return Inspection("not_image", detail=f"not JPEG/PNG/WebP/GIF ({what})")
    formats = [PIL_FORMATS[suffix]]
    try:
        with Image.open(io.BytesIO(data), formats=formats) as header:  # lazy: reads the header only
            width, height = header.size
    except Image.DecompressionBombError as error:
        return Inspection("too_many_pixels", suffix, detail=str(error).split(".")[0])
    except Exception as error:  # any parser failure on a broken header
        return Inspection("corrupt", suffix, detail=f"unreadable header: {type(error).__name__}: {error}"[:200])
    if width * height > max_pixels:
        return Inspection("too_many_pixels", suffix, width, height, f"{width}x{height} > max_pixels {max_pixels}")
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            image.load()  # full decode of the first frame: truncated or broken data fails here
    except Exception as error:
        return Inspection("corrupt", suffix, width, height, f"{type(error).__name__}: {error}"[:200])
    return Inspection("ok", suffix, width, height)


def utc_now() -> str:
    """Current time as ISO 8601 UTC to the second, for manifest `fetched_at`."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class ImageSink:
    """Collects scraped images into one folder and one manifest, thread-safely.

    `accept()` is the single gate every engine uses; `refuse()` records an
    attempt that produced no bytes (HTTP error, timeout, too large).
    """

    def __init__(self, out_dir: str | Path, engine: str, query: str, max_bytes: int, max_pixels: int,
                 progress=None):
        self.out_dir = Path(out_dir)
        self.engine = engine
        self.query = query
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.progress = progress  # a tqdm bar (or None), advanced once per attempt
        self.rows: list[dict] = []
        self.ok_count = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def accept(self, data: bytes, url: str, fetched_at: str | None = None) -> dict:
        """Check `data`, write it as `<sha256>.<ext>` if it is a new valid image; return its row."""
        found = inspect_image(data, self.max_bytes, self.max_pixels)
        digest = sha256_bytes(data) if data else ""
        file = ""
        status = found.status
        detail = found.detail
        if status == "ok":
            file = f"{digest}.{found.suffix}"
            with self._lock:  # claim the hash before writing so two threads never both keep it
                duplicate = digest in self._seen
                self._seen.add(digest)
            if duplicate:
                status, file, detail = "duplicate", "", "same bytes as an earlier image"
            else:
                atomic_write_bytes(self.out_dir / file, data)
        return self._record(url, status, len(data), found.width, found.height, digest, file,
                            fetched_at, detail)

    def refuse(self, url: str, status: str, detail: str, nbytes: int | None = None,
               fetched_at: str | None = None) -> dict:
        """Record an attempt that yielded no image bytes to check."""
        return self._record(url, status, nbytes, None, None, "", "", fetched_at, detail)

    def _record(self, url, status, nbytes, width, height, digest, file, fetched_at, detail) -> dict:
        assert status in STATUSES, status
        row = dict(engine=self.engine, query=self.query, url=url, status=status, bytes=nbytes,
                   width=width, height=height, sha256=digest, file=file,
                   fetched_at=utc_now() if fetched_at is None else fetched_at, detail=detail)
        with self._lock:
            self.rows.append(row)
            self.ok_count += status == "ok"
            if self.progress is not None:
                self.progress.update(1)
                self.progress.set_postfix(ok=self.ok_count, refresh=False)
        if status not in ("ok", "duplicate"):
            log.debug("%s %s: %s", status, url, detail)
        return row

    def manifest(self, sort_by_url: bool = False) -> pd.DataFrame:
        """All rows as a DataFrame with MANIFEST_COLUMNS (bytes/width/height as nullable ints)."""
        with self._lock:
            frame = pd.DataFrame(self.rows, columns=MANIFEST_COLUMNS)
        for column in ("bytes", "width", "height"):
            frame[column] = frame[column].astype("Int64")
        if sort_by_url:  # threaded engines finish in any order; keep the file stable
            frame = frame.sort_values("url", kind="stable").reset_index(drop=True)
        return frame

    def write_manifest(self, sort_by_url: bool = False) -> pd.DataFrame:
        frame = self.manifest(sort_by_url)
        atomic_write_csv(self.out_dir / "manifest.csv", frame)
        return frame


class FetchRefused(Exception):
    """A download that produced no bytes worth checking; carries its manifest status."""

    def __init__(self, status: str, detail: str, nbytes: int | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.nbytes = nbytes


def _is_timeout(error: BaseException) -> bool:
    """requests reports a read timeout inside the body as a ConnectionError wrapping urllib3's."""
    if isinstance(error, requests.exceptions.Timeout):
        return True
    return any(isinstance(arg, (urllib3.exceptions.TimeoutError, TimeoutError)) for arg in error.args)


def fetch_bytes(session: requests.Session, url: str, timeout: float, max_bytes: int) -> bytes:
    """GET `url` and return at most `max_bytes` of body, else raise FetchRefused.

    Redirects are followed (a loop becomes http_error); status >= 300 after
    redirects is http_error; connect/read timeouts, or a body slower than
    TOTAL_TIMEOUT_FACTOR x timeout in all, are timeout; a declared or actual
    body over `max_bytes` is too_large and reading stops there.
    """
    deadline = time.monotonic() + timeout * TOTAL_TIMEOUT_FACTOR
    try:
        response = session.get(url, timeout=timeout, stream=True)
    except requests.exceptions.TooManyRedirects:
        raise FetchRefused("http_error", "redirect loop") from None
    except requests.exceptions.RequestException as error:
        if _is_timeout(error):
            raise FetchRefused("timeout", f"no answer within {timeout:g} s") from None
        raise FetchRefused("http_error", f"{type(error).__name__}: {error}"[:200]) from None
    with response:
        if not 200 <= response.status_code < 300:
            retried = retries_used(response)
            raise FetchRefused("http_error", f"HTTP {response.status_code}"
                               + (f" after {retried} retries" if retried else ""))
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchRefused("too_large", f"Content-Length {declared} > max_bytes {max_bytes}", int(declared))
        body = bytearray()
        while True:
            try:
                # read1 returns whatever has arrived (iter_content would block until a
                # whole chunk is in, so a trickling server would never hit the deadline);
                # decoding gzip here is capped at CHUNK_BYTES per call.
                chunk = response.raw.read1(CHUNK_BYTES, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                if _is_timeout(error) or isinstance(error, urllib3.exceptions.TimeoutError):
                    raise FetchRefused("timeout", f"body stalled over {timeout:g} s", len(body)) from None
                # A connection cut mid-body: keep what came, the decoder decides (usually corrupt).
                log.debug("body of %s cut short: %s", url, error)
                break
            if not chunk:
                break
            body += chunk
            if len(body) > max_bytes:
                raise FetchRefused("too_large", f"body passed max_bytes {max_bytes}; stopped reading", len(body))
            if time.monotonic() > deadline:
                raise FetchRefused("timeout", f"body took over {timeout * TOTAL_TIMEOUT_FACTOR:g} s", len(body))
    return bytes(body)


def fetch_into_sink(session: requests.Session, url: str, sink: ImageSink, timeout: float) -> dict:
    """Download one URL through every check; always returns its manifest row."""
    fetched_at = utc_now()
    try:
        data = fetch_bytes(session, url, timeout, sink.max_bytes)
    except FetchRefused as refused:
        return sink.refuse(url, refused.status, refused.detail, refused.nbytes, fetched_at)
    return sink.accept(data, url, fetched_at)


class SafeImageDownloader(ImageDownloader):
    """icrawler downloader that routes every URL through :func:`fetch_into_sink`.

    icrawler's feeder, parser and thread pool are used as they are; only the
    per-task `download()` and the worker loop are replaced: icrawler's
    `download()` reads the whole response into memory and names files before
    their bytes exist, and its worker loop waits 5 s on an empty queue and
    stops early whenever the parser is slower than the downloads.
    Construct it through the crawler: `extra_downloader_args=dict(sink=..., ...)`.
    """

    def __init__(self, thread_num, signal, session, storage, sink: ImageSink, timeout: float = 10.0,
                 delay: float = 0.0):
        super().__init__(thread_num, signal, session, storage)
        self.sink = sink
        self.request_timeout = timeout
        self.delay = delay
        self.max_num = 0
        self._slots = threading.Condition()
        self._in_flight = 0

    def _take_slot(self) -> bool:
        """Reserve a download so that kept images never overshoot max_num; False when done."""
        with self._slots:
            while self.max_num > 0 and self.sink.ok_count + self._in_flight >= self.max_num:
                if self.sink.ok_count >= self.max_num:
                    self.signal.set(reach_max_num=True)
                    return False
                self._slots.wait(0.2)
            self._in_flight += 1
            return True

    def _free_slot(self) -> None:
        with self._slots:
            self._in_flight -= 1
            if self.max_num > 0 and self.sink.ok_count >= self.max_num:
                self.signal.set(reach_max_num=True)
            self._slots.notify_all()

    def download(self, task, default_ext, timeout=5, max_retry=3, overwrite=False, **kwargs):
        """Fetch task['file_url'] into the sink; True when it was kept.

        icrawler's `timeout` and `max_retry` are ignored: the timeout is
        scrape.timeout, and retries happen in the session's adapter
        (:func:`retrying_adapter`, scrape.retries), so a URL is one manifest row.
        """
        task["success"] = False
        task["filename"] = None
        if self.signal.get("reach_max_num") or not self._take_slot():
            return False
        try:
            row = fetch_into_sink(self.session, task["file_url"], self.sink, self.request_timeout)
        finally:
            self._free_slot()
        if self.delay:
            time.sleep(self.delay)  # polite pause, per thread
        if row["status"] == "ok":
            task["success"] = True
            task["filename"] = row["file"]
            with self.lock:
                self.fetched_num += 1
            return True
        return False

    def worker_exec(self, max_num, default_ext="jpg", queue_timeout=0.2, req_timeout=5, max_idle_time=None,
                    **kwargs):
        """Take tasks until max_num images are kept, or the parser has exited and the queue is empty."""
        self.max_num = max_num
        while not self.signal.get("reach_max_num"):
            try:
                task = self.in_queue.get(timeout=queue_timeout)
            except queue.Empty:
                if not self.signal.get("parser_exited"):
                    continue
                try:  # the parser has finished putting: an empty queue now means done
                    task = self.in_queue.get_nowait()
                except queue.Empty:
                    break
            try:
                self.download(task, default_ext)
                self.process_meta(task)
            finally:
                self.in_queue.task_done()
