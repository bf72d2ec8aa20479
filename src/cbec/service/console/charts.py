"""The overview's charts as Plotly figures, rendered to a ``<div>`` and a call of ``Plotly.newPlot``.

The page loads Plotly's JavaScript from the console itself (``/console/static/plotly.min.js``, read from
the installed ``plotly`` package), never from a CDN: the console must work on a network with no way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]

PLOTLY_CONFIG = {"displayModeBar": False, "responsive": True}


def plotly_js() -> bytes:
    """The minified plotly.js shipped inside the ``plotly`` Python package."""
    return files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()


@dataclass(frozen=True, slots=True)
class Chart:
    """A figure to draw into ``<div id=div_id>``: the page draws every chart once the layout is final (a
    chart drawn while the grid is still being built takes the width of the whole row)."""

    div_id: str
    figure_json: str

    def script_json(self) -> str:
        """The figure as JSON that is safe inside a ``<script>`` element."""
        return self.figure_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _layout(fig: Any, title: str, margin: dict[str, int]) -> None:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=300,
        margin=margin,
        font={"family": "Noto Sans CJK SC, Noto Sans, sans-serif", "size": 11},
        plot_bgcolor="#fff",
    )


def bar(
    div_id: str, title: str, labels: Sequence[str], values: Sequence[float], *, color: str = "#1f6feb"
) -> Chart:
    fig = go.Figure(go.Bar(x=list(labels), y=list(values), marker_color=color))
    _layout(fig, title, {"l": 40, "r": 10, "t": 40, "b": 80})
    return Chart(div_id, str(pio.to_json(fig, validate=False)))


def pie(div_id: str, title: str, labels: Sequence[str], values: Sequence[float]) -> Chart:
    fig = go.Figure(go.Pie(labels=list(labels), values=list(values), hole=0.45, sort=False))
    _layout(fig, title, {"l": 10, "r": 10, "t": 40, "b": 10})
    return Chart(div_id, str(pio.to_json(fig, validate=False)))
