"""Running a kernel over items (rows, elements, product tasks) serially or as its chunked
_parallel twin: a workqueue parallel launch costs ~50 us CPU even at one thread, more than
small ops take, so the VNNI conv's parallel_chunks decides from the work and the thread count."""
from __future__ import annotations

from .conv_vnni import parallel_chunks

# one element of the float and I-BERT row kernels takes about as long as this many multiply-adds
# of the VNNI conv, whose MAC count parallel_chunks is calibrated on (~160 per ns at one thread;
# measured per element: float layer norm 1.8 ns, softmax 5 ns, erf GELU 7-11 ns), so a row op goes
# parallel from ~80k elements, ~0.15-0.8 ms of serial kernel
ROW_ELEMENT_MACS = 400


def run_rows(serial, parallel, items: int, work_macs: int, *args) -> None:
    """serial(0, items, *args), or parallel(chunks, *args) when `work_macs` (the work in the
    VNNI conv's multiply-adds, which parallel_chunks is calibrated on) pays for a launch at
    the current thread count. Both give the same bits."""
    chunks = parallel_chunks(work_macs)
    if chunks:
        parallel(chunks, *args)
    else:
        serial(0, items, *args)
