"""Register the calibration passes for the .qir cases here, whether or not
qcompiler.passes imports the calibration package yet."""
import qcompiler.passes.calibration  # noqa: F401
