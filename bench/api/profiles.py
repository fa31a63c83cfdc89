"""Training budgets: one shape for a budget (`Profile`) and one for a codec's three of them (`ProfileSet`).

A learned codec declares its budgets next to its code, as a class attribute the registry can see:

    @dataclass(frozen=True, kw_only=True)
    class AeProfile(Profile):
        hidden: int
        epochs: float
        lr: float = 1e-3

    @register_codec("ae")
    class Ae(ImageCodec):
        profiles = ProfileSet(
            smoke=AeProfile(hidden=16, epochs=1),
            default=AeProfile(hidden=64, epochs=3),
            full=AeProfile(hidden=256, epochs=40, lr=5e-4),
        )

        def fit(self, train):
            budget = self.profiles[self.ctx.profile]  # an AeProfile; an unknown name is a ProfileError

`bench profiles` prints every declared set with what its trainings measured in the model cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from bench.errors import BenchError

#: What each profile is for. The names are `bench run --profile`'s choices.
PURPOSES = {
    "smoke": "seconds on a CPU: tests, CI and benchmarks/gates/golden.json; the numbers only show it runs",
    "default": "minutes on a 2-core CPU: the benchmark's reference results",
    "full": "a long GPU run: what each method reaches with a real budget",
}
PROFILES = tuple(PURPOSES)

#: Field values a profile may hold: they are printed, compared, and go into cache keys as JSON.
_PLAIN = (bool, int, float, str, type(None))


class ProfileError(BenchError, ValueError):
    """An unknown profile name, or a profile set that is incomplete or malformed."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Profile:
    """Base of every training budget: subclass it as a frozen, keyword-only dataclass with your fields."""

    def fields(self) -> dict:
        """Field name -> value, in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


P = TypeVar("P", bound=Profile)


def check_profile_name(name: str) -> str:
    if name not in PURPOSES:
        raise ProfileError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return name


def _is_plain(value) -> bool:
    if isinstance(value, tuple):
        return all(_is_plain(v) for v in value)
    return isinstance(value, _PLAIN)


class ProfileSet(Mapping[str, P], Generic[P]):
    """The smoke, default and full budgets of one codec (all three, one `Profile` subclass).

    `trained=False`: the codec learns while it codes (nothing trained ahead, nothing cached), so
    its cost is its run's coding time, not a training record.
    """

    def __init__(self, *, trained: bool = True, **profiles: P):
        missing = [n for n in PROFILES if n not in profiles]
        unknown = [n for n in profiles if n not in PURPOSES]
        if missing or unknown:
            problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(unknown)}"] if unknown else [])
            raise ProfileError(f"a ProfileSet needs exactly {', '.join(PROFILES)} ({'; '.join(problems)})")
        for name, profile in profiles.items():
            if not isinstance(profile, Profile):
                raise ProfileError(f"profile {name!r} is a {type(profile).__name__}, not a Profile "
                                   "(a frozen dataclass subclassing bench.api.profiles.Profile)")
            if not type(profile).__dataclass_params__.frozen:
                raise ProfileError(f"profile {name!r}: {type(profile).__name__} must be a frozen dataclass")
            bad = [k for k, v in profile.fields().items() if not _is_plain(v)]
            if bad:
                raise ProfileError(f"profile {name!r}: field(s) {', '.join(bad)} must be numbers, strings, "
                                   "booleans, None or tuples of those")
        types = {type(p) for p in profiles.values()}
        if len(types) > 1:
            raise ProfileError("the three profiles must be one type, got "
                               + ", ".join(f"{n}: {type(p).__name__}" for n, p in profiles.items()))
        self._profiles = {n: profiles[n] for n in PROFILES}
        self.trained = trained

    @property
    def type(self) -> type[P]:
        return type(self._profiles["smoke"])

    def __getitem__(self, name: str) -> P:
        return self._profiles[check_profile_name(name)]

    def __contains__(self, name) -> bool:
        return name in self._profiles

    def __iter__(self) -> Iterator[str]:
        return iter(self._profiles)

    def __len__(self) -> int:
        return len(self._profiles)

    def __repr__(self) -> str:
        return f"ProfileSet({', '.join(f'{n}={p!r}' for n, p in self._profiles.items())})"


# --------------------------------------------------------------------------- `bench profiles`


def _value(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:_}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    return repr(value)


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 600 else f"{value / 60:.1f} min"


def _measured(records: list[dict]) -> list[str]:
    """One profile's training records, per kind of entry: how many, mean wall and CPU time, where."""
    parts = []
    tags = {str(r.get("tag", "model")) for r in records}
    for tag in sorted(tags, key=lambda t: (len(t.split()[0]), t)):  # "50 images" before "1000 images"
        mine = [r for r in records if r.get("tag", "model") == tag]
        wall = sum(r["train_s"] for r in mine) / len(mine)
        cpu = [r["train_cpu_s"] for r in mine if isinstance(r.get("train_cpu_s"), (int, float))]
        devices = ", ".join(sorted({str(r.get("device", "?")) for r in mine}))
        cost = _seconds(wall) + (f" ({_seconds(sum(cpu) / len(cpu))} CPU)" if cpu else "")
        last = max(str(r.get("date", "")) for r in mine)[:10]
        parts.append(f"{tag}: {len(mine)} trained, {cost} each, on {devices}" + (f", last {last}" if last else ""))
    return parts


def describe(name: str, profiles: ProfileSet, records: list[dict], unrecorded: int = 0) -> list[str]:
    """Lines for `bench profiles`: each field per profile, then what training cost in this cache."""
    rows = [("field", *PROFILES)] + [
        (field, *(_value(profiles[p].fields()[field]) for p in PROFILES)) for field in profiles["smoke"].fields()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{name}  ({profiles.type.__name__})"]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if not profiles.trained:
        lines.append("  cost: learns while it codes, nothing is trained ahead: see a run's enc_s and dec_s")
        return lines
    lines.append("  measured here:")
    for profile in PROFILES:
        measured = _measured([r for r in records if r.get("profile") == profile]) or ["not trained here yet"]
        lines += [f"    {profile if i == 0 else '':<8} {part}" for i, part in enumerate(measured)]
    if unrecorded:
        lines.append(f"    ({unrecorded} older cache entr{'y' if unrecorded == 1 else 'ies'} without a training "
                     "record: trained before records were kept)")
    return lines


def purposes() -> list[str]:
    return [f"  {name:<8} {purpose}" for name, purpose in PURPOSES.items()]
