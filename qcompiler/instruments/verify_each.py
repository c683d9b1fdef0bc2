"""VerifyEach: run the verifier on the input and after every pass."""
from __future__ import annotations

from ..ir.errors import VerifyError
from ..ir.verifier import verify
from ..passmanager import Instrument


class VerifyEach(Instrument):
    """Raises VerifyError naming the pass after which the graph stopped verifying (the
    pass manager wraps it in a PassError that also lists the passes before it)."""

    def enter_pipeline(self, graph, ctx) -> None:
        try:
            verify(graph)
        except VerifyError as e:
            raise VerifyError(f"the input graph does not verify: {e}") from None

    def after_pass(self, p, graph, ctx, result) -> None:
        try:
            verify(graph)
        except VerifyError as e:
            raise VerifyError(f"IR invalid after pass '{p.name}': {e}") from None
