"""AdaBN on real photos: one trained model scored as trained, then with its decoder's BatchNorm
statistics taken from unlabelled real tiles (train.selftrain.adapt_bn), the same model both ways.

    python bench/adapt_bn.py /tmp/work/full/models               # a model trained with adapt_bn: false
    python bench/adapt_bn.py models --thresholds 0.3 0.35 0.4 --params profiles/real.yaml

Comparing one model with itself removes the training-to-training spread (about 0.07 real
IoU between trainings of the same params, docs/real-photos.md), so a small gain can be seen. Rows:

- ``as trained``: the model as it was saved;
- ``AdaBN, all``: statistics from every tile of every photo of `--real` (images only, never
  the masks), as the profile does with its scenes, scored on all of them;
- ``AdaBN, other half``: statistics from the even-numbered photos, scored on the odd ones,
  and the other way round (each row scores only the half it did not adapt on), next to
  ``as trained`` and ``AdaBN, all`` scored on the same half. If a gain came from fitting the
  very photos it is scored on, the other-half rows would lose it.

The views, tile size and overlap come from `--params` (`evaluate` section; the tiles for
the statistics from `train.selftrain`). Prints real IoU, object recall, precision and
false pieces for each threshold.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, help="folder with segmenter.keras (a train stage's --models)")
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real_dev",
                        help="labelled real photos (images/ + masks/, COCO or LabelMe)")
    parser.add_argument("--params", type=Path, default=ROOT / "profiles" / "real.yaml",
                        help="params file whose evaluate and train.selftrain sections are used")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.35, 0.4])
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def predict_all(model, photos, size: int, cfg) -> list[np.ndarray]:
    from deeptrash.learn.inference import predict_probabilities

    return [predict_probabilities(model, image, size, cfg.mode, cfg.tile_size, cfg.tile_overlap, 32,
                                  cfg.scales, cfg.flip).astype(np.float16) for _, image, _ in photos]


def adapted_tiles(photos, size: int, settings) -> np.ndarray:
    from deeptrash.learn.selftrain import photo_tiles

    return np.concatenate([photo_tiles(image, size, settings.tile_size, settings.tile_overlap)
                           for _, image, _ in photos])


def scores(photos, probs, keep: list[int], threshold: float) -> dict:
    from deeptrash.measure import metrics

    return metrics.aggregate([metrics.image_scores(photos[i][2] > 127, probs[i].astype(np.float32) >= threshold)
                              for i in keep])


def main(argv=None) -> None:
    args = parse_args(argv)
    from tqdm import tqdm

    from deeptrash.learn.inference import model_image_size
    from deeptrash.learn.model import load_segmenter
    from deeptrash.learn.selftrain import adapt_batchnorm
    from deeptrash.measure import labels

    from deeptrash.params import load_params

    params = load_params(args.params)  # validated: a wrong key is a one-line error, not a KeyError
    cfg, settings = params.evaluate, params.train.selftrain
    path = args.models / "segmenter.keras"

    def fresh_model():
        model = load_segmenter(path)
        return model, model_image_size(path, model)

    model, size = fresh_model()
    photos = list(tqdm(labels.load_real(args.real), desc="read", unit="photo"))
    halves = {"even": list(range(0, len(photos), 2)), "odd": list(range(1, len(photos), 2))}
    everything = list(range(len(photos)))
    probs = {"as trained": predict_all(model, photos, size, cfg)}
    adapt_batchnorm(model, adapted_tiles(photos, size, settings), 32, args.seed)
    probs["AdaBN, all"] = predict_all(model, photos, size, cfg)
    for source, target in (("even", "odd"), ("odd", "even")):
        model, size = fresh_model()
        adapt_batchnorm(model, adapted_tiles([photos[i] for i in halves[source]], size, settings), 32, args.seed)
        probs[f"AdaBN, {source} half"] = predict_all(model, photos, size, cfg)

    print(f"{args.models}: {len(photos)} photos of {args.real}, views {cfg.scales} flip {cfg.flip}")
    print("| model | scored on | threshold | real IoU | object recall | precision | false pieces |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = [("as trained", "all", everything), ("AdaBN, all", "all", everything)]
    for source, target in (("even", "odd"), ("odd", "even")):
        rows += [("as trained", target, halves[target]), ("AdaBN, all", target, halves[target]),
                 (f"AdaBN, {source} half", target, halves[target])]
    for name, part, keep in rows:
        for threshold in args.thresholds:
            s = scores(photos, probs[name], keep, threshold)
            print(f"| {name} | {part} | {threshold} | {s['iou']:.3f} | {s['object_recall']:.3f} | "
                  f"{s['precision']:.3f} | {s['false_pieces']} |", flush=True)


if __name__ == "__main__":
    from deeptrash.errors import UserError

    try:
        main()
    except UserError as error:
        raise SystemExit(f"error: {error}") from None
