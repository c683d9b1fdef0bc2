"""Register the calibration and quantization passes for the .qir cases here, whether or
not qcompiler.passes imports those packages yet."""
import qcompiler.passes.calibration  # noqa: F401
import qcompiler.passes.quantize  # noqa: F401
