"""Synthesize stage: sources, the per-sample composite recipe, its image transforms."""
