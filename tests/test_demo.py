"""The demo engine's photo renderer (deeptrash/scrape/demo/)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from deeptrash.errors import UserError
from deeptrash.io import decode_image
from deeptrash.scrape.demo import draw, landscape, trash
from deeptrash.scrape.demo.junk import JUNK_KINDS
from deeptrash.scrape.demo.landscape import render_landscape
from deeptrash.scrape.demo.photos import DemoPhoto, demo_photos
from deeptrash.scrape.demo.trash import render_trash

SIZE = 128


def decoded(photo: DemoPhoto) -> np.ndarray:
    image = decode_image(photo.data)
    assert image is not None, "photo bytes must decode"
    return image


def elongation(mask: np.ndarray) -> float:
    """Ratio of the mask's principal axes (1 for a disc, large for a stick)."""
    ys, xs = np.nonzero(mask)
    cov = np.cov(np.stack([xs, ys]).astype(np.float64))
    small, large = np.linalg.eigvalsh(cov)
    return float(np.sqrt(large / max(small, 1e-9)))


@pytest.fixture(scope="module")
def trash_batch() -> list[DemoPhoto]:
    return list(demo_photos("trash", "plastic bottle litter", 30, seed=7, size=SIZE, junk_share=0.4))


@pytest.fixture(scope="module")
def landscape_batch() -> list[DemoPhoto]:
    return list(demo_photos("landscape", "sandy beach", 30, seed=7, size=SIZE, junk_share=0.4))


# --- determinism -------------------------------------------------------------

def test_same_arguments_give_same_bytes(trash_batch):
    again = list(demo_photos("trash", "plastic bottle litter", 30, seed=7, size=SIZE, junk_share=0.4))
    assert [p.data for p in again] == [p.data for p in trash_batch]
    assert all(np.array_equal(a.truth, b.truth) for a, b in zip(again, trash_batch))


def test_asking_for_more_keeps_the_first_photos(landscape_batch):
    fewer = list(demo_photos("landscape", "sandy beach", 12, seed=7, size=SIZE, junk_share=0.4))
    assert [p.data for p in fewer] == [p.data for p in landscape_batch[:12]]
    assert [p.junk for p in fewer] == [p.junk for p in landscape_batch[:12]]


def test_seed_and_query_change_the_photos():
    base = next(demo_photos("trash", "soda can", 1, seed=1, size=SIZE, junk_share=0))
    other_seed = next(demo_photos("trash", "soda can", 1, seed=2, size=SIZE, junk_share=0))
    other_query = next(demo_photos("trash", "soda cans", 1, seed=1, size=SIZE, junk_share=0))
    assert base.data != other_seed.data
    assert base.data != other_query.data


# --- trash photos and their true masks ---------------------------------------

@pytest.mark.parametrize("query", ["plastic bottle", "crushed soda can", "plastic bag", "candy wrapper",
                                   "cigarette butt", "coffee cup", "juice carton", "bottle cap", "straw"])
def test_trash_mask_covers_a_framed_object_that_differs_from_the_background(query):
    for index in range(3):
        image, mask = render_trash(query, index, seed=3, size=SIZE)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert mask.shape == image.shape[:2] and mask.dtype == np.uint8
        assert set(np.unique(mask)) == {0, 255}
        assert max(image.shape[:2]) == SIZE
        share = (mask > 0).mean()
        assert 0.03 < share < 0.7, f"{query}: object covers {share:.0%} of the photo"
        # Fully in frame: the object never touches the photo's edge.
        assert not mask[0].any() and not mask[-1].any() and not mask[:, 0].any() and not mask[:, -1].any()
        # The mask is on the object: inside pixels are unlike the background
        # just outside it (a ring a few px wide around the mask).
        lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
        inside = cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0
        ring = (cv2.dilate(mask, np.ones((9, 9), np.uint8)) > 0) & (cv2.dilate(mask, np.ones((5, 5), np.uint8)) == 0)
        bg_mean, bg_std = lab[ring].mean(axis=0), lab[ring].std(axis=0) + 1.0
        z = np.abs((lab[inside] - bg_mean) / bg_std).max(axis=1)
        assert (z > 2).mean() > 0.5, f"{query} #{index}: object blends into the background"


