"""The demo engine's offline photo renderer (entry point: photos.demo_photos)."""
