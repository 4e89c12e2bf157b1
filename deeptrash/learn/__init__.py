"""Train stage: the segmenter, its losses, input pipeline, pretrained weights, self-training."""
