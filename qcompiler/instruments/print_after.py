"""PrintAfter: the printed IR after the named passes, kept or written to a stream."""
from __future__ import annotations

from typing import Iterable, Optional, TextIO, Union

from ..ir.printer import print_graph
from ..passmanager import Instrument


class PrintAfter(Instrument):
    """`names`: a pass name or several; "*" means every pass. Each dump is kept in
    `dumps` as (pass name, text) and, when a `stream` is given, written to it under a
    `// ----- IR after <pass> -----` header. Large arrays print as `dense<blob:K>`."""

    def __init__(self, names: Union[str, Iterable[str]], stream: Optional[TextIO] = None):
        self.names = {names} if isinstance(names, str) else set(names)
        self.stream = stream
        self.dumps: list[tuple[str, str]] = []

    def after_pass(self, p, graph, ctx, result) -> None:
        if p.name not in self.names and "*" not in self.names:
            return
        text = print_graph(graph)
        self.dumps.append((p.name, text))
        if self.stream is not None:
            self.stream.write(f"// ----- IR after {p.name} -----\n{text}\n")
