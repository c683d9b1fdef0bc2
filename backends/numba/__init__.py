"""The Numba backend (`qcompiler.backends.numba`): lowered integer graphs run with
`@njit` kernels, bit-exact with the numpy reference interpreter."""
import os

import numba

# Numba's default OpenMP pool keeps spinning after a parallel kernel and starves torch on
# the same cores (a 1-thread torch conv went from 1.1 ms to 42 ms here); the workqueue
# layer does not. The layer is fixed at the first parallel call, so choosing it on
# import is in time; an explicit NUMBA_THREADING_LAYER of the user's wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

from .source_stamp import drop_stale_kernel_cache  # noqa: E402

drop_stale_kernel_cache()

from .errors import NumbaBackendError  # noqa: E402
from .executor import NumbaExecutor  # noqa: E402

__all__ = ["NumbaBackendError", "NumbaExecutor"]
