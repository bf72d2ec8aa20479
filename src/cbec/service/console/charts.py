"""The overview's charts as Plotly figures, rendered to a ``<div>`` and a call of ``Plotly.newPlot``.

The page loads Plotly's JavaScript from the console itself (``/console/static/plotly.min.js``, read from
the installed ``plotly`` package), never from a CDN: the console must work on a network with no way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]

PLOTLY_CONFIG = {"displayModeBar": False, "responsive": True}


def plotly_js() -> bytes:
    """The minified plotly.js shipped inside the ``plotly`` Python package."""
    return files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()


def bar(
    div_id: str, title: str, labels: Sequence[str], values: Sequence[float], *, color: str = "#1f6feb"
) -> str:
    fig = go.Figure(go.Bar(x=list(labels), y=list(values), marker_color=color))
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=300,
        margin={"l": 40, "r": 10, "t": 40, "b": 80},
        font={"family": "Noto Sans CJK SC, Noto Sans, sans-serif", "size": 11},
        plot_bgcolor="#fff",
    )
    return str(pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOTLY_CONFIG))


def pie(div_id: str, title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    fig = go.Figure(go.Pie(labels=list(labels), values=list(values), hole=0.45, sort=False))
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        font={"family": "Noto Sans CJK SC, Noto Sans, sans-serif", "size": 11},
    )
    return str(pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOTLY_CONFIG))
