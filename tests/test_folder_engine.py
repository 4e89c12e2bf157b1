"""The folder engine: query words matched in paths, originals untouched, bad files reported."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from deeptrash.errors import UserError
from deeptrash.params import ScrapeParams
from deeptrash.scrape.engines import matching_files
from stages import scrape as scrape_stage
from stages.scrape import scrape_query

REPO = Path(__file__).resolve().parent.parent


def photo(seed: int, fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((64, 48), Image.NEAREST).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def tree(tmp_path) -> Path:
    """A folder of photos; names say which ones show a plastic bottle."""
    root = tmp_path / "photos"
    files = {
        "Plastic Bottles/beach/IMG_0001.JPG": photo(1),                 # words split over folders, any case
        "Plastic Bottles/beach/IMG_0002.png": photo(2, "PNG"),
        "misc/bottle-plastic-crushed.jpeg": photo(3),                   # any word order
        "misc/plastic_bag.jpg": photo(4),                               # only one word: no match
        "misc/glass bottle.jpg": photo(5),                              # only one word: no match
        "Plastic Bottles/notes.jpg": b"shopping list: milk, eggs",     # not an image
        "Plastic Bottles/zz_truncated.jpg": photo(6)[:300],             # broken image
        "plastic bottle copy/IMG_0001.JPG": photo(1),                   # exact duplicate of the first
        "Plastic Bottles/.hidden.jpg": photo(7),                        # hidden: ignored
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink(root / "gone.jpg", root / "Plastic Bottles" / "dangling.jpg")  # unreadable even for root
    return root


def fingerprint(root: Path) -> dict[str, tuple[str, int, float]]:
    """sha256, mode and mtime of every regular file under root."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode, p.stat().st_mtime)
        for p in root.rglob("*") if p.is_file()
    }


def params(folder: Path, per_query: int = 40, **extra) -> ScrapeParams:
    return ScrapeParams(engine="folder", folder=str(folder), per_query=per_query,
                        trash={"bottle": "plastic BOTTLE"}, landscape={"beach": "beach"}, **extra)


def test_matching_needs_every_word_in_the_path_case_insensitively(tree):
    names = [p.relative_to(tree).as_posix() for p in matching_files(tree, "plastic BOTTLE")]
    assert names == [
        "Plastic Bottles/beach/IMG_0001.JPG",
        "Plastic Bottles/beach/IMG_0002.png",
        "Plastic Bottles/dangling.jpg",
        "Plastic Bottles/notes.jpg",
        "Plastic Bottles/zz_truncated.jpg",
        "misc/bottle-plastic-crushed.jpeg",
        "plastic bottle copy/IMG_0001.JPG",
    ]
    assert [p.name for p in matching_files(tree, "bag")] == ["plastic_bag.jpg"]
    assert matching_files(tree, "plastic aluminium") == []


def test_folder_engine_copies_matches_reports_bad_files_and_leaves_originals(tree, tmp_path):
    before = fingerprint(tree)
    out = tmp_path / "raw" / "trash" / "bottle"
    manifest = scrape_query(params(tree), "trash", "bottle", out, seed=0)
    assert fingerprint(tree) == before  # nothing moved, changed or touched

    status = {Path(unquote(url[len("file://"):])).relative_to(tree.absolute()).as_posix(): s
              for url, s in zip(manifest["url"], manifest["status"])}
    assert status == {
        "Plastic Bottles/beach/IMG_0001.JPG": "ok",
        "Plastic Bottles/beach/IMG_0002.png": "ok",
        "Plastic Bottles/dangling.jpg": "corrupt",
        "Plastic Bottles/notes.jpg": "not_image",
        "Plastic Bottles/zz_truncated.jpg": "corrupt",
        "misc/bottle-plastic-crushed.jpeg": "ok",
        "plastic bottle copy/IMG_0001.JPG": "duplicate",
    }
    kept = {f"{hashlib.sha256(photo(s, f)).hexdigest()}.{e}" for s, f, e in [(1, "JPEG", "jpg"), (2, "PNG", "png"),
                                                                             (3, "JPEG", "jpg")]}
    assert {p.name for p in out.iterdir()} == kept | {"manifest.csv"}
    for name in kept:
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == name.split(".")[0]
    assert (manifest["engine"] == "folder").all() and (manifest["query"] == "plastic BOTTLE").all()


def test_per_query_takes_the_first_matches_in_sorted_order(tree, tmp_path):
    manifest = scrape_query(params(tree, per_query=1), "trash", "bottle", tmp_path / "out", seed=0)
    assert list(manifest["status"]) == ["ok"]
    assert manifest["url"][0].endswith("Plastic%20Bottles/beach/IMG_0001.JPG")


