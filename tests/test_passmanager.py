"""The pass manager: pipeline strings, options, errors that name passes, fixed points."""
from dataclasses import dataclass
from typing import ClassVar

import pytest

from qcompiler.ir.parser import parse
from qcompiler.passmanager import Pass, PassError, PassManager, PipelineError, parse_pipeline

GRAPH = """graph @g(%x: f32[4]) -> (f32[4]) {
  %c = const() {value=dense<2.0> : f32[]} : f32[]
  %d = const() {value=dense<2.0> : f32[]} : f32[]
  %a = identity(%x) : f32[4]
  %m = mul(%a, %c) : f32[4]
  %n = mul(%a, %d) : f32[4]
  %y = add(%m, %n) : f32[4]
  return %y
}"""


@dataclass(frozen=True)
class Explode(Pass):
    name: ClassVar[str] = "explode"

    def run(self, graph, ctx):
        raise ValueError("boom")


def test_pipeline_string_with_options():
    passes = parse_pipeline("canonicalize, fold-constants{max_elements=100},dce")
    assert [p.name for p in passes] == ["canonicalize", "fold-constants", "dce"]
    assert passes[1].max_elements == 100
    assert passes[1].describe() == "fold-constants{max_elements=100}"


def test_unknown_pass_suggests_the_closest_name():
    with pytest.raises(PipelineError, match=r"unknown pass 'fold-bm'; did you mean 'fold-bn'"):
        parse_pipeline("canonicalize,fold-bm")


def test_unknown_or_mistyped_options_are_explained():
    with pytest.raises(PipelineError, match=r"'fold-constants' has no option 'max_elemnts'; did you mean 'max_elements'"):
        parse_pipeline("fold-constants{max_elemnts=3}")
    with pytest.raises(PipelineError, match=r"has no option 'color'; options: max_elements"):
        parse_pipeline("fold-constants{color=3}")
    with pytest.raises(PipelineError, match=r"'dce' has no option 'depth'; it takes no options"):
        parse_pipeline("dce{depth=2}")
    with pytest.raises(PipelineError, match=r"option 'max_elements' expects int, got 'many'"):
        parse_pipeline("fold-constants{max_elements=many}")


@pytest.mark.parametrize("text, message", [
    ("dce{", "pipeline 'dce{': unclosed '{' after 'dce'"),
    ("dce}", "pipeline 'dce}': expected ',' at column 4"),
    ("dce cse", "pipeline 'dce cse': expected ',' at column 5"),
    ("dce,,cse", "pipeline 'dce,,cse': expected a pass name at column 5"),
    (",dce", "pipeline ',dce': expected a pass name at column 1"),
    ("fold-constants{max_elements}", "pass 'fold-constants': option 'max_elements' needs the form key=value"),
])
def test_malformed_pipeline_strings_are_located(text, message):
    with pytest.raises(PipelineError) as info:
        parse_pipeline(text)
    assert str(info.value) == message


def test_a_failing_pass_is_named_with_the_passes_before_it():
    pm = PassManager(["canonicalize,cse", Explode(), "dce"])
    with pytest.raises(PassError, match=r"pass 'explode' failed \(after: canonicalize, cse\): ValueError: boom"):
        pm.run(parse(GRAPH))
    assert [r.name for r in pm.history] == ["canonicalize", "cse"]


def test_steps_repeat_the_sequence_until_nothing_changes():
    g = parse(GRAPH)
    pm = PassManager("canonicalize,cse,dce", steps=5)
    pm.run(g)
    assert [n.op for n in g.nodes] == ["const", "mul", "add"]
    # round 1 rewrites, round 2 changes nothing, so the manager stops well before 5 rounds
    assert len(pm.history) == 6 and not any(r.changed for r in pm.history[3:])


def test_dotted_options_need_a_dict_option_given_only_one_way():
    assert parse_pipeline("allocate-bits{budget.bops=40%,budget.size=3}")[0].budget == {"bops": "40%", "size": 3}
    for text in ("allocate-bits{budget=3,budget.bops=40%}", "allocate-bits{budget.bops=40%,budget=3}"):
        with pytest.raises(PipelineError, match=r"option 'budget' is given both whole and as 'budget.<key>'"):
            parse_pipeline(text)
    with pytest.raises(PipelineError, match=r"option 'max_elements' takes no dotted sub-options"):
        parse_pipeline("fold-constants{max_elements.x=3}")


def test_a_boolean_is_not_taken_for_an_int_option():
    with pytest.raises(PipelineError, match=r"option 'max_elements' expects int, got True"):
        parse_pipeline("fold-constants{max_elements=true}")


def test_an_optional_number_option_is_type_checked_and_may_be_none():
    assert parse_pipeline("calibrate{samples=none}")[0].samples is None
    assert parse_pipeline("calibrate{samples=8}")[0].samples == 8
    with pytest.raises(PipelineError, match=r"option 'samples' expects int, got 'abc'"):
        parse_pipeline("calibrate{samples=abc}")
    with pytest.raises(PipelineError, match=r"option 'percentile' expects float, got True"):
        parse_pipeline("calibrate{percentile=true}")
