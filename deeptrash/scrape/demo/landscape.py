"""Demo landscape photos: a sky, a horizon (mountains, hills, treeline, sea, buildings)
and a ground texture (grass, sand, rock, gravel, asphalt, pavement, forest floor, water)
chosen from the query words; a `dirty_share` of them have litter lying on the ground
(the trash renderer's objects at their natural size), marked only in the truth mask.
"""
from __future__ import annotations

import cv2
import numpy as np

from deeptrash.scrape.demo.draw import (
    add_sensor_noise, bgr, camera_colour, jitter_colour, noise_1d, normalise, photo_rng, photo_shape,
    query_words, shade, smoothstep, stable_int, to_uint8, value_noise,
)
from deeptrash.scrape.demo.trash import OBJECT_RENDERERS, rotate, TRASH_OBJECTS

# --- landscapes --------------------------------------------------------------

GROUND_WORDS = {
    "forest": "forest_floor", "wood": "forest_floor", "woodland": "forest_floor", "trail": "forest_floor",
    "path": "forest_floor", "jungle": "forest_floor", "leaves": "forest_floor", "leaf": "forest_floor",
    "beach": "sand", "sand": "sand", "sandy": "sand", "dune": "sand", "desert": "sand", "coast": "sand",
    "park": "grass", "lawn": "grass", "grass": "grass", "meadow": "grass", "garden": "grass", "field": "grass",
    "pasture": "grass", "prairie": "grass", "hill": "grass", "valley": "grass",
    "sidewalk": "pavement", "pavement": "pavement", "city": "pavement", "street": "pavement",
    "urban": "pavement", "plaza": "pavement", "square": "pavement", "cobblestone": "pavement",
    "asphalt": "asphalt", "road": "asphalt", "parking": "asphalt", "highway": "asphalt",
    "rock": "rock", "rocky": "rock", "stone": "rock", "cliff": "rock", "mountain": "rock", "boulder": "rock",
    "gravel": "gravel", "pebble": "gravel", "shingle": "gravel",
    "river": "water", "lake": "water", "pond": "water", "stream": "water", "water": "water",
    "dirt": "dirt", "mud": "dirt", "soil": "dirt",
}
HORIZON_WORDS = {
    "forest": "treeline", "wood": "treeline", "woodland": "treeline", "trail": "treeline", "park": "treeline",
    "jungle": "treeline", "river": "treeline", "lake": "hills", "garden": "treeline",
    "beach": "sea", "sea": "sea", "ocean": "sea", "coast": "sea", "shore": "sea", "bay": "sea",
    "city": "buildings", "sidewalk": "buildings", "street": "buildings", "urban": "buildings",
    "plaza": "buildings", "road": "buildings", "parking": "buildings", "town": "buildings",
    "mountain": "mountains", "alpine": "mountains", "alp": "mountains", "peak": "mountains",
    "meadow": "hills", "field": "hills", "lawn": "treeline", "hill": "hills", "valley": "mountains",
    "prairie": "hills", "pasture": "hills", "desert": "hills", "dune": "hills",
}
GROUNDS = ("grass", "sand", "rock", "gravel", "asphalt", "pavement", "forest_floor", "water", "dirt")
HORIZONS = ("mountains", "hills", "treeline", "sea", "buildings")
NEARBY_HORIZONS = {  # plausible alternatives for variety between photos of one query
    "mountains": ("hills", "treeline"), "hills": ("treeline", "mountains"), "treeline": ("hills", "mountains"),
    "sea": ("hills", "treeline"), "buildings": ("treeline", "hills"),
}


