"""Evaluate and audit stages (and stages/predict.py): scores, real labels, prediction, audit."""
