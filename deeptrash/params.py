"""The params schema: one source of truth for `params.yaml`.

Every stage calls :func:`load_params` before doing any work. An unknown key, a
wrong type or an out-of-range value raises :class:`deeptrash.errors.UserError`
with one line naming the key and what is allowed.

Each pipeline section has its own model below; a stage reads only its section
(and `seed`), which is also what `dvc.yaml` declares under `params:`. The
`synth:` section, one class per recipe step, is in deeptrash/synth_params.py;
the building blocks (`Section`, ranges, steps) in deeptrash/schema.py.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BeforeValidator, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from deeptrash.errors import UserError
from deeptrash.schema import Section
from deeptrash.synth_params import SynthParams

WEB_ENGINES = ("bing", "google", "baidu", "flickr")
OFFLINE_ENGINES = ("demo", "folder", "urls")
QUERY_KEY = re.compile(r"^[a-z0-9_]+$")


# --- scrape ---------------------------------------------------------------

class DemoParams(Section):
    size: int = Field(320, ge=64, le=2048)
    junk_share: float = Field(0.2, ge=0.0, le=0.9)
    # Share of landscapes with litter already lying in them (truth/<sha256>.png
    # marks it); the audit stage should rank exactly these first.
    dirty_share: float = Field(0.15, ge=0.0, le=1.0)


Engine = Literal["demo", "folder", "urls", "bing", "google", "baidu", "flickr"]


class QuerySpec(Section):
    """A query with its own engine or count, so one pipeline can mix sources: `scrape.KIND.KEY:
    {query: ..., engine: demo, per_query: 30}`; unset fields fall back to scrape.engine and scrape.per_query."""
    query: str
    engine: Engine | None = None
    per_query: int | None = Field(None, ge=1, le=10000)
    # engine=folder: this query's own photo folder(s), in place of scrape.folder
    folder: str | list[str] | None = None


# A query is its text, or a QuerySpec mapping; only the chosen form's errors are reported. The
# tags appear in error locations (dropped from messages); a "-" keeps them apart from query keys.
Query = Annotated[
    Annotated[str, Tag("query-text")] | Annotated[QuerySpec, Tag("query-mapping")],
    Discriminator(lambda value: "query-mapping" if isinstance(value, (dict, QuerySpec)) else "query-text"),
]
UNION_TAGS = ("query-text", "query-mapping")


def query_text(query: str | QuerySpec) -> str:
    """The words searched for (the URL-list path for the urls engine), in either form."""
    return str(query.query if isinstance(query, QuerySpec) else query).strip()


def folder_list(folder: str | list[str] | None) -> list[str]:
    """scrape.folder (or a query's own folder) as a list of paths: one, several or none."""
    if folder is None:
        return []
    return [folder] if isinstance(folder, str) else list(folder)


class ScrapeParams(Section):
    engine: Engine = "demo"
    per_query: int = Field(40, ge=1, le=10000)
    # engine=folder: a directory of photos, or several searched in turn (a list)
    folder: str | list[str] | None = None
    threads: int = Field(4, ge=1, le=64)
    timeout: float = Field(10.0, gt=0, le=600)
    delay: float = Field(0.0, ge=0, le=60)
    # Extra tries of a URL after HTTP 429/5xx or a failed connection (deeptrash.scrape.download.retrying_adapter).
    retries: int = Field(2, ge=0, le=10)
    retry_backoff: float = Field(0.5, ge=0, le=60)
    max_bytes: int = Field(20_000_000, ge=1024)
    max_pixels: int = Field(40_000_000, ge=1024)
    filters: dict[str, str | int | list | dict] = Field(default_factory=dict)
    demo: DemoParams = DemoParams()
    # key -> query text, or a QuerySpec mapping for a query with its own engine or count
    trash: dict[str, Query] = Field(min_length=1)
    landscape: dict[str, Query] = Field(min_length=1)

    @field_validator("trash", "landscape")
    @classmethod
    def _keys_and_queries(cls, queries: dict[str, str | QuerySpec]) -> dict[str, str | QuerySpec]:
        for key, query in queries.items():
            if not QUERY_KEY.match(key):
                raise ValueError(f"query key {key!r} must be lower-case letters, digits and _")
            if not query_text(query):
                raise ValueError(f"query {key!r} is empty")
        return queries

    def for_query(self, kind: str, key: str) -> tuple[ScrapeParams, str]:
        """The settings `scrape.KIND.KEY` runs with (its own engine, per_query and folder if it
        sets them) and its query text. An unknown kind or key is a one-line UserError."""
        if kind not in ("trash", "landscape"):
            raise UserError(f"kind must be trash or landscape, not {kind!r}")
        queries = getattr(self, kind)
        if key not in queries:
            raise UserError(f"no query {key!r} in scrape.{kind} (have: {', '.join(queries)})")
        spec = queries[key]
        own = {}
        if isinstance(spec, QuerySpec):
            own = {name: value for name in ("engine", "per_query", "folder")
                   if (value := getattr(spec, name)) is not None}
        return self.model_copy(update=own) if own else self, query_text(spec)


# --- filter ---------------------------------------------------------------

class KindFilterParams(Section):
    """Quality limits for one kind of photo (see deeptrash/clean/filter.py for each check)."""

    min_width: int = Field(128, ge=1)
    min_height: int = Field(128, ge=1)
    max_aspect: float = Field(2.5, ge=1.0)
    # RMS Laplacian at 256 px (deeptrash.clean.filter.sharpness); lower is blurry.
    min_sharpness: float = Field(4.0, ge=0)
    # deeptrash.clean.text.text_score above this is a text overlay.
    max_text_score: float = Field(0.4, ge=0, le=1)
    transparency: Literal["keep", "reject"] = "reject"
    # An alpha channel counts when at least this share of pixels is not opaque.
    min_alpha_share: float = Field(0.01, gt=0, le=1)
    near_duplicates: bool = True
    # Perceptual hash (hash_size**2 bits) and how many bits near duplicates may differ in.
    near_duplicate_hash_size: int = Field(8, ge=2, le=32)
    near_duplicate_distance: int = Field(4, ge=0)
    # cleanvision thresholds on its 0..1 scores (lower score = worse).
    dark_threshold: float = Field(0.32, ge=0, le=1)
    light_threshold: float = Field(0.05, ge=0, le=1)
    low_information_threshold: float = Field(0.3, ge=0, le=1)
    grayscale: Literal["keep", "reject"] = "reject"
    # Reject photos far smaller than the rest of their query (cleanvision's
    # odd-size IQR rule; unusually large photos are kept); 0 turns it off.
    odd_size_iqr_factor: float = Field(3.0, ge=0)


HASH_PREFIX = re.compile(r"^[0-9a-f]{6,64}$")


def _hash_prefix(value):
    """One exclusion entry: the start of a photo's file name (its SHA-256), as text."""
    if isinstance(value, bool) or not isinstance(value, str):
        # Hydra (dvc exp run -S) and YAML read 12345678 or 1e5 as numbers.
        raise ValueError(f"{value!r} is not text: quote the hash prefix (e.g. '{value}') or give more of its digits")
    if not HASH_PREFIX.match(value):
        raise ValueError(f"{value!r} is not a file-hash prefix (6 to 64 lower-case hex digits)")
    return value


HashPrefix = Annotated[str, BeforeValidator(_hash_prefix)]


class FilterParams(Section):
    trash: KindFilterParams = KindFilterParams(transparency="keep")
    landscape: KindFilterParams = KindFilterParams(min_width=160, min_height=120)
    # Landscape photos to drop (reason `excluded`), per query key: file-hash
    # prefixes, e.g. of photos the audit stage found litter in. One list per
    # landscape query, so DVC re-runs only the filter of the query whose list changed.
    landscape_exclude: dict[str, list[HashPrefix]] = Field(default_factory=dict)

    @field_validator("landscape_exclude")
    @classmethod
    def _no_repeats(cls, exclude: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, prefixes in exclude.items():
            repeated = sorted({p for p in prefixes if prefixes.count(p) > 1})
            if repeated:
                raise ValueError(f"{key}: {repeated[0]} is listed twice")
        return exclude


# --- crop -----------------------------------------------------------------

class CropParams(Section):
    min_area: float = Field(0.02, gt=0, lt=1)
    max_area: float = Field(0.9, gt=0, le=1)
    max_border_touch: float = Field(0.3, ge=0, le=1)
    max_offcentre: float = Field(0.3, ge=0, le=0.5)
    max_pieces: int = Field(3, ge=1, le=50)
    feather: int = Field(2, ge=0, le=50)
    boxes: str | None = None
    work_size: int = Field(256, ge=32, le=4096)
    iterations: int = Field(3, ge=1, le=20)
    min_piece: float = Field(0.005, ge=0, lt=1)
    min_solidity: float = Field(0.5, ge=0, le=1)
    max_components: int = Field(8, ge=1, le=1000)
    max_roughness: float = Field(0.28, gt=0)
    min_contrast: float = Field(5.0, ge=0)


# --- train ----------------------------------------------------------------

TileScale = Annotated[float, Field(gt=0.1, le=8)]  # a test-time view's tile size, as a multiple of tile_size


class SelftrainParams(Section):
    """Fine-tuning on pseudo-labelled real scenes (deeptrash/learn/selftrain.py); off while `scenes` is null."""
    scenes: str | None = None     # folder of unlabelled photos of litter where it lies
    epochs: int = Field(3, ge=0, le=1000)       # 0: no fine-tuning (adapt_bn alone)
    rounds: int = Field(1, ge=1, le=10)          # pseudo-label then fine-tune, this many times (each with the last model)
    learning_rate: float = Field(0.0005, gt=0, le=1)
    confident: float = Field(0.8, gt=0, lt=1)    # pseudo-trash at or above this probability
    background: float = Field(0.2, gt=0, lt=1)   # pseudo-background at or below it; between: ignored
    grow: float | None = Field(None, gt=0, lt=1)  # pseudo-trash grows over >= this in pieces reaching confident
    margin: int = Field(6, ge=0, le=64)          # px (model size) around pseudo-trash also ignored
    share: float = Field(0.5, gt=0, lt=1)        # share of fine-tuning samples from the scenes
    tile_size: int = Field(256, ge=32, le=4096)  # photo px per tile, as evaluate.tile_size
    tile_overlap: float = Field(0.25, ge=0, lt=1)
    scales: list[TileScale] = Field([1.0], min_length=1, max_length=8)  # as evaluate.scales
    flip: bool = False                                                   # as evaluate.flip
    adapt_bn: bool = True   # then the decoder's BatchNorm statistics from every scene tile (AdaBN)

    @field_validator("background", "grow")
    @classmethod
    def _below_confident(cls, value, info):
        if value is not None and value >= info.data.get("confident", 1):
            raise ValueError(f"must be below confident ({info.data['confident']})")
        return value

    @model_validator(mode="after")
    def _does_something(self):
        if self.scenes and not self.epochs and not self.adapt_bn:
            raise ValueError("epochs 0 and adapt_bn false: the scenes would not be used (set scenes: null)")
        return self


class TrainParams(Section):
    backbone: Literal[
        "mobilenet_v3_small", "mobilenet_v3_large", "resnet18_v2", "resnet50_v2", "efficientnet_v2_b0",
        "efficientnet_lite0", "efficientnet_lite0_imagenet", "efficientnet_lite1", "efficientnet_lite1_imagenet",
        "efficientnet_lite2", "efficientnet_lite2_imagenet",
    ] = "mobilenet_v3_small"
    preset: str | None = None
    freeze_backbone: Literal["none", "P2", "P3", "P4", "all"] = "none"
    epochs: int = Field(12, ge=1, le=10000)
    batch_size: int = Field(16, ge=1, le=4096)
    learning_rate: float = Field(0.002, gt=0, le=1)
    bn_momentum: float = Field(0.9, gt=0, lt=1)
    bce_weight: float = Field(1.0, ge=0)
    dice_weight: float = Field(1.0, ge=0)
    small_weight: float = Field(1.0, ge=1, le=100)
    early_stopping: int = Field(4, ge=0)
    precision: Literal["auto", "float32", "mixed_float16"] = "auto"
    cache: bool = True
    deterministic: bool = False
    selftrain: SelftrainParams = SelftrainParams()


# --- evaluate -------------------------------------------------------------

class EvaluateParams(Section):
    threshold: float = Field(0.5, gt=0, lt=1)
    # Hysteresis (inference.trash_mask): only pieces where some pixel reaches this; null: off
    seed_threshold: float | None = Field(None, gt=0, lt=1)
    real: str | None = None
    mode: Literal["resize", "tile"] = "tile"   # real photos: tiles at the training scale keep small litter
    tile_size: int = Field(256, ge=32, le=4096)
    tile_overlap: float = Field(0.25, ge=0, lt=1)
    # Test-time views averaged (deeptrash/learn/inference.py): tile sizes as multiples of tile_size
    # (tile mode), and the mirrored photo.
    scales: list[TileScale] = Field([1.0], min_length=1, max_length=8)
    flip: bool = False
    overlays: int = Field(4, ge=0, le=100)

    @field_validator("seed_threshold")
    @classmethod
    def _not_below_threshold(cls, value, info):
        if value is not None and value < info.data.get("threshold", 0):
            raise ValueError(f"must be at least threshold ({info.data['threshold']}), or null")
        return value


# --- audit ----------------------------------------------------------------

class AuditParams(Section):
    """The audit stage: the trained model over every kept landscape (deeptrash/measure/audit.py)."""

    tile_size: int = Field(64, ge=32, le=4096)       # tile side in photo pixels
    tile_overlap: float = Field(0.25, ge=0, lt=1)
    threshold: float = Field(0.5, gt=0, lt=1)        # pixel probability counted as trash (area, pieces)
    min_piece: float = Field(0.0002, ge=0, lt=1)     # smaller patches (share of the photo) are not pieces
    flag_score: float = Field(0.9, gt=0, le=1)       # photos scoring at least this are flagged
    sheet: int = Field(24, ge=0, le=200)             # most suspicious photos on plots/audit/suspects.png


class Params(Section):
    seed: int = Field(42, ge=0, le=2**31 - 1)
    scrape: ScrapeParams
    filter: FilterParams = FilterParams()
    crop: CropParams = CropParams()
    synth: SynthParams = SynthParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    audit: AuditParams = AuditParams()


def _one_line(error: ValidationError, source: str, section: str = "") -> str:
    first = error.errors()[0]
    parts = [str(part) for part in first["loc"] if part not in UNION_TAGS]
    key = ".".join([section] * bool(section) + parts) or "(top level)"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "literal_error":
        message = message.replace("Input should be", "must be")
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
    return f"{source}: {key}: {message}{suffix}"


def validate_params(raw: dict, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise UserError with one line naming the key."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping of sections at the top level")
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        raise UserError(_one_line(error, source)) from None
    check_exclusion_keys(params, source)
    return params


def check_exclusion_keys(params: Params, source: str = "params.yaml") -> None:
    """`filter.landscape_exclude`, when given, has exactly one entry per landscape query: DVC stops
    at a query's filter stage when its key is missing, so scrape stops first, before any work; an
    entry for a key that is no landscape query is a typo or a leftover that would exclude nothing."""
    if "landscape_exclude" not in params.filter.model_fields_set:
        return
    queries, exclude = params.scrape.landscape, params.filter.landscape_exclude
    for key in exclude:
        if key not in queries:
            raise UserError(f"{source}: filter.landscape_exclude.{key}: not a landscape query "
                            f"(scrape.landscape has: {', '.join(sorted(queries))})")
    for key in queries:
        if key not in exclude:
            raise UserError(f"{source}: filter.landscape_exclude: no entry for landscape query {key!r}; "
                            f"add one (dvc exp run -S '+filter.landscape_exclude.{key}=[]')")


def _read_yaml(path: Path):
    """The parsed YAML of `path` ({} when empty); one-line UserError when it is not YAML."""
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate `params.yaml`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: not found (run from the repository root)")
    return validate_params(_read_yaml(path), str(path))


def load_section(path: str | Path, name: str) -> Section:
    """One section of a params file, validated alone; its defaults when the file or section is absent
    (for commands outside the pipeline, such as predict, that must also run without a params.yaml)."""
    path = Path(path)
    raw = _read_yaml(path) if path.is_file() else {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    schema = Params.model_fields[name].annotation
    try:
        return schema.model_validate(raw.get(name) or {})
    except ValidationError as error:
        raise UserError(_one_line(error, str(path), name)) from None
