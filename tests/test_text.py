"""Text-overlay detector: precision and recall on a seeded synthetic set.

The set is made by deeptrash/clean/text_set.py (bench/text.py measures a
larger one of the same kind).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from deeptrash.clean.text import find_text_lines, has_text, text_score
from deeptrash.clean.text_set import make_scene, make_set, precision_recall
from deeptrash.params import KindFilterParams

# The decision threshold the filter uses by default.
TEXT_THRESHOLD = KindFilterParams().max_text_score

def test_precision_and_recall_on_seeded_set():
    images, truth = make_set(seed=7, count=60)
    predicted = [has_text(image, TEXT_THRESHOLD) for image in images]
    precision, recall = precision_recall(predicted, truth)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def test_score_is_in_unit_range_and_zero_on_flat_image():
    flat = np.full((128, 128, 3), 90, np.uint8)
    assert text_score(flat) == 0.0
    rng = np.random.default_rng(3)
    scores = [text_score(make_scene(rng, 128)) for _ in range(5)]
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_caption_near_bottom_is_found_where_it_is():
    image = np.full((256, 256, 3), (60, 120, 80), np.uint8)
    cv2.putText(image, "Photo by Jane Doe", (10, 240), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    lines = find_text_lines(image)
    assert lines and lines[0].evidence > TEXT_THRESHOLD
    assert lines[0].y > 200 and lines[0].width > 150


def test_short_label_in_the_middle_counts_less_than_the_same_caption_at_the_edge():
    """A word printed on an object (centre, narrow) is weaker evidence than an edge caption."""
    middle = np.full((256, 256, 3), 200, np.uint8)
    edge = middle.copy()
    cv2.putText(middle, "COLA", (100, 135), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 2)
    cv2.putText(edge, "COLA", (100, 248), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 2)
    assert text_score(middle) < text_score(edge)
    assert not has_text(middle, TEXT_THRESHOLD)


@pytest.mark.parametrize("channels", [1, 4])
def test_accepts_gray_and_bgra(channels):
    image = np.full((200, 300, 3), 30, np.uint8)
    cv2.putText(image, "www.example.com", (10, 190), cv2.FONT_HERSHEY_DUPLEX, 0.9, (240, 240, 240), 2)
    if channels == 1:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    assert has_text(image, TEXT_THRESHOLD)
