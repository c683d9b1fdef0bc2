"""Helpers shared by the benchmarks: CPU description, latency timing, markdown output."""
from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Callable, Mapping, Sequence

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def cpu_description(flags: Sequence[str] = ("avx2", "avx512_vnni")) -> str:
    """Model name, the listed ISA flags as yes/no, CPU count and load average: enough to
    judge whether a latency number is comparable with another machine's."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    have = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.processor())
    listed = ", ".join(f"{f}={'yes' if f in have else 'no'}" for f in flags)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{model}; {listed}; {os.cpu_count()} logical CPUs (load average {load})"


def interleaved_samples(runs: Mapping[str, Callable[[], object]], repeats: int = 30,
                        warmup: int = 3) -> dict:
    """name -> [(wall s, process CPU s), ...], one pair per call. The callables take turns,
    one call each per round, so a burst of load from other jobs on a shared machine hits
    every entry alike instead of whichever happened to be timed at that moment; the CPU
    time (all threads) shows what a call costs when the machine preempts it."""
    for fn in runs.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            samples[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return samples


def interleaved_median_ms(runs: Mapping[str, Callable[[], object]], repeats: int = 30,
                          warmup: int = 3) -> dict:
    """Median wall time in ms of each callable (see interleaved_samples)."""
    return {name: statistics.median(w for w, _ in t) * 1e3
            for name, t in interleaved_samples(runs, repeats, warmup).items()}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """`align` holds one character per column: l (default), r or c."""
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    spec = [marks[align[i] if i < len(align) else "l"] for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(spec) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(heading: str, body: str, path: Path = RESULTS) -> None:
    """Replace the `## heading` section of the results file (up to the next `## `), or
    append it; other sections are left exactly as they are."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


def numba_run_note(command: str, started: float, start_load: Sequence[str], flags: Sequence[str]) -> str:
    """The provenance paragraph of a one-thread Numba timing run: command, date, commit,
    duration, load average at both ends (the machine is shared) and the CPU's flags."""
    import numba

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    end_load = Path("/proc/loadavg").read_text().split()[:3]
    return (f"Command (from the repository root): `{command}` ({date.today()}, bench at commit {commit}, "
            f"{time.time() - started:.0f} s); load average {' '.join(start_load)} at start, {' '.join(end_load)} at "
            f"the end, on the shared 2-core machine: only same-run ratios of median process CPU time count. "
            f"1 Numba thread.\n\nCPU: {cpu_description(flags)}; numba {numba.__version__}")

