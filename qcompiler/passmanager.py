"""Passes, the pass registry, pipelines and the pass manager.

A pass is a frozen dataclass with a kebab-case `name` and its options as fields:

    @register_pass
    @dataclass(frozen=True)
    class Calibrate(Pass):
        name: ClassVar[str] = "calibrate"
        method: str = "minmax"
        def run(self, graph, ctx): ...

or a function turned into one with `@graph_pass("dce")`. Passes mutate the graph in
place and return a PassResult; they never print (progress and diagnostics go through
the PassContext). Instruments (qcompiler.instruments) see every pass. The pass library
(qcompiler.passes) registers itself when the qcompiler package loads.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional, Sequence

import numpy as np

from .ir.core import Graph
from .ir.errors import QIRError


class PassError(QIRError):
    """A pass failed; the message names it and the passes that ran before it."""


class PipelineError(QIRError):
    """A pipeline string or option is malformed or names an unknown pass/option."""


@dataclass
class PassResult:
    changed: bool = False
    stats: dict = field(default_factory=dict)


@dataclass
class Diagnostic:
    severity: str  # "note" | "warning" | "error"
    message: str
    pass_name: str = ""
    node: str = ""

    def __str__(self) -> str:
        where = f" [{self.pass_name}]" if self.pass_name else ""
        at = f" at {self.node}" if self.node else ""
        return f"{self.severity}{where}{at}: {self.message}"


class Progress:
    """Progress reporting passes use for long work; silent unless `enabled`."""

    def __init__(self, enabled: bool = False):
        self.enabled = enabled

    def iterate(self, iterable, desc: str = "", total: Optional[int] = None):
        if not self.enabled:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False)


@dataclass
class PassContext:
    """What passes may consult: target, calibration data, sample inputs, validation
    (data, metric) for accuracy-control, a seeded RNG, a progress reporter and the
    diagnostics list."""

    target: Any = None
    calibration: Any = None
    example_inputs: Any = None
    validation: Any = None
    seed: int = 0
    progress: Progress = field(default_factory=Progress)
    diagnostics: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    current_pass: str = ""

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)

    def warn(self, message: str, node: str = "") -> None:
        self.diagnostics.append(Diagnostic("warning", message, self.current_pass, node))

    def note(self, message: str, node: str = "") -> None:
        self.diagnostics.append(Diagnostic("note", message, self.current_pass, node))


class Pass:
    """Base of all passes. Subclasses are frozen dataclasses with a kebab-case `name`.

    `requires(graph)` / `ensures(graph)` may raise to state a pass's contract; the
    manager calls them around `run`.
    """

    name: ClassVar[str] = ""

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        raise NotImplementedError

    def requires(self, graph: Graph) -> None:
        pass

    def ensures(self, graph: Graph) -> None:
        pass

    def describe(self) -> str:
        opts = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)) if dataclasses.is_dataclass(self) else ""
        return f"{self.name}{{{opts}}}" if opts else self.name


_PASSES: dict[str, type] = {}


def register_pass(cls: type) -> type:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", cls.name or ""):
        raise ValueError(f"pass class {cls.__name__} needs a kebab-case `name`, got {cls.name!r}")
    if cls.name in _PASSES and _PASSES[cls.name] is not cls:
        raise ValueError(f"pass '{cls.name}' is registered twice")
    _PASSES[cls.name] = cls
    return cls


def graph_pass(name: str) -> Callable:
    """Turn `fn(graph, ctx) -> PassResult | bool` into a registered, option-less pass."""

    def deco(fn: Callable) -> type:
        def run(self, graph, ctx):
            out = fn(graph, ctx)
            return out if isinstance(out, PassResult) else PassResult(bool(out))

        cls = dataclass(frozen=True)(type(fn.__name__, (Pass,), {"name": name, "run": run, "__doc__": fn.__doc__,
                                                                  "__annotations__": {"name": ClassVar[str]}}))
        return register_pass(cls)

    return deco


def available_passes() -> dict:
    return dict(sorted(_PASSES.items()))


def get_pass(name: str) -> type:
    try:
        return _PASSES[name]
    except KeyError:
        hint = difflib.get_close_matches(name, list(_PASSES), n=3)
        more = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else f"; known passes: {', '.join(sorted(_PASSES))}"
        raise PipelineError(f"unknown pass '{name}'{more}") from None


# --- pipelines ------------------------------------------------------------------------

def parse_pipeline(text: str | Sequence) -> list:
    """`"fold-bn,calibrate{method=mse,samples=8},dce"` -> list of Pass instances.
    Lists may mix strings and Pass instances."""
    if not isinstance(text, str):
        out = []
        for item in text:
            out.extend(parse_pipeline(item) if isinstance(item, str) else [item])
        return out
    passes, i, n = [], 0, len(text)
    while i < n:
        m = re.compile(r"\s*([A-Za-z0-9_-]+)\s*").match(text, i)
        if not m:
            raise PipelineError(f"pipeline {text!r}: expected a pass name at column {i + 1}")
        name, i = m.group(1), m.end()
        opts = {}
        if i < n and text[i] == "{":
            depth, j = 0, i
            while j < n:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            if depth:
                raise PipelineError(f"pipeline {text!r}: unclosed '{{' after '{name}'")
            opts = _parse_options(text[i + 1:j], name)
            i = j + 1
        passes.append(make_pass(name, opts))
        m = re.compile(r"\s*(,|$)").match(text, i)
        if not m:
            raise PipelineError(f"pipeline {text!r}: expected ',' at column {i + 1}")
        i = m.end()
    return passes


def _split_top(s: str, sep: str) -> list:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _parse_options(s: str, pass_name: str) -> dict:
    opts = {}
    for item in _split_top(s, ","):
        if "=" not in item:
            raise PipelineError(f"pass '{pass_name}': option {item!r} needs the form key=value")
        k, v = item.split("=", 1)
        opts[k.strip()] = _parse_value(v.strip())
    return opts


def _parse_value(v: str):
    if v.startswith("[") and v.endswith("]"):
        return [_parse_value(x) for x in _split_top(v[1:-1], ",")]
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v.strip("\"'")


def make_pass(name: str, options: Optional[dict] = None):
    cls = get_pass(name)
    options = dict(options or {})
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    hints = typing.get_type_hints(cls) if fields else {}
    # dotted options (budget.size=...) belong to a dict-typed field named by the prefix
    kwargs: dict = {}
    for key, value in options.items():
        head, _, rest = key.partition(".")
        if head not in fields:
            hint = difflib.get_close_matches(head, list(fields), n=1)
            more = f"; did you mean '{hint[0]}'?" if hint else (f"; options: {', '.join(fields)}" if fields else "; it takes no options")
            raise PipelineError(f"pass '{name}' has no option '{key}'{more}")
        field_type = hints.get(head)
        if rest and dict not in (field_type, typing.get_origin(field_type)):
            raise PipelineError(f"pass '{name}': option '{head}' takes no dotted sub-options (got '{key}')")
        if head in kwargs and (not rest or head in options):  # options keys are unique, so this is a mix
            raise PipelineError(f"pass '{name}': option '{head}' is given both whole and as '{head}.<key>'")
        if rest:
            kwargs.setdefault(head, {})[rest] = value
        else:
            kwargs[head] = _coerce(value, field_type, name, key)
    if isinstance(kwargs.get("target"), str) and kwargs["target"]:
        _check_target_option(name, kwargs["target"])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise PipelineError(f"pass '{name}': {e}") from None


def _check_target_option(pass_name: str, target: str) -> None:
    """A `target=` option names a target file: checked when the pipeline is parsed, so a
    typo fails before the import and calibration, not when the pass finally runs."""
    from .targets import get_target

    try:
        get_target(target)
    except QIRError as e:
        raise PipelineError(f"pass '{pass_name}': option 'target': {e}") from None


def _coerce(value, hint, pass_name: str, key: str):
    number = _optional_number(hint)
    if number is not None:  # Optional[int | float | bool]: `none` leaves the option unset
        if isinstance(value, str) and value.lower() == "none":
            return None
        hint = number
    if hint in (int, float, bool) and (isinstance(value, bool) != (hint is bool)
                                       or not isinstance(value, (int, float) if hint is float else hint)):
        raise PipelineError(f"pass '{pass_name}': option '{key}' expects {hint.__name__}, got {value!r}")
    if hint is float:
        return float(value)
    if hint is str and not isinstance(value, str):
        return str(value)
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def _optional_number(hint):
    args = typing.get_args(hint)
    if len(args) == 2 and type(None) in args:
        inner = args[0] if args[1] is type(None) else args[1]
        return inner if inner in (int, float, bool) else None
    return None


# --- the manager --------------------------------------------------------------------

class Instrument:
    """Hooks around every pass (TVM-style); subclasses override what they need."""

    def enter_pipeline(self, graph: Graph, ctx: PassContext) -> None:
        pass

    def before_pass(self, p: Pass, graph: Graph, ctx: PassContext) -> None:
        pass

    def after_pass(self, p: Pass, graph: Graph, ctx: PassContext, result: PassResult) -> None:
        pass

    def exit_pipeline(self, graph: Graph, ctx: PassContext) -> None:
        pass


@dataclass
class PipelineRecord:
    name: str
    changed: bool
    stats: dict


class PassManager:
    """Runs passes in order with instruments around each; `steps>1` repeats the whole
    sequence until nothing changes (fixed point) or the step budget is used up."""

    def __init__(self, passes, instruments: Sequence[Instrument] = (), steps: int = 1):
        self.passes = parse_pipeline(passes) if isinstance(passes, str) else parse_pipeline(list(passes))
        self.instruments = list(instruments)
        self.steps = steps
        self.history: list[PipelineRecord] = []

    def run(self, graph: Graph, ctx: Optional[PassContext] = None) -> Graph:
        ctx = ctx or PassContext()
        for ins in self.instruments:
            ins.enter_pipeline(graph, ctx)
        for _ in range(self.steps):
            changed = False
            for p in self.passes:
                changed |= self._run_one(p, graph, ctx).changed
            if not changed:
                break
        for ins in self.instruments:
            ins.exit_pipeline(graph, ctx)
        return graph

    def _run_one(self, p: Pass, graph: Graph, ctx: PassContext) -> PassResult:
        ctx.current_pass = p.name
        before = ", ".join(r.name for r in self.history) or "none"
        try:
            for ins in self.instruments:
                ins.before_pass(p, graph, ctx)
            p.requires(graph)
            result = p.run(graph, ctx)
            if not isinstance(result, PassResult):
                raise PassError(f"pass '{p.name}' returned {type(result).__name__}, not PassResult")
            p.ensures(graph)
            for ins in self.instruments:
                ins.after_pass(p, graph, ctx, result)
        except PassError:
            raise
        except Exception as e:
            raise PassError(f"pass '{p.name}' failed (after: {before}): {type(e).__name__}: {e}") from e
        finally:
            ctx.current_pass = ""
        self.history.append(PipelineRecord(p.name, result.changed, dict(result.stats)))
        return result


def run_pipeline(graph: Graph, pipeline, ctx: Optional[PassContext] = None, instruments: Sequence[Instrument] = ()) -> Graph:
    return PassManager(pipeline, instruments).run(graph, ctx)
