"""What `accuracy_pareto` returns: every swept budget's allocation with its costs and
measured accuracy/loss, the front of allocations no other beats on accuracy, size and
latency at once, a table, a plot, and a rule to pick one point.

A point dominates another when it is at least as accurate (lower loss without class
labels), at most as large and at most as slow, and strictly better in one of the three.
Where latency does not trade against size, accuracy rises with size along the front.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic_write import atomic_file
from ..ir.errors import QIRError
from .validation import Score


class ParetoError(QIRError):
    """A sweep option that makes no sense, or a choice no front point meets."""


@dataclass(frozen=True)
class SweepPoint:
    budget: float  # the budget on the swept resource that was solved for
    bits: dict  # layer name -> weight bits, in graph order
    size: float  # bytes of the layers' weights
    bops: float  # bit-operations: MACs × weight bits × activation bits
    latency: float  # ns, the target's cost model
    objective: float  # summed sensitivity of the allocation
    accuracy: float | None  # top-1 on the validation data (class labels only)
    loss: float  # task loss on the validation data

    @property
    def quality(self) -> float:
        """Higher is better: the accuracy, or minus the loss without class labels."""
        return self.accuracy if self.accuracy is not None else -self.loss

    def mix(self) -> str:
        """How many layers took each width, e.g. '4:3 8:4'."""
        return " ".join(f"{b}:{n}" for b, n in sorted(Counter(self.bits.values()).items()))

    def dominates(self, other: SweepPoint) -> bool:
        mine, theirs = (-self.quality, self.size, self.latency), (-other.quality, other.size, other.latency)
        return all(a <= b for a, b in zip(mine, theirs)) and mine != theirs


@dataclass
class ParetoResult:
    target: str
    resource: str  # the swept one: size | bops | latency
    metric: str  # the sensitivity metric the allocations minimise
    layers: tuple  # layer names, graph order
    points: tuple  # every feasible budget's point, in sweep order
    reference: Score  # the float model on the validation data
    pipeline_parts: tuple  # (before allocate-bits, after it): the compile pipeline around the allocation
    choices: tuple  # the weight widths offered
    front: tuple = field(init=False)  # non-dominated distinct allocations, by swept cost
    chosen: SweepPoint | None = None  # set by choose()

    def __post_init__(self):
        first = {}  # allocation -> the first budget's point that made it
        for p in self.points:
            first.setdefault(tuple(p.bits.values()), p)
        distinct = list(first.values())
        front = [p for p in distinct if not any(q.dominates(p) for q in distinct)]
        self.front = tuple(sorted(front, key=lambda p: (self.cost(p), p.size, p.latency)))

    def cost(self, point: SweepPoint) -> float:
        return getattr(point, self.resource)

    def choose(self, max_size=None, max_bops=None, max_latency=None, min_accuracy=None, max_loss=None) -> SweepPoint:
        """The front point meeting every limit given: with an accuracy or loss floor the
        cheapest on the swept resource, else the most accurate. Remembered as `chosen`,
        which table() and plot() mark."""
        if min_accuracy is not None and self.reference.accuracy is None:
            raise ParetoError("min_accuracy needs class labels; the validation labels are float targets (use max_loss)")
        caps = {"size": max_size, "bops": max_bops, "latency": max_latency}
        fitting = [p for p in self.front
                   if all(cap is None or getattr(p, r) <= cap for r, cap in caps.items())
                   and (min_accuracy is None or p.accuracy >= min_accuracy) and (max_loss is None or p.loss <= max_loss)]
        if not fitting:
            asked = {**{f"max_{r}": cap for r, cap in caps.items()}, "min_accuracy": min_accuracy, "max_loss": max_loss}
            wanted = ", ".join(f"{k}={v:.6g}" for k, v in asked.items() if v is not None)
            raise ParetoError(f"no point of the front meets {wanted}; the front spans {self._span()}")
        if min_accuracy is not None or max_loss is not None:
            self.chosen = min(fitting, key=lambda p: (self.cost(p), -p.quality))
        else:
            self.chosen = max(fitting, key=lambda p: (p.quality, -self.cost(p)))
        return self.chosen

    def pipeline(self, point: SweepPoint | None = None) -> str:
        """A compile pipeline whose allocate-bits, given the same calibration data and seed,
        makes `point`'s allocation (default: the chosen point): its budget is the point's cost."""
        point = point or self._chosen_or_error()
        widths = ",".join(map(str, self.choices))
        allocate = f"allocate-bits{{budget.{self.resource}={self.cost(point):.17g},choices=[{widths}]}}"
        return ",".join([self.pipeline_parts[0], allocate, self.pipeline_parts[1]])

    def rows(self) -> list:
        """One dict per point, sweep order, with `front` and `chosen` flags."""
        on_front = {id(p) for p in self.front}
        return [{"budget": p.budget, "bits": dict(p.bits), "size": p.size, "bops": p.bops, "latency": p.latency,
                 "objective": p.objective, "accuracy": p.accuracy, "loss": p.loss,
                 "front": id(p) in on_front, "chosen": p is self.chosen} for p in self.points]

    def table(self) -> str:
        unit = {"size": "B", "bops": "", "latency": "ns"}[self.resource]
        lines = [f"{self.resource} sweep on {self.target}, {self.metric} sensitivity; float model: {_score(self.reference)}",
                 f"bits per layer: {', '.join(self.layers)}",
                 (f"{'budget ' + unit:>14} {'size B':>10} {'BOPs':>12} {'latency ns':>12} {'accuracy':>9} "
                  f"{'loss':>9} front  bits")]
        for row, p in zip(self.rows(), self.points):
            accuracy = "-" if p.accuracy is None else f"{100 * p.accuracy:.2f}%"
            mark = "  *  " if row["front"] else "     "
            lines.append(f"{p.budget:14.6g} {p.size:10.6g} {p.bops:12.6g} {p.latency:12.6g} {accuracy:>9} "
                         f"{p.loss:9.4f} {mark}  {' '.join(str(b) for b in p.bits.values())}"
                         + ("  <- chosen" if row["chosen"] else ""))
        return "\n".join(lines)

    def plot(self, path, chosen: SweepPoint | None = None) -> Path:
        """Accuracy (or loss) against size, coloured by predicted latency, with the front,
        the float model and the chosen point (default: `self.chosen`); Agg, no display."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        chosen = chosen or self.chosen
        classes = self.reference.accuracy is not None
        y = (lambda p: 100 * p.accuracy) if classes else (lambda p: p.loss)
        fig = Figure(figsize=(7, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        dots = ax.scatter([p.size for p in self.points], [y(p) for p in self.points], c=[p.latency for p in self.points],
                          cmap="viridis", s=30, zorder=2, label="swept budgets")
        fig.colorbar(dots, ax=ax, label="predicted latency (ns)")
        ax.step([p.size for p in self.front], [y(p) for p in self.front], where="post", c="0.3", marker="o",
                mfc="none", ms=10, zorder=1, label="Pareto front")
        ax.axhline(100 * self.reference.accuracy if classes else self.reference.loss, ls="--", c="0.5", label="float")
        if chosen is not None:
            ax.scatter([chosen.size], [y(chosen)], s=260, marker="*", c="red", zorder=3, label=f"chosen ({chosen.mix()})")
        ax.set_xlabel("weight size (bytes)")
        ax.set_ylabel("accuracy (%)" if classes else "loss")
        ax.set_title(f"{self.target}: {self.resource} budgets, {self.metric} sensitivity")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if classes else "upper right")
        fig.tight_layout()
        with atomic_file(path) as partial:  # a failed write leaves the old picture
            fig.savefig(partial)
        return Path(path)

    def _span(self) -> str:
        sizes = f"size {min(p.size for p in self.front):.6g}..{max(p.size for p in self.front):.6g} B"
        if self.reference.accuracy is None:
            return f"{sizes}, loss {min(p.loss for p in self.front):.4f}..{max(p.loss for p in self.front):.4f}"
        accuracies = [100 * p.accuracy for p in self.front]
        return f"{sizes}, accuracy {min(accuracies):.2f}%..{max(accuracies):.2f}%"

    def _chosen_or_error(self) -> SweepPoint:
        if self.chosen is None:
            raise ParetoError("no point chosen yet: call choose(...) or pass a point")
        return self.chosen


def _score(s) -> str:
    return f"loss {s.loss:.4f}" if s.accuracy is None else f"accuracy {100 * s.accuracy:.2f}%, loss {s.loss:.4f}"
