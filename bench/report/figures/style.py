"""What every figure shares: the `Figure` the template shows (a base64 PNG and what its caption says:
the caption itself is the template's, `captions.html.j2`), a new
matplotlib figure without pyplot state, log axes with plain labels, legends outside the axes, and
`Styles`, one colour and marker per family (the colour says the kind)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import pandas as pd

from bench.report.roles import CEILING_ROLES
from bench.report.rows import kind_order, plays

DPI = 100


LEGEND_ROWS = 24  # legend entries per column


#: 13 markers and 4 shades per kind: neighbours differ in both, and 52 families of one kind get distinct pairs.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p", "d", "H"]


#: Colour by kind: shades of one hue per kind; the ceiling (the full training set) is black.
KIND_COLOURS = {"lossless": ["#1f5fa8", "#17a2b8", "#6a8fd8", "#0b2e6b"],
                "lossy": ["#d62728", "#f28e1c", "#8c3b1f", "#e377c2"],
                "dataset": ["#2ca02c", "#7a9a01", "#105c2e", "#5fd35f"],
                "?": ["#9467bd", "#7f7f7f", "#4b2a7a", "#bcbd22"]}


CEILING_STYLE = ("#000000", "*")


@dataclass
class Figure:
    id: str
    title: str
    notes: dict = field(default_factory=dict)  # what the caption says of this table (captions.html.j2)
    png: str | None = None  # base64
    key: list[str] = field(default_factory=list)  # what the numbers in the figure stand for
    missing: str = ""  # why there is no figure
    width: int = 0
    height: int = 0


def new_figure(width: float, height: float):
    from matplotlib.figure import Figure as MplFigure

    return MplFigure(figsize=(width, height), dpi=DPI, layout="constrained")


def encode_figure(figure, fig, crop: bool = False) -> Figure:
    """PNG of `fig`; `crop` trims empty margins (image grids, whose aspect the layout keeps)."""
    buffer = io.BytesIO()
    # The constrained layout already makes room for the legends; cropping costs one more drawing pass.
    fig.savefig(buffer, format="png", dpi=DPI, **({"bbox_inches": "tight", "pad_inches": 0.05} if crop else {}))
    data = buffer.getvalue()
    figure.png = base64.b64encode(data).decode("ascii")
    figure.width, figure.height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return figure


def log_scale(ax, axis: str = "x") -> None:
    """Log scale; over short ranges with plain numbers (2, 5, 10) instead of 2x10^0 (and minor labels)."""
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    plain_log_labels(ax.xaxis if axis == "x" else ax.yaxis, *(ax.get_xlim() if axis == "x" else ax.get_ylim()))


def plain_log_labels(target, low: float, high: float) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    span = high / max(low, 1e-12)
    if span < 1000:
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        target.set_major_formatter(plain)
        target.set_minor_formatter(plain if span < 30 else NullFormatter())


def width_for_legend(n_entries: int, base: float = 7.5) -> float:
    """Figure width that leaves the data area its size when the legend needs several columns."""
    return base + 2.3 * (1 + (n_entries - 1) // LEGEND_ROWS)


def legend_outside(ax, handles=None, labels=None, title=None, rows: int = LEGEND_ROWS) -> None:
    """Legends sit right of the axes, never over the data; long ones split into columns of `rows` entries."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8,
              title=title, title_fontsize=8, ncol=1 + (len(handles) - 1) // rows, frameon=False)


@dataclass
class Styles:
    """One colour and marker per codec family, the same in every figure: the colour says the kind
    (shades of blue: lossless, red/orange: lossy, green: dataset; black: the full-training-set ceiling),
    the marker and shade tell the families of a kind apart. No two families share both."""

    families: list[str]
    kinds: dict = field(default_factory=dict)  # family -> kind
    ceilings: set = field(default_factory=set)  # families that play the dataset ceiling
    _map: dict = field(default_factory=dict)

    def __post_init__(self):
        seen: dict[str, int] = {}
        for family in self.families:
            if family in self.ceilings:
                self._map[family] = CEILING_STYLE
                continue
            kind = self.kinds.get(family, "?")
            shades = KIND_COLOURS.get(kind, KIND_COLOURS["?"])
            i = seen.get(kind, 0)
            seen[kind] = i + 1
            # 13 markers against 4 shades: the pair repeats only after 52 families of one kind.
            self._map[family] = (shades[i % len(shades)], MARKERS[i % len(MARKERS)])

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Styles:
        """The styles of every family in `frame`: its kind the kind of most of its rows."""
        if frame.empty:
            return cls([])
        kinds = frame.groupby("family")["kind"].agg(lambda k: k.value_counts().index[0]).to_dict()
        ceilings = set(frame.loc[plays(frame, CEILING_ROLES[0]), "family"])
        order = sorted(kinds, key=lambda f: (kind_order(kinds[f]), f))
        return cls(order, kinds, ceilings)

    def __call__(self, family: str):
        return self._map.get(family, ("0.4", "o"))


def family_label(family: str, group: pd.DataFrame) -> str:
    return family + ("‡" if group["held_out"].any() else "")
