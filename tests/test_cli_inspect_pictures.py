"""`qcompiler inspect --dot/--svg` draws the graph (networkx + matplotlib, no graphviz binary)."""
import xml.etree.ElementTree as ET

import torch

from qcompiler.cli import main
from qcompiler.ir.serialize import save_qir
from qcompiler.model.loading import load_model


def test_inspect_writes_dot_and_svg(tmp_path, capsys):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    save_qir(load_model(model, torch.zeros(1, 1, 8, 8)), tmp_path / "m.qir")
    code = main(["inspect", str(tmp_path / "m.qir"), "--dot", str(tmp_path / "m.dot"), "--svg", str(tmp_path / "m.svg")])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{sum(p.numel() for p in model.parameters())} parameters" in out
    dot = (tmp_path / "m.dot").read_text()
    assert dot.startswith('digraph "') and dot.count("->") == 5  # input, conv, relu, flatten, linear, output
    for op in ("conv2d", "relu", "flatten", "linear"):
        assert f'label="{op}"' in dot
    root = ET.parse(tmp_path / "m.svg").getroot()
    assert root.tag.endswith("svg")
