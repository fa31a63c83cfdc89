"""One registry of codecs: `register_codec`, `create_codec`, `list_codecs`, and codec specs.

Codec modules live in `codecs/` (neural, imported as `bench_codecs`) and `baselines/` (classical,
imported as `bench_baselines`); other installed packages add modules through the entry-point group
`mnist_bench.codecs` (each entry point names a module). Every such module is imported on first use
of the registry, and its `@register_codec` decorators fill the one table below.

A module that fails to import is kept with its one-line error (`broken_modules()`): the codecs it
would have registered are unknown, so a request that can only mean that module (`weightless` for
`bench_codecs.weightless`, `conv-ae` for `conv_ae`, or every codec) becomes a `BrokenConfig` that
the run records as a failed row, instead of the module silently vanishing from the benchmark.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from importlib import metadata

from bench.api.codec import Codec, RunContext
from bench.errors import CodecError, one_line

PLUGIN_PACKAGES = ("bench_baselines", "bench_codecs")
ENTRY_POINT_GROUP = "mnist_bench.codecs"


@dataclass(frozen=True)
class CodecEntry:
    name: str
    cls: type
    description: str
    defaults: dict
    #: Parameter sets run when the codec is named without parameters (e.g. both framings, a rate sweep).
    configs: tuple
    #: The series the codec belongs to in the report's figures (its name unless registered otherwise).
    family: str = ""
    #: Role (a key of `bench.report.roles.ROLES`) -> parameter patterns: which configurations play the roles the report
    #: singles out (`register_codec(roles=...)`).
    roles: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.cls.kind

    @property
    def approach(self) -> str:
        """"neural" or "classical": the side of the verdict the codec stands on. A codec class may say so
        (`approach`); otherwise the folder tells: `codecs/` holds the neural codecs, `baselines/` the
        classical ones; a plugin that says nothing stands on neither side ("")."""
        if self.cls.approach:
            return self.cls.approach
        package = self.cls.__module__.split(".")[0]
        return {"bench_codecs": "neural", "bench_baselines": "classical"}.get(package, "")

    def roles_of(self, params: dict) -> list[str]:
        """The roles a configuration plays: its parameters (defaults filled in) agree with every
        parameter one of the role's patterns names."""
        full = {**self.defaults, **params}
        return [role for role, patterns in self.roles.items() if any(_matches(full, p) for p in patterns)]


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


def _matches(params: dict, pattern: dict) -> bool:
    return all(key in params and _plain(params[key]) == _plain(value) for key, value in pattern.items())


def _role_patterns(name: str, roles, defaults: dict, configs: list[dict]) -> dict[str, tuple]:
    """`roles` as registered (role names, or role -> patterns), checked: known roles, known parameters,
    and every pattern played by at least one registered configuration (a typo matches nothing)."""
    if not roles:
        return {}
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, dict):
        roles = {role: [{}] for role in roles}
    checked = {}
    for role, patterns in roles.items():
        if not isinstance(role, str) or not role:
            raise TypeError(f"{name}: a role is a name (see bench.report.roles), got {role!r}")
        patterns = (patterns,) if isinstance(patterns, dict) else tuple(patterns)
        if not patterns:
            raise TypeError(f"{name}: role {role!r} needs at least one parameter pattern ({{}}: every configuration)")
        for pattern in patterns:
            unknown = set(pattern) - set(defaults)
            if unknown:
                raise TypeError(f"{name}: role {role!r} names unknown parameters {sorted(unknown)}")
            if not any(_matches({**defaults, **config}, pattern) for config in configs):
                raise TypeError(f"{name}: role {role!r}: no registered configuration has {pattern}")
        checked[role] = tuple(dict(p) for p in patterns)
    return checked


def report_columns(name: str, params: dict | None = None) -> dict:
    """What the report reads about a configuration besides its measurements: `family` (the series of
    its figures), `roles` (the roles it plays, comma-separated; "" for none) and `approach` ("neural"
    or "classical": its side in the verdict).

    The runner adds these to every row; for a table without them the report asks here, by codec name
    and parameters. A name the registry does not know is its own family and plays no role.
    """
    entry = _entries().get(name)
    if entry is None:
        return {"family": name, "roles": "", "approach": ""}
    return {"family": entry.family or entry.name, "roles": ",".join(entry.roles_of(params or {})),
            "approach": entry.approach}


@dataclass(frozen=True)
class BrokenModule:
    module: str  # dotted name, e.g. `bench_codecs.weightless`
    error: str  # one line: `ModuleNotFoundError: No module named 'foo'`
    #: Other names the module is known by (an entry point's name).
    aliases: tuple = ()

    def names(self) -> set[str]:
        """The codec names a request may use for this module: `conv_ae` also as `conv-ae`."""
        short = {self.module, self.module.rsplit(".", 1)[-1], *self.aliases}
        return {n.lower() for n in short} | {n.lower().replace("_", "-") for n in short}


