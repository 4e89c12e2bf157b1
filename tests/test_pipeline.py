"""The whole pipeline, run for real by DVC in a temporary copy of the repository.

Tiny params (64 px composites, two queries per kind, one epoch) keep it to a few
minutes on 2 cores. The tests share one copy and run in order: a full
`dvc repro`, a no-op repro, then experiments that change one thing each,
asserting the exact set of stages DVC ran.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")
COPIED = ["dvc.yaml", "params.yaml", "deeptrash", "stages", ".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore"]

TINY = {
    "scrape": {
        "per_query": 8,
        "demo": {"size": 256},
        "trash": {"bottle": "plastic bottle", "can": "crushed soda can"},
        "landscape": {"beach": "sandy beach", "park": "park lawn"},
    },
    "filter": {"landscape_exclude": {"beach": [], "park": []}},
    "synth": {"size": 64, "train": 48, "val": 16},
    "train": {"epochs": 1, "batch_size": 8},
    "evaluate": {"overlays": 2},
}

EVERYTHING_AFTER_CROP = {"synthesize", "train", "evaluate", "audit"}


def merge(base: dict, update: dict) -> dict:
    """Recursively merge `update` into a copy of `base`; mappings of queries are replaced."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("trash", "landscape", "landscape_exclude"):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def run(args: list[str], cwd: Path, timeout: int = 900, expect_ok: bool = True) -> str:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    if expect_ok:
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{output[-4000:]}"
    else:
        assert result.returncode != 0, f"{' '.join(args)} should have failed:\n{output[-4000:]}"
    return output


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def copy_project(root: Path) -> Path:
    """The code and tiny params in `root`, as a git repository with the code committed
    (as in a clone: dvclive needs a HEAD)."""
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    params = merge(yaml.safe_load((REPO / "params.yaml").read_text()), TINY)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], root)
    run(["git", "config", "user.email", "ci@example.com"], root)
    run(["git", "config", "user.name", "CI"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "code"], root)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A fresh git+DVC repository holding the code and tiny params, after one `dvc repro`."""
    root = copy_project(tmp_path_factory.mktemp("pipeline"))
    output = run([DVC, "repro"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "baseline"], root)
    root.joinpath("first_repro.log").write_text(output)
    return root


def test_full_repro_builds_every_stage_and_output(project):
    output = (project / "first_repro.log").read_text()
    expected = {
        "scrape_trash@bottle", "scrape_trash@can", "scrape_landscape@beach", "scrape_landscape@park",
        "filter_trash@bottle", "filter_trash@can", "filter_landscape@beach", "filter_landscape@park",
        "crop@bottle", "crop@can", *EVERYTHING_AFTER_CROP,
    }
    assert ran_stages(output) == expected
    assert (project / "models" / "segmenter.keras").stat().st_size > 10_000
    metrics = json.loads((project / "metrics" / "evaluate.json").read_text())
    assert 0.0 <= metrics["synthetic"]["iou"] <= 1.0
    assert json.loads((project / "metrics" / "train.json").read_text())
    assert any((project / "plots").rglob("*.png"))
    assert len(list((project / "data" / "synth" / "train" / "images").iterdir())) == 48
    assert len(list((project / "data" / "synth" / "val" / "masks").iterdir())) == 16


def test_second_repro_is_a_no_op(project):
    output = run([DVC, "repro"], project)
    assert ran_stages(output) == set()
    assert "up to date" in output


def test_push_then_pull_in_a_clone_gives_the_same_outputs(project, tmp_path):
    # README "Share data and models": a folder as the remote, its address committed, a colleague's clone pulls
    run([DVC, "remote", "add", "-d", "store", str(tmp_path / "remote")], project)
    run(["git", "commit", "-qm", "DVC remote", ".dvc/config"], project)
    try:
        run([DVC, "push"], project)
        colleague = tmp_path / "colleague"
        run(["git", "clone", "-q", str(project), str(colleague)], tmp_path)
        assert not (colleague / "models").exists()
        run([DVC, "pull"], colleague)
        for outputs in ("models", "data/synth", "data/cutouts", "plots"):
            assert file_hashes(colleague / outputs) == file_hashes(project / outputs), outputs
        assert "up to date" in run([DVC, "status"], colleague)
    finally:
        run(["git", "reset", "-q", "--hard", "HEAD~1"], project)   # the later tests see no remote


def test_changing_one_query_reruns_only_that_query(project):
    output = run([DVC, "exp", "run", "-S", "scrape.trash.can=aluminium drink can"], project)
    assert ran_stages(output) == {"scrape_trash@can", "filter_trash@can", "crop@can", *EVERYTHING_AFTER_CROP}
    diff = json.loads(run([DVC, "metrics", "diff", "--json"], project))
    assert "metrics/evaluate.json" in diff


def test_adding_a_query_adds_only_its_stages(project):
    output = run([DVC, "exp", "run", "-S", "+scrape.trash.bag=plastic bag litter"], project)
    assert ran_stages(output) == {"scrape_trash@bag", "filter_trash@bag", "crop@bag", *EVERYTHING_AFTER_CROP}


def test_changing_a_crop_setting_never_rescrapes(project):
    output = run([DVC, "exp", "run", "-S", "crop.feather=5"], project)
    crops = {f"crop@{key}" for key in ("bottle", "can", "bag")}
    assert ran_stages(output) == crops | EVERYTHING_AFTER_CROP


def test_changing_a_filter_threshold_reruns_filter_and_downstream_only(project):
    # Demanding larger photos drops some, so every trash query's clean set changes.
    output = run([DVC, "exp", "run", "-S", "filter.trash.min_width=230"], project)
    keys = ("bottle", "can", "bag")
    expected = {f"filter_trash@{k}" for k in keys} | {f"crop@{k}" for k in keys} | EVERYTHING_AFTER_CROP
    assert ran_stages(output) == expected


def test_same_params_give_byte_identical_synthetic_data_and_metrics(project):
    before = file_hashes(project / "data" / "synth")
    metrics_before = (project / "metrics" / "synth.json").read_bytes()
    output = run([DVC, "repro", "--force", "--single-item", "synthesize"], project)
    assert ran_stages(output) == {"synthesize"}
    assert file_hashes(project / "data" / "synth") == before
    # Timings live in logs/, so a rerun with the same params leaves the metrics alone.
    assert (project / "metrics" / "synth.json").read_bytes() == metrics_before
    assert json.loads((project / "logs" / "synth_timing.json").read_text())["seconds"] > 0


def test_plots_render(project):
    run([DVC, "plots", "show", "--out", "dvc_plots"], project)
    page = (project / "dvc_plots" / "index.html").read_text()
    assert "dvclive/plots/metrics" in page
    assert ".png" in page


def test_audit_runs_after_train(project):
    edges = set(re.findall(r'"([^"]+)" -> "([^"]+)"', run([DVC, "dag", "--dot"], project)))
    assert ("train", "audit") in edges
    table = (project / "data" / "audit" / "landscapes.csv").read_text().splitlines()
    assert table[0].startswith("file,query,prefix,score") and len(table) > 4
    assert json.loads((project / "metrics" / "audit.json").read_text())["photos"] == len(table) - 1
    assert (project / "plots" / "audit" / "suspects.png").stat().st_size > 1000


def test_excluding_a_landscape_reruns_only_its_filter_and_downstream(project):
    import pandas as pd

    table = pd.read_csv(project / "data" / "audit" / "landscapes.csv", dtype={"prefix": str})
    suspect = table[table["query"] == "beach"].iloc[0]
    output = run([DVC, "exp", "run", "-S", f"filter.landscape_exclude.beach=[{suspect['prefix']}]"], project)
    assert ran_stages(output) == {"filter_landscape@beach", *EVERYTHING_AFTER_CROP}
    rejects = pd.read_csv(project / "data" / "clean" / "landscape" / "beach" / "rejects.csv")
    assert list(rejects.loc[rejects["reason"] == "excluded", "file"]) == [suspect["file"]]
    audited = pd.read_csv(project / "data" / "audit" / "landscapes.csv")
    assert suspect["file"] not in set(audited["file"])

