"""The dashboard's trend chart as inline SVG built on the server: no script, no library, nothing for the CSP.

Only numbers and fixed strings go into the markup (dates are formatted here), so nothing a user typed reaches it.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from dashboard.models import DailyStat

WIDTH, HEIGHT = 600, 140
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 10, 20
SENT, OPENED, CLICKED = "#9ec5fe", "#198754", "#fd7e14"


def _top(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 4:
        return 4
    step = 10 ** (len(str(value)) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= value:
            return int(step * factor)
    return value


def _short(value: int) -> str:
    return f"{value / 1_000_000:g}M" if value >= 1_000_000 else f"{value / 1000:g}k" if value >= 1000 else str(value)


def _labelled(index: int, count: int) -> bool:
    """Every 7th day from the last one (today) backwards, so today is always labelled and labels never touch."""
    return (count - 1 - index) % 7 == 0


def trend_svg(days: Sequence[DailyStat]) -> SafeString:
    """Bars of emails sent per day, lines of first human opens and clicks per day, one shared y axis."""
    if not days:
        return mark_safe("")
    top = _top(max(max(d.sent, d.opened, d.clicked) for d in days))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(days)

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    def x(index: int) -> float:
        return LEFT + slot * index + slot / 2

    def n(value: float) -> str:
        return f"{value:.1f}"

    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} sent</title></rect>',
        (
            (
                LEFT + slot * i + slot * 0.15,
                y(d.sent),
                slot * 0.7,
                TOP + plot_h - y(d.sent),
                SENT,
                d.day.isoformat(),
                d.sent,
            )
            for i, d in enumerate(days)
        ),
    )

    def line(name: str, colour: str) -> SafeString:
        points = " ".join(f"{x(i):.1f},{y(int(getattr(d, name))):.1f}" for i, d in enumerate(days))
        return format_html('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', points, colour)

    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#dee2e6"/>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end" fill="#6c757d">{}</text>',
        ((LEFT, WIDTH - RIGHT, n(y(v)), n(y(v)), LEFT - 4, n(y(v) + 3), _short(v)) for v in (0, top // 2, top)),
    )
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="#6c757d">{}</text>',
        ((n(x(i)), HEIGHT - 6, d.day.strftime("%d %b")) for i, d in enumerate(days) if _labelled(i, len(days))),
    )
    return format_html(
        '<svg class="dashboard-trend" viewBox="0 0 {} {}" role="img" aria-label="Emails sent, opens and clicks per day">'
        "{}{}{}{}{}</svg>",
        WIDTH,
        HEIGHT,
        grid,
        bars,
        line("opened", OPENED),
        line("clicked", CLICKED),
        ticks,
    )


LEGEND = ((SENT, "sent"), (OPENED, "opened (human)"), (CLICKED, "clicked (human)"))
