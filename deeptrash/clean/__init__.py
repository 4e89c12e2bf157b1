"""Filter and crop stages: photo quality checks, text overlays, automatic cut-outs."""