def test_object_follows_query_words():
    assert trash.trash_object_for("plastic bottle litter") == "bottle"
    assert trash.trash_object_for("crushed soda can") == "can"
    assert trash.trash_object_for("bottle cap") == "lid"
    assert trash.trash_object_for("paper coffee cup") == "cup"
    assert trash.trash_object_for("Cigarette Butts") == "butt"
    fallback = trash.trash_object_for("xyzzy litter")
    assert fallback in trash.TRASH_OBJECTS and fallback == trash.trash_object_for("xyzzy litter")


def test_bottles_are_longer_than_cans_and_straws_longer_still():
    def mean_elongation(query):
        return np.mean([elongation(render_trash(query, i, seed=5, size=SIZE)[1]) for i in range(6)])

    bottle, can, straw = mean_elongation("water bottle"), mean_elongation("soda can"), mean_elongation("straw")
    assert bottle > can * 1.3
    assert straw > bottle


# --- junk ----------------------------------------------------------------------

def test_junk_share_and_kinds():
    photos = list(demo_photos("landscape", "park lawn", 60, seed=11, size=64, junk_share=0.2))
    junk = [p.junk for p in photos if p.junk]
    assert len(junk) == 12
    assert set(junk) <= set(JUNK_KINDS)
    assert len(set(junk)) >= 5
    # Spread out: no more than one junk photo in any 4 consecutive ones at 20%.
    flags = [p.junk is not None for p in photos]
    assert max(sum(flags[i:i + 4]) for i in range(57)) <= 1
    assert not any(p.junk for p in demo_photos("landscape", "park lawn", 20, seed=11, size=64, junk_share=0))


def test_junk_properties_hold_on_decoded_bytes(trash_batch, landscape_batch):
    seen = set()
    for kind, batch in (("trash", trash_batch), ("landscape", landscape_batch)):
        clean = [decoded(p) for p in batch if p.junk is None]
        for index, photo in enumerate(batch):
            image = decoded(photo)
            h, w = image.shape[:2]
            seen.add((kind, photo.junk))
            if kind == "trash":
                assert photo.truth is not None and photo.truth.shape == (h, w)
                assert photo.truth.any()
            else:
                assert photo.truth is None
            if photo.junk is None:
                assert photo.suffix == ".jpg" and image.shape[2] == 3 and max(h, w) == SIZE
                assert max(h, w) / min(h, w) <= 2.0
            elif photo.junk == "tiny":
                assert max(h, w) < 100
            elif photo.junk == "extreme_aspect":
                assert max(h, w) / min(h, w) >= 3.5
            elif photo.junk == "transparent":
                assert photo.suffix == ".png" and image.shape[2] == 4
                alpha = image[:, :, 3]
                assert (alpha == 0).mean() > 0.05 and (alpha == 255).mean() > 0.05
                if kind == "trash":
                    assert np.array_equal(alpha, photo.truth)
            elif photo.junk == "near_duplicate":
                small = cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
                diffs = [np.abs(cv2.resize(c, (32, 32), interpolation=cv2.INTER_AREA) - small).mean()
                         for c in clean if c.shape[0] * w == c.shape[1] * h or abs(c.shape[1] / c.shape[0] - w / h) < 0.05]
                # Brightness shifts a little (up to ~12 levels); another photo differs by far more.
                assert diffs and min(diffs) < 14, "a near duplicate looks like an earlier clean photo"
                assert photo.data not in {p.data for p in batch[:index]}
            elif photo.junk == "blurry":
                sharp = np.median([cv2.Laplacian(cv2.cvtColor(c, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var() for c in clean])
                blurred = cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
                assert blurred < sharp / 4
            elif photo.junk == "text_banner":
                plain = render_trash("plastic bottle litter", index, 7, SIZE)[0] if kind == "trash" \
                    else render_landscape("sandy beach", index, 7, SIZE)
                changed = np.abs(image.astype(int) - plain.astype(int)).max(axis=2) > 40
                assert changed.mean() > 0.01, "text was drawn over the photo"
    assert {name for _, name in seen} == set(JUNK_KINDS) | {None}


# --- landscapes ----------------------------------------------------------------

def ground_hsv(query: str, n: int = 4) -> np.ndarray:
    """Mean (hue, saturation, value) of the bottom quarter (the near ground) of n landscapes."""
    values = []
    for index in range(n):
        image = render_landscape(query, index, seed=9, size=SIZE)
        assert image.dtype == np.uint8 and image.shape[2] == 3 and max(image.shape[:2]) == SIZE
        hsv = cv2.cvtColor(image[image.shape[0] * 3 // 4:], cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.float32)
        values.append(hsv.mean(axis=0))
    return np.mean(values, axis=0)


def test_landscape_ground_follows_query_words():
    beach, lawn, sidewalk = ground_hsv("sandy beach"), ground_hsv("park lawn grass"), ground_hsv("city sidewalk")
    assert 10 <= beach[0] <= 30, f"sand hue {beach[0]:.0f} (OpenCV 0..180) should be yellow-orange"
    assert 30 <= lawn[0] <= 80, f"grass hue {lawn[0]:.0f} should be green"
    assert lawn[0] > beach[0] + 10
    assert sidewalk[1] < min(beach[1], lawn[1]), "pavement is greyer than sand and grass"


def test_landscapes_vary_by_index():
    a, b = render_landscape("forest trail", 0, 1, SIZE), render_landscape("forest trail", 1, 1, SIZE)
    if a.shape == b.shape:
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 10
    scene = landscape.landscape_scene("mountain meadow rock")
    assert scene == (["grass", "rock"], "mountains") or scene[1] == "mountains"


# --- helpers and errors ----------------------------------------------------------

def test_value_noise_is_normalised_and_seeded():
    rng = np.random.default_rng(0)
    noise = draw.value_noise(rng, 40, 60, cell=8)
    assert noise.shape == (40, 60) and noise.dtype == np.float32
    assert abs(float(noise.mean())) < 1e-3 and abs(float(noise.std()) - 1) < 1e-2
    again = draw.value_noise(np.random.default_rng(0), 40, 60, cell=8)
    assert np.array_equal(noise, again)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="people", count=1), "kind"),
    (dict(kind="trash", count=-1), "count"),
    (dict(kind="trash", count=1, size=4), "size"),
    (dict(kind="trash", count=1, junk_share=1.5), "junk_share"),
])
def test_bad_arguments_give_one_line_user_errors(kwargs, message):
    args = dict(query="bottle", seed=0) | kwargs
    with pytest.raises(UserError, match=message) as error:
        demo_photos(**args)  # raised at the call, before anything is rendered
    assert "\n" not in str(error.value)


