"""The composite recipe: trash cut-outs pasted on clean landscapes, with exact masks.

Flow (stages/synthesize.py): deeptrash/synth/sources.py finds, dedupes, splits
and decodes the sources; :func:`generate_sample` here builds sample i of a split
from (seed, split, i) alone, with the image transforms of deeptrash/synth/augment.py
(camera.py for the whole-image steps, wear.py for crushed and dirty
cut-outs, litter.py for small litter drawn from scratch);
deeptrash/synth/pool.py runs it over all indices in worker processes and writes
the files.

Each step of the recipe draws from its own generator
`default_rng([seed, split_id, i, step_id])`, so turning one step off changes
that step's effect only and leaves the rest of the composite as it was.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from deeptrash.errors import UserError
from deeptrash.synth_params import DistractorStep, SmallLitterStep, SynthParams
from deeptrash.synth import augment, camera, litter, wear
from deeptrash.synth.sources import SPLIT_IDS, Cutout, Sources

# One generator per step (see module docstring); the numbers are part of the
# recipe's identity: changing them changes every composite.
STEP_IDS = {name: k for k, name in enumerate(
    ["background", "objects", "occluders", "overlay", "lens", "motion_blur", "lighting",
     "object_extras", "distractors", "defocus", "leaf_bed", "wear", "small_litter"], start=1)}


# --- one composite ---------------------------------------------------------------


def _step_rng(seed: int, split: str, i: int, step: str) -> np.random.Generator:
    return np.random.default_rng([seed, SPLIT_IDS[split], i, STEP_IDS[step]])


def _random_crop(photo: np.ndarray, rng: np.random.Generator, size: int, zoom: tuple[float, float]) -> tuple[np.ndarray, dict]:
    h, w = photo.shape[:2]
    z = float(rng.uniform(*zoom))
    side = max(1, min(h, w, int(round(min(h, w) / z))))
    x = int(rng.integers(0, w - side + 1))
    y = int(rng.integers(0, h - side + 1))
    flip = bool(rng.random() < 0.5)
    return augment.crop_square(photo, side, x, y, size, flip), {"zoom": round(z, 3), "x": x, "y": y, "flip": flip}


def _draw(rng: np.random.Generator, step) -> bool:
    return step.p > 0 and bool(rng.random() < step.p)


def draw_scale(rng: np.random.Generator, low: float, high: float, distribution: str) -> float:
    """One draw of an object's relative size from [low, high], uniform or log-uniform."""
    if distribution == "log_uniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def _local_mean(image: np.ndarray, cx: float, cy: float, radius: float) -> np.ndarray:
    """Mean BGR colour (float32 (3,)) of the square of `radius` around (cx, cy), clipped to the frame."""
    h, w = image.shape[:2]
    r = max(2, int(radius))
    x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
    y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
    if x1 <= x0 or y1 <= y0:
        return image.reshape(-1, 3).mean(axis=0).astype(np.float32)
    return image[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0).astype(np.float32)


# Per-object steps when none is drawn (or no generator is given).
NO_EXTRAS = {"squash": 1.0, "shadow": None, "harmonize": 0.0, "poisson": 0.0, "grass": 0}


def _object_extras(rng: np.random.Generator | None, params: SynthParams, cy: float, long_side: float, record: dict) -> dict:
    """Draw the per-object steps that came after the first recipe (own generator, see STEP_IDS):
    ground-plane slant, contact shadow, colour harmonisation, Poisson-like blend, grass blades."""
    extras = dict(NO_EXTRAS)
    if rng is None:
        return extras
    if _draw(rng, params.slant):
        squash = float(rng.uniform(*params.slant.squash))
        if params.objects.perspective_scaling:
            squash *= 0.75 + 0.25 * cy / params.size  # farther up the ground, seen at a lower angle
        extras["squash"] = squash
        record["squash"] = round(squash, 3)
    if _draw(rng, params.shadow):
        sh = params.shadow
        strength = float(rng.uniform(*sh.strength))
        sigma = float(rng.uniform(*sh.blur)) * long_side
        offset = float(rng.uniform(*sh.offset)) * long_side
        direction = float(rng.uniform(0.25, 0.75) * math.pi)  # mostly downwards on screen
        extras["shadow"] = (strength, sigma, offset * math.cos(direction), offset * math.sin(direction))
        record["shadow"] = round(strength, 3)
    if _draw(rng, params.harmonize):
        extras["harmonize"] = float(rng.uniform(*params.harmonize.strength))
        record["harmonize"] = round(extras["harmonize"], 3)
    if _draw(rng, params.poisson):
        extras["poisson"] = float(rng.uniform(*params.poisson.strength))
        record["poisson"] = round(extras["poisson"], 3)
    if _draw(rng, params.grass):
        extras["grass"] = int(rng.integers(params.grass.count[0], params.grass.count[1] + 1))
        extras["grass_width"] = float(rng.uniform(*params.grass.width))
        record["grass"] = extras["grass"]
    return extras


