"""The sim-to-real steps of the synth recipe: scale, slant, distractors, shadows,
harmonisation, Poisson-like blending, grass, defocus, wear, small litter (tiny images)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from deeptrash.synth import augment, litter, recipe, sources as synth_sources, wear
from tests.test_synth import ALL_OFF, make_params, red_square, sources  # noqa: F401 (fixture)

NEW_STEPS_ON = dict(
    slant={"p": 1.0}, distractors={"p": 1.0, "count": [3, 5]}, leaf_bed={"p": 1.0, "count": [5, 8]},
    shadow={"p": 1.0}, harmonize={"p": 1.0},
    poisson={"p": 1.0}, grass={"p": 1.0}, defocus={"p": 1.0}, wear={"p": 1.0},
    small_litter={"p": 1.0},
)


def grey(size: int = 64) -> np.ndarray:
    return np.full((size, size, 3), 128, np.uint8)


def samples_with_and_without(sources, step: dict, seed: int, count: int, **other):
    """(sample with the step on, the same sample without it) for i < count; the rest of ALL_OFF."""
    on = make_params(**{**ALL_OFF, **other, **step})
    off = make_params(**{**ALL_OFF, **other})
    loaded = synth_sources.load_sources(synth_sources.find_sources(*sources, off), off)
    for i in range(count):
        yield (recipe.generate_sample(loaded, seed, "train", i, on),
               recipe.generate_sample(loaded, seed, "train", i, off))


def test_log_uniform_sizes_are_mostly_small():
    rng = np.random.default_rng(0)
    log_draws = np.array([recipe.draw_scale(rng, 0.05, 0.8, "log_uniform") for _ in range(4000)])
    uniform = np.array([recipe.draw_scale(rng, 0.05, 0.8, "uniform") for _ in range(4000)])
    assert log_draws.min() >= 0.05 and log_draws.max() <= 0.8
    # Half the draws lie below the geometric mean (0.2): most objects are small.
    assert abs(np.mean(log_draws < 0.2) - 0.5) < 0.03
    assert np.median(log_draws) < 0.6 * np.median(uniform)


def test_slant_shortens_an_object_vertically_only():
    sizes = {}
    for squash in (1.0, 0.6):
        image, coverage = grey(), np.zeros((64, 64), np.float32)
        h = augment.object_homography(20, 20, (31.5, 31.5), 30.0, squash=squash)
        augment.paste_object(image, coverage, red_square(), h)
        ys, xs = np.nonzero(augment.coverage_to_mask(coverage))
        sizes[squash] = (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    assert sizes[1.0] == (30, 30)
    assert sizes[0.6] == (18, 30)


def test_shadow_darkens_the_ground_and_leaves_the_mask():
    plain, shaded = grey(), grey()
    cov_plain, cov_shaded = np.zeros((64, 64), np.float32), np.zeros((64, 64), np.float32)
    h = augment.object_homography(20, 20, (32.0, 28.0), 20.0)
    augment.paste_object(plain, cov_plain, red_square(), h)
    augment.paste_object(shaded, cov_shaded, red_square(), h, shadow=(0.5, 2.0, 0.0, 4.0))
    assert np.array_equal(cov_plain, cov_shaded)
    outside = cov_plain == 0
    below = shaded[40:44, 24:40, 1]
    assert (shaded[outside] <= plain[outside]).all()
    assert below.mean() < 110  # under the object, offset downwards


def test_harmonize_moves_the_mean_colour_part_way():
    square = red_square()
    target = np.array([128.0, 128.0, 128.0])
    half = augment.harmonize(square, target, 0.5)
    assert np.array_equal(half[:, :, 3], square[:, :, 3])
    mean = half[:, :, :3].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(mean, [64, 64, 191.5], atol=1.0)
    assert augment.harmonize(square, target, 0.0) is square


def edge_step(image: np.ndarray, coverage: np.ndarray) -> float:
    """Mean colour difference between the object's outer ring and the ground just outside it."""
    mask = (coverage > 0.5).astype(np.uint8)
    inner = mask - cv2.erode(mask, np.ones((3, 3), np.uint8))
    outer = cv2.dilate(mask, np.ones((3, 3), np.uint8)) - mask
    return float(np.abs(image[inner > 0].astype(float).mean(0) - image[outer > 0].astype(float).mean(0)).sum())


def test_poisson_like_blend_hides_the_colour_step_at_the_outline():
    h = augment.object_homography(20, 20, (32.0, 32.0), 24.0)
    steps, coverages = {}, {}
    for strength in (0.0, 1.0):
        image, coverage = grey(), np.zeros((64, 64), np.float32)
        augment.paste_object(image, coverage, red_square(), h, poisson=strength)
        steps[strength], coverages[strength] = edge_step(image, coverage), coverage
    assert steps[1.0] < 0.5 * steps[0.0]
    assert np.array_equal(coverages[0.0], coverages[1.0])