@dataclass(frozen=True)
class BrokenConfig:
    """A requested configuration of a module that failed to import: the run records it as a failed row.

    `name` is what the request named (`weightless`), or the module for a glob (`bench_codecs.weightless`).
    """

    name: str
    params: dict = field(default_factory=dict)
    module: str = ""
    error: str = ""

    @property
    def label(self) -> str:
        return self.name + (":" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items())) if self.params else "")

    @property
    def message(self) -> str:
        return f"module {self.module} failed to import: {self.error}"


#: Codec names retired by a rename -> the name the same codec is registered under now. A request for an
#: old name is refused with the new one (tables of earlier runs keep the name they were run under).
RENAMED = {"pixelcnn": "local-ar"}


def renamed_note(pattern: str) -> str:
    """`; codec 'pixelcnn' was renamed 'local-ar'` for each retired name `pattern` (a name or glob)
    matches: what an error about a name no codec answers to adds."""
    return "".join(f"; codec {old!r} was renamed {new!r}" for old, new in RENAMED.items()
                   if fnmatch.fnmatchcase(old, pattern))


_REGISTRY: dict[str, CodecEntry] = {}
_BROKEN: dict[str, BrokenModule] = {}
_plugins_loaded = False


def register_codec(name: str, *, configs: list[dict] | None = None, description: str | None = None,
                   family: str | None = None, roles: dict[str, list[dict]] | list[str] | None = None):
    """Class decorator: `@register_codec("zstd", configs=[{"framing": "whole"}, {"framing": "per-image"}])`.

    - `configs`: the parameter sets run when the codec is named without parameters (default: one,
      the constructor's defaults).
    - `description`: one line for `bench list` (default: the class docstring's first line).
    - `family`: the series the codec belongs to in the report's figures, one colour and marker
      (default: `name`); codecs that are variants of one method may share a family.
    - `roles`: which configurations play the roles the report singles out (`bench.report.roles.ROLES`), so the report
      finds them without knowing codec names: role -> parameter patterns, e.g.
      `roles={"writeup-autoencoder": [{"latent_dims": 39}, {"latent_dims": 8}]}`. A configuration plays
      a role when its parameters (defaults filled in) agree with every parameter one pattern names;
      `{}` matches every configuration, and a list of role names means just that
      (`roles=["uncoded-ceiling"]`). Every pattern must match one of `configs` (a typo raises TypeError).

    The runner writes `family` and `roles` into every result row (`report_columns`).
    """

    def decorate(cls):
        if not issubclass(cls, Codec) or not cls.kind:
            raise TypeError(f"{cls.__name__} must subclass ImageCodec or DatasetCodec")
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"codec {name!r} is registered twice ({_REGISTRY[name].cls.__qualname__}, {cls.__qualname__})")
        signature = inspect.signature(cls.__init__).parameters.values()
        keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        defaults = {p.name: p.default for p in signature if p.name != "self" and p.kind in keyword}
        missing = [k for k, v in defaults.items() if v is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"{cls.__name__}: every parameter needs a default ({', '.join(missing)})")
        for config in configs or []:
            unknown = set(config) - set(defaults)
            if unknown:
                raise TypeError(f"{name}: config names unknown parameters {sorted(unknown)}")
        doc = description or (inspect.getdoc(cls) or "").split("\n")[0]
        role_patterns = _role_patterns(name, roles, defaults, list(configs or [{}]))
        _REGISTRY[name] = CodecEntry(name, cls, doc, defaults, tuple(configs or [{}]), family or name, role_patterns)
        return cls

    return decorate


def _import_plugin(module: str, load=None, aliases: tuple = ()) -> None:
    """Import `module` (or call `load`, an entry point's); a failure is recorded, never raised."""
    before = set(_REGISTRY)
    try:
        if load is None:
            importlib.import_module(module)
        else:
            load()
    except Exception as exc:  # one broken plugin must not hide the others, nor vanish unnoticed
        # Codecs the module registered before failing come from half-run code: none of them is trusted
        # (a module it imported on the way, which finished, keeps its codecs).
        for name in set(_REGISTRY) - before:
            owner = _REGISTRY[name].cls.__module__
            if owner == module or owner.startswith(module + "."):
                del _REGISTRY[name]
        _BROKEN[module] = BrokenModule(module, one_line(exc), aliases)


def _entry_points() -> list:
    seen, points = set(), []
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        # The same distribution may sit twice on sys.path (a venv and a PYTHONPATH folder).
        if (point.name, point.value) not in seen:
            seen.add((point.name, point.value))
            points.append(point)
    return points


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for package_name in PLUGIN_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__):
            _import_plugin(f"{package_name}.{module.name}")
    for point in _entry_points():
        _import_plugin(point.module, point.load, aliases=(point.name,))


def broken_modules() -> dict[str, str]:
    """Codec modules that failed to import: dotted module name -> one-line error."""
    _load_plugins()
    return {m: b.error for m, b in _BROKEN.items()}


