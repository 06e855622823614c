"""Read the classes SB3 pickles into ``model.zip`` as names, without running or importing anything.

SB3 cloudpickles the ``data`` fields that hold classes (``policy_kwargs={"activation_fn": nn.ReLU}``,
``policy_class``). An importable class is pickled by reference, as a module and a name, so such a
pickle is data plus names. :func:`read_data` reads only that: a pickle with an opcode that calls, builds
or extends something (REDUCE, BUILD, NEWOBJ, INST, OBJ, EXT*, PERSID, buffers) is refused before it
is unpickled, a name outside the caller's allow-list is refused where the unpickler meets it, and an
allowed name comes back as a :class:`Ref`, so not even its module is imported.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

# Opcodes that push plain values, build lists, tuples, dicts and sets, use the memo or name a global.
# Everything else can call code (REDUCE, BUILD, NEWOBJ*, INST, OBJ, EXT*) or reach outside the bytes
# (PERSID, BINPERSID, NEXT_BUFFER, READONLY_BUFFER, BYTEARRAY8).
DATA_OPCODES = frozenset(
    {
        "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
        "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
        "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
        "FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING",
        "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
        "EMPTY_LIST", "APPEND", "APPENDS", "LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
        "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS", "FROZENSET",
        "GLOBAL", "STACK_GLOBAL",
    }
)  # fmt: skip
_STRING_OPCODES = frozenset({"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE"})
_STRING_OPCODES |= {"SHORT_BINUNICODE", "BINUNICODE8"}


@dataclass(frozen=True, slots=True)
class Ref:
    """A global named in a pickle (``module`` and ``name`` as written there); never called."""

    module: str
    name: str

    @property
    def path(self) -> str:
        return f"{self.module}.{self.name}"


class Refused(Exception):
    """A pickle that holds more than data and allowed names.

    ``name`` is the global that was refused (``mymodule.MyNet``), or None when an opcode that runs
    code was; ``what`` says it in words.
    """

    def __init__(self, what: str, name: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.name = name


def globals_named(blob: bytes) -> tuple[list[str], list[str]]:
    """The globals a pickle names (``module.name``, as far as a scan without a stack can tell) and its
    opcodes outside :data:`DATA_OPCODES`, in order. Reads the bytes only.

    Raises:
        ValueError: not a pickle (unknown opcode, truncated).
    """
    names: list[str] = []
    calls: list[str] = []
    pushed: list[str | None] = []  # the last values pushed, strings or None for anything else
    memo: dict[int, str | None] = {}
    for op, arg, _ in pickletools.genops(blob):
        if op.name not in DATA_OPCODES:
            calls.append(op.name)
        if op.name in _STRING_OPCODES:
            pushed.append(arg if isinstance(arg, str) else None)
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(int(arg)))
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(arg)] = pushed[-1] if pushed else None
        elif op.name == "GLOBAL":
            names.append(".".join(str(arg).split(" ", 1)))
            pushed.append(None)
        elif op.name == "STACK_GLOBAL":
            module, name = (pushed[-2:] if len(pushed) >= 2 else [None, None])[:2]
            names.append(f"{module}.{name}" if module and name else "?")
            pushed.append(None)
        elif op.stack_after:
            pushed.append(None)
        del pushed[:-2]
    return names, calls


class _NamesOnly(pickle.Unpickler):
    """An unpickler whose globals are :class:`Ref` markers from an allow-list; it imports nothing."""

    def __init__(self, file: io.BytesIO, allowed: Collection[str]) -> None:
        super().__init__(file)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        path = f"{module}.{name}"
        if path not in self.allowed:
            raise Refused(path, path)
        return Ref(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise Refused("a persistent reference")


def read_data(blob: bytes, allowed: Collection[str]) -> Any:
    """The value pickled in ``blob``, with every global it names as a :class:`Ref`.

    ``allowed`` holds the globals (``torch.nn.modules.activation.ReLU``) the pickle may name.

    Raises:
        Refused: an opcode that runs code, or a global outside ``allowed``.
        ValueError: bytes that are not a pickle.
    """
    names, calls = globals_named(blob)
    if calls:
        named = list(dict.fromkeys(names))
        how = f"pickle opcode {calls[0]}" + (f" with {', '.join(named[:3])}" if named else "")
        raise Refused(f"an object that only running code can rebuild ({how})")
    try:
        return _NamesOnly(io.BytesIO(blob), allowed).load()
    except Refused:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise ValueError(f"not a readable pickle ({type(e).__name__})") from None
