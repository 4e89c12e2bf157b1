"""Metric functions against cases computed by hand."""
import numpy as np
import pytest

from deeptrash.measure import metrics


def square(shape, y0, y1, x0, x1):
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_partial_overlap_by_hand():
    # truth: 4x4 = 16 px at rows/cols 0..3; pred: 4x4 at rows 2..5, cols 0..3
    # overlap 2x4 = 8; union 24; image 10x10 = 100 px.
    truth = square((10, 10), 0, 4, 0, 4)
    pred = square((10, 10), 2, 6, 0, 4)
    counts = metrics.confusion_counts(truth, pred)
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (8, 8, 8, 76)
    assert metrics.iou(truth, pred) == pytest.approx(8 / 24)
    assert metrics.dice(truth, pred) == pytest.approx(16 / 32)
    assert metrics.precision(truth, pred) == pytest.approx(0.5)
    assert metrics.recall(truth, pred) == pytest.approx(0.5)
    assert metrics.pixel_accuracy(truth, pred) == pytest.approx(84 / 100)


def test_uint8_masks_read_as_nonzero():
    truth = square((6, 6), 0, 3, 0, 3).astype(np.uint8) * 255
    pred = square((6, 6), 0, 3, 0, 2).astype(np.uint8)
    assert metrics.iou(truth, pred) == pytest.approx(6 / 9)
    assert metrics.recall(truth, pred) == pytest.approx(6 / 9)
    assert metrics.precision(truth, pred) == 1.0


def test_empty_cases_are_defined():
    empty = np.zeros((5, 5), bool)
    some = square((5, 5), 1, 3, 1, 3)
    both = metrics.scores_from_counts(metrics.confusion_counts(empty, empty))
    assert both == {"iou": 1.0, "dice": 1.0, "precision": 1.0, "recall": 1.0, "accuracy": 1.0}
    false_alarm = metrics.scores_from_counts(metrics.confusion_counts(empty, some))
    assert false_alarm["iou"] == 0 and false_alarm["dice"] == 0
    assert false_alarm["precision"] == 0 and false_alarm["recall"] == 1.0
    assert false_alarm["accuracy"] == pytest.approx(21 / 25)
    missed = metrics.scores_from_counts(metrics.confusion_counts(some, empty))
    assert missed["iou"] == 0 and missed["dice"] == 0
    assert missed["precision"] == 1.0 and missed["recall"] == 0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        metrics.iou(np.zeros((3, 3)), np.zeros((3, 4)))


def test_objects_found_and_false_pieces():
    truth = np.zeros((20, 20), bool)
    truth[1:5, 1:5] = True      # A: 16 px, prediction covers 8 (half) -> found
    truth[1:5, 10:14] = True    # B: 16 px, prediction covers 4 -> missed
    truth[12:16, 1:5] = True    # C: 16 px, not covered -> missed
    pred = np.zeros_like(truth)
    pred[1:3, 1:5] = True       # half of A
    pred[4:5, 10:14] = True     # a quarter of B (touches truth: not false)
    pred[15:18, 15:18] = True   # a piece touching nothing -> false
    pred[8:9, 16:17] = True     # another false piece, 1 px
    result = metrics.object_counts(truth, pred)
    assert result == {"objects": 3, "found": 1, "pieces": 4, "false_pieces": 2, "small_objects": 0, "small_found": 0}
    assert metrics.count_pieces(pred) == 4
    assert metrics.count_pieces(pred, min_area=2) == 3


