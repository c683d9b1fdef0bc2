"""Errors of accuracy-control."""
from qcompiler.ir.errors import QIRError


class AccuracyControlError(QIRError):
    """No usable validation (missing, malformed, a metric that is not callable or returns
    no finite number), or, with `strict`, a drop the pass could not bring within bounds."""
