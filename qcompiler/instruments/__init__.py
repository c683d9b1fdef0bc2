"""Instruments: hooks every pass runs inside (TVM-style), so passes never verify, time,
print or dump themselves."""
from .dump_ir import DumpIR
from .keep_before import KeepBefore
from .keep_float import KeepFloat
from .pass_log import PassLog, PassRecord
from .numerics_check import NumericsCheck, NumericsError, NumericsRecord
from .print_after import PrintAfter
from .time_passes import PassTime, TimePasses
from .verify_each import VerifyEach

__all__ = ["VerifyEach", "TimePasses", "PassTime", "PrintAfter", "DumpIR", "KeepBefore", "KeepFloat", "NumericsCheck",
           "NumericsError", "NumericsRecord", "PassLog", "PassRecord"]