def _place_objects(image: np.ndarray, coverage: np.ndarray, cutouts: list[Cutout], rng: np.random.Generator,
                   params: SynthParams, count: int, extras_rng: np.random.Generator | None = None,
                   wear_rng: np.random.Generator | None = None) -> list[dict]:
    """Paste `count` random cut-outs; returns one record per object (drawn parameters).

    `extras_rng` and `wear_rng` draw the later steps (slant, shadow, ...; wear)
    apart from `rng`, so turning them on or off moves no object."""
    size = params.size
    o = params.objects
    plans = []
    for _ in range(count):
        cutout = cutouts[int(rng.integers(len(cutouts)))]
        cy = float(rng.uniform(0, 1))
        # Perspective scaling: objects near the top of the frame are further away.
        depth = 0.6 + 0.6 * cy if o.perspective_scaling else 1.0
        long_side = draw_scale(rng, *o.scale, o.distribution) * depth * size
        margin = long_side * (0.5 - o.outside)
        lo, hi = margin, size - margin
        cx = float(rng.uniform(min(lo, hi), max(lo, hi)))
        cy_px = min(lo, hi) + cy * abs(hi - lo)
        plans.append((cy_px, cutout, cx, long_side))
    records = []
    for cy_px, cutout, cx, long_side in sorted(plans, key=lambda plan: plan[0]):  # nearer ones on top
        record = {"cutout": cutout.name, "x": round(cx, 2), "y": round(cy_px, 2), "long_side": round(long_side, 2)}
        angle = float(rng.uniform(-params.rotate.degrees, params.rotate.degrees)) if _draw(rng, params.rotate) else 0.0
        flip = _draw(rng, params.flip)
        shift = None
        if _draw(rng, params.perspective):
            strength = float(rng.uniform(*params.perspective.strength))
            shift = rng.uniform(-strength, strength, (4, 2))
            record["perspective"] = round(strength, 3)
        level = augment.resized_cutout(cutout.levels, long_side)
        gain0 = gain1 = np.ones(3, np.float32)
        matrix, grad_angle = None, 0.0
        cj = params.color_jitter
        if _draw(rng, cj):
            brightness = float(rng.uniform(*cj.brightness))
            saturation = float(rng.uniform(*cj.saturation))
            hue = float(rng.uniform(-cj.hue, cj.hue))
            matrix = augment.color_matrix(hue, saturation, brightness)
            record.update(brightness=round(brightness, 3), saturation=round(saturation, 3), hue=round(hue, 2))
        if _draw(rng, params.gradient):
            strength = float(rng.uniform(*params.gradient.strength))
            gain0 = (1 + rng.uniform(-strength, strength, 3) * 0.5).astype(np.float32)
            gain1 = (1 - rng.uniform(0, strength) + rng.uniform(-strength, strength, 3) * 0.25).astype(np.float32)
            grad_angle = float(rng.uniform(0, 2 * math.pi))
            record["gradient"] = round(strength, 3)
        shaded = augment.shade_object(level, matrix, gain0, gain1, grad_angle)
        if wear_rng is not None and _draw(wear_rng, params.wear):
            crumple = float(wear_rng.uniform(*params.wear.crumple))
            dirt = float(wear_rng.uniform(*params.wear.soil))
            shaded = wear.soil(wear.crumple(shaded, wear_rng, crumple), wear_rng, dirt)
            record.update(crumple=round(crumple, 3), soil=round(dirt, 3))
        sigma = float(rng.uniform(*params.feather.sigma)) if _draw(rng, params.feather) else 0.0
        extras = _object_extras(extras_rng, params, cy_px, long_side, record)
        if extras["harmonize"]:
            target = _local_mean(image, cx, cy_px, long_side)
            shaded = augment.harmonize(shaded, target, extras["harmonize"])
        homography = augment.object_homography(level.shape[1], level.shape[0], (cx, cy_px), long_side, angle, flip,
                                               shift, extras["squash"])
        box = augment.paste_object(image, coverage, shaded, homography, sigma, extras["shadow"], extras["poisson"])
        if box is not None and extras["grass"]:
            augment.grass_blades(image, coverage, box, extras["grass"], extras_rng, extras["grass_width"])
        record.update(angle=round(angle, 1), flip=flip, feather=round(sigma, 2), visible=box is not None)
        records.append(record)
    return records