def _broken_matching(pattern: str) -> list[BrokenModule]:
    """Broken modules a request may have meant: a name or glob over the module's names."""
    _load_plugins()
    pattern = pattern.lower()
    return [b for b in _BROKEN.values() if any(fnmatch.fnmatchcase(n, pattern) for n in b.names())]


def _broken_note() -> str:
    if not _BROKEN:
        return ""
    return "; modules that failed to import: " + "; ".join(f"{b.module} ({b.error})" for b in _BROKEN.values())


def _entries() -> dict[str, CodecEntry]:
    _load_plugins()
    return _REGISTRY


def adopt_entry(entry: CodecEntry) -> None:
    """Register `entry` in this process if its name is not registered yet: a worker process started
    afresh (a cluster task) gets the codecs its driver registered at run time."""
    _entries().setdefault(entry.name, entry)


def list_codecs(pattern: str = "*") -> list[str]:
    """Registered names matching a glob pattern, sorted."""
    return sorted(n for n in _entries() if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str) -> CodecEntry:
    entries = _entries()
    if name not in entries:
        if name in RENAMED:
            raise CodecError(f"codec {name!r} was renamed {RENAMED[name]!r}: ask for {RENAMED[name]!r}")
        for broken in _broken_matching(name):
            raise CodecError(f"codec {name!r} is unavailable: module {broken.module} failed to import: {broken.error}")
        raise CodecError(f"unknown codec {name!r}; valid names: {', '.join(sorted(entries))}{_broken_note()}")
    return entries[name]


def create_codec(name: str, ctx: RunContext | None = None, **params) -> Codec:
    """Instantiate a registered codec bound to the run's context; unknown or invalid parameters raise
    CodecError. Without `ctx` (a library user coding a few images) the codec gets `RunContext()`:
    the CPU, the `default` profile, the cache in `.cache`."""
    entry = get_entry(name)
    unknown = set(params) - set(entry.defaults)
    if unknown:
        valid = ", ".join(f"{k}={v!r}" for k, v in entry.defaults.items()) or "none"
        raise CodecError(f"{name}: unknown parameter(s) {', '.join(sorted(unknown))}; valid: {valid}")
    full = {**entry.defaults, **params}
    try:
        codec = entry.cls(**full)
    except (ValueError, TypeError) as exc:
        raise CodecError(f"{name}: {exc}") from None
    codec.name = name
    codec.params = full
    codec.ctx = ctx if ctx is not None else RunContext()
    return codec


def _parse_value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_spec(spec: str | None, *, broken: bool = False) -> list:
    """Turn a codec spec into (name, params) configurations.

    `"gzip,zstd:level=19,ae*"`: comma-separated items; an item is a name or glob, optionally with
    `:key=value` parameters. Named without parameters, a codec runs its registered configs; with
    parameters, those override each registered config. An empty spec means every codec.

    A request for a module that failed to import (see the module docstring) raises CodecError,
    unless `broken`: then it becomes a `BrokenConfig` in the list (one per broken module and spec),
    and a glob, `*` included, adds one for every broken module it matches.
    """
    items = [s.strip() for s in (spec or "*").split(",") if s.strip()]
    configs: list = []
    broken_seen: set[str] = set()
    for item in items:
        pattern, *assignments = item.split(":")
        given = {}
        for assignment in assignments:
            key, sep, value = assignment.partition("=")
            if not sep or not key:
                raise CodecError(f"bad parameter {assignment!r} in {item!r}; write name:key=value")
            given[key.strip()] = _parse_value(value.strip())
        is_glob = any(c in pattern for c in "*?[")
        if is_glob:
            names = list_codecs(pattern)
        elif pattern in _entries() or not (broken and _broken_matching(pattern)):
            names = [get_entry(pattern).name]  # raises for an unknown name, naming a broken module it may mean
        else:
            names = []
        placeholders = []
        if broken and (is_glob or not names):
            for module in _broken_matching(pattern):
                if module.module not in broken_seen:
                    broken_seen.add(module.module)
                    placeholders.append(BrokenConfig(module.module if is_glob else pattern, given,
                                                     module.module, module.error))
        if not names and not placeholders:
            if broken and _broken_matching(pattern):
                continue  # every module it matches is already a placeholder of an earlier item
            raise CodecError(f"no codec matches {pattern!r}{renamed_note(pattern)}; valid names: "
                             f"{', '.join(list_codecs())}{_broken_note()}")
        for name in names:
            for config in get_entry(name).configs:
                params = {**config, **given}
                create_codec(name, **params)  # validate now, before any work starts
                if (name, params) not in configs:
                    configs.append((name, params))
        configs += placeholders
    return configs


def config_label(name: str, params: dict) -> str:
    """`zstd:framing=per-image,level=19`: the parameters that differ from the codec's defaults."""
    defaults = get_entry(name).defaults
    changed = [f"{k}={v}" for k, v in sorted(params.items()) if defaults.get(k) != v]
    return name + (":" + ",".join(changed) if changed else "")
