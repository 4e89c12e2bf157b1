"""Sim-to-real ablation: train on composites made from real source photos, score on real litter photos.

    python bench/real.py                                   # full recipe + each lever off in turn
    python bench/real.py --variants full,no_distractors    # some of them
    python bench/real.py --epochs 3 --train 1000           # a smaller budget (noisier)

Sources (`--sources`, default ../shared/real_sources: trash/, landscape/,
ground/) go through the real scrape (folder engine), filter and crop stages
once, into `--work` (kept between runs). Each variant is the params profile
(`--profile`, default profiles/real.yaml) with a few settings changed; it is
synthesized, trained and then scored on its own synthetic validation set and
on the labelled real photos (`--real`, default ../shared/real_dev, never
trained on) the way `evaluate.mode` says (tile by default). A variant whose
params and code did not change is not run again: its row is read back from
`--work` (delete the folder, or pass --fresh, to re-run).

Prints one row per variant: synthetic val IoU, real IoU, object recall
(all, and apart for small pieces under 0.1% of the photo and the rest),
precision, false pieces, and minutes of training; the first row is the
full recipe, the baseline the others compare against.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Each lever of the recipe, switched off (the value the first recipe had).
VARIANTS: dict[str, dict] = {
    "full": {},
    # Scale: large objects anywhere (the first recipe) instead of log-uniform
    # small-to-large objects on a ground plane, background crops at tile scale.
    "no_scale": {"synth.objects.distribution": "uniform", "synth.objects.scale": [0.3, 0.65],
                 "synth.background.zoom": [1.0, 2.0], "synth.max_objects": 3, "synth.slant.p": 0.0},
    # Slicing at inference: the whole photo squashed to the model size instead of tiles.
    "no_tiles": {"evaluate.mode": "resize"},
    "no_distractors": {"synth.distractors.p": 0.0},
    "no_leaf_bed": {"synth.leaf_bed.p": 0.0},
    "no_small_litter": {"synth.small_litter.p": 0.0},
    # Paste edges and light: feathered only, no contact shadow, no colour harmonisation.
    "no_blending": {"synth.poisson.p": 0.0, "synth.feather.p": 1.0, "synth.shadow.p": 0.0,
                    "synth.harmonize.p": 0.0},
    "no_burial": {"synth.grass.p": 0.0, "synth.occluders.p": 0.0},
    "no_camera": {"synth.defocus.p": 0.0, "synth.motion_blur.p": 0.0, "synth.lens.p": 0.0},
    # Every sim-to-real step off: the recipe as it was before (large objects anywhere), tiles kept.
    "first_recipe": {"synth.objects.distribution": "uniform", "synth.objects.scale": [0.3, 0.65],
                     "synth.background.zoom": [1.0, 2.0], "synth.max_objects": 3, "synth.negatives": 0.15,
                     "synth.slant.p": 0.0, "synth.distractors.p": 0.0, "synth.leaf_bed.p": 0.0, "synth.shadow.p": 0.0,
                     "synth.harmonize.p": 0.0, "synth.poisson.p": 0.0, "synth.grass.p": 0.0,
                     "synth.defocus.p": 0.0, "synth.feather.p": 1.0, "synth.small_litter.p": 0.0},
    # Self-training off: the composite-trained model as it is. (The profile self-trains on the real
    # photos' images, never their masks, then is scored on the same photos: transductive, so only the
    # hidden half of the set says whether it generalises.)
    "no_selftrain": {"train.selftrain.scenes": None},
    # Test-time views off: one tile size, no mirror.
    "no_views": {"evaluate.scales": [1.0], "evaluate.flip": False},
}
# Settings that only change how a trained model is scored: such variants reuse the full model.
EVAL_ONLY = ("evaluate.",)
CODE = ["deeptrash", "stages"]


def set_dotted(tree: dict, key: str, value) -> None:
    """tree["a"]["b"] = value for key "a.b" (the sections must exist)."""
    *path, last = key.split(".")
    for part in path:
        tree = tree[part]
    tree[last] = value


def variant_params(profile: dict, overrides: dict, sources: list[Path], real: Path, budget: dict) -> dict:
    params = copy.deepcopy(profile)
    params["scrape"]["folder"] = str(sources[0]) if len(sources) == 1 else [str(s) for s in sources]
    params["evaluate"]["real"] = str(real)
    for key, value in {**overrides, **budget}.items():
        set_dotted(params, key, value)
    # The stages run in --work: a path the profile gives relative to the repo must still point there.
    scenes = params["train"]["selftrain"]["scenes"]
    if scenes and not Path(scenes).is_absolute():
        params["train"]["selftrain"]["scenes"] = str((ROOT / scenes).resolve())
    return params


def code_digest() -> str:
    digest = hashlib.sha256()
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def run(command: list[str], cwd: Path, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise SystemExit(f"failed: {' '.join(command)} (see {log})")


def prepare_sources(work: Path, params: dict, log: Path) -> None:
    """scrape -> filter -> crop of every query once (the stage scripts, as dvc repro runs them)."""
    if (work / "sources.done").is_file():
        return
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    python = sys.executable
    for kind in ("trash", "landscape"):
        for key in params["scrape"][kind]:
            run([python, "-m", "stages.scrape", kind, key], work, log)
            run([python, "-m", "stages.filter", kind, key], work, log)
            if kind == "trash":
                run([python, "-m", "stages.crop", key], work, log)
    (work / "sources.done").write_text("ok\n")


def score_real(params: dict, model_dir: Path, real: Path) -> dict:
    from deeptrash.learn import inference
    from deeptrash.learn.model import load_segmenter
    from deeptrash.measure import evaluation, labels, metrics

    cfg = params["evaluate"]
    model = load_segmenter(model_dir / "segmenter.keras")
    size = inference.model_image_size(model_dir / "segmenter.keras", model)
    labelled = labels.load_real(str(real))
    rows, sweep, _ = evaluation.evaluate_photos(model, iter(labelled), size, threshold=cfg["threshold"],
                                               mode=cfg["mode"], tile_size=cfg["tile_size"],
                                               overlap=cfg["tile_overlap"], keep=0, total=len(labelled), desc="real",
                                               scales=cfg["scales"], flip=cfg["flip"],
                                               seed_threshold=cfg.get("seed_threshold"))
    best = max(metrics.sweep_scores(sweep), key=lambda row: row["iou"])
    return {**metrics.aggregate(rows), "best_threshold": best["threshold"], "best_threshold_iou": best["iou"]}


def train_seconds(folder: Path) -> float:
    """Seconds the train stage took for a variant folder (logs/train_timing.json's copy)."""
    timing = folder / "train_timing.json"
    if timing.is_file():
        return float(json.loads(timing.read_text())["seconds"])
    return float(json.loads((folder / "train.json").read_text()).get("seconds", 0))  # older stage versions


def run_variant(name: str, params: dict, work: Path, real: Path, log: Path, fresh: bool,
                reuse_full: bool = False) -> dict:
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256((json.dumps(params, sort_keys=True) + code_digest()).encode()).hexdigest()[:12]
    result_path = folder / "result.json"
    if result_path.is_file() and not fresh:
        result = json.loads(result_path.read_text())
        if result.get("key") == key or (reuse_full and name == "full"):
            return result
    params_path = folder / "params.yaml"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    full = work / "full"
    eval_only = name != "full" and all(k.startswith(EVAL_ONLY) for k in VARIANTS.get(name, {}))
    python = sys.executable
    started = time.perf_counter()
    if eval_only:
        model_dir, train_json = full / "models", full / "train.json"
    else:
        run([python, "-m", "stages.synthesize", "--params", str(params_path), "--out", str(folder / "synth"),
             "--metrics", str(folder / "synth.json"), "--plot", str(folder / "synth_samples.png"),
             "--timing", str(folder / "synth_timing.json")], work, log)
        run([python, "-m", "stages.train", "--params", str(params_path), "--synth", str(folder / "synth"),
             "--models", str(folder / "models"), "--metrics", str(folder / "train.json"),
             "--timing", str(folder / "train_timing.json"), "--dvclive", str(folder / "dvclive")], work, log)
        model_dir, train_json = folder / "models", folder / "train.json"
    train = json.loads(train_json.read_text())
    seconds = train_seconds(train_json.parent)
    real_scores = score_real(params, model_dir, real)
    result = {
        "key": key, "variant": name, "synthetic_val_iou": train["val_iou"],
        "real_iou": real_scores["iou"], "real_object_recall": real_scores["object_recall"],
        "real_precision": real_scores["precision"], "real_recall": real_scores["recall"],
        "real_false_pieces": real_scores["false_pieces"], "real_objects": real_scores["objects"],
        "real_object_recall_small": real_scores["object_recall_small"],
        "real_object_recall_larger": real_scores["object_recall_larger"],
        "real_best_threshold": real_scores["best_threshold"], "real_best_threshold_iou": real_scores["best_threshold_iou"],
        "train_minutes": round(seconds / 60, 1), "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    result_path.write_text(json.dumps(result, indent=1))
    return result


def print_row(result: dict) -> None:
    print(f"| {result['variant']:<15} | {result['synthetic_val_iou']:.2f} | {result['real_iou']:.3f} | "
          f"{result['real_object_recall']:.2f} | {result.get('real_object_recall_small', float('nan')):.2f} / "
          f"{result.get('real_object_recall_larger', float('nan')):.2f} | "
          f"{result['real_precision']:.2f} | {result['real_recall']:.2f} | "
          f"{result['real_false_pieces']:>5} | {result['train_minutes']:>5} | "
          f"{result.get('real_best_threshold_iou', float('nan')):.3f} at {result.get('real_best_threshold', float('nan')):.2f} |",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", type=Path, default=ROOT / "profiles" / "real.yaml", help="params profile")
    parser.add_argument("--sources", type=Path, nargs="+", default=[ROOT.parent / "shared" / "real_sources"],
                        help="photo folder(s) the folder engine draws every query from, in turn")
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real_dev")
    parser.add_argument("--work", type=Path, default=Path("/tmp/deeptrash-real"), help="work folder (kept)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    parser.add_argument("--epochs", type=int, help="override train.epochs (budget)")
    parser.add_argument("--train", type=int, help="override synth.train: composites (budget)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                        help="extra override for every variant, e.g. synth.size=128 (repeatable)")
    parser.add_argument("--fresh", action="store_true", help="re-run variants even if their results exist")
    parser.add_argument("--reuse-full", action="store_true",
                        help="keep the full variant's model and row from an earlier run even if code or params "
                             "changed since (to re-score it without a new hour of training)")
    args = parser.parse_args()
    for folder, what in ((*[(s, "--sources") for s in args.sources], (args.real, "--real"))):
        if not folder.is_dir():
            raise SystemExit(f"{what}: {folder} is not a folder")
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)} (choose from {', '.join(VARIANTS)})")
    if any(n != "full" and all(k.startswith(EVAL_ONLY) for k in VARIANTS[n]) for n in names) and "full" not in names:
        names.insert(0, "full")
    profile = yaml.safe_load(args.profile.read_text())
    budget = {}
    if args.epochs:
        budget["train.epochs"] = args.epochs
    if args.train:
        budget["synth.train"] = args.train
    for item in args.set:
        key, _, value = item.partition("=")
        budget[key] = yaml.safe_load(value)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "log.txt"
    base = variant_params(profile, {}, [s.resolve() for s in args.sources], args.real.resolve(), budget)
    from deeptrash.params import validate_params

    for name in names:
        validate_params(variant_params(profile, VARIANTS[name], [s.resolve() for s in args.sources], args.real.resolve(), budget),
                        f"variant {name}")
    print(f"sources {args.sources}, real photos {args.real}; budget: {base['synth']['train']} composites at "
          f"{base['synth']['size']} px, {base['train']['epochs']} epochs, {base['train']['backbone']}; "
          f"real photos scored in {base['evaluate']['mode']} mode; log {log}", flush=True)
    prepare_sources(work, base, log)
    print("| variant | synth val IoU | real IoU | object recall | small / larger objects | precision | recall "
          "| false pieces | train min | real IoU at its best threshold |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        params = variant_params(profile, VARIANTS[name], [s.resolve() for s in args.sources], args.real.resolve(), budget)
        print_row(run_variant(name, params, work, args.real.resolve(), log, args.fresh, args.reuse_full))


if __name__ == "__main__":
    main()
