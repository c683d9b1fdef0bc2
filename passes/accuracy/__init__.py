"""Accuracy control (`accuracy-control{max_drop=...}`): layers kept float until the
validation metric is within bounds."""
from . import accuracy_control  # noqa: F401
