"""Targets are data: a TOML file per target describes what it can run and what it costs."""
from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from importlib import resources

from ..ir.errors import QIRError
from ..ir.types import STORAGE_BITS
from ..numerics.fixed_point import ROUNDING_MODES


class TargetError(QIRError):
    """Unknown target or malformed target description."""


# layer pairs a target may run as one kernel (`[fusion] pairs`), which must then share
# their widths: a depthwise conv and the 1x1 conv reading its result
FUSION_PAIRS = ("depthwise-pointwise",)


@dataclass(frozen=True)
class CostModel:
    """Latency per multiply-accumulate by operand bit width, plus memory bandwidth.

    Rough, relative numbers: the allocator and the report compare configurations on
    one target; they do not promise absolute latencies."""

    mac_ns: dict  # bits (int) -> ns per MAC
    bytes_per_ns: float

    def mac_latency(self, bits: int) -> float:
        known = sorted(self.mac_ns)
        at_least = [b for b in known if b >= bits]
        return self.mac_ns[at_least[0] if at_least else known[-1]]

    def layer_latency_ns(self, macs: int, bits: int, bytes_moved: float) -> float:
        """A roofline: compute and memory overlap, the slower one wins."""
        return max(macs * self.mac_latency(bits), bytes_moved / self.bytes_per_ns)


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    weight_storage: tuple           # storage types weights may use, best first
    activation_storage: tuple       # storage types activations may use
    weight_symmetric: bool
    activation_symmetric: bool
    granularity: tuple              # subset of tensor / channel / group
    accumulator_bits: int
    saturating_pair_sums: bool      # u8×s8 pair sums saturate at int16 (x86 AVX2 without VNNI)
    rounding: str                   # requantization rounding: half_even | half_away | half_up
    default_pipeline: str
    cost: CostModel
    op_weight_storage: dict = field(default_factory=dict)  # op -> allowed weight storage (overrides)
    fusion_pairs: tuple = ()        # FUSION_PAIRS the target runs as one kernel
    host_cpu_flags: tuple = ()      # /proc/cpuinfo flags of a host that runs its code as the target would; () none

    def fuses(self, pair: str) -> bool:
        return pair in self.fusion_pairs

    def weight_types_for(self, op: str) -> tuple:
        return tuple(self.op_weight_storage.get(op, self.weight_storage))

    def supports_weight(self, op: str, storage: str) -> bool:
        return storage in self.weight_types_for(op)

    def fallback_weight(self, op: str, bits: int) -> str:
        """The narrowest supported weight storage at least `bits` wide (else the widest)."""
        allowed = sorted(self.weight_types_for(op), key=lambda s: STORAGE_BITS[s])
        wide_enough = [s for s in allowed if STORAGE_BITS[s] >= bits]
        return wide_enough[0] if wide_enough else allowed[-1]


def _load(name: str, text: str) -> Target:
    try:
        d = tomllib.loads(text)
        w, a, c = d["weights"], d["activations"], d["cost"]
        target = Target(
            name=d["name"], description=d["description"],
            weight_storage=tuple(w["storage"]), activation_storage=tuple(a["storage"]),
            weight_symmetric=bool(w["symmetric"]), activation_symmetric=bool(a["symmetric"]),
            granularity=tuple(w["granularity"]), accumulator_bits=int(d["accumulator_bits"]),
            saturating_pair_sums=bool(d.get("saturating_pair_sums", False)), rounding=d["rounding"],
            default_pipeline=d["default_pipeline"],
            cost=CostModel({int(k): float(v) for k, v in c["mac_ns"].items()}, float(c["bytes_per_ns"])),
            op_weight_storage={k: tuple(v) for k, v in d.get("ops", {}).items()},
            fusion_pairs=_fusion_pairs(d.get("fusion", {}).get("pairs", [])),
            host_cpu_flags=tuple(d.get("host", {}).get("cpu_flags", [])),
        )
        _check_names(target)
        return target
    except (KeyError, ValueError, tomllib.TOMLDecodeError) as e:
        raise TargetError(f"target description '{name}.toml' is malformed: {type(e).__name__}: {e}") from None


def _check_names(t: Target) -> None:
    """A misspelt storage type or rounding mode would otherwise surface passes later, far
    from this file."""
    if t.rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding = {t.rounding!r}; expected one of {', '.join(ROUNDING_MODES)}")
    storages = [*t.weight_storage, *t.activation_storage, *(s for v in t.op_weight_storage.values() for s in v)]
    unknown = [s for s in storages if s not in STORAGE_BITS]
    if unknown:
        raise ValueError(f"unknown storage {unknown}; storage types: {', '.join(STORAGE_BITS)}")


def _fusion_pairs(pairs) -> tuple:
    if not isinstance(pairs, list):
        raise ValueError(f"[fusion] pairs = {pairs!r} is not a list of pair names")
    unknown = [p for p in pairs if p not in FUSION_PAIRS]
    if unknown:
        raise ValueError(f"[fusion] pairs {unknown} are unknown; known pairs: {', '.join(FUSION_PAIRS)}")
    return tuple(pairs)


_CACHE: dict = {}


def available_targets() -> list:
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".toml"))


def get_target(name: "str | Target") -> Target:
    if isinstance(name, Target):
        return name
    if name not in _CACHE:
        names = available_targets()
        if name not in names:
            hint = difflib.get_close_matches(str(name), names, n=1)
            more = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise TargetError(f"unknown target '{name}'{more}; valid targets: {', '.join(names)}")
        _CACHE[name] = _load(name, resources.files(__package__).joinpath(f"{name}.toml").read_text())
    return _CACHE[name]

