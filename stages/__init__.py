"""The pipeline's stages, one script each, plus the user's predict command.

Every module but one is a DVC stage of dvc.yaml (scrape, filter, crop,
synthesize, train, evaluate, audit): parse argv (each takes `--params FILE`), load
params, call deeptrash, write its outputs atomically. `predict` is not a stage:
it is the command a user runs on their own photos with the trained model
(`python -m stages.predict PHOTO... --out DIR`), kept here beside the stages
because it is a script of the same kind.
"""
