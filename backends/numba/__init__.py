"""The Numba backend (`qcompiler.backends.numba`): lowered integer graphs run with
`@njit` kernels, bit-exact with the numpy reference interpreter."""
from .errors import NumbaBackendError
from .executor import NumbaExecutor

__all__ = ["NumbaBackendError", "NumbaExecutor"]
