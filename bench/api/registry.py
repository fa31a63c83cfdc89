"""One registry of codecs: `register_codec`, `create_codec`, `list_codecs`, and codec specs.

Codec modules live in `codecs/` (neural, imported as `bench_codecs`) and `baselines/` (classical,
imported as `bench_baselines`); every module there is imported on first use of the registry, and
its `@register_codec` decorators fill the one table below.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import inspect
import pkgutil
import sys
from dataclasses import dataclass

from bench.api.codec import Codec
from bench.errors import CodecError

PLUGIN_PACKAGES = ("bench_baselines", "bench_codecs")


@dataclass(frozen=True)
class CodecEntry:
    name: str
    cls: type
    description: str
    defaults: dict
    #: Parameter sets run when the codec is named without parameters (e.g. both framings, a rate sweep).
    configs: tuple

    @property
    def kind(self) -> str:
        return self.cls.kind


_REGISTRY: dict[str, CodecEntry] = {}
_plugins_loaded = False


def register_codec(name: str, *, configs: list[dict] | None = None, description: str | None = None):
    """Class decorator: `@register_codec("zstd", configs=[{"framing": "whole"}, {"framing": "per-image"}])`."""

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
        _REGISTRY[name] = CodecEntry(name, cls, doc, defaults, tuple(configs or [{}]))
        return cls

    return decorate


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for package_name in PLUGIN_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__):
            try:
                importlib.import_module(f"{package_name}.{module.name}")
            except Exception as exc:  # one broken plugin must not hide the others
                print(f"bench: warning: could not load {package_name}.{module.name}: {exc}", file=sys.stderr)


def _entries() -> dict[str, CodecEntry]:
    _load_plugins()
    return _REGISTRY


def list_codecs(pattern: str = "*") -> list[str]:
    """Registered names matching a glob pattern, sorted."""
    return sorted(n for n in _entries() if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str) -> CodecEntry:
    entries = _entries()
    if name not in entries:
        raise CodecError(f"unknown codec {name!r}; valid names: {', '.join(sorted(entries))}")
    return entries[name]


def create_codec(name: str, **params) -> Codec:
    """Instantiate a registered codec; unknown or invalid parameters raise CodecError."""
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


def parse_spec(spec: str | None) -> list[tuple[str, dict]]:
    """Turn a codec spec into (name, params) configurations.

    `"gzip,zstd:level=19,ae*"`: comma-separated items; an item is a name or glob, optionally with
    `:key=value` parameters. Named without parameters, a codec runs its registered configs; with
    parameters, those override each registered config. An empty spec means every codec.
    """
    items = [s.strip() for s in (spec or "*").split(",") if s.strip()]
    configs: list[tuple[str, dict]] = []
    for item in items:
        pattern, *assignments = item.split(":")
        given = {}
        for assignment in assignments:
            key, sep, value = assignment.partition("=")
            if not sep or not key:
                raise CodecError(f"bad parameter {assignment!r} in {item!r}; write name:key=value")
            given[key.strip()] = _parse_value(value.strip())
        names = list_codecs(pattern) if any(c in pattern for c in "*?[") else [get_entry(pattern).name]
        if not names:
            raise CodecError(f"no codec matches {pattern!r}; valid names: {', '.join(list_codecs())}")
        for name in names:
            for config in get_entry(name).configs:
                params = {**config, **given}
                create_codec(name, **params)  # validate now, before any work starts
                if (name, params) not in configs:
                    configs.append((name, params))
    return configs


def config_label(name: str, params: dict) -> str:
    """`zstd:framing=per-image,level=19`: the parameters that differ from the codec's defaults."""
    defaults = get_entry(name).defaults
    changed = [f"{k}={v}" for k, v in sorted(params.items()) if defaults.get(k) != v]
    return name + (":" + ",".join(changed) if changed else "")
