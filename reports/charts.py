"""Server-side SVG charts for report pages: no script, no CDN, nothing the dashboard's CSP has to allow.

Colours are SVG presentation attributes (not `style=`), and the markup is built from numbers and fixed strings
only, so nothing a user typed reaches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 1100, 230
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    values: Sequence[int]
    dashed: bool = False


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    step = 10 ** (len(str(value)) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        top = int(step * factor)
        if top >= value:
            return top
    return value


def line_chart(*, series: Sequence[Series], labels: Sequence[str], title: str, every: int = 6) -> SafeString:
    """Lines over a shared x axis of `labels` (one point per label); a label shown every `every` points."""
    points = max(len(labels), 2)
    top = _nice_max(max((max(s.values, default=0) for s in series), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + plot_w * i / (points - 1)

    def y(v: int) -> float:
        return TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="report-chart w-100" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):
        value = top * k // 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#dee2e6"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" fill="#6c757d">'
            f"{value:,}</text>"
        )
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11" fill="#6c757d">'
                f"{escape(label)}</text>"
            )
    for s in series:
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        parts.append(
            f'<polyline fill="none" stroke="{s.colour}" stroke-width="2"{dash} points="{coords}">'
            f"<title>{escape(s.label)}</title></polyline>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # built from numbers and escaped fixed labels only


OPENS = "#0d6efd"
CLICKS = "#198754"
MACHINE = "#adb5bd"


def engagement_chart(*, rows: Sequence[Sequence[int]], unit: str, every: int) -> SafeString:
    """rows: [offset, human opens, machine opens, human clicks, machine clicks]; unit 'h' or 'd'."""
    labels = [f"+{row[0]}{unit}" for row in rows]
    return line_chart(
        series=[
            Series("Human opens", OPENS, [row[1] for row in rows]),
            Series("Human clicks", CLICKS, [row[3] for row in rows]),
            Series("Machine opens and clicks", MACHINE, [row[2] + row[4] for row in rows], dashed=True),
        ],
        labels=labels,
        title=f"Opens and clicks by {'hour' if unit == 'h' else 'day'} after the send",
        every=every,
    )