@pytest.mark.parametrize("kind", augment.DISTRACTOR_KINDS)
def test_distractors_are_premultiplied_shapes(kind):
    rng = np.random.default_rng(3)
    texture = np.dstack([np.full((50, 50), v, np.uint8) for v in (20, 200, 90)])
    cutout = augment.distractor(kind, 24, rng, texture)
    assert cutout.shape == (24, 24, 4) and cutout.dtype == np.uint8
    alpha = cutout[:, :, 3]
    assert 0.03 < np.mean(alpha > 127) < 0.9  # a shape, neither empty nor the whole square
    assert (cutout[:, :, :3].max(axis=2) <= alpha).all()  # premultiplied
    with pytest.raises(ValueError):
        augment.distractor("bottle", 24, rng)


def test_distractors_change_the_image_and_never_the_mask(sources):  # noqa: F811
    on = make_params(**{**ALL_OFF, "distractors": {"p": 1.0, "count": [3, 5]}})
    off = make_params(**ALL_OFF)
    loaded = synth_sources.load_sources(synth_sources.find_sources(*sources, off), off)
    for i in range(6):
        image_on, mask_on, record = recipe.generate_sample(loaded, 5, "train", i, on)
        image_off, mask_off, _ = recipe.generate_sample(loaded, 5, "train", i, off)
        assert np.array_equal(mask_on, mask_off)
        assert record["distractors"] >= 3
        assert not np.array_equal(image_on, image_off)


def test_leaf_bed_strews_the_ground_and_never_touches_the_mask(sources):  # noqa: F811
    on = make_params(**{**ALL_OFF, "leaf_bed": {"p": 1.0}, "negatives": 0.0})
    off = make_params(**{**ALL_OFF, "negatives": 0.0})
    # Its own defaults, not the distractors': a bed, not a few pieces.
    assert (on.leaf_bed.count, on.leaf_bed.patch_share) == ((20, 80), 0.0)
    loaded = synth_sources.load_sources(synth_sources.find_sources(*sources, off), off)
    for i in range(4):
        image_on, mask_on, record = recipe.generate_sample(loaded, 5, "train", i, on)
        image_off, mask_off, _ = recipe.generate_sample(loaded, 5, "train", i, off)
        assert np.array_equal(mask_on, mask_off) and np.count_nonzero(mask_on)
        assert 20 <= record["leaf_bed"] <= 80
        # Strewn everywhere: the image changes in each quarter, outside the objects too.
        changed = (np.abs(image_on.astype(int) - image_off).max(axis=2) > 20) & (mask_off == 0)
        half = changed.shape[0] // 2
        assert all(q.any() for q in (changed[:half, :half], changed[:half, half:], changed[half:, :half],
                                     changed[half:, half:]))
        again, _, _ = recipe.generate_sample(loaded, 5, "train", i, on)
        assert np.array_equal(again, image_on)


def test_grass_only_takes_trash_away(sources):  # noqa: F811
    removed = 0
    for (_, mask_on, _), (_, mask_off, _) in samples_with_and_without(
            sources, {"grass": {"p": 1.0, "count": [6, 8], "width": [2.0, 2.0]}}, 2, 8, negatives=0.0):
        assert not np.any((mask_on > 0) & (mask_off == 0))
        removed += np.count_nonzero(mask_off) - np.count_nonzero(mask_on)
    assert removed > 0


def test_defocus_blurs_the_image_not_the_mask(sources):  # noqa: F811
    on = make_params(**{**ALL_OFF, "defocus": {"p": 1.0, "sigma": [1.0, 1.5]}})
    off = make_params(**ALL_OFF)
    loaded = synth_sources.load_sources(synth_sources.find_sources(*sources, off), off)
    image_on, mask_on, _ = recipe.generate_sample(loaded, 4, "train", 0, on)
    image_off, mask_off, _ = recipe.generate_sample(loaded, 4, "train", 0, off)
    assert np.array_equal(mask_on, mask_off)
    sharpness = lambda im: cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert sharpness(image_on) < 0.5 * sharpness(image_off)


def test_smooth_field_is_bounded_and_smooth():
    field = wear.smooth_field((40, 60), np.random.default_rng(0), 10.0)
    assert field.shape == (40, 60) and field.dtype == np.float32
    assert field.min() >= -1 and field.max() <= 1 and field.std() > 0.2
    # Smooth: neighbours differ far less than the field spans.
    assert np.abs(np.diff(field, axis=1)).max() < 0.5


