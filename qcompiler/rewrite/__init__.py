"""Declarative rewrites: patterns of ops and variables, rules (pattern, condition,
replacement) grouped in rule sets, and one worklist driver that applies a set to a
fixed point and counts the hits of each rule."""
from .driver import apply_rules
from .pattern import COMMUTATIVE, Const, Op, Pattern, Var
from .rule import Builder, Match, RewriteError, Rule, RuleSet

__all__ = ["Pattern", "Var", "Const", "Op", "COMMUTATIVE", "Rule", "RuleSet", "Match", "Builder",
           "RewriteError", "apply_rules"]
