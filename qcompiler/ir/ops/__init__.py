"""Op definitions, one module per family; importing this package registers them all."""
from . import builtin  # noqa: F401
