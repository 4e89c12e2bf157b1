"""The landscape audit: dirty demo landscapes, exclusions in the filter, the audit stage."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from deeptrash.measure import audit
from deeptrash.scrape.demo.landscape import is_dirty, render_landscape, render_landscape_scene
from deeptrash.scrape.demo.photos import demo_photos
from stages.scrape import scrape_query
from deeptrash.clean.filter import check_photos, resolve_exclusions
from deeptrash.errors import UserError
from deeptrash.io import decode_image, list_images
from deeptrash.params import KindFilterParams, ScrapeParams, validate_params
from tests.test_predict import save_red_model

REPO = Path(__file__).resolve().parent.parent
IMAGE_SIZE = 32
RED = (0, 0, 230)  # BGR


# --- dirty demo landscapes --------------------------------------------------------

def dirty_indices(query: str, count: int, seed: int, share: float) -> list[int]:
    return [i for i in range(count) if is_dirty(query, i, seed, share)]


def test_dirty_share_is_drawn_per_photo_and_deterministic():
    dirty = dirty_indices("park lawn", 200, 3, 0.25)
    assert 30 <= len(dirty) <= 70                         # about a quarter
    assert dirty == dirty_indices("park lawn", 200, 3, 0.25)
    assert dirty != dirty_indices("park lawn", 200, 4, 0.25)  # another seed, other photos
    assert not dirty_indices("park lawn", 50, 3, 0.0)
    first = render_landscape_scene("sandy beach", dirty_indices("sandy beach", 40, 3, 0.3)[0], 3, 128, 0.3)
    again = render_landscape_scene("sandy beach", dirty_indices("sandy beach", 40, 3, 0.3)[0], 3, 128, 0.3)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])


@pytest.mark.parametrize("query", ["city sidewalk asphalt", "forest trail", "sandy beach"])
def test_truth_marks_exactly_the_litter_drawn_on_the_ground(query):
    """A dirty photo is its clean twin plus litter: pixels differ only at the
    truth (and its shadow next to it), and most truth pixels differ."""
    index = dirty_indices(query, 40, 5, 0.5)[0]
    image, truth = render_landscape_scene(query, index, 5, 256, dirty_share=0.5)
    clean = render_landscape(query, index, 5, 256)
    assert truth is not None and truth.shape == image.shape[:2] and set(np.unique(truth)) == {0, 255}
    changed = np.abs(image.astype(np.int16) - clean.astype(np.int16)).max(axis=2) > 12
    assert changed[truth > 0].mean() > 0.5          # the litter is really there
    # Nothing else was touched: changes lie within the litter's box, widened for its soft shadow.
    rows, cols = np.nonzero(truth)
    margin = 0.4 * max(np.ptp(rows), np.ptp(cols)) + 3
    near = np.zeros_like(changed)
    near[max(0, int(rows.min() - margin)):int(rows.max() + margin) + 1,
         max(0, int(cols.min() - margin)):int(cols.max() + margin) + 1] = True
    assert not changed[~near].any()
    assert changed.sum() < 3 * (truth > 0).sum()  # the shadow is a rim, not a second object
    assert rows.min() > 0.28 * image.shape[0]       # below the highest horizon: on the ground
    assert 0 < truth.mean() / 255 < 0.05            # litter, not a billboard


def test_demo_photos_carry_litter_truth_only_for_dirty_landscapes():
    photos = list(demo_photos("landscape", "park lawn", 24, seed=2, size=96, junk_share=0.0, dirty_share=0.4))
    dirty = set(dirty_indices("park lawn", 24, 2, 0.4))
    assert dirty and {i for i, p in enumerate(photos) if p.truth is not None} == dirty
    for i in dirty:
        assert photos[i].truth.shape == decode_image(photos[i].data).shape[:2]
    clean = list(demo_photos("landscape", "park lawn", 24, seed=2, size=96, junk_share=0.0))
    assert all(p.truth is None for p in clean)
    assert all(clean[i].data == photos[i].data for i in range(24) if i not in dirty)  # clean ones unchanged
    with pytest.raises(UserError, match="dirty_share"):
        demo_photos("landscape", "park lawn", 1, seed=2, dirty_share=1.5)


def test_scrape_writes_litter_truth_beside_dirty_landscapes(tmp_path):
    scrape = ScrapeParams(engine="demo", per_query=10, demo={"size": 96, "junk_share": 0.0, "dirty_share": 0.5},
                          trash={"t": "bottle"}, landscape={"beach": "sandy beach"})
    manifest = scrape_query(scrape, "landscape", "beach", tmp_path / "out", seed=1)
    truths = sorted(p.stem for p in (tmp_path / "out" / "truth").glob("*.png"))
    assert len(truths) == len(dirty_indices("sandy beach", 10, 1, 0.5)) > 0
    assert set(truths) <= set(manifest["sha256"])
    assert len(list_images(tmp_path / "out")) == 10  # the truth is beside the photos, not among them


# --- exclusions: params and filter --------------------------------------------------

def params_with(exclude: dict) -> dict:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["filter"]["landscape_exclude"].update(exclude)
    return raw


@pytest.mark.parametrize("exclude, message", [
    ({"park_lawn": [12345678]}, "filter.landscape_exclude.park_lawn.0: Value error, 12345678 is not text: quote"),
    ({"park_lawn": ["3FA9C2"]}, "filter.landscape_exclude.park_lawn.0: Value error, '3FA9C2' is not a file-hash"),
    ({"park_lawn": ["3fa9c2", "3fa9c2"]}, "filter.landscape_exclude: Value error, park_lawn: 3fa9c2 is listed twice"),
    ({"park_lawm": []}, "filter.landscape_exclude.park_lawm: not a landscape query"),
])
def test_bad_exclusion_params_are_one_line_errors_naming_the_key(exclude, message):
    with pytest.raises(UserError) as error:
        validate_params(params_with(exclude))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_every_landscape_query_needs_an_exclusion_entry():
    raw = params_with({})
    del raw["filter"]["landscape_exclude"]["park_lawn"]
    with pytest.raises(UserError, match=r"no entry for landscape query 'park_lawn'.*\+filter.landscape_exclude.park_lawn=\[\]"):
        validate_params(raw)
    assert validate_params(params_with({"park_lawn": ["3fa9c2d1"]})).filter.landscape_exclude["park_lawn"] == ["3fa9c2d1"]


def test_resolve_exclusions_by_unique_prefix():
    names = ["3fa9c2d1aa.jpg", "3fa9c2ffbb.jpg", "81b0d4aacc.png"]
    assert resolve_exclusions(["3fa9c2d1", "81b0d4"], names, "landscape_exclude.x") == {
        "3fa9c2d1aa.jpg": "3fa9c2d1", "81b0d4aacc.png": "81b0d4"}
    with pytest.raises(UserError, match=r"^params.yaml: filter.landscape_exclude.x: 0000aa matches no photo"):
        resolve_exclusions(["0000aa"], names, "landscape_exclude.x")
    with pytest.raises(UserError, match="3fa9c2 matches 2 photos .*give more digits"):
        resolve_exclusions(["3fa9c2"], names, "landscape_exclude.x")


def test_excluded_photos_are_rejected_without_being_read(tmp_path):
    good = tmp_path / "aaaa1111.png"
    cv2.imwrite(str(good), np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    broken = tmp_path / "bbbb2222.jpg"
    broken.write_bytes(b"not an image")
    shutil.copy(good, tmp_path / "cccc3333.png")  # an exact duplicate of the good one
    params = KindFilterParams(min_sharpness=0, max_text_score=1.0, low_information_threshold=0.0)
    checks = {c.file: c for c in check_photos(sorted(tmp_path.iterdir()), params,
                                              {"bbbb2222.jpg": "bbbb22", "aaaa1111.png": "aaaa11"})}
    assert checks["bbbb2222.jpg"].reason == "excluded"            # not "corrupt": never read
    assert checks["aaaa1111.png"].reason == "excluded"
    assert checks["aaaa1111.png"].detail == "listed as aaaa11"
    assert checks["cccc3333.png"].reason is None                  # its copy survives the duplicate check


def filter_workdir(tmp_path: Path, exclude: list) -> Path:
    raw = params_with({"forest_trail": exclude})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    folder = tmp_path / "data/raw/landscape/forest_trail"
    folder.mkdir(parents=True)
    for i in range(3):
        image = render_landscape("forest trail", i, 1, 200)
        cv2.imwrite(str(folder / f"{i}{'abcdef'[i] * 7}.jpg"), image)
    return tmp_path


def test_filter_stage_honours_the_query_s_exclusions(tmp_path, monkeypatch):
    from stages import filter as stage

    monkeypatch.chdir(filter_workdir(tmp_path, ["1bbbbbbb"]))
    stage.main(["landscape", "forest_trail"])
    rejects = pd.read_csv(tmp_path / "data/clean/landscape/forest_trail/rejects.csv")
    assert list(rejects.loc[rejects["reason"] == "excluded", "file"]) == ["1bbbbbbb.jpg"]
    assert not (tmp_path / "data/clean/landscape/forest_trail/1bbbbbbb.jpg").exists()
    metrics = json.loads((tmp_path / "metrics/filter/landscape/forest_trail.json").read_text())
    assert metrics["reasons"]["excluded"] == 1


def test_filter_stage_stops_on_a_prefix_matching_no_photo(tmp_path, monkeypatch):
    from stages import filter as stage

    monkeypatch.chdir(filter_workdir(tmp_path, ["9999999a"]))
    with pytest.raises(UserError, match="^params.yaml: filter.landscape_exclude.forest_trail: 9999999a matches no photo"):
        stage.main(["landscape", "forest_trail"])
    assert not (tmp_path / "data/clean").exists()


# --- scoring ------------------------------------------------------------------------

def test_photo_scores_ignore_a_hot_pixel_but_not_a_patch():
    probs = np.zeros((100, 120), np.float32)
    probs[10, 10] = 1.0
    speck = audit.photo_scores(probs, 0.5, min_piece=0.001)
    assert speck["score"] < 0.1 and speck["pieces"] == 0 and speck["area"] == pytest.approx(1 / 12000, abs=1e-6)
    probs[50:60, 70:80] = 0.9
    patch = audit.photo_scores(probs, 0.5, min_piece=0.001)
    assert patch["score"] == pytest.approx(0.9) and patch["pieces"] == 1
    assert patch["area"] == pytest.approx(101 / 12000, abs=1e-6)


def test_exclusion_prefix_is_unique_and_never_reads_as_a_number():
    names = ["3fa9c2d1aa.jpg", "3fa9c2d1bb.jpg", "12345678ab.png", "1e234567cd.jpg", "00000000000.jpg"]
    assert audit.exclusion_prefix("3fa9c2d1aa.jpg", names) == "3fa9c2d1a"
    assert audit.exclusion_prefix("12345678ab.png", names) == "12345678a"
    assert audit.exclusion_prefix("1e234567cd.jpg", names) == "1e234567c"
    assert audit.exclusion_prefix("00000000000.jpg", names) == "00000000000"  # all digits: the whole stem


def test_audit_table_ranks_flags_and_suggests_exclusions():
    rows = [
        {"file": "aaaaaaaa11.jpg", "query": "beach", "score": 0.2, "area": 0.0, "pieces": 0, "width": 9, "height": 9},
        {"file": "bbbbbbbb22.jpg", "query": "beach", "score": 0.9, "area": 0.01, "pieces": 1, "width": 9, "height": 9},
        {"file": "cccccccc33.jpg", "query": "park", "score": 0.7, "area": 0.02, "pieces": 2, "width": 9, "height": 9},
        {"file": "dddddddd44.jpg", "query": "park", "score": 0.7, "area": 0.03, "pieces": 1, "width": 9, "height": 9},
    ]
    table = audit.audit_table(rows, flag_score=0.5)
    assert list(table["file"]) == ["bbbbbbbb22.jpg", "dddddddd44.jpg", "cccccccc33.jpg", "aaaaaaaa11.jpg"]
    assert list(table["flagged"]) == [True, True, True, False]
    assert list(table.columns) == audit.COLUMNS
    args = audit.exclude_args(table, {"beach": ["eeeeee"], "park": ["cccccccc"]})
    assert args == ["-S 'filter.landscape_exclude.beach=[eeeeee,bbbbbbbb]'",
                    "-S 'filter.landscape_exclude.park=[cccccccc,dddddddd]'"]
    metrics = audit.summary(table, 0.5, ["beach", "park", "lake"])
    assert metrics["per_query"] == {"beach": {"photos": 2, "flagged": 1}, "lake": {"photos": 0, "flagged": 0},
                                    "park": {"photos": 2, "flagged": 2}}
    assert metrics["flagged"] == 3 and metrics["score"]["max"] == 0.9


# --- the stage ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def red_model(tmp_path_factory) -> Path:
    """A 'segmenter' that sees red things as trash (1x1 convolution, sigmoid)."""
    return save_red_model(tmp_path_factory.mktemp("models"), IMAGE_SIZE)


def test_audit_stage_ranks_the_photo_with_litter_first(tmp_path, monkeypatch, red_model):
    from stages import audit as stage

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["scrape"]["landscape"] = {"beach": "sandy beach", "park": "park lawn"}
    raw["filter"]["landscape_exclude"] = {"beach": [], "park": ["0123456789"]}
    raw["audit"].update(tile_size=48, sheet=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    shutil.copytree(red_model.parent, tmp_path / "models")
    rng = np.random.default_rng(0)
    for key, count in (("beach", 3), ("park", 2)):
        folder = tmp_path / "data/clean/landscape" / key
        folder.mkdir(parents=True)
        names = [f"{key[0]}{i}{rng.integers(10**8):08x}.png" for i in range(count)]
        for name in names:
            image = np.full((80, 100, 3), (90, 120, 100), np.uint8)
            if name.startswith("p1"):
                image[50:58, 60:70] = RED  # litter in one park photo
            cv2.imwrite(str(folder / name), image)
        pd.DataFrame({"file": names}).to_csv(folder / "kept.csv", index=False)
    monkeypatch.chdir(tmp_path)
    stage.main([])

    table = pd.read_csv(tmp_path / "data/audit/landscapes.csv", dtype={"prefix": str})
    assert len(table) == 5 and table.loc[0, "file"].startswith("p1") and table.loc[0, "query"] == "park"
    assert list(table["flagged"]) == [True, False, False, False, False]
    assert table.loc[0, "pieces"] == 1 and table.loc[0, "area"] == pytest.approx(80 / 8000, rel=0.3)
    args = (tmp_path / "data/audit/exclude_args.txt").read_text().splitlines()
    assert args == [f"-S 'filter.landscape_exclude.park=[0123456789,{table.loc[0, 'prefix']}]'"]
    metrics = json.loads((tmp_path / "metrics/audit.json").read_text())
    assert metrics["per_query"]["park"] == {"photos": 2, "flagged": 1} and metrics["photos"] == 5
    sheet = cv2.imread(str(tmp_path / "plots/audit/suspects.png"))
    assert sheet is not None and sheet.shape[1] == 2 * (256 + 4)  # the two most suspicious photos


def test_audit_stage_without_a_model_is_a_one_line_error(tmp_path, monkeypatch):
    from stages import audit as stage

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    for key in yaml.safe_load((REPO / "params.yaml").read_text())["scrape"]["landscape"]:
        (tmp_path / "data/clean/landscape" / key).mkdir(parents=True)
        (tmp_path / "data/clean/landscape" / key / "kept.csv").write_text("file\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="model not found"):
        stage.main([])
    assert not (tmp_path / "data/audit").exists()


# --- DVC, for real: one query's exclusions re-run that query's filter only ----------------

def test_dvc_reruns_only_the_filter_of_the_query_whose_exclusions_changed(tmp_path):
    """Scrape and filter two landscape queries with DVC (no training: seconds), then
    exclude a photo of one: DVC re-runs that query's filter and nothing else. (The
    stages downstream, synthesize to audit, re-run too: tests/test_pipeline.py.)"""
    from tests.test_pipeline import DVC, copy_project, ran_stages, run

    copy_project(tmp_path)
    filters = ["filter_landscape@beach", "filter_landscape@park"]
    first = run([DVC, "repro", *filters], tmp_path)
    assert ran_stages(first) == {"scrape_landscape@beach", "scrape_landscape@park", *filters}
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-qm", "filtered"], tmp_path)

    photo = sorted(p.name for p in list_images(tmp_path / "data/clean/landscape/park"))[0]
    output = run([DVC, "exp", "run", "-S", f"filter.landscape_exclude.park=[{audit.exclusion_prefix(photo, [])}]",
                  *filters], tmp_path)
    assert ran_stages(output) == {"filter_landscape@park"}
    rejects = pd.read_csv(tmp_path / "data/clean/landscape/park/rejects.csv")
    assert list(rejects.loc[rejects["reason"] == "excluded", "file"]) == [photo]

    saved = (tmp_path / "params.yaml").read_text()
    failed = run([DVC, "exp", "run", "-S", "filter.landscape_exclude.beach=[abcdef0123]", *filters], tmp_path,
                 expect_ok=False)
    (tmp_path / "params.yaml").write_text(saved)
    assert ran_stages(failed) == {"filter_landscape@beach"}
    assert "error: params.yaml: filter.landscape_exclude.beach: abcdef0123 matches no photo of this query" in failed