def test_files_over_max_bytes_are_refused_without_reading(tree, tmp_path):
    (tree / "huge plastic bottle.jpg").write_bytes(photo(9)[:2] + b"\0" * 5000)
    manifest = scrape_query(params(tree, max_bytes=4096), "trash", "bottle", tmp_path / "out", seed=0)
    huge = manifest[manifest["url"].str.endswith("huge%20plastic%20bottle.jpg")]
    assert list(huge["status"]) == ["too_large"] and int(huge["bytes"].iloc[0]) == 5002


def test_a_query_may_bring_its_own_engine_and_count(tree, tmp_path):
    """Rendered cigarette butts beside a folder of photos: the mapping's engine and
    per_query win for that query; the other query keeps scrape.engine."""
    scrape = ScrapeParams(engine="folder", folder=str(tree), per_query=40, demo={"size": 96},
                          trash={"bottle": "plastic BOTTLE",
                                 "butt": {"query": "cigarette butt", "engine": "demo", "per_query": 3}},
                          landscape={"beach": "beach"})
    rendered = scrape_query(scrape, "trash", "butt", tmp_path / "butt", seed=0)
    assert len(rendered) == 3 and (rendered["engine"] == "demo").all()
    assert list(rendered["url"]) == [f"demo://trash/cigarette butt/{i}" for i in range(3)]
    assert (rendered["query"] == "cigarette butt").all()
    copied = scrape_query(scrape, "trash", "bottle", tmp_path / "bottle", seed=0)
    assert (copied["engine"] == "folder").all() and (copied["status"] == "ok").sum() == 3


def test_missing_folder_is_a_one_line_error_and_writes_nothing(tmp_path):
    with pytest.raises(UserError, match="is not a directory") as error:
        scrape_query(params(tmp_path / "nowhere"), "trash", "bottle", tmp_path / "out", seed=0)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_stage_script_runs_the_folder_engine_from_params(tree, tmp_path, monkeypatch):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["scrape"].update(engine="folder", folder=str(tree), trash={"bottle": "plastic bottle"})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    scrape_stage.main(["trash", "bottle"])
    manifest = pd.read_csv(tmp_path / "data" / "raw" / "trash" / "bottle" / "manifest.csv")
    assert (manifest["status"] == "ok").sum() == 3
    with pytest.raises(UserError, match="no query 'cup' in scrape.trash"):
        scrape_stage.main(["trash", "cup"])


def test_one_query_draws_from_several_folders_in_turn(tree, tmp_path):
    """scrape.folder as a list, or a query's own folder(s): matches are taken folder by folder, and a
    photo met in two folders is kept once."""
    more = tmp_path / "more"
    (more / "plastic bottle").mkdir(parents=True)
    (more / "plastic bottle" / "new.jpg").write_bytes(photo(11))
    (more / "plastic bottle" / "same.jpg").write_bytes(photo(3))    # also in the first folder
    both = scrape_query(params(tree).model_copy(update={"folder": [str(tree), str(more)]}), "trash", "bottle",
                        tmp_path / "both", seed=0)
    assert (both["status"] == "ok").sum() == 4 and (both["status"] == "duplicate").sum() == 2
    assert both["url"].iloc[-1].endswith("plastic%20bottle/same.jpg")   # the second folder comes after the first

    own = ScrapeParams(engine="folder", folder=str(tree), per_query=40, landscape={"beach": "beach"},
                       trash={"bottle": "plastic bottle", "more": {"query": "plastic bottle", "folder": [str(more)]}})
    only_more = scrape_query(own, "trash", "more", tmp_path / "own", seed=0)
    assert (only_more["status"] == "ok").sum() == 2
    assert all(str(more.absolute()) in url.replace("%20", " ") for url in only_more["url"])


def test_a_named_pipe_among_the_photos_is_refused_not_waited_on(tree, tmp_path):
    os.mkfifo(tree / "Plastic Bottles" / "pipe.jpg")   # opening it for reading would block forever
    manifest = scrape_query(params(tree), "trash", "bottle", tmp_path / "out", seed=0)
    pipe = manifest[manifest["url"].str.endswith("pipe.jpg")]
    assert list(pipe["status"]) == ["not_image"] and (manifest["status"] == "ok").sum() == 3


def test_a_missing_folder_in_a_list_is_named(tree, tmp_path):
    with pytest.raises(UserError, match=r"scrape\.trash\.bottle: folder .*nowhere is not a directory"):
        scrape_query(params(tree).model_copy(update={"folder": [str(tree), str(tmp_path / "nowhere")]}),
                     "trash", "bottle", tmp_path / "out", seed=0)
    assert not (tmp_path / "out").exists()
