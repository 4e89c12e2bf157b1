"""DeepTrash: train litter segmentation models without hand-labelled data."""