def _add_distractors(image: np.ndarray, landscapes, rng: np.random.Generator, step: DistractorStep, size: int) -> int:
    """Leaves, sticks, stones and landscape blobs pasted as background (never in the mask) on the
    uint8 (size, size, 3) image, as `step` says (synth.distractors, or synth.leaf_bed); returns how many."""
    count = int(rng.integers(step.count[0], step.count[1] + 1))
    for _ in range(count):
        long_side = draw_scale(rng, *step.scale, "log_uniform") * size
        if rng.random() < step.patch_share:
            kind = "patch"
        else:
            kind = ("leaf", "stick", "stone")[int(rng.integers(3))]
        texture = landscapes[int(rng.integers(len(landscapes)))][1] if kind == "patch" else None
        premult = augment.distractor(kind, max(4, int(round(long_side))), rng, texture)
        cx, cy = float(rng.uniform(0, size)), float(rng.uniform(0, size))
        squash = float(rng.uniform(0.5, 1.0))
        homography = augment.object_homography(premult.shape[1], premult.shape[0], (cx, cy), long_side,
                                               float(rng.uniform(-180, 180)), bool(rng.random() < 0.5), None, squash)
        shadow = None
        if rng.random() < 0.5:
            shadow = (float(rng.uniform(0.15, 0.5)), 0.08 * long_side, 0.0, 0.04 * long_side)
        augment.paste_object(image, None, premult, homography, float(rng.uniform(0.0, 0.8)), shadow)
    return count


def _add_small_litter(image: np.ndarray, coverage: np.ndarray, rng: np.random.Generator, step: SmallLitterStep,
                      size: int) -> list[str]:
    """Butts, caps and scraps (deeptrash/synth/litter.py) pasted as trash, into the mask, anywhere
    on the uint8 (size, size, 3) image; smaller farther up, as the objects. Returns their kinds."""
    kinds = []
    for _ in range(int(rng.integers(step.count[0], step.count[1] + 1))):
        kind = litter.draw_kind(rng)
        cx, cy = float(rng.uniform(0, size)), float(rng.uniform(0, size))
        long_side = draw_scale(rng, *step.scale, "log_uniform") * (0.6 + 0.6 * cy / size) * size
        premult = litter.small_litter(kind, max(4, int(round(long_side))), rng)
        homography = augment.object_homography(premult.shape[1], premult.shape[0], (cx, cy), long_side,
                                               float(rng.uniform(-180, 180)), bool(rng.random() < 0.5), None,
                                               float(rng.uniform(0.6, 1.0)))
        shadow = (float(rng.uniform(0.15, 0.4)), 0.1 * long_side, 0.0, 0.05 * long_side) if rng.random() < 0.5 else None
        augment.paste_object(image, coverage, premult, homography, float(rng.uniform(0.0, 0.6)), shadow)
        kinds.append(kind)
    return kinds


def _add_occluders(image: np.ndarray, coverage: np.ndarray, objects: list[dict], landscapes, rng, params) -> int:
    """Blobs and background patches drawn over the pasted objects (cut out of the mask)."""
    step = params.occluders
    size = params.size
    count = int(rng.integers(step.count[0], step.count[1] + 1))
    for _ in range(count):
        target = objects[int(rng.integers(len(objects)))]
        diameter = max(3, int(round(rng.uniform(*step.size) * size)))
        jitter = target["long_side"] * 0.3
        x = int(round(target["x"] + rng.normal(0, jitter) - diameter / 2))
        y = int(round(target["y"] + rng.normal(0, jitter) - diameter / 2))
        alpha = augment.blob_alpha(diameter, "ellipse" if rng.random() < 0.5 else "polygon", rng)
        if rng.random() < step.patch_share:
            photo = landscapes[int(rng.integers(len(landscapes)))][1]
            h, w = photo.shape[:2]
            d = min(diameter, h, w)
            py, px = int(rng.integers(0, h - d + 1)), int(rng.integers(0, w - d + 1))
            fill = cv2.resize(photo[py:py + d, px:px + d], (diameter, diameter), interpolation=cv2.INTER_AREA)
        else:
            colour = rng.integers(0, 256, 3).astype(np.uint8)
            fill = np.broadcast_to(colour, (diameter, diameter, 3))
        augment.paste_occluder(image, coverage, alpha, fill, (x, y))
    return count


