"""FileCheck-style tests on the textual IR (LLVM FileCheck / xDSL tests/filecheck, reduced).

A `.qir` test is an input graph, a pipeline and CHECK lines on the printed result:

    // RUN: fold-bn,dce
    graph @g(%x: f32[2]) -> (f32[2]) {
      %y = relu(%x) : f32[2]
      return %y
    }
    // CHECK-LABEL: graph @g
    // CHECK:       %y = relu(%x)
    // CHECK-NOT:   const
    // CHECK-NEXT:  return %y

`// RUN: <pipeline>` (one per file, by convention the first line) is a `parse_pipeline`
string (passes run through a PassManager with a default PassContext); an
empty one or `verify-roundtrip` runs no pass. The rest of the file is parsed as the
input (lines starting with `//` are comments to the parser), verified, run through the
pipeline, verified again and printed; the printed text must parse back to an equal
graph and print identically. The diagnostics the passes reported follow the graph
as comment lines (`// warning [pass] at node: message`). Input blobs (`dense<blob:K>`) come from the `.npz` of the
same name next to the test, as `save_qir` writes it; the output prints arrays of more
than 16 elements as blobs. `// RUN-ERROR: <substring>` instead expects a QIRError
(from parsing, verifying or a pass) whose message contains the substring; the CHECK
lines, if any, then match the error message.

Directives, matched in order against the output:
  CHECK:        the pattern occurs at or after the end of the previous match
  CHECK-NEXT:   ... on the line right after the previous match
  CHECK-SAME:   ... on the same line as the previous match, after it
  CHECK-NOT:    the pattern does not occur between the previous and the next match
                (or the end of the output / of the label block)
  CHECK-LABEL:  like CHECK, but first splits the output into blocks at the labels,
                so the checks between two labels only match inside that block
A pattern is a literal substring (runs of whitespace match any whitespace) with
optional `{{regex}}` blocks; leading and trailing blanks are ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..ir.errors import QIRError

KINDS = ("CHECK", "CHECK-NEXT", "CHECK-SAME", "CHECK-NOT", "CHECK-LABEL")
_DIRECTIVE = re.compile(r"^\s*//\s*(RUN-ERROR|RUN|CHECK[A-Z-]*)\s*:(.*)$")


class FileCheckError(QIRError):
    """A malformed test file: no RUN line, an unknown directive, an empty pattern, ..."""


class CheckFailure(AssertionError):
    """The output does not satisfy a CHECK line; the message shows it and the output."""


@dataclass(frozen=True)
class Check:
    kind: str
    pattern: str
    regex: re.Pattern
    line: int  # line of the directive in the test file


@dataclass(frozen=True)
class TestSpec:
    pipeline: str
    expected_error: Optional[str]
    checks: tuple


def parse_test(text: str, source: str = "<test>") -> TestSpec:
    """Read the RUN / RUN-ERROR / CHECK directives of a test file."""
    runs, errors, checks = [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        m = _DIRECTIVE.match(line)
        if not m:
            continue
        kind, body = m.group(1), m.group(2).strip()
        if kind == "RUN":
            runs.append(body)
        elif kind == "RUN-ERROR":
            if not body:
                raise FileCheckError(f"{source}:{number}: RUN-ERROR needs the expected message substring")
            errors.append(body)
        elif kind in KINDS:
            if not body:
                raise FileCheckError(f"{source}:{number}: {kind} has an empty pattern")
            if kind in ("CHECK-NEXT", "CHECK-SAME") and not checks:
                raise FileCheckError(f"{source}:{number}: {kind} needs a CHECK before it")
            checks.append(Check(kind, body, compile_pattern(body, f"{source}:{number}"), number))
        else:
            raise FileCheckError(f"{source}:{number}: unknown directive '{kind}'; expected RUN, RUN-ERROR or one of {', '.join(KINDS)}")
    if len(runs) > 1 or len(errors) > 1:
        raise FileCheckError(f"{source}: expected one RUN line (and at most one RUN-ERROR), got {len(runs)} and {len(errors)}")
    if not runs and not errors:
        raise FileCheckError(f"{source}: no '// RUN: <pipeline>' or '// RUN-ERROR: <message>' line")
    return TestSpec(runs[0] if runs else "", errors[0] if errors else None, tuple(checks))


def compile_pattern(pattern: str, where: str = "") -> re.Pattern:
    parts = []
    for i, piece in enumerate(re.split(r"\{\{(.*?)\}\}", pattern)):
        if i % 2:
            parts.append(f"(?:{piece})")
        else:
            parts.append(r"\s+".join(re.escape(w) for w in re.split(r"\s+", piece)))
    try:
        return re.compile("".join(parts))
    except re.error as e:
        raise FileCheckError(f"{where}: bad {{{{regex}}}} in pattern {pattern!r}: {e}") from None


def filecheck(output: str, checks, source: str = "<test>") -> None:
    """Match `checks` against `output`; raise CheckFailure at the first one that fails."""
    lines = output.splitlines()
    labels = [i for i, c in enumerate(checks) if c.kind == "CHECK-LABEL"]
    starts, cursor = [], (0, 0)
    for i in labels:
        found = _search(checks[i], lines, cursor, len(lines))
        if found is None:
            _fail(checks[i], source, "label not found in the output", lines, cursor[0])
        starts.append(found[0])
        cursor = (found[0] + 1, 0)
    bounds = [0] + starts + [len(lines)]
    groups = [0] + labels + [len(checks)]
    for block, (first, last) in enumerate(zip(groups, groups[1:])):
        _match_block(checks[first:last], lines, bounds[block], bounds[block + 1], source)


def _match_block(checks, lines: list, begin: int, end: int, source: str) -> None:
    last: Optional[tuple] = None  # (line, start column, end column) of the previous match
    pending_not: list = []
    for c in checks:
        if c.kind == "CHECK-NOT":
            pending_not.append(c)
            continue
        cursor = (last[0], last[2]) if last else (begin, 0)
        if c.kind == "CHECK-NEXT":
            found = _search(c, lines, (last[0] + 1, 0), min(last[0] + 2, end))
            why = f"expected on the line after the previous match (output line {last[0] + 1})"
        elif c.kind == "CHECK-SAME":
            found = _search(c, lines, cursor, last[0] + 1)
            why = f"expected on the same line as the previous match (output line {last[0] + 1})"
        else:
            found = _search(c, lines, cursor, end)
            why = "not found" + (f" after output line {last[0] + 1}" if last else "")
        if found is None:
            _fail(c, source, why, lines, cursor[0])
        _check_absent(pending_not, lines, cursor, (found[0], found[1]), source)
        pending_not, last = [], found
    _check_absent(pending_not, lines, (last[0], last[2]) if last else (begin, 0), (end, 0), source)


def _search(c: Check, lines: list, start: tuple, stop: int) -> Optional[tuple]:
    """First match at or after (line, column), on lines before `stop`."""
    for n in range(start[0], min(stop, len(lines))):
        m = c.regex.search(lines[n], start[1] if n == start[0] else 0)
        if m:
            return n, m.start(), m.end()
    return None


def _check_absent(nots: list, lines: list, start: tuple, stop: tuple, source: str) -> None:
    for c in nots:
        for n in range(start[0], min(stop[0] + 1, len(lines))):
            text = lines[n][: stop[1]] if n == stop[0] else lines[n]
            if c.regex.search(text, start[1] if n == start[0] else 0):
                _fail(c, source, f"excluded pattern found on output line {n + 1}", lines, n)


def _fail(c: Check, source: str, why: str, lines: list, near: int) -> None:
    lo, hi = max(0, near - 3), min(len(lines), near + 6)
    shown = "\n".join(f"{'>' if n == near else ' '} {n + 1:4d} | {lines[n]}" for n in range(lo, hi))
    raise CheckFailure(f"{source}:{c.line}: {c.kind}: {c.pattern}\n  {why}\n"
                       f"output lines {lo + 1}-{hi} (> marks where the search started):\n{shown}")