def test_small_objects_are_counted_apart():
    truth = np.zeros((200, 200), bool)  # small: under 0.1% of 40,000 px = 40 px
    truth[10:16, 10:16] = True          # 36 px, small, found
    truth[10:16, 50:56] = True          # 36 px, small, missed
    truth[100:120, 100:120] = True      # 400 px, found
    pred = np.zeros_like(truth)
    pred[10:16, 10:16] = True
    pred[100:120, 100:115] = True
    counts = metrics.object_counts(truth, pred)
    assert (counts["objects"], counts["found"], counts["small_objects"], counts["small_found"]) == (3, 2, 2, 1)
    scores = metrics.aggregate([metrics.image_scores(truth, pred), metrics.image_scores(truth, np.zeros_like(pred))])
    assert scores["object_recall_small"] == pytest.approx(1 / 4)
    assert scores["object_recall_larger"] == pytest.approx(1 / 2)
    assert scores["small_objects"] == 4


def test_diagonal_neighbours_are_one_piece():
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = mask[1, 1] = True
    assert metrics.count_pieces(mask) == 1


def test_aggregate_pooled_and_mean_differ():
    # Image 1: perfect on a 4-px object. Image 2: 36 px object, half found.
    t1, p1 = square((10, 10), 0, 2, 0, 2), square((10, 10), 0, 2, 0, 2)
    t2, p2 = square((10, 10), 0, 6, 0, 6), square((10, 10), 0, 3, 0, 6)
    rows = [metrics.image_scores(t1, p1), metrics.image_scores(t2, p2)]
    total = metrics.aggregate(rows)
    assert total["iou"] == pytest.approx((4 + 18) / (4 + 36))          # pooled
    assert total["iou_mean"] == pytest.approx((1.0 + 0.5) / 2)         # per image
    assert total["object_recall"] == 1.0 and total["objects"] == 2      # half covered counts
    assert total["false_pieces"] == 0 and total["images"] == 2
    with pytest.raises(ValueError):
        metrics.aggregate([])


def test_no_objects_anywhere_gives_object_recall_one():
    empty = np.zeros((8, 8), bool)
    total = metrics.aggregate([metrics.image_scores(empty, square((8, 8), 0, 2, 0, 2))])
    assert total["object_recall"] == 1.0 and total["false_pieces"] == 1 and total["iou"] == 0


def test_sweep_matches_direct_thresholding():
    rng = np.random.default_rng([7, 1])
    truth = rng.random((16, 16)) < 0.3
    prob = np.clip(truth * 0.4 + rng.random((16, 16)) * 0.6, 0, 1).astype(np.float32)
    thresholds = metrics.DEFAULT_THRESHOLDS
    assert len(thresholds) == 19 and thresholds[0] == 0.05 and thresholds[-1] == 0.95
    counts = metrics.sweep_counts(truth, prob) + metrics.sweep_counts(truth[::-1], prob[::-1])
    rows = metrics.sweep_scores(counts)
    for row in rows:
        direct = metrics.confusion_counts(truth, prob >= row["threshold"])
        pooled = metrics.scores_from_counts(direct + direct)
        assert row["iou"] == pytest.approx(pooled["iou"])
        assert row["precision"] == pytest.approx(pooled["precision"])
    recalls = [row["recall"] for row in rows]
    assert recalls == sorted(recalls, reverse=True)   # higher threshold, less found


def test_extremes_keep_best_and_worst_and_build_few_payloads():
    built = []
    keeper = metrics.Extremes(2)
    scores = {"a": 0.5, "b": 0.9, "c": 0.1, "d": 0.7, "e": 0.3, "f": 0.5}
    for name, score in scores.items():
        keeper.offer(score, name, lambda name=name: built.append(name) or name.upper())
    assert [(s, n) for s, n, _ in keeper.best] == [(0.9, "b"), (0.7, "d")]
    assert [(s, n) for s, n, _ in keeper.worst] == [(0.1, "c"), (0.3, "e")]
    assert [p for _, _, p in keeper.best] == ["B", "D"]
    assert "f" not in built          # neither among the best nor the worst when offered
    none = metrics.Extremes(0)
    none.offer(1.0, "x", lambda: pytest.fail("payload built although nothing is kept"))
    assert none.best == [] and none.worst == []
