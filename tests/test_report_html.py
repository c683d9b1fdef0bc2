"""The HTML report of a compiled digits CNN: one self-contained page with a row per
layer, the SQNR and bits plots, the pipeline's timings and an IR diff per changed pass,
checked in the HTML and, where Chromium is installed (.ci/run installs Debian's), in
headless Chromium: the page loads, renders to a screenshot and its DOM has every row
and plot. Codebook layers show as codebooks in the bits column."""
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from qcompiler.api import compile
from qcompiler.cli.demo import load_demo_model
from qcompiler.ir.errors import QIRError
from qcompiler.pipelines import split
from qcompiler.testing.zoo import digits_data

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# the flags a closed network needs: no background connections, a fresh profile
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CODEBOOK_PIPELINE = ("fold-constants,canonicalize,fold-bn,fuse-activations,"
                     "codebook-quantize{codebook_bits=6,index_bits=4},calibrate,quantize,lower")


class Elements(HTMLParser):
    """Start tags with their attributes, and the URLs the page would fetch."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.fetched = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self.fetched += [attrs[k] for k in ("src", "href") if k in attrs]

    def count(self, tag: str, css: str) -> int:
        return sum(1 for t, a in self.tags if t == tag and css in (a.get("class") or "").split())

    def ids(self) -> set:
        return {a["id"] for _, a in self.tags if "id" in a}


@pytest.fixture(scope="module")
def calibration():
    return digits_data()[0][:48].numpy()


@pytest.fixture(scope="module")
def compiled(calibration):
    return compile(load_demo_model(), "armv8", calibration=calibration, progress=False)


@pytest.fixture(scope="module")
def page(compiled, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    text = compiled.report(format="html", path=path)
    assert path.read_text(encoding="utf-8") == text
    return path


def test_a_row_per_layer_plots_passes_and_diffs(compiled, page):
    rep, html = compiled.report(), Elements(page.read_text(encoding="utf-8"))
    assert html.count("tr", "layer") == len(rep.rows) > 0
    assert {"plot-sqnr", "plot-bits", "layers", "passes"} <= html.ids()
    assert "plot-pareto" not in html.ids()  # no sweep, no front
    assert html.count("tr", "pass") == len(compiled.pass_log) == len(split(compiled.pipeline))
    changed = [r.name for r in compiled.pass_log if r.changed]
    assert {"fold-bn", "calibrate", "quantize", "lower"} <= set(changed)
    assert html.count("details", "ir-diff") == len(changed)
    assert html.fetched == []  # self-contained: nothing to load from anywhere


def test_the_diffs_show_what_each_pass_changed(compiled):
    log = {r.name: r for r in compiled.pass_log}
    assert any("q<" in line for line in log["quantize"].diff if line.startswith("+"))
    assert any("qconv2d" in line for line in log["lower"].diff if line.startswith("+"))
    assert log["fold-bn"].nodes_after < log["fold-bn"].nodes_before
    assert all(r.seconds >= 0 for r in log.values())


def test_a_bad_format_or_html_only_option_is_an_error(compiled):
    with pytest.raises(QIRError, match="report format 'pdf'"):
        compiled.report(format="pdf")
    with pytest.raises(QIRError, match="format='html' only"):
        compiled.report(path="r.html")


def test_codebook_layers_show_as_codebooks_not_w8(calibration):
    cm = compile(load_demo_model(), "armv8", calibration=calibration[:16], progress=False, pipeline=CODEBOOK_PIPELINE)
    rows = {r["layer"]: r for r in cm.report().rows if r["op"] == "qcodebook_conv2d"}
    assert rows and all(r["w_codebook"].startswith("cb") for r in rows.values())
    # 16 kernels of 8 channels on a 16-word codebook: 4-bit indices for 9 weights each
    second = rows["features_5"]
    assert second["w_codebook"] == "cb4:3x3" and second["w_bits_per_weight"] < 2
    assert f"cb4:3x3({second['w_bits_per_weight']:.2g}b)a8" in str(cm.report())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's)")
def test_the_page_renders_in_headless_chromium(compiled, page, tmp_path):
    base = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    rendered = Elements(dom)
    assert rendered.count("tr", "layer") == len(compiled.report().rows)
    assert sum(1 for t, _ in rendered.tags if t == "svg") == 2  # SQNR and bits plots
    shot = tmp_path / "report.png"
    subprocess.run(base + [f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1600, 1200)
    assert (pixels < 128).mean() > 0.01  # text and bars drawn, not a blank page


def test_a_pareto_sweep_is_plotted_with_its_front_and_chosen_point(compiled):
    from qcompiler.pareto.result import ParetoResult, SweepPoint
    from qcompiler.pareto.validation import Score

    def point(size, accuracy, bits):
        return SweepPoint(budget=size, bits={"a": bits[0], "b": bits[1]}, size=size, bops=size * 64,
                          latency=size / 10, objective=1 / size, accuracy=accuracy, loss=1 - accuracy)

    sweep = ParetoResult("armv8", "size", "hessian", ("a", "b"),
                         (point(100, 0.80, (2, 2)), point(150, 0.90, (4, 2)), point(160, 0.85, (2, 4)),
                          point(200, 0.95, (8, 8))), Score(0.96, 0.1), ("", ""), (2, 4, 8))
    sweep.choose(min_accuracy=0.9)
    svg = Elements(compiled.report(format="html", pareto=sweep))
    assert "plot-pareto" in svg.ids()
    assert [p.size for p in sweep.front] == [100, 150, 200]  # (2,4) at 160 is beaten by (4,2) at 150
