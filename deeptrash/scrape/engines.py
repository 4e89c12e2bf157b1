"""Scrape engines: where the photos of one query come from.

| engine | source |
| --- | --- |
| demo | photos rendered offline by deeptrash.scrape.demo.photos (the default) |
| folder | a local directory; a file matches when every query word is in its path |
| urls | icrawler's URL-list crawler over a text file (the query value is its path) |
| bing, google, baidu, flickr | icrawler's built-in search crawlers |

Every engine pushes bytes through :meth:`deeptrash.scrape.download.ImageSink.accept`,
so the checks, naming and manifest are the same whatever the source.
:func:`preflight` raises a one-line UserError before anything is written;
:func:`run_engine` fills a sink with one query's photos. The stage around them
(staged folder, progress, manifest, summary) is stages/scrape.py.
"""
from __future__ import annotations

import importlib
import logging
import os
import socket
import stat
import threading
from pathlib import Path


from deeptrash.errors import UserError
from deeptrash.io import write_image
from deeptrash.params import OFFLINE_ENGINES, WEB_ENGINES, ScrapeParams, folder_list
from deeptrash.scrape.download import ImageSink, SafeImageDownloader, retrying_adapter

log = logging.getLogger(__name__)

# Host each web engine's search pages come from, checked before crawling.
SEARCH_HOSTS = {
    "bing": ("www.bing.com", 443),
    "google": ("www.google.com", 443),
    "baidu": ("image.baidu.com", 80),
    "flickr": ("api.flickr.com", 443),
}
CRAWLER_CLASSES = {
    "bing": "BingImageCrawler",
    "google": "GoogleImageCrawler",
    "baidu": "BaiduImageCrawler",
    "flickr": "FlickrImageCrawler",
}
FLICKR_KEY_ENV = "FLICKR_API_KEY"
REACH_TIMEOUT = 3.0  # seconds for DNS and for the TCP connect each
# icrawler's component loggers (its thread pools are named like this).
ICRAWLER_LOGGERS = ("feeder", "parser", "downloader", "icrawler")


# --- preflight -------------------------------------------------------------

