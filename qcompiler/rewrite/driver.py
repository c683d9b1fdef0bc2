"""The one worklist driver: applies a rule set until no rule matches.

Each sweep visits every node in order; a rewrite puts the nodes it created and their
users back on the worklist so chains collapse within a sweep. Sweeps repeat while
anything changed (a rule rooted deep below a rewrite is found by the next sweep), up to
`max_sweeps`; a rule set still firing then is an error, not a silent partial result.
"""
from __future__ import annotations

from collections import Counter, deque

from ..ir.core import Graph, Node, Value
from ..ir.ops.infer import plain
from .rule import Builder, Match, Rule, RewriteError, RuleSet


def apply_rules(graph: Graph, rules, *, max_sweeps: int = 10) -> dict:
    """Rewrite `graph` in place with `rules` (a RuleSet or a list of Rules) to a fixed
    point; returns {rule name: hits} for the rules that fired."""
    rules = rules if isinstance(rules, RuleSet) else RuleSet(rules)
    hits: Counter = Counter()
    for _ in range(max_sweeps):
        sweep = _sweep(graph, rules)
        if not sweep:
            return dict(hits)
        hits.update(sweep)
    still = _sweep(graph, rules)
    if still:
        firing = ", ".join(f"{name} x{n}" for name, n in still.most_common(5))
        raise RewriteError(f"rewrites on graph @{graph.name} did not reach a fixed point after {max_sweeps} sweeps "
                           f"({sum(hits.values())} rewrites); still firing: {firing}")
    return dict(hits)


def _sweep(graph: Graph, rules: RuleSet) -> Counter:
    hits: Counter = Counter()
    worklist = deque(graph.nodes)
    budget = 10 * (len(graph) + 10)  # guards against a rule pair undoing each other within a sweep
    while worklist and budget:
        node = worklist.popleft()
        if node.graph is not graph:
            continue
        for rule in rules.rules_for(node.op):
            m = rule.match(node)
            if m is None:
                continue
            created = _rewrite(graph, rule, m)
            if created is None:
                continue
            hits[rule.name] += 1
            budget -= 1
            worklist.extend(created)
            worklist.extend(u for n in created for v in n.outputs for u in v.users)
            break
    return hits


def _rewrite(graph: Graph, rule: Rule, m: Match):
    """Build the replacement, swap it in, erase what died. Returns the new nodes, or
    None (graph unchanged) when the replacement would change the root's result types."""
    root = m.root
    b = Builder(graph, root)
    out = rule.replace(b, m)
    new_values = [out] if isinstance(out, Value) else list(out)
    if len(new_values) != len(root.outputs):
        raise RewriteError(f"rule '{rule.name}' replaced {root.label()} ({len(root.outputs)} results) "
                           f"with {len(new_values)} values")
    if not all(_same_type(old.type, new.type) for old, new in zip(root.outputs, new_values)):
        _erase_dead(graph, reversed(b.created))
        return None
    for old, new in zip(root.outputs, new_values):
        old.replace_all_uses_with(new)
    names = [v.name for v in root.outputs]
    _erase_dead(graph, m.nodes)
    for name, new in zip(names, new_values):
        # a value made by this rewrite inherits the name of what it replaced
        if new.producer in b.created and root.graph is None:
            graph.rename(new, name)
    return [n for n in b.created if n.graph is graph]


def _same_type(old, new) -> bool:
    a, b = plain(old), plain(new)
    return a.dtype == b.dtype and a.shape == b.shape


def _erase_dead(graph: Graph, nodes) -> None:
    """Erase nodes among `nodes` whose results nobody reads, and the constants they were
    the last readers of; repeats because erasing a user can make its producer dead."""
    pending = [n for n in nodes if n.graph is graph]
    changed = True
    while changed:
        changed = False
        for n in list(pending):
            if n.graph is graph and _dead(graph, n):
                feeding = [v.producer for v in n.inputs if v is not None and v.producer is not None]
                graph.erase(n)
                pending.remove(n)
                pending.extend(p for p in feeding if p.op == "const" and p not in pending)
                changed = True


def _dead(graph: Graph, node: Node) -> bool:
    return not any(v.uses or any(o is v for o in graph.outputs) for v in node.outputs)