def landscape_scene(query: str) -> tuple[list[str], str]:
    """(ground types in query order, horizon type) for a landscape query."""
    words = query_words(query)
    grounds = list(dict.fromkeys(GROUND_WORDS[w] for w in words if w in GROUND_WORDS))
    horizons = [HORIZON_WORDS[w] for w in words if w in HORIZON_WORDS]
    fallback = stable_int(query.strip().lower())
    if not grounds:
        grounds = [GROUNDS[fallback % len(GROUNDS)]]
    horizon = horizons[0] if horizons else HORIZONS[(fallback // 7) % len(HORIZONS)]
    return grounds, horizon


SKIES = {  # (zenith, horizon) colours, sun tint
    "day": (bgr(70, 130, 200), bgr(190, 215, 235), bgr(255, 250, 240)),
    "clear": (bgr(40, 110, 210), bgr(170, 205, 235), bgr(255, 252, 245)),
    "golden": (bgr(90, 120, 170), bgr(250, 190, 120), bgr(255, 215, 170)),
    "overcast": (bgr(170, 175, 180), bgr(210, 212, 212), bgr(225, 228, 232)),
    "dusk": (bgr(40, 50, 100), bgr(230, 130, 110), bgr(200, 170, 180)),
}


def _sky(rng, h, w, zenith, horizon_colour, cloudiness) -> np.ndarray:
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None] ** 0.8
    sky = zenith + (horizon_colour - zenith) * t
    sky = np.broadcast_to(sky, (h, w, 3)).copy()
    if cloudiness > 0:
        clouds = value_noise(rng, h, w, h / 2.5, octaves=5, aspect=2.5)
        cover = smoothstep(1.2 - 2.2 * cloudiness, 1.8 - 2.2 * cloudiness, clouds)
        cloud_colour = horizon_colour * 0.3 + np.float32(0.72) + 0.08 * clouds[:, :, None]
        sky = sky * (1 - cover[:, :, None]) + np.clip(cloud_colour, 0, 1) * cover[:, :, None]
    return sky


def _ridge(rng, w, base, amplitude, cell, sharp=False) -> np.ndarray:
    """Skyline height per column (px, float32 (W,)): base minus noise * amplitude."""
    n = noise_1d(rng, w, cell, octaves=4)
    if sharp:  # peaks: folded noise looks like ridges and summits
        n = 1.5 - np.abs(n) * 1.5 + 0.3 * noise_1d(rng, w, cell / 4, octaves=2)
    return base - amplitude * (n - n.min()) / (np.ptp(n) + 1e-6)


def _layer(sky, top_per_column, colour) -> np.ndarray:
    """Paint `colour` (H, W, 3 or 3,) below a per-column skyline on `sky` (in place)."""
    h = sky.shape[0]
    rows = np.arange(h, dtype=np.float32)[:, None]
    cover = np.clip(rows - top_per_column[None, :] + 0.5, 0, 1)[:, :, None]
    sky *= 1 - cover
    sky += cover * colour
    return sky


def _horizon(rng, image, horizon_y, kind, haze_colour, tint) -> np.ndarray:
    """Draw the far scenery above `horizon_y` (rows) into the sky image in place."""
    h, w = image.shape[:2]
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    if kind == "mountains":
        for depth, (colour, amp) in enumerate([(bgr(120, 130, 150), 0.45), (bgr(80, 95, 95), 0.3)]):
            top = _ridge(rng, w, horizon_y + 2, horizon_y * amp * rng.uniform(0.7, 1.1), w / rng.uniform(2, 4), sharp=True)
            shade_ = colour * tint * (0.9 + 0.1 * value_noise(rng, h, w, h / 8, octaves=3)[:, :, None])
            haze = 0.55 - 0.3 * depth
            shade_ = shade_ * (1 - haze) + haze_colour * haze
            if depth == 0 and rng.random() < 0.6:  # snow on the far peaks
                snow = (rows[:, :, 0] < (top.min() + (horizon_y - top.min()) * 0.25)) & \
                       (value_noise(rng, h, w, h / 20, octaves=2) > -0.3)
                shade_ = np.where(snow[:, :, None], np.float32(0.92) * tint, shade_)
            _layer(image, top, shade_)
    elif kind == "hills":
        for depth, colour in enumerate([bgr(110, 140, 110), bgr(80, 125, 60)]):
            top = _ridge(rng, w, horizon_y + 1, horizon_y * rng.uniform(0.08, 0.2), w / rng.uniform(0.7, 1.5))
            haze = 0.45 - 0.3 * depth
            _layer(image, top, (colour * tint) * (1 - haze) + haze_colour * haze)
    elif kind == "treeline":
        top = _ridge(rng, w, horizon_y + 1, horizon_y * rng.uniform(0.15, 0.35), w / 3)
        top = top - np.abs(noise_1d(rng, w, max(3.0, w / 60), octaves=2)) * horizon_y * 0.05
        foliage = value_noise(rng, h, w, max(2.0, w / 80), octaves=3)
        colour = jitter_colour(rng, bgr(40, 70, 35)) * tint * (0.85 + 0.15 * foliage[:, :, None])
        _layer(image, top, colour * 0.85 + haze_colour * 0.15)
    elif kind == "buildings":
        xs = np.arange(w)
        edges = np.cumsum(rng.uniform(0.05, 0.14, 40) * w).astype(int) - int(rng.uniform(0, 0.1) * w)
        ids = np.searchsorted(edges, xs, side="right")
        heights = rng.uniform(0.2, 0.85, 41) * horizon_y
        tops = horizon_y + 1 - heights[ids]
        greys = np.array([jitter_colour(rng, c) for c in
                          [bgr(160, 160, 165), bgr(190, 180, 165), bgr(130, 135, 140), bgr(200, 195, 190)] * 11])
        colour = greys[ids % len(greys)][None, :, :] * tint
        left = np.concatenate([[0], edges])[ids]
        period_x, period_y = max(3, int(w / 40)), max(4, int(h / 25))
        windows = ((xs - left) % period_x < period_x * 0.55)[None, :] & \
                  ((np.arange(h)[:, None] - tops[None, :].astype(int)) % period_y > period_y * 0.4) & \
                  ((xs - left) > period_x * 0.4)[None, :]
        colour = np.where(windows[:, :, None], colour * 0.55, colour)
        _layer(image, tops.astype(np.float32), colour * 0.85 + haze_colour * 0.15)
    # "sea" draws nothing above the horizon: the water is part of the ground below.
    return image


def _cells(rng, h, w, cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cellular (Voronoi) noise around random points about `cell` px apart.

    Returns the distance to the nearest point in cell units (float32 (H, W)),
    the distance to the nearest cell border in px (float32 (H, W)) and each
    pixel's cell id (int32 (H, W), 1..n). OpenCV's distance transforms do the work.
    """
    n = max(1, int(h * w / cell ** 2))
    seeds = np.ones((h, w), np.uint8)
    seeds[rng.integers(0, h, n), rng.integers(0, w, n)] = 0
    dist, ids = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    border = np.zeros((h, w), bool)
    border[1:] |= ids[1:] != ids[:-1]
    border[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    to_border = cv2.distanceTransform((~border).astype(np.uint8), cv2.DIST_L2, 3)
    return dist / np.float32(cell), to_border, ids


def _ground_texture(rng, kind, h, w, sky_colour) -> np.ndarray:
    """A flat (top-down) ground texture, float32 (H, W, 3) 0..1."""
    fine = rng.standard_normal((h, w), dtype=np.float32)  # per-pixel grain
    low = value_noise(rng, h, w, h / 3, octaves=3)
    if kind == "grass":
        blades = value_noise(rng, h, w, 5.0, octaves=2, aspect=0.25)
        dark = jitter_colour(rng, bgr(40, 80, 25), 0.15)
        light = jitter_colour(rng, bgr(120, 160, 60), 0.15)
        mix = np.clip(0.5 + 0.25 * blades + 0.15 * low + 0.1 * fine, 0, 1)[:, :, None]
        tex = dark + (light - dark) * mix
        dry = smoothstep(0.8, 1.6, value_noise(rng, h, w, h / 4, octaves=3))[:, :, None] * rng.uniform(0, 0.6)
        return tex * (1 - dry) + bgr(160, 150, 90) * (0.7 + 0.3 * mix) * dry
    if kind == "sand":
        base = jitter_colour(rng, bgr(215, 190, 150), 0.08)
        ripple = np.sin(np.arange(h, dtype=np.float32)[:, None] * rng.uniform(0.15, 0.4) + low * 3)
        return base * (0.93 + 0.03 * ripple + 0.03 * low + 0.025 * fine)[:, :, None]
    if kind == "water":
        streaks = value_noise(rng, h, w, 1.5, octaves=3, aspect=12.0)
        water = jitter_colour(rng, bgr(40, 85, 110), 0.15)
        return water * 0.65 + sky_colour * 0.3 + (0.03 * streaks + 0.02 * low)[:, :, None]
    if kind in ("rock", "gravel", "pavement", "forest_floor"):
        cell = {"rock": h / 6, "gravel": 5.0, "pavement": 18.0, "forest_floor": 3.0}[kind]
        if kind == "pavement" and rng.random() < 0.5:  # square slabs with straight joints
            ys, xs = np.mgrid[0:h, 0:w]
            slab = int(cell * rng.uniform(1.2, 2.0))
            to_border = np.minimum(np.minimum(ys % slab, xs % slab), np.minimum(slab - ys % slab, slab - xs % slab))
            best = np.zeros((h, w), np.float32)
            ids = (ys // slab) * 1000 + xs // slab
        else:
            best, to_border, ids = _cells(rng, h, w, cell)
        edge = smoothstep(0.0, max(1.0, 0.12 * cell), to_border.astype(np.float32))
        palette = {
            "rock": [bgr(130, 125, 118), bgr(105, 100, 95), bgr(150, 140, 125)],
            "gravel": [bgr(150, 145, 135), bgr(110, 105, 100), bgr(175, 165, 150), bgr(125, 115, 100)],
            "pavement": [bgr(170, 168, 162), bgr(150, 148, 145), bgr(185, 180, 172)],
            "forest_floor": [bgr(110, 80, 45), bgr(140, 100, 50), bgr(90, 60, 35), bgr(120, 110, 60), bgr(75, 55, 35)],
        }[kind]
        spread_ = {"pavement": 0.04, "rock": 0.08}.get(kind, 0.12)
        table = np.array(palette, np.float32)[rng.integers(0, len(palette), 4096)]
        table = np.clip(table * rng.uniform(1 - spread_, 1 + spread_, (4096, 1)) + rng.normal(0, spread_ / 10, (4096, 3)), 0, 1)
        cells = table[ids % 4096]
        bumps = 1 - 0.35 * best if kind in ("gravel", "forest_floor") else 1 - 0.1 * best
        gap = {"rock": 0.75, "gravel": 0.45, "pavement": 0.7, "forest_floor": 0.6}[kind]
        tex = cells * (bumps * (gap + (1 - gap) * edge) + 0.04 * low + 0.03 * fine)[:, :, None]
        if kind == "rock":
            cracks = 1 - 0.4 * smoothstep(0.85, 1.0, 1 - np.abs(value_noise(rng, h, w, h / 6, octaves=3)))
            tex *= cracks[:, :, None]
        return tex
    if kind == "asphalt":
        base = jitter_colour(rng, bgr(85, 85, 88), 0.15)
        stains = 0.06 * low + 0.05 * fine + 0.05 * (value_noise(rng, h, w, 1.0, octaves=1) > 1.8)
        return base * (1 + stains)[:, :, None]
    # dirt
    base = jitter_colour(rng, bgr(120, 95, 70), 0.1)
    return base * (0.9 + 0.06 * low + 0.05 * fine)[:, :, None]


def _ground(rng, grounds, h, w, sky_colour, trail: bool) -> np.ndarray:
    """Ground seen in perspective, float32 (h, w, 3): textures drawn flat on a
    wider plane, then warped so far features shrink towards the horizon."""
    spread = rng.uniform(2.5, 4.0)
    th, tw = max(4, h), max(4, int(w * spread * 0.5))
    primary = _ground_texture(rng, grounds[0], th, tw, sky_colour)
    if len(grounds) > 1:
        secondary = _ground_texture(rng, grounds[1], th, tw, sky_colour)
        far_kinds = ("water", "asphalt")  # a lake or a road lies beyond the land or sidewalk
        if grounds[0] in far_kinds or grounds[1] in far_kinds:
            edge = th * rng.uniform(0.25, 0.45) + noise_1d(rng, tw, tw / 8) * th * (0.03 if "water" in grounds[:2] else 0.0)
            far = (np.arange(th, dtype=np.float32)[:, None] < edge[None, :]).astype(np.float32)
            far = cv2.GaussianBlur(far, (0, 0), 1.5)
            secondary_is_far = grounds[1] in far_kinds and grounds[0] not in far_kinds
            m = far if secondary_is_far else 1 - far  # m: where the secondary ground shows
        else:
            m = smoothstep(0.3, 0.9, value_noise(rng, th, tw, th / 3, octaves=3))
        primary = primary * (1 - m[:, :, None]) + secondary * m[:, :, None]
    if trail:  # a dirt path down the middle, converging at the horizon after warping
        xs = np.arange(tw, dtype=np.float32)[None, :]
        centre = tw / 2 + noise_1d(rng, th, th / 2)[:, None] * tw * 0.03
        path = smoothstep(tw * 0.05, tw * 0.035, np.abs(xs - centre))
        dirt = _ground_texture(rng, "dirt", th, tw, sky_colour)
        primary = primary * (1 - path[:, :, None]) + dirt * path[:, :, None]
    near = rng.uniform(0.25, 0.4)  # share of the plane's width seen at the bottom edge
    src = np.float32([[0, 0], [tw, 0], [tw * (1 + near) / 2, th], [tw * (1 - near) / 2, th]])
    dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    ground = cv2.warpPerspective(primary, matrix, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    return ground


def _render_landscape_hw(
    rng: np.random.Generator, query: str, h: int, w: int, litter_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """A landscape of size (h, w): float32 BGR (H, W, 3) 0..1, and the litter's
    alpha float32 (H, W) 0..1 when `litter_rng` is given (else None).

    The litter draws only from `litter_rng`, so the scene itself is the same
    pixels as the clean photo's everywhere the litter and its shadow are not.
    """
    grounds, horizon = landscape_scene(query)
    if rng.random() < 0.25:  # some photos of the same place show another skyline
        horizon = NEARBY_HORIZONS[horizon][rng.integers(len(NEARBY_HORIZONS[horizon]))]
    time = rng.choice(list(SKIES), p=[0.35, 0.2, 0.15, 0.2, 0.1])
    zenith, horizon_colour, tint = (jitter_colour(rng, c, 0.06) for c in SKIES[time])
    cloudiness = {"overcast": 0.9}.get(time, rng.uniform(0.0, 0.6))
    horizon_y = int(h * rng.uniform(0.28, 0.5))
    image = np.empty((h, w, 3), np.float32)
    # Sky and skyline are drawn only above the horizon (+2 rows of overlap); the ground covers the rest.
    sky_h = min(h, horizon_y + 2)
    image[:sky_h] = _sky(rng, sky_h, w, zenith, horizon_colour, cloudiness)
    _horizon(rng, image[:sky_h], horizon_y, horizon, horizon_colour, tint)
    ground_h = h - horizon_y
    if horizon == "sea":  # open water between the horizon and the shore
        sea_h = int(ground_h * rng.uniform(0.2, 0.4))
        sea = _ground(rng, ["water"], sea_h, w, horizon_colour, False)
        image[horizon_y:horizon_y + sea_h] = sea * tint
        shore_y = horizon_y + sea_h
        foam = smoothstep(2.5, 0, np.abs(np.arange(h)[:, None] - shore_y - noise_1d(rng, w, w / 6)[None, :] * 2))
        horizon_y, ground_h = shore_y, h - shore_y
    words = set(query_words(query))
    ground = _ground(rng, grounds, ground_h, w, horizon_colour, bool(words & {"trail", "path"}))
    depth = np.linspace(0, 1, ground_h, dtype=np.float32)[:, None]
    if "grass" in grounds[:2]:  # upright blades in screen space: fine far away, coarse near the camera
        far = value_noise(rng, ground_h, w, 1.5, octaves=1, aspect=0.35)
        near = value_noise(rng, ground_h, w, 4.0, octaves=2, aspect=0.25)
        ground = ground * (1 + 0.1 * (far * (1 - depth) + near * depth))[:, :, None]
    litter = None
    if litter_rng is not None:  # before haze and tint, so the scene's light falls on it too
        ground, ground_alpha = scatter_litter(litter_rng, ground, h, w)
        if ground_alpha.max() >= 0.5:  # else nothing big enough to see was drawn: a clean photo
            litter = np.zeros((h, w), np.float32)
            litter[horizon_y:] = ground_alpha
    # Haze near the horizon, darker towards the camera, lit by the sky's tint.
    depth = np.linspace(0, 1, ground_h, dtype=np.float32)[:, None, None]
    haze = 0.5 * (1 - depth) ** 2.5
    ground = ground * tint * (0.8 + 0.25 * depth ** 0.5) * (1 - haze) + horizon_colour * haze
    image[horizon_y:] = ground
    if horizon == "sea":
        image[:] = image * (1 - foam[:, :, None] * 0.8) + np.float32(0.95) * foam[:, :, None] * 0.8
    image = cv2.GaussianBlur(image, (0, 0), 0.6)  # soften the seams like a lens would
    return image, litter


def is_dirty(query: str, index: int, seed: int, dirty_share: float) -> bool:
    """Whether landscape photo `index` of `query` has litter in it (a draw of its own per photo)."""
    return dirty_share > 0 and photo_rng(seed, "dirty", query, index).random() < dirty_share


def render_landscape(query: str, index: int, seed: int, size: int) -> np.ndarray:
    """Landscape photo `index` for `query`: BGR uint8 (H, W, 3), long side `size`; always clean."""
    return render_landscape_scene(query, index, seed, size)[0]


def render_landscape_scene(
    query: str, index: int, seed: int, size: int, dirty_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Landscape photo `index` for `query` as the demo engine delivers it.

    Returns BGR uint8 (H, W, 3) with long side `size`, and the litter mask
    uint8 (H, W) 0/255 for a dirty photo (about `dirty_share` of them, see
    :func:`is_dirty`), else None. A dirty photo is its clean twin with litter
    lying on the ground (:func:`scatter_litter`), nothing else changed.
    """
    rng = photo_rng(seed, "landscape", query, index)
    h, w = photo_shape(rng, size)
    if h > w and rng.random() < 0.7:  # landscapes are mostly shot in landscape orientation
        h, w = w, h
    litter_rng = photo_rng(seed, "litter", query, index) if is_dirty(query, index, seed, dirty_share) else None
    return finish_landscape(rng, query, h, w, litter_rng)


def finish_landscape(rng, query, h, w, litter_rng=None) -> tuple[np.ndarray, np.ndarray | None]:
    image, litter = _render_landscape_hw(rng, query, h, w, litter_rng)
    image = to_uint8(add_sensor_noise(rng, camera_colour(rng, image), rng.uniform(1.5, 3.0)))
    truth = None if litter is None else np.where(litter >= 0.5, 255, 0).astype(np.uint8)
    return image, truth


# --- litter in landscapes ------------------------------------------------------
# Real web photos of streets, parks and beaches often have litter in them. A
# share of the demo landscapes do too (scrape.demo.dirty_share), so that the
# audit stage can be measured: the litter comes from the trash renderers above,
# lying on the ground at the size it would have there.

LITTER_METRES = {  # long side of each object, metres
    "bottle": 0.25, "can": 0.12, "bag": 0.4, "wrapper": 0.18, "cup": 0.11,
    "butt": 0.035, "carton": 0.2, "lid": 0.05, "straw": 0.2,
}
MIN_LITTER_SIDE = 0.05  # smallest piece drawn, long side / photo long side: smaller is invisible


def litter_pieces(rng: np.random.Generator, ground_width: float, width: int, long_side: int) -> list[tuple[str, float]]:
    """Which objects lie on the ground and how far down the ground each lies.

    ground_width: metres the bottom edge of the photo spans; a piece at depth
    d (0 at the horizon, 1 at the bottom edge) is d * width / ground_width px
    per metre (flat ground, pinhole camera). Returns 1..3 (object, depth)
    pairs whose long side is at least MIN_LITTER_SIDE of the photo, chosen
    among the objects big enough to see there (a cigarette butt in a wide
    view is not); none when no object is (a very small photo).
    """
    count = 1 + int(rng.binomial(2, 0.3))
    # The smallest depth at which each object is big enough to see; > 1: never.
    nearest = {obj: MIN_LITTER_SIDE * long_side * ground_width / (metres * width)
               for obj, metres in LITTER_METRES.items()}
    visible = [obj for obj in TRASH_OBJECTS if nearest[obj] <= 1.0]
    pieces = []
    for _ in range(count if visible else 0):
        obj = visible[rng.integers(len(visible))]
        pieces.append((obj, float(rng.uniform(max(0.3, nearest[obj]), 1.0))))
    return pieces


def scatter_litter(rng: np.random.Generator, ground: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Lay 1..3 pieces of litter on a ground texture seen in perspective.

    ground: float32 (gh, W, 3) 0..1, the photo's rows below the horizon
    (h, w: the whole photo's size). Each piece is a trash renderer's object,
    shaded by one light, turned to any angle, flattened by the view angle,
    scaled to its size at that depth (:func:`litter_pieces`) and laid down
    over a soft contact shadow. Returns the new ground and the litter's alpha
    float32 (gh, W) 0..1.
    """
    gh = ground.shape[0]
    out = ground.copy()
    alpha_total = np.zeros((gh, w), np.float32)
    light = normalise(np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.9, -0.4), rng.uniform(0.4, 0.8)], np.float32))
    view = rng.uniform(0.4, 0.75)  # how much the view angle flattens things lying on the ground
    ground_width = rng.uniform(1.0, 2.5)  # metres across the bottom edge of the photo
    for obj, depth in litter_pieces(rng, ground_width, w, max(h, w)):
        side = max(2, int(round(LITTER_METRES[obj] * w / ground_width * depth)))  # long side, px
        albedo, alpha, normals, specular, shininess, _ = OBJECT_RENDERERS[obj](rng, max(32, side * 3), rng.random() < 0.5)
        colour = shade(albedo * np.float32(rng.uniform(0.75, 1.0)), normals, light, rng.uniform(0.3, 0.45), specular, shininess)
        layers = rotate(np.dstack([colour * alpha[:, :, None], alpha]), rng.uniform(-180, 180))
        ys, xs = np.nonzero(layers[:, :, 3] > 0.02)
        layers = layers[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        bh, bw = layers.shape[:2]
        flat_h = bh * view
        scale = side / max(bw, flat_h)
        nw, nh = max(2, int(round(bw * scale))), max(2, int(round(flat_h * scale)))
        if nw >= w or nh >= gh:
            continue
        layers = cv2.resize(layers, (nw, nh), interpolation=cv2.INTER_AREA)
        bottom = int(round(depth * (gh - 1)))  # the piece rests on this row
        y0 = min(max(0, bottom - nh), gh - nh)
        x0 = int(rng.integers(0, w - nw + 1))
        premult, a = layers[:, :, :3], np.clip(layers[:, :, 3], 0, 1)
        # Contact shadow: the piece's footprint, blurred and pushed away from the light.
        shadow = np.zeros((gh, w), np.float32)
        shadow[y0:y0 + nh, x0:x0 + nw] = a
        shift = np.float32([[1, 0, -light[0] * 0.15 * nw], [0, 1, 0.12 * nh]])
        shadow = cv2.GaussianBlur(cv2.warpAffine(shadow, shift, (w, gh)), (0, 0), 0.08 * max(nw, nh) + 0.5)
        out *= (1 - rng.uniform(0.35, 0.55) * np.clip(shadow, 0, 1))[:, :, None]
        region = out[y0:y0 + nh, x0:x0 + nw]
        out[y0:y0 + nh, x0:x0 + nw] = region * (1 - a[:, :, None]) + premult
        alpha_total[y0:y0 + nh, x0:x0 + nw] = np.maximum(alpha_total[y0:y0 + nh, x0:x0 + nw], a)
    return out, alpha_total