def check_reachable(host: str, port: int, timeout: float = REACH_TIMEOUT) -> None:
    """Resolve `host` and open a TCP connection to it, each within `timeout` s; OSError if not."""
    found: dict = {}

    def resolve() -> None:  # getaddrinfo has no timeout of its own
        try:
            found["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            found["error"] = error

    resolver = threading.Thread(target=resolve, daemon=True)
    resolver.start()
    resolver.join(timeout)
    if resolver.is_alive():
        raise OSError(f"DNS lookup of {host} took over {timeout:g} s")
    if "error" in found:
        raise OSError(f"DNS lookup of {host} failed: {found['error']}")
    last_error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in found["addresses"]:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(address)
                return
            except OSError as error:
                last_error = error
    raise OSError(f"cannot connect to {host}:{port}: {last_error}")


def require_network(engine: str, host: str, port: int, timeout: float = REACH_TIMEOUT) -> None:
    """Raise a one-line UserError naming the offline engines when the search host is unreachable."""
    try:
        check_reachable(host, port, timeout)
    except OSError as error:
        raise UserError(
            f"engine {engine}: cannot reach the search host {host}:{port} ({error}); "
            f"without network use an offline engine: {', '.join(OFFLINE_ENGINES)}"
        ) from None


def read_url_list(path: str | Path, name: str = "the query") -> list[str]:
    """URLs from a text file, one a line; blank lines and # comments skipped.

    `name` says where the path came from (e.g. scrape.trash.bottle) in the
    one-line error when it is not a file.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{name}: engine urls needs the path of a URL list (a text file, one URL a line), "
            f"but {str(path)!r} is not a file; with scrape.engine=urls every query of "
            f"scrape.trash and scrape.landscape must name one"
        )
    lines = (line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def matching_files(folder: str | Path, query: str) -> list[Path]:
    """Files below `folder` whose relative path contains every query word (case-insensitive), sorted.

    Hidden files and folders are skipped.
    """
    folder = Path(folder)
    words = query.lower().split()
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix().lower()
            if all(word in relative for word in words):
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def web_filters(engine: str, filters: dict) -> dict:
    """Check scrape.filters against the engine's icrawler filter rules; return them."""
    if "min_size" in filters or "max_size" in filters:
        raise UserError("scrape.filters: min_size/max_size are not supported; use filter.KIND.min_width/min_height")
    if engine == "flickr":
        return dict(filters)  # Flickr's are search-API parameters (license, tags, sort...), checked by Flickr
    module = importlib.import_module(f"icrawler.builtin.{engine}")
    feeder_class = getattr(module, f"{engine.capitalize()}Feeder")
    try:
        feeder_class.get_filter(None).apply(dict(filters))
    except (KeyError, ValueError, TypeError, AssertionError) as error:
        message = str(error.args[0] if error.args else error).replace("\uff0c", ",")
        raise UserError(f"scrape.filters: {message} (engine {engine})") from None
    return dict(filters)


def preflight(scrape: ScrapeParams, query: str, search_hosts: dict | None = None, name: str = "the query") -> None:
    """Everything that can fail before work starts, as one-line UserErrors (`name`: where `query` is set)."""
    engine = scrape.engine
    if engine == "folder":
        folders = folder_list(scrape.folder)
        if not folders:
            raise UserError("engine folder: set scrape.folder to a directory of photos (or a list of them)")
        for folder in folders:
            if not Path(folder).is_dir():
                raise UserError(f"engine folder: {name}: folder {folder} is not a directory")
    elif engine == "urls":
        read_url_list(query, name)
    elif engine in WEB_ENGINES:
        web_filters(engine, scrape.filters)
        if engine == "flickr" and not os.environ.get(FLICKR_KEY_ENV):
            raise UserError(f"engine flickr: put your Flickr API key in the environment variable {FLICKR_KEY_ENV}")
        host, port = (search_hosts or SEARCH_HOSTS)[engine]
        require_network(engine, host, port)


# --- engines ---------------------------------------------------------------

def run_demo(sink: ImageSink, kind: str, query: str, count: int, seed: int, size: int, junk_share: float,
             photos=None, dirty_share: float = 0.0) -> None:
    """Render `count` demo photos into the sink; truth masks (trash objects, the
    litter in dirty landscapes) go to truth/<sha256>.png.

    `photos` is deeptrash.scrape.demo.photos.demo_photos unless given (tests pass a stand-in).
    """
    if photos is None:
        from deeptrash.scrape.demo.photos import demo_photos as photos
    for index, photo in enumerate(photos(kind, query, count, seed, size=size, junk_share=junk_share,
                                           dirty_share=dirty_share)):
        row = sink.accept(photo.data, f"demo://{kind}/{query}/{index}", fetched_at="")  # rendered: no time
        if row["status"] == "ok" and photo.truth is not None:
            write_image(sink.out_dir / "truth" / f"{row['sha256']}.png", photo.truth)


def run_folder(sink: ImageSink, folders: str | Path | list, query: str, count: int) -> None:
    """Copy the files matching `query` in each folder in turn (read-only access) until `count`
    images are kept; bad files are rows, not errors."""
    folders = [folders] if isinstance(folders, (str, Path)) else folders
    for path in (path for folder in folders for path in matching_files(folder, query)):
        if sink.ok_count >= count:
            break
        url = path.absolute().as_uri()  # not resolve(): a dangling link keeps its own name
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):  # a named pipe or device would block or never end
                sink.refuse(url, "not_image", "not a regular file")
                continue
            size = info.st_size
            if size > sink.max_bytes:
                sink.refuse(url, "too_large", f"{size} bytes > max_bytes {sink.max_bytes}", size)
                continue
            with open(path, "rb") as handle:  # read only: the original is never touched
                data = handle.read(sink.max_bytes + 1)
        except OSError as error:
            sink.refuse(url, "corrupt", f"cannot read: {error.strerror or error}")
            continue
        sink.accept(data, url)


def build_crawler(crawler_cls: type, sink: ImageSink, scrape: ScrapeParams, **extra):
    """An icrawler crawler whose downloader is SafeImageDownloader feeding `sink`."""
    crawler = crawler_cls(
        downloader_cls=SafeImageDownloader,
        downloader_threads=scrape.threads,
        storage={"backend": "FileSystem", "root_dir": str(sink.out_dir)},  # unused: the sink writes
        log_level=logging.WARNING,
        extra_downloader_args=dict(sink=sink, timeout=scrape.timeout, delay=scrape.delay),
        **extra,
    )
    # Retries in urllib3 (429/5xx, failed connections); one pooled connection per
    # thread (requests keeps 10 and warns when more threads share them).
    adapter = retrying_adapter(scrape.retries, scrape.retry_backoff, pool_maxsize=max(10, scrape.threads + 2))
    crawler.session.mount("http://", adapter)
    crawler.session.mount("https://", adapter)
    return crawler


