"""Keep HiGHS from writing to the process's stdout.

The HiGHS bundled with scipy (1.17 and earlier) printf()s a leftover debug line,
"HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();", whenever its
MIP solver repairs a solution, whatever its output options (ERGO-Code/HiGHS#2783; gone
upstream). Passes never print, so file descriptor 1 points at /dev/null during a solve.
Other threads' writes to stdout in that window are lost too.
"""
import contextlib
import ctypes
import os
import sys


@contextlib.contextmanager
def c_stdout_silenced():
    try:
        libc = ctypes.CDLL(None)
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, TypeError, ValueError):  # no C runtime handle or no fd 1: nothing to silence safely
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    try:
        yield
    finally:
        libc.fflush(None)  # the line sits in C's stdio buffer until flushed; flush it into /dev/null
        os.dup2(saved, 1)
        os.close(saved)
