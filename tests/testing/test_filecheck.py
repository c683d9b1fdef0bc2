"""The FileCheck matcher and the `.qir` test runner fail when they should, saying why."""
from dataclasses import dataclass
from typing import ClassVar

import pytest

from qcompiler import passmanager
from qcompiler.passmanager import Pass, PassResult
from qcompiler.testing import CheckFailure, FileCheckError, filecheck, parse_test, run_qir_test

pytest_plugins = ["pytester"]

OUTPUT = """graph @a(%x: f32[2]) -> (f32[2]) {
  %y = relu(%x) : f32[2]
  %z = add(%y, %x) : f32[2]
  return %z
}
graph @b(%x: f32[2]) -> (f32[2]) {
  %7 = neg(%x) : f32[2]
  return %7
}"""


def check(*directives: str) -> None:
    filecheck(OUTPUT, parse_test("// RUN:\n" + "\n".join(directives), "t.qir").checks, "t.qir")


def test_matching_checks_pass():
    check("// CHECK-LABEL: graph @a", "// CHECK: %y = relu(%x)", "// CHECK-SAME: : f32[2]",
          "// CHECK-NOT: neg", "// CHECK-NEXT: %z   =   add(%y, %x)", "// CHECK: return %z",
          "// CHECK-LABEL: graph @b", "// CHECK-NEXT: %{{[0-9]+}} = neg(%x)", "// CHECK-NOT: relu")


@pytest.mark.parametrize("directives, why", [
    (["// CHECK: %y = sigmoid(%x)"], "not found"),
    (["// CHECK: %z = add", "// CHECK: %y = relu"], "not found after output line 3"),
    (["// CHECK: relu", "// CHECK-NEXT: return %z"], "expected on the line after the previous match (output line 2)"),
    (["// CHECK: relu", "// CHECK-SAME: add"], "expected on the same line as the previous match"),
    (["// CHECK: relu(%x)", "// CHECK-SAME: %x"], "expected on the same line"),  # only after the match
    (["// CHECK: graph @a", "// CHECK-NOT: add", "// CHECK: return %z"], "excluded pattern found on output line 3"),
    (["// CHECK: return %7", "// CHECK-NOT: }"], "excluded pattern found on output line 9"),
    (["// CHECK-LABEL: graph @a", "// CHECK: neg", "// CHECK-LABEL: graph @b"], "not found"),
    (["// CHECK-LABEL: graph @c"], "label not found"),
])
def test_failing_checks_fail_with_the_expected_line_and_the_output(directives, why):
    with pytest.raises(CheckFailure) as info:
        check(*directives)
    message = str(info.value)
    assert why in message
    failing_line = next(i for i, d in enumerate(directives, 2) if f"t.qir:{i}:" in message)
    assert directives[failing_line - 2].split(":", 1)[1].strip() in message  # the pattern is shown
    assert "|   %y = relu(%x) : f32[2]" in message or "| graph @b" in message or "|   return %7" in message


@pytest.mark.parametrize("text, message", [
    ("graph @g() -> () {\n  return\n}", "no '// RUN: <pipeline>'"),
    ("// RUN:\n// CHECK-NXT: x", "unknown directive 'CHECK-NXT'"),
    ("// RUN:\n// CHECK:   ", "CHECK has an empty pattern"),
    ("// RUN:\n// CHECK-NEXT: x", "CHECK-NEXT needs a CHECK before it"),
    ("// RUN:\n// RUN: dce", "expected one RUN line"),
    ("// RUN:\n// CHECK: {{[}}", "bad {{regex}}"),
])
def test_malformed_test_files_are_reported(text, message):
    with pytest.raises(FileCheckError, match="t.qir") as info:
        parse_test(text, "t.qir")
    assert message in str(info.value)


GRAPH = """graph @g(%x: f32[2]) -> (f32[2]) {
  %y = relu(%x) {q.bits=4} : f32[2]
  return %y
}
"""


@dataclass(frozen=True)
class DropQAttrs(Pass):
    name: ClassVar[str] = "test-drop-q-attrs"

    def run(self, graph, ctx):
        for node in graph:
            for key in [k for k in node.attrs if k.startswith("q.")]:
                del node.attrs[key]
                ctx.warn(f"dropped {key}", node.label())
        return PassResult(changed=True)


@pytest.fixture
def drop_q_attrs(monkeypatch):
    passmanager.available_passes()  # load the library first so the registry is complete
    monkeypatch.setitem(passmanager._PASSES, DropQAttrs.name, DropQAttrs)


def test_run_line_pipeline_is_applied(drop_q_attrs):
    assert "q.bits" in run_qir_test("// RUN: verify-roundtrip\n" + GRAPH + "// CHECK: q.bits=4")
    out = run_qir_test("// RUN: test-drop-q-attrs\n" + GRAPH + "// CHECK: %y = relu(%x) : f32[2]\n// CHECK-NOT: q.bits\n"
                       "// CHECK: }\n// CHECK-NEXT: // warning [test-drop-q-attrs] at 'relu' (%y): dropped q.bits")
    assert "{q.bits" not in out
    with pytest.raises(CheckFailure, match="CHECK: q.bits=4"):
        run_qir_test("// RUN: test-drop-q-attrs\n" + GRAPH + "// CHECK: q.bits=4", "t.qir")


def test_run_errors():
    bad = GRAPH.replace("relu(%x)", "relu(%w)")
    out = run_qir_test("// RUN-ERROR: use of undefined value %w\n" + bad + "// CHECK: 3:13:")
    assert "use of undefined value %w" in out
    with pytest.raises(CheckFailure, match="expected an error containing 'undefined value %q', got"):
        run_qir_test("// RUN-ERROR: undefined value %q\n" + bad, "t.qir")
    with pytest.raises(CheckFailure, match="but the test ran and printed"):
        run_qir_test("// RUN-ERROR: undefined value\n" + GRAPH, "t.qir")
    with pytest.raises(CheckFailure, match="unexpected error: .*use of undefined value %w"):
        run_qir_test("// RUN:\n" + bad, "t.qir")
    with pytest.raises(CheckFailure, match="unknown pass 'no-such-pass'"):
        run_qir_test("// RUN: no-such-pass\n" + GRAPH, "t.qir")


def test_pytest_collects_qir_files(pytester):
    pytester.makeconftest("from qcompiler.testing.pytest_qir import pytest_collect_file  # noqa: F401")
    pytester.makefile(".qir", good="// RUN:\n" + GRAPH + "// CHECK: relu", bad="// RUN:\n" + GRAPH + "// CHECK: sigmoid")
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*bad.qir:6: CHECK: sigmoid*", "*not found*", "*relu(%x) {q.bits=4}*"])