def generate_sample(sources: Sources, seed: int, split: str, i: int, params: SynthParams
                    ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Composite number `i` of `split`, from (seed, split, i) and the sources alone.

    Returns (image uint8 (S, S, 3) BGR, mask uint8 (S, S) 0/255, record): the
    record names the background(s) and cut-outs used and every drawn parameter
    (its `jpeg_quality` is the quality to save the image with).
    """
    size = params.size
    landscapes = sources.landscapes[split]
    cutouts = sources.cutouts[split]
    if not landscapes or not cutouts:
        raise UserError(f"no {'landscapes' if not landscapes else 'cut-outs'} for the {split} split")
    rng = _step_rng(seed, split, i, "background")
    name, photo = landscapes[int(rng.integers(len(landscapes)))]
    image, drawn = _random_crop(photo, rng, size, params.background.zoom)
    record: dict = {"background": name, "background_crop": drawn}
    coverage = np.zeros((size, size), np.float32)

    rng = _step_rng(seed, split, i, "leaf_bed")
    if _draw(rng, params.leaf_bed):
        record["leaf_bed"] = _add_distractors(image, landscapes, rng, params.leaf_bed, size)

    rng = _step_rng(seed, split, i, "distractors")
    if _draw(rng, params.distractors):
        record["distractors"] = _add_distractors(image, landscapes, rng, params.distractors, size)

    rng = _step_rng(seed, split, i, "objects")
    negative = bool(rng.random() < params.negatives)
    count = 0 if negative else int(rng.integers(1, params.max_objects + 1))
    objects = _place_objects(image, coverage, cutouts, rng, params, count,
                             _step_rng(seed, split, i, "object_extras"), _step_rng(seed, split, i, "wear"))
    record.update(negative=negative, objects=objects)

    rng = _step_rng(seed, split, i, "small_litter")
    if not negative and _draw(rng, params.small_litter):
        record["small_litter"] = _add_small_litter(image, coverage, rng, params.small_litter, size)

    rng = _step_rng(seed, split, i, "occluders")
    if objects and _draw(rng, params.occluders):
        record["occluders"] = _add_occluders(image, coverage, objects, landscapes, rng, params)

    rng = _step_rng(seed, split, i, "overlay")
    if _draw(rng, params.overlay):
        other_name, other_photo = landscapes[int(rng.integers(len(landscapes)))]
        other, _ = _random_crop(other_photo, rng, size, params.background.zoom)
        alpha = float(rng.uniform(*params.overlay.alpha))
        image = cv2.addWeighted(image, 1 - alpha, other, alpha, 0)
        record.update(overlay=other_name, overlay_alpha=round(alpha, 3))

    rng = _step_rng(seed, split, i, "lens")
    if _draw(rng, params.lens):
        # Quantised so the remap maps can be cached; the quantised value is what is applied.
        k1 = round(float(rng.normal(0, params.lens.k1_sigma)) / 0.005) * 0.005
        if k1:
            image, coverage = camera.distort_lens(image, coverage, k1)
        record["k1"] = round(k1, 3)

    rng = _step_rng(seed, split, i, "motion_blur")
    if _draw(rng, params.motion_blur):
        lo, hi = params.motion_blur.kernel
        length = int(rng.integers(lo, hi + 1))
        angle = int(rng.integers(0, 180))
        if length > 1:
            image = camera.motion_blur(image, length, angle)
        record.update(blur_kernel=length, blur_angle=angle)

    rng = _step_rng(seed, split, i, "defocus")
    if _draw(rng, params.defocus):
        sigma = float(rng.uniform(*params.defocus.sigma))
        image = camera.defocus(image, sigma)
        record["defocus"] = round(sigma, 2)

    rng = _step_rng(seed, split, i, "lighting")
    quality = params.jpeg_quality
    light = params.lighting
    if _draw(rng, light):
        brightness = float(rng.uniform(*light.brightness))
        contrast = float(rng.uniform(*light.contrast))
        gamma = float(rng.uniform(*light.gamma))
        temperature = float(rng.uniform(*light.temperature))
        noise = float(rng.uniform(*light.noise))
        quality = int(rng.integers(light.jpeg_quality[0], light.jpeg_quality[1] + 1))
        image = cv2.LUT(image, camera.lighting_lut(brightness, contrast, gamma, temperature))
        image = camera.add_noise(image, noise, sources.noise, rng)
        record.update(brightness=round(brightness, 2), contrast=round(contrast, 3), gamma=round(gamma, 3),
                      temperature=round(temperature, 3), noise=round(noise, 2))
    record["jpeg_quality"] = quality

    mask = augment.coverage_to_mask(coverage)
    record["mask_fraction"] = float(np.count_nonzero(mask)) / mask.size
    return image, mask, record