def test_crumple_dents_the_outline_and_creases_the_surface():
    square = np.zeros((40, 40, 4), np.uint8)
    square[4:36, 4:36] = (0, 0, 200, 255)
    square = augment.premultiply(square)
    crushed = wear.crumple(square, np.random.default_rng(1), 1.0)
    assert crushed.shape == square.shape and crushed.dtype == np.uint8
    assert np.all(crushed[:, :, :3] <= crushed[:, :, 3:])  # still premultiplied
    outline_moved = np.count_nonzero((crushed[:, :, 3] > 127) != (square[:, :, 3] > 127))
    assert outline_moved > 20
    inside = crushed[10:30, 10:30, 2].astype(int)
    assert inside.max() - inside.min() > 30  # creases: light and dark, where the paint was flat
    assert wear.crumple(square, np.random.default_rng(1), 0.0) is square


def test_soil_darkens_patches_and_keeps_the_alpha():
    square = augment.premultiply(np.full((40, 40, 4), (230, 230, 230, 255), np.uint8))
    dirty = wear.soil(square, np.random.default_rng(2), 0.6)
    assert np.array_equal(dirty[:, :, 3], square[:, :, 3])
    grey = dirty[:, :, :3].mean(axis=2)
    assert grey.min() < 170 and grey.max() > 225  # dirty patches and clean ones


def test_wear_changes_objects_only_and_the_mask_follows_them(sources):  # noqa: F811
    masks_differ = 0
    for (image_on, mask_on, record), (image_off, mask_off, _) in samples_with_and_without(
            sources, {"wear": {"p": 1.0, "crumple": [1.0, 1.0], "soil": [0.5, 0.5]}}, 3, 4, negatives=0.0):
        assert all(o["crumple"] == 1.0 for o in record["objects"])
        changed = np.abs(image_on.astype(int) - image_off).max(axis=2) > 0
        near_objects = cv2.dilate((mask_on | mask_off), np.ones((5, 5), np.uint8)) > 0
        assert changed.any() and not np.any(changed & ~near_objects)
        masks_differ += not np.array_equal(mask_on, mask_off)
    assert masks_differ >= 3


@pytest.mark.parametrize("kind", litter.LITTER_KINDS)
def test_small_litter_kinds_are_premultiplied_cutouts(kind):
    piece = litter.small_litter(kind, 24, np.random.default_rng(3))
    assert piece.shape == (24, 24, 4) and piece.dtype == np.uint8
    assert np.all(piece[:, :, :3] <= piece[:, :, 3:])
    assert 0.1 < np.count_nonzero(piece[:, :, 3] > 127) / 24 ** 2 < 0.9
    if kind == "butt":  # a slim cylinder lying along x
        ys, xs = np.nonzero(piece[:, :, 3] > 127)
        assert (xs.max() - xs.min() + 1) > 2.5 * (ys.max() - ys.min() + 1)
    with pytest.raises(ValueError, match="small litter kind"):
        litter.small_litter("tyre", 24, np.random.default_rng(3))


def test_small_litter_adds_small_labelled_pieces_and_takes_nothing_away(sources):  # noqa: F811
    step = {"small_litter": {"p": 1.0, "count": [2, 3], "scale": [0.08, 0.12]}}
    for (image_on, mask_on, record), (image_off, mask_off, _) in samples_with_and_without(
            sources, step, 6, 4, negatives=0.0):
        assert 2 <= len(record["small_litter"]) <= 3 and set(record["small_litter"]) <= set(litter.LITTER_KINDS)
        assert not np.any((mask_off > 0) & (mask_on == 0))
        added = (mask_on > 0) & (mask_off == 0)
        assert 0 < np.count_nonzero(added) < 0.1 * added.size
        # Every mask pixel it adds is painted: the label is the piece, nothing else.
        assert np.all(np.abs(image_on.astype(int) - image_off)[added].max(axis=1) > 0)
    (_, mask, record), _ = next(samples_with_and_without(sources, step, 6, 1, negatives=1.0))
    assert not mask.any() and "small_litter" not in record


def test_new_steps_are_deterministic_and_leave_the_first_recipe_alone(sources):  # noqa: F811
    everything = make_params(**NEW_STEPS_ON)
    first_recipe = make_params()
    loaded = synth_sources.load_sources(synth_sources.find_sources(*sources, first_recipe), first_recipe)
    for i in range(4):
        a = recipe.generate_sample(loaded, 9, "val", i, everything)
        b = recipe.generate_sample(loaded, 9, "val", i, everything)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
        plain = recipe.generate_sample(loaded, 9, "val", i, first_recipe)
        # Same objects, same places: the new steps draw from their own generators.
        assert [o["cutout"] for o in a[2]["objects"]] == [o["cutout"] for o in plain[2]["objects"]]
        assert [o["x"] for o in a[2]["objects"]] == [o["x"] for o in plain[2]["objects"]]
