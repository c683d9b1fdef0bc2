"""Per-layer quantization sensitivity (`sensitivity{metric=...}`), for the bit allocator."""
from . import sensitivity  # noqa: F401
