"""`parse(text)`: the textual IR back into a Graph (grammar in docs/ir.md).

Values resolve by name; result types are taken as written (never re-inferred) and
every value keeps its printed name, so `print_graph(parse(t)) == t` for printed text.
Errors are ParseErrors that start with `source:line:column`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from .core import Graph, Node, Value
from .errors import ParseError, UnknownOpError, VerifyError
from .lexer import Token
from .parse_values import ValueParser
from .printer import format_type
from .registry import get_op, is_opaque
from .verifier import verify as verify_graph


class TextVerifyError(ParseError, VerifyError):
    """The text parses but the graph breaks an IR invariant; located at the offending line."""


def parse(text: str, blobs: Optional[list] = None, source: str = "<qir>", verify: bool = True) -> Graph:
    """Parse one graph. `blobs[K]` is the array `dense<blob:K>` refers to. With `verify`,
    the graph is verified and a failure is reported at the line of the offending node."""
    parser = _GraphParser(text, blobs, source)
    try:
        return parser.graph(verify)
    except RecursionError:  # the recursive descent ran out of stack: hostile nesting, not a crash
        raise parser.error("nested too deeply to parse (lists, dictionaries or types inside one another)") from None


@dataclass
class _NodeText:
    results: list  # value tokens
    op: str
    op_tok: Token
    operands: list  # value tokens, or None for an absent operand
    attrs: dict
    types: list


class _GraphParser(ValueParser):
    def graph(self, verify: bool) -> Graph:
        header = self.expect("graph", "at the start of the text")
        sym = self.expect_kind("symbol", "a graph name like @net", "after 'graph'")
        name = json.loads(sym.text[1:]) if sym.text.startswith('@"') else sym.text[1:]
        self.expect("(", "after the graph name")
        args = self.separated(self._arg, ")", "in the graph arguments")
        self.expect("->", "after the graph arguments")
        self.expect("(", "to open the graph result types")
        result_types = self.separated(self.type, ")", "in the graph result types")
        attrs_tok = self.tok
        attrs = self.attr_dict("in the graph attributes") if self.accept("attributes") else {}
        self.expect("{", "to open the graph body")
        nodes = []
        while not self.at("return"):
            if self.tok.kind == "eof" or self.at("}"):
                raise self.error(f"expected a node or 'return', got {self.tok.describe()}")
            nodes.append(self._node())
        ret_tok = self.next()
        returned = self._value_list("a value", "after ',' in the return list") if self.tok.kind == "value" else []
        self.expect("}", "after the return statement")
        self.expect_kind("eof", "end of input", "after the graph")

        g = Graph(name)
        g.opset_imports = self._opset_imports(attrs, attrs_tok)
        g.source_names = self._source_names(attrs, attrs_tok, len(args), len(returned))
        self.scope: dict[str, Value] = {}
        self.defined_at = self._definitions(args, nodes)
        for tok, t, arg_attrs in args:
            self.scope[tok.text[1:]] = g.add_input(tok.text[1:], t)
            if arg_attrs:
                g.input_attrs[tok.text[1:]] = arg_attrs
        located: list[tuple[Node, Token]] = []
        for nt in nodes:
            node = Node(nt.op, [self._use(t) if t is not None else None for t in nt.operands], nt.types,
                        nt.attrs, [t.text[1:] for t in nt.results])
            g.append(node)
            located.append((node, nt.results[0] if nt.results else nt.op_tok))
            self.scope.update((v.name, v) for v in node.outputs)
        g.set_outputs([self._use(t) for t in returned])
        self._check_signature(g, result_types, ret_tok)
        if verify:
            try:
                verify_graph(g)
            except VerifyError as e:
                at = self._locate(str(e), located, args, ret_tok, header)
                raise TextVerifyError(str(e), at.line, at.column, self.source) from None
        return g

    def _arg(self) -> tuple:
        tok = self.expect_kind("value", "an argument like %x", "in the graph arguments")
        self.expect(":", f"after argument {tok.text}")
        t = self.type()
        return tok, t, self.attr_dict(f"in the attributes of {tok.text}") if self.at("{") else {}

    def _node(self) -> _NodeText:
        results = []
        if self.tok.kind == "value":
            results = self._value_list("a result name", "after ','")
            self.expect("=", "after the result names")
        op_tok = self.tok
        op = self.name("an op name", "at the start of a node")
        if not is_opaque(op):
            try:
                get_op(op)
            except UnknownOpError as e:
                raise self.error(str(e), op_tok) from None
        self.expect("(", f"after op name '{op}'")
        operands = self.separated(self._operand, ")", "in the operand list")
        attrs = self.attr_dict(f"in the attributes of '{op}'") if self.at("{") else {}
        colon = self.expect(":", "after the attributes" if attrs else "after the operand list")
        if self.accept("("):
            self.expect(")", "after '(' of an empty result type list")
            types = []
        else:
            types = [self.type()]
            while self.accept(","):
                types.append(self.type())
        if len(types) != len(results):
            raise self.error(f"'{op}' node has {len(results)} result(s) but {len(types)} result type(s)", colon)
        return _NodeText(results, op, op_tok, operands, attrs, types)

    def _value_list(self, what: str, where: str) -> list:
        """`%a, %b, ...`: one or more value tokens separated by commas."""
        values = [self.next()]
        while self.accept(","):
            values.append(self.expect_kind("value", what, where))
        return values

    def _operand(self) -> Optional[Token]:
        if self.accept("None"):
            return None
        return self.expect_kind("value", "an operand (%name or None)", "in the operand list")

    # --- names ------------------------------------------------------------------------------
    def _definitions(self, args: list, nodes: list) -> dict:
        defined_at: dict[str, Token] = {}
        for tok in [a[0] for a in args] + [r for nt in nodes for r in nt.results]:
            first = defined_at.setdefault(tok.text, tok)
            if first is not tok:
                raise self.error(f"redefinition of value {tok.text} (first defined at {first.line}:{first.column})", tok)
        return defined_at

    def _use(self, tok: Token) -> Value:
        v = self.scope.get(tok.text[1:])
        if v is not None:
            return v
        d = self.defined_at.get(tok.text)
        if d is not None:
            raise self.error(f"value {tok.text} is used before its definition at {d.line}:{d.column} "
                             "(the graph has a cycle or its nodes are out of order)", tok)
        raise self.error(f"use of undefined value {tok.text}", tok)

    # --- graph-level checks -------------------------------------------------------------------
    def _opset_imports(self, attrs: dict, at: Token) -> dict:
        unknown = sorted(set(attrs) - {"opset_imports", "source_names"})
        if unknown:
            raise self.error(f"unknown graph attribute '{unknown[0]}'; expected 'opset_imports' or 'source_names'", at)
        opsets = attrs.get("opset_imports", {})
        if not isinstance(opsets, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in opsets.values()):
            raise self.error("opset_imports must be a dictionary {domain = version}", at)
        return dict(opsets)

    def _source_names(self, attrs: dict, at: Token, inputs: int, outputs: int) -> dict:
        names = attrs.get("source_names", {})
        counts = {"inputs": inputs, "outputs": outputs}
        if not isinstance(names, dict) or any(k not in counts or not isinstance(v, list) or len(v) != counts[k]
                                              or not all(isinstance(s, str) for s in v) for k, v in names.items()):
            raise self.error(f"source_names must be {{inputs = [{inputs} strings], outputs = [{outputs} strings]}}", at)
        return {k: list(v) for k, v in names.items()}

    def _check_signature(self, g: Graph, result_types: list, ret_tok: Token) -> None:
        if len(result_types) != len(g.outputs):
            raise self.error(f"the graph declares {len(result_types)} result(s) but returns {len(g.outputs)}", ret_tok)
        for v, t in zip(g.outputs, result_types):
            if v.type != t:
                raise self.error(f"returned value %{v.name} has type {format_type(v.type)}, "
                                 f"but the graph declares {format_type(t)}", ret_tok)

    @staticmethod
    def _locate(message: str, located: list, args: list, ret_tok: Token, header: Token) -> Token:
        """The token a verifier message is about: it names a node by its label, or a
        graph input/output by its value."""
        for node, tok in located:
            if message.startswith(f"node {node.label()}:"):
                return tok
        for tok, _, _ in args:
            if message.startswith(f"graph input {tok.text}"):
                return tok
        return ret_tok if message.startswith("graph output") else header
