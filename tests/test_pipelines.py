"""Pipeline editing: default pipelines per target, insert/replace/remove by pass name."""
import pytest

from qcompiler.passmanager import PipelineError, make_pass, parse_pipeline
from qcompiler.pipelines import default_pipeline, insert_after, insert_before, names, remove, replace, split, to_string
from qcompiler.targets import get_target


def test_default_pipeline_is_the_targets_one_pass_per_item():
    p = default_pipeline("armv8")
    assert ",".join(p) == get_target("armv8").default_pipeline
    assert "calibrate{method=mse}" in p and p[-1] == "lower"


def test_options_with_commas_stay_in_one_item():
    assert split("fold-bn,calibrate{method=mse,samples=8},dce") == ["fold-bn", "calibrate{method=mse,samples=8}", "dce"]


def test_insert_replace_remove():
    p = "canonicalize,fold-bn,calibrate{method=mse},dce"
    assert names(insert_after(p, "fold-bn", "cse", "dce")) == [
        "canonicalize", "fold-bn", "cse", "dce", "calibrate", "dce"]
    assert names(insert_before(p, "canonicalize", "cse")) == ["cse", "canonicalize", "fold-bn", "calibrate", "dce"]
    assert replace(p, "calibrate", "calibrate{method=kl}")[2] == "calibrate{method=kl}"
    assert names(remove(p, "fold-bn")) == ["canonicalize", "calibrate", "dce"]
    assert p == "canonicalize,fold-bn,calibrate{method=mse},dce"  # arguments are never changed


def test_pass_instances_mix_with_strings():
    p = insert_after(["fold-bn", "dce"], "fold-bn", make_pass("calibrate", {"method": "kl"}))
    assert names(p) == ["fold-bn", "calibrate", "dce"]
    assert [x.name for x in parse_pipeline(p)] == ["fold-bn", "calibrate", "dce"]
    assert to_string(p).startswith("fold-bn,calibrate{method='kl'")


def test_anchor_missing_names_it_and_the_passes_present():
    with pytest.raises(PipelineError, match=r"pass 'fuse' is not in the pipeline \(it has: fold-bn, dce\)"):
        insert_after("fold-bn,dce", "fuse", "cse")