class _ErrorCounter(logging.Handler):
    """Counts ERROR records from icrawler's threads, so an empty crawl can say why."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.count = 0
        self.first = ""

    def emit(self, record):
        self.count += 1
        if not self.first:
            self.first = record.getMessage()[:200]


def _quiet_icrawler(counter: _ErrorCounter) -> list:
    """Silence icrawler's per-thread INFO chatter and count its errors; returns what to restore."""
    saved = []
    for name in ICRAWLER_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.WARNING)
        logger.addHandler(counter)
    return saved


def _restore_loggers(saved: list, counter: _ErrorCounter) -> None:
    for logger, level in saved:
        logger.setLevel(level)
        logger.removeHandler(counter)


def run_urls(sink: ImageSink, scrape: ScrapeParams, urls: list[str], count: int) -> None:
    """Download a list of URLs with icrawler's UrlListCrawler and our safe downloader."""
    from icrawler import Crawler
    from icrawler.builtin import UrlListCrawler

    if not urls:
        return
    crawler = build_crawler(UrlListCrawler, sink, scrape)
    counter = _ErrorCounter()
    saved = _quiet_icrawler(counter)
    try:
        # Crawler.crawl rather than UrlListCrawler.crawl, only to shorten the
        # parser's 2 s idle wait at the end of the list.
        Crawler.crawl(crawler, feeder_kwargs=dict(url_list=urls), parser_kwargs=dict(queue_timeout=0.2),
                      downloader_kwargs=dict(max_num=count))
    finally:
        _restore_loggers(saved, counter)


def crawler_class(engine: str) -> type:
    """icrawler's built-in crawler class for a web engine (tests swap in a loopback one)."""
    return getattr(importlib.import_module("icrawler.builtin"), CRAWLER_CLASSES[engine])


def run_web(sink: ImageSink, scrape: ScrapeParams, engine: str, query: str, count: int) -> None:
    """Search `engine` for `query` with icrawler's built-in crawler; loud if it finds no links at all."""
    crawler_cls = crawler_class(engine)
    filters = web_filters(engine, scrape.filters)
    counter = _ErrorCounter()
    saved = _quiet_icrawler(counter)
    try:
        if engine == "flickr":
            crawler = build_crawler(crawler_cls, sink, scrape, apikey=os.environ[FLICKR_KEY_ENV])
            crawler.crawl(max_num=count, text=query, **filters)
        else:
            crawler = build_crawler(crawler_cls, sink, scrape)
            crawler.crawl(keyword=query, filters=filters or None, max_num=count)
    finally:
        _restore_loggers(saved, counter)
    if not sink.rows and counter.count:
        raise UserError(
            f"engine {engine} found no image links for {query!r}; icrawler logged {counter.count} "
            f"error(s), the first: {counter.first!r}. The site may have changed or refused us: try "
            f"another engine (bing, google, baidu, flickr) or an offline one ({', '.join(OFFLINE_ENGINES)})"
        )
    if not sink.rows:
        log.warning("engine %s returned no image links for %r (no errors logged: its page parser may be "
                    "out of date)", engine, query)


# --- one query, whichever engine --------------------------------------------

def attempts_expected(scrape: ScrapeParams, query: str) -> int:
    """How many attempts a progress bar should expect: the URL count for urls, else per_query."""
    return len(read_url_list(query)) if scrape.engine == "urls" else scrape.per_query


def run_engine(sink: ImageSink, scrape: ScrapeParams, kind: str, query: str, seed: int, demo_photos=None) -> None:
    """Fill `sink` with up to scrape.per_query images of `query` from scrape.engine.

    Call :func:`preflight` first. `demo_photos` stands in for
    deeptrash.scrape.demo.photos.demo_photos (tests).
    """
    engine, count = scrape.engine, scrape.per_query
    if engine == "demo":
        run_demo(sink, kind, query, count, seed, scrape.demo.size, scrape.demo.junk_share, demo_photos,
                 dirty_share=scrape.demo.dirty_share)
    elif engine == "folder":
        run_folder(sink, folder_list(scrape.folder), query, count)
    elif engine == "urls":
        run_urls(sink, scrape, read_url_list(query), count)
    else:
        run_web(sink, scrape, engine, query, count)
