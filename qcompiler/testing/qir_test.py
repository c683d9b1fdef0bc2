"""Run one `.qir` test file: parse, run the RUN pipeline, print, check (format in
filecheck.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..ir.equality import graph_diff
from ..ir.errors import QIRError
from ..ir.parser import parse
from ..ir.printer import print_graph
from ..ir.serialize import load_blobs
from ..ir.verifier import verify
from ..passmanager import PassContext, PassManager
from .filecheck import CheckFailure, filecheck, parse_test

NO_PASSES = ("", "verify-roundtrip")


def run_qir_file(path) -> str:
    """Run a `.qir` test file; `dense<blob:K>` in it refers to the `.npz` of the same name."""
    path = Path(path)
    return run_qir_test(path.read_text(), str(path), load_blobs(path))


def run_qir_test(text: str, source: str = "<test>", blobs: Optional[list] = None) -> str:
    """Run the test in `text`; returns the output the CHECK lines matched (the printed
    graph followed by the passes' diagnostics as `// ...` lines, or the error message
    for a RUN-ERROR test). Raises CheckFailure on a
    mismatch and FileCheckError on a malformed test file."""
    spec = parse_test(text, source)
    ctx = PassContext()
    try:
        graph = parse(text, blobs, source=source)
        if spec.pipeline not in NO_PASSES:
            PassManager(spec.pipeline).run(graph, ctx)
            try:
                verify(graph)
            except QIRError as e:
                raise QIRError(f"IR invalid after pipeline '{spec.pipeline}': {e}") from None
    except QIRError as e:
        if spec.expected_error is None:
            raise CheckFailure(f"{source}: unexpected error: {e}") from None
        if spec.expected_error not in str(e):
            raise CheckFailure(f"{source}: expected an error containing {spec.expected_error!r}, got:\n{e}") from None
        filecheck(str(e), spec.checks, source)
        return str(e)
    blobs: list = []
    output = print_graph(graph, blobs)
    if spec.expected_error is not None:
        raise CheckFailure(f"{source}: expected an error containing {spec.expected_error!r}, "
                           f"but the test ran and printed:\n{output}")
    _check_roundtrip(output, blobs, graph, source)
    # diagnostics follow the graph as comments, so CHECK lines can match warnings too
    output += "".join(f"// {d}\n" for d in ctx.diagnostics)
    filecheck(output, spec.checks, source)
    return output


def _check_roundtrip(output: str, blobs: list, graph, source: str) -> None:
    try:
        again = parse(output, blobs, source=f"{source} (printed output)")
    except QIRError as e:
        raise CheckFailure(f"{source}: the printed output does not parse back: {e}\n{output}") from None
    diff = graph_diff(again, graph)
    if diff is not None:
        raise CheckFailure(f"{source}: the printed output parses to a different graph: {diff}\n{output}")
    reprinted = print_graph(again, [])
    if reprinted != output:
        raise CheckFailure(f"{source}: printing the re-parsed graph gives different text:\n{reprinted}")
