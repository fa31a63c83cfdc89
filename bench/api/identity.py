"""Identity by content: the hash a result, a trained model or a classifier score is keyed by.

One way to hash code (`source_digest`: the syntax tree of the files, so editing a comment keeps
every cache) and one way to hash an identity (`content_key`: SHA-256 of its sorted JSON), so that
a key never depends on the order things ran in, on an object, or on where the code is installed.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: Bump when the way cells are measured changes, so that `--resume` re-runs old cells.
HARNESS_VERSION = 1


def source_digest(paths: Iterable[str | Path]) -> str:
    """Hash of the Python files' syntax trees (comments and formatting do not count), in path order."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        h.update(path.name.encode())
        h.update(ast.dump(ast.parse(path.read_text())).encode())
    return h.hexdigest()[:16]


def module_files(cls: type) -> list[Path]:
    """The files that define a codec: its module, or every module of its package when the module
    lives in a sub-package of a plugin package (e.g. `bench_codecs.weightless.models`): the dotted
    module name decides, never a folder's name, so an installed copy hashes as the checkout does.
    Modules of other codecs it builds on (a class's `code_depends`) count as its own."""
    files = _defining_files(cls.__module__)
    for name in getattr(cls, "code_depends", ()):
        files += [file for file in _defining_files(name) if file not in files]
    return files


def _defining_files(module_name: str) -> list[Path]:
    module = sys.modules[module_name]
    path = Path(inspect.getsourcefile(module))
    if module_name.count(".") >= 2 or (module.__spec__ and module.__spec__.submodule_search_locations):
        return sorted(path.parent.rglob("*.py"))
    return [path]


@functools.cache
def code_version(cls: type) -> str:
    """Version of a codec's code: `source_digest` of `module_files(cls)` and the harness version
    (computed once per class and process: a run does not pick up edits made while it runs)."""
    return f"{HARNESS_VERSION}-{source_digest(module_files(cls))}"


def content_key(identity: dict, length: int = 24) -> str:
    """SHA-256 (hex, first `length` digits) of a JSON-serialisable identity, independent of key order."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class CodecIdentity:
    """A codec configuration as a cache sees it: registered name, parameters and code version.

    A model shared by several configurations (every rate of one autoencoder) is keyed by the
    identity with only the parameters that shape it: `with_params`.
    """

    name: str
    params: dict = field(default_factory=dict, hash=False)
    code: str = ""

    def with_params(self, params: dict) -> CodecIdentity:
        return CodecIdentity(self.name, dict(params), self.code)

    def key(self, **more) -> str:
        return content_key({"codec": self.name, "params": self.params, "code": self.code, **more})
