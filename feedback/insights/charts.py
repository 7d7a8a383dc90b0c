"""Charts drawn on the server as inline SVG: no JavaScript, values written on the marks.

Each chart carries a <title> and a <desc> that reads out every value, so it
is understood without seeing it, and without telling colours apart.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 28, 40


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a value (or None, no data) per x label."""

    name: str
    values: Sequence[float | None]
    css: str = "s1"


def line_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    low: float,
    high: float,
    fmt: Callable[[float], str] = lambda v: f"{v:.2f}",
    height: int = 220,
    zero_line: bool = False,
) -> Markup:
    """Lines over evenly spaced x labels (e.g. weeks) on a fixed y range [low, high]."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM
    count = max(len(labels), 1)
    pad = 22  # keeps the first and last values clear of the axis labels and the edge
    step = (plot_w - 2 * pad) / max(count - 1, 1)

    def x(index: int) -> float:
        return LEFT + pad + (index * step if count > 1 else plot_w / 2 - pad)

    def y(value: float) -> float:
        value = min(max(value, low), high)
        return TOP + plot_h - (value - low) / (high - low) * plot_h

    parts: list[str] = []
    for tick in (low, (low + high) / 2, high):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{escape(fmt(tick))}</text>'
        )
    if zero_line and low < 0 < high:
        parts.append(
            f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>'
        )
    # Label at most ~12 x ticks so they never overlap.
    every = max(1, -(-count // 8))
    for index, label in enumerate(labels):
        if index % every == 0:
            parts.append(
                f'<text x="{x(index):.1f}" y="{height - BOTTOM + 18}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    descriptions = []
    for line in series:
        points = [(i, v) for i, v in enumerate(line.values) if v is not None]
        segments: list[list[tuple[int, float]]] = []
        for i, v in points:
            if segments and segments[-1][-1][0] == i - 1:
                segments[-1].append((i, v))
            else:
                segments.append([(i, v)])
        for segment in segments:
            path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in segment)
            parts.append(f'<polyline class="line {line.css}" points="{path}" fill="none"/>')
        for i, v in points:
            parts.append(
                f'<circle class="{line.css}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5"/>'
                f'<text x="{x(i):.1f}" y="{y(v) - 8:.1f}" text-anchor="middle">'
                f"{escape(fmt(v))}</text>"
            )
        readings = ", ".join(
            f"{label}: {fmt(v) if v is not None else 'no data'}"
            for label, v in zip(labels, line.values, strict=True)
        )
        descriptions.append(f"{line.name}. {readings}.")
    return _svg(title, " ".join(descriptions), height, parts)


def bar_chart(
    *,
    title: str,
    bars: Sequence[tuple[str, float | None]],
    low: float,
    high: float,
    fmt: Callable[[float], str] = lambda v: f"{v:+.2f}",
) -> Markup:
    """Horizontal bars from zero (negative values to the left), one row per label."""
    row, label_w = 30, 170
    height = TOP + row * max(len(bars), 1) + 12
    plot_w = WIDTH - label_w - RIGHT - 50

    def x(value: float) -> float:
        value = min(max(value, low), high)
        return label_w + (value - low) / (high - low) * plot_w

    zero = x(0.0) if low < 0 < high else x(low)
    parts = [
        f'<line class="axis" x1="{zero:.1f}" x2="{zero:.1f}" y1="{TOP - 8}" y2="{height - 8}"/>'
    ]
    for index, (label, value) in enumerate(bars):
        top = TOP + index * row
        parts.append(
            f'<text x="{label_w - 8}" y="{top + 15}" text-anchor="end">{escape(label)}</text>'
        )
        if value is None:
            parts.append(f'<text x="{zero + 6:.1f}" y="{top + 15}">no data</text>')
            continue
        start, end = sorted((zero, x(value)))
        css = "bar-neg" if value < 0 else "bar-pos"
        parts.append(
            f'<rect class="{css}" x="{start:.1f}" y="{top + 3}" width="{max(end - start, 1):.1f}" '
            f'height="{row - 10}"/><text x="{max(end, zero) + 6:.1f}" y="{top + 15}">'
            f"{escape(fmt(value))}</text>"
        )
    description = ", ".join(
        f"{label}: {fmt(value) if value is not None else 'no data'}" for label, value in bars
    )
    return _svg(title, description + ".", height, parts)


def _svg(title: str, description: str, height: int, parts: list[str]) -> Markup:
    ident = f"chart-{zlib.crc32((title + description).encode()):08x}"
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(description)}'
        f'</desc><text x="{LEFT}" y="18" font-weight="700">{escape(title)}</text>'
        + "".join(parts)
        + "</svg>"
    )
