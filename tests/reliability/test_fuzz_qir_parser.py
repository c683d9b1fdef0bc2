"""Fuzzing the .qir parser: mutated real IR text (every FileCheck case in tests/) either
parses, prints and parses back, or fails with the project's own ParseError/QIRError,
never a Python exception from deep inside. Inputs that once escaped as such exceptions
are kept in fuzz_corpus/ as `// RUN-ERROR:` FileCheck cases, which the suite replays."""
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from qcompiler.ir.errors import QIRError
from qcompiler.ir.parser import parse
from qcompiler.ir.printer import print_graph

TESTS = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "fuzz_corpus"

# fragments of the grammar and of what breaks lexers: numbers past every range,
# escapes, NULs, non-ASCII, unbalanced brackets
FRAGMENTS = ["%", "{", "}", "[", "]", "(", ")", ":", "=", ",", "->", "@", "?", "\"", "\\", "\n",
             "f32", "i8", "u4", "f8e4m3", "i32[2,3]", "f32[?]", "f32[N,3]", "dense<", "<", ">",
             "-1", "0", "1e400", "-inf", "nan", "9" * 30, "0x1p3", "\u00e9", "\x00", "//", "#",
             "q.range", "axis", "return", "graph", "true", "%x", "%y", "[[", "]]"]


def _seeds() -> list:
    texts = []
    for path in sorted(TESTS.rglob("*.qir")):
        if CORPUS in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        try:
            parse(text)
        except QIRError:
            continue  # cases of parse errors are seeds of little value
        texts.append(text)
    return texts


SEEDS = _seeds()


@st.composite
def mutated_ir(draw):
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(text)))
        stop = min(len(text), start + draw(st.integers(1, 20)))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "replace"]))
        fragment = draw(st.sampled_from(FRAGMENTS))
        text = {"delete": text[:start] + text[stop:],
                "insert": text[:start] + fragment + text[start:],
                "duplicate": text[:start] + text[start:stop] + text[start:],
                "replace": text[:start] + fragment + text[stop:]}[kind]
    return text


def _parse_or_own_error(text: str) -> None:
    try:
        graph = parse(text)
    except QIRError:
        return
    blobs = []
    parse(print_graph(graph, blobs), blobs)  # what the printer writes always parses


def test_the_seeds_are_many_real_graphs():
    assert len(SEEDS) >= 50


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_ir())
def test_mutated_ir_parses_or_is_a_parse_error(text):
    _parse_or_own_error(text)
