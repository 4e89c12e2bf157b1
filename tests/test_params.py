"""The params schema: defaults load, bad values fail with one line naming the key."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deeptrash.errors import UserError
from deeptrash.params import EvaluateParams, load_params, load_section, validate_params

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = yaml.safe_load((REPO / "params.yaml").read_text())


def test_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert params.scrape.engine == "demo"
    assert len(params.scrape.trash) >= 5 and len(params.scrape.landscape) >= 5


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("train", "epochs"), 0, "train.epochs: Input should be greater than or equal to 1"),
        (("train", "bogus"), 1, "train.bogus: unknown key"),
        (("scrape", "engine"), "yahoo", "scrape.engine: must be 'demo'"),
        (("synth", "size"), "big", "synth.size: Input should be a valid integer"),
        (("scrape", "trash", "Bad Key"), "x", "scrape.trash: Value error, query key 'Bad Key'"),
        (("scrape", "landscape", "beach"), "  ", "scrape.landscape: Value error, query 'beach' is empty"),
        (("evaluate", "mode"), "zoom", "evaluate.mode: must be 'resize' or 'tile'"),
        (("evaluate", "seed_threshold"), 0.1, "evaluate.seed_threshold: Value error, must be at least threshold (0.5)"),
        (("scrape", "trash", "butt"), {"query": "butt", "engine": "yahoo"}, "scrape.trash.butt.engine: must be 'demo'"),
        (("scrape", "trash", "butt"), {"query": "butt", "per_query": 0}, "scrape.trash.butt.per_query: Input should be"),
        (("scrape", "trash", "butt"), {"engine": "demo"}, "scrape.trash.butt.query: Field required"),
        (("scrape", "trash", "butt"), 5, "scrape.trash.butt: Input should be a valid string"),
    ],
)
def test_bad_value_is_one_line_naming_the_key(path, value, expected):
    raw = copy.deepcopy(DEFAULTS)
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(UserError) as caught:
        validate_params(raw)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("params.yaml: ")
    assert expected in message


def test_several_problems_are_counted_not_listed():
    raw = copy.deepcopy(DEFAULTS)
    raw["train"]["epochs"] = -1
    raw["train"]["batch_size"] = 0
    with pytest.raises(UserError, match=r"\(and 1 more problem\)$"):
        validate_params(raw)


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_params(tmp_path / "params.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("scrape: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(broken)


def test_one_section_loads_alone_with_defaults_and_the_same_errors(tmp_path):
    path = tmp_path / "params.yaml"
    assert load_section(path, "evaluate") == EvaluateParams()  # no file: defaults
    path.write_text("evaluate:\n  threshold: 0.7\n")  # no scrape section: fine for one section
    assert load_section(path, "evaluate").threshold == 0.7
    path.write_text("evaluate:\n  thresold: 0.7\n")
    with pytest.raises(UserError, match=r"^\S*params.yaml: evaluate.thresold: unknown key$"):
        load_section(path, "evaluate")
    path.write_text("evaluate: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_section(path, "evaluate")


STAGE_COMMANDS = [
    ["stages.scrape", "trash", "plastic_bottle"],
    ["stages.filter", "trash", "plastic_bottle"],
    ["stages.crop", "plastic_bottle"],
    ["stages.synthesize"],
    ["stages.train"],
    ["stages.evaluate"],
    ["stages.predict", "photo.jpg", "--out", "predictions"],
]


@pytest.mark.parametrize("option", [False, True], ids=["params.yaml", "--params"])
@pytest.mark.parametrize("command", STAGE_COMMANDS, ids=lambda c: c[0])
def test_every_stage_rejects_bad_params_before_work(tmp_path, command, option):
    """Each stage validates params.yaml, or the file given with --params, first: exit 2, one line, nothing written."""
    raw = copy.deepcopy(DEFAULTS)
    raw["train"]["learning_rate"] = -1
    raw["evaluate"]["threshold"] = 2  # predict reads only the evaluate section
    name = "other.yaml" if option else "params.yaml"
    (tmp_path / name).write_text(yaml.safe_dump(raw))
    result = subprocess.run(
        [sys.executable, "-m", *command, *(["--params", name] if option else [])],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if command[0] == "stages.predict":
        assert error_lines == [f"error: {name}: evaluate.threshold: Input should be less than 1"]
    else:
        assert error_lines == [f"error: {name}: train.learning_rate: Input should be greater than 0 (and 1 more problem)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def _keys(tree: dict, prefix: str = "") -> set[str]:
    """Dotted keys of a params mapping (query lists are data, not schema)."""
    out = set()
    for key, value in tree.items():
        out.add(prefix + key)
        if isinstance(value, dict) and key not in ("trash", "landscape", "filters", "landscape_exclude"):
            out |= _keys(value, f"{prefix}{key}.")
    return out


@pytest.mark.parametrize("profile", sorted((REPO / "profiles").glob("*.yaml")), ids=lambda p: p.name)
def test_profiles_are_valid_and_spell_out_every_setting(profile):
    raw = yaml.safe_load(profile.read_text())
    validate_params(raw, str(profile))
    assert _keys(raw) == _keys(yaml.safe_load((REPO / "params.yaml").read_text()))
