"""Recursive-descent parsing of the pieces a graph is made of: types, attribute values
and dense arrays (grammar in docs/ir.md). `parser.py` builds graphs on top of it."""
from __future__ import annotations

import json
import math
import re
from typing import Optional

import numpy as np

from .dense import Dense
from .lexer import Token, TokenCursor
from .types import DTYPES, NUMPY_DTYPES, CodebookType, MinifloatType, QuantType, TensorType

_KEYWORD_VALUES = {"true": True, "false": False, "None": None, "nan": math.nan, "inf": math.inf}


class ValueParser(TokenCursor):
    def __init__(self, text: str, blobs: Optional[list], source: str):
        super().__init__(text, source)
        self.blobs = blobs  # blobs[K] is the array dense<blob:K> stands for

    # --- types ------------------------------------------------------------------------------
    def type(self) -> object:
        start = self.tok
        head = self.expect_kind("word", "a type", "").text
        if self.at("<") and head in ("q", "mf", "cb"):
            self.next()
            params = {"q": self._quant_params, "mf": self._minifloat_params, "cb": self._codebook_params}[head]()
            shape = self.shape()
            cls = {"q": QuantType, "mf": MinifloatType, "cb": CodebookType}[head]
            try:
                return cls(shape=shape, **params)
            except (ValueError, TypeError) as e:
                raise self.error(f"invalid {head}<...> type: {e}", start) from None
        if head not in DTYPES:
            raise self.error(f"unknown dtype '{head}'; expected one of {sorted(DTYPES)} or q<>/mf<>/cb<>", start)
        return TensorType(head, self.shape())

    def shape(self) -> tuple:
        self.expect("[", "to open a shape")
        return tuple(self.separated(self._dim, "]", "in a shape"))

    def _dim(self):
        t = self.next()
        if t.kind == "int" and not t.text.startswith("-"):
            return int(t.text)
        if t.kind == "word" or (t.kind == "punct" and t.text == "?"):
            return t.text
        if t.kind == "string" and json.loads(t.text):
            return json.loads(t.text)
        raise self.error(f"expected a dimension (size, symbol or '?'), got {t.describe()}", t)

    def _storage_and_expressed(self, context: str) -> tuple:
        first = self.expect_kind("word", "a storage format", context).text
        self.expect(":", f"after '{first}' {context}")
        expressed = self.expect_kind("word", "an expressed float dtype", context).text
        return first, expressed

    def _keyed(self, parsers: dict, flags: tuple, context: str) -> dict:
        out = {}
        while self.accept(","):
            key_tok = self.expect_kind("word", "a parameter name", context)
            key = key_tok.text
            if key in out:
                raise self.error(f"parameter '{key}' given twice {context}", key_tok)
            if key in flags:
                out[key] = True
                continue
            if key not in parsers:
                raise self.error(f"unknown parameter '{key}' {context}; expected one of {sorted(parsers) + list(flags)}", key_tok)
            self.expect("=", f"after '{key}'")
            out[key] = parsers[key]()
        self.expect(">", f"to close {context}")
        return out

    def _quant_params(self) -> dict:
        storage, expressed = self._storage_and_expressed("in q<...>")
        p = self._keyed({"axis": lambda: self.integer("for axis"), "group": lambda: self.integer("for group"),
                         "scale": lambda: self._scalar_or_dense(np.float32),
                         "zp": lambda: self._scalar_or_dense(np.int32)}, (), "in q<...>")
        for required in ("scale", "zp"):
            if required not in p:
                raise self.error(f"q<...> type needs '{required}='")
        return {"storage": storage, "expressed": expressed, "scale": p["scale"], "zero_point": p["zp"],
                "axis": p.get("axis"), "group": p.get("group")}

    def _scalar_or_dense(self, np_dtype) -> Dense:
        if self.at("dense"):
            return self.dense()
        t = self.tok
        try:
            return Dense(np.array(self._number(np_dtype is np.float32), dtype=np_dtype))
        except OverflowError:
            raise self.error(f"{t.text} does not fit in {np.dtype(np_dtype)}", t) from None

    def _minifloat_params(self) -> dict:
        fmt, expressed = self._storage_and_expressed("in mf<...>")
        p = self._keyed({"bias": lambda: self.integer("for bias"), "axis": lambda: self.integer("for axis"),
                         "scale": lambda: self.dense() if self.at("dense") else self._number(True)},
                        ("fn", "finite"), "in mf<...>")
        return {"format": fmt, "expressed": expressed, "bias": p.get("bias"), "no_nan_inf": p.get("fn", False),
                "finite": p.get("finite", False), "axis": p.get("axis"), "scale": p.get("scale", 1.0)}

    def _codebook_params(self) -> dict:
        start = self.tok
        cb_bits, index = self._storage_and_expressed("in cb<...>")
        self.expect(":", "after the index width in cb<...>")
        expressed = self.expect_kind("word", "an expressed float dtype", "in cb<...>").text
        m1, m2 = re.fullmatch(r"cb(\d+)", cb_bits), re.fullmatch(r"idx(\d+)", index)
        if not (m1 and m2):
            raise self.error(f"expected cb<cbN:idxM:dtype, ...>, got cb<{cb_bits}:{index}:...>", start)
        p = self._keyed({"kernel": lambda: self._int_list("for kernel")}, (), "in cb<...>")
        if "kernel" not in p:
            raise self.error("cb<...> type needs 'kernel=[kh, kw]'")
        return {"codebook_bits": int(m1.group(1)), "index_bits": int(m2.group(1)), "expressed": expressed,
                "kernel_shape": p["kernel"]}

    def _int_list(self, context: str) -> list:
        self.expect("[", context)
        return self.separated(lambda: self.integer(context), "]", context)

    # --- attribute values -----------------------------------------------------------------
    def attr_dict(self, context: str) -> dict:
        """`{key = value, ...}`; the caller has checked that the next token is '{'."""
        self.expect("{", context)
        out = {}

        def item():
            key_tok = self.tok
            key = self.name("an attribute name", context)
            if key in out:
                raise self.error(f"attribute '{key}' given twice", key_tok)
            self.expect("=", f"after attribute name '{key}'")
            out[key] = self.attr()

        self.separated(item, "}", context)
        return out

    def attr(self):
        t = self.tok
        if t.kind == "word" and t.text == "dense":
            return self.dense()
        if t.kind == "word" and t.text in _KEYWORD_VALUES:
            self.next()
            return _KEYWORD_VALUES[t.text]
        if t.kind in ("int", "float"):
            return self._number(True)
        if t.kind == "string":
            return json.loads(self.next().text)
        if self.accept("["):
            return self.separated(self.attr, "]", "in a list")
        if self.at("{"):
            return self.attr_dict("in a dictionary")
        raise self.error(f"expected an attribute value, got {t.describe()}")

    def _number(self, allow_float: bool):
        t = self.next()
        if t.kind == "int":
            return int(t.text)
        if allow_float and (t.kind == "float" or (t.kind == "word" and t.text in ("inf", "nan"))):
            return float(t.text)
        raise self.error(f"expected {'a number' if allow_float else 'an integer'}, got {t.describe()}", t)

    # --- dense arrays -----------------------------------------------------------------------
    def dense(self) -> Dense:
        start = self.expect("dense", "")
        self.expect("<", "after 'dense'")
        if self.at("blob"):
            self.next()
            self.expect(":", "after 'blob'")
            index_tok = self.tok
            array = self._blob(self.integer("as the blob number"), index_tok)
        else:
            literal = self._literal()
            array = None
        self.expect(">", "to close dense<...>")
        self.expect(":", "before the type of a dense array")
        type_tok = self.tok
        dtype = self.expect_kind("word", "an array dtype", "after dense<...> :").text
        if dtype not in NUMPY_DTYPES:
            raise self.error(f"unknown array dtype '{dtype}'; expected one of {sorted(NUMPY_DTYPES)}", type_tok)
        shape = tuple(self._int_list("for the shape of a dense array"))
        if array is None:
            array = self._literal_array(literal, dtype, shape, start)
        elif array.dtype != np.dtype(NUMPY_DTYPES[dtype]) or array.shape != shape:
            raise self.error(f"blob holds {array.dtype}{list(array.shape)}, the text says {dtype}{list(shape)}", type_tok)
        return Dense(array)

    def _blob(self, index: int, at: Token) -> np.ndarray:
        if self.blobs is None:
            raise self.error(f"dense<blob:{index}> needs the blobs (the .npz saved next to the .qir); none were given", at)
        if not 0 <= index < len(self.blobs):
            raise self.error(f"dense<blob:{index}> refers past the {len(self.blobs)} blobs given", at)
        return np.asarray(self.blobs[index])

    def _literal(self):
        if self.accept("["):
            return self.separated(self._literal, "]", "in a dense array")
        t = self.tok
        if t.kind == "word" and t.text in ("true", "false"):
            self.next()
            return t.text == "true"
        return self._number(True)

    def _literal_array(self, literal, dtype: str, shape: tuple, at: Token) -> np.ndarray:
        literal_shape = _nested_shape(literal)
        if literal_shape is None:
            raise self.error("ragged dense array literal", at)
        size = math.prod(shape)
        if literal_shape != shape and not (size == 0 and 0 in literal_shape):
            raise self.error(f"dense literal has shape {list(literal_shape)}, the type says {list(shape)}", at)
        flat = _flatten(literal)
        bools = [isinstance(x, bool) for x in flat]
        floats = any(isinstance(x, float) for x in flat)
        wrong_bools = not all(bools) if dtype == "bool" else any(bools)
        if wrong_bools or (floats and dtype not in ("f64", "f32", "f16")):
            raise self.error(f"dense literal values do not fit dtype {dtype}", at)
        try:
            return np.array(flat, dtype=NUMPY_DTYPES[dtype]).reshape(shape)
        except OverflowError as e:
            raise self.error(f"dense literal values do not fit dtype {dtype}: {e}", at) from None


def _nested_shape(x) -> Optional[tuple]:
    if not isinstance(x, list):
        return ()
    shapes = {_nested_shape(e) for e in x}
    if len(shapes) > 1 or None in shapes:
        return None
    return (len(x),) + (shapes.pop() if shapes else ())


def _flatten(x) -> list:
    return [y for e in x for y in _flatten(e)] if isinstance(x, list) else [x]