def test_photos_are_identical_in_a_fresh_process_with_another_hash_seed():
    """No salted hash() or global state: another interpreter renders the same bytes."""
    import hashlib
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import hashlib\n"
        "from deeptrash.scrape.demo.photos import demo_photos\n"
        "for kind, query in (('trash', 'soda can'), ('landscape', 'city sidewalk')):\n"
        "    for p in demo_photos(kind, query, 6, 5, 64, 0.5):\n"
        "        print(hashlib.sha256(p.data).hexdigest())\n"
    )
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONHASHSEED="12345")
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    here = [hashlib.sha256(p.data).hexdigest()
            for kind, query in (("trash", "soda can"), ("landscape", "city sidewalk"))
            for p in demo_photos(kind, query, 6, 5, 64, 0.5)]
    assert result.stdout.split() == here


def test_a_table_matching_the_object_is_swapped_for_a_contrasting_one():
    background = np.full((40, 40, 3), 0.9, np.float32)
    alpha = np.zeros((40, 40), np.float32)
    alpha[10:30, 10:30] = 1.0
    white = np.zeros((40, 40, 3), np.float32)
    white[10:30, 10:30] = 0.88
    red = np.zeros((40, 40, 3), np.float32)
    red[10:30, 10:30] = (0.1, 0.1, 0.8)  # BGR
    changed = trash._ensure_contrast(np.random.default_rng(0), background, white, alpha)
    assert abs(float(changed.mean()) - 0.9) > 0.3, "white on white gets a dark table"
    kept = trash._ensure_contrast(np.random.default_rng(0), background, red, alpha)
    assert np.array_equal(kept, background), "a red object on white is left alone"
