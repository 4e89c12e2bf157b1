"""One thin script per DVC stage: read params, call deeptrash, write outputs."""
