"""The transformer recipe: outlier migration (smooth-quant) and the choices of transformer-recipe."""
from . import recipe, smooth_quant  # noqa: F401
