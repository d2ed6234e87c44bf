"""Personalise a ~20 KB MJML template for 100k recipients on one core (compile once, render per recipient).

    make bench BENCH="render"                       # 100k recipients
    make bench BENCH="render --recipients 20000"    # quicker

Timed in one process (one core):
- compile: MJML -> HTML (mjml-python), the subject/HTML/text templates (`templates_app.rendering.compile_message`);
- render: `CompiledMessage.render(context)` for every recipient (subject, HTML, text part), contexts built per
  recipient with `contact_context` as the engine does;
- baselines in the same run: `string.Template.safe_substitute` of the same compiled HTML and text with the same
  values (the floor: substitution only, no filters, escaping or defaults), and Django's stock `Template.render`
  plus a per-recipient HTML-to-text pass (what a naive implementation does), timed on a sample and scaled.
Target (issue 4): <= 10 s for 100k recipients on one core, judged on the process's CPU time (the bench machine is
shared, so wall time also counts time spent waiting for a CPU; both are printed).
"""

from __future__ import annotations

import argparse
import html
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import peak_rss_mb, print_table, setup_django, timed

DB_NAME = "herald_segments_bench"

LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo "
    "consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur."
)

HEAD = """<mjml>
  <mj-head>
    <mj-title>Your Next Campus: this month</mj-title>
    <mj-preview>News for {{ first_name|default:"you" }}</mj-preview>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="15px" line-height="22px" color="#222222" />
      <mj-button background-color="#0d6efd" color="#ffffff" border-radius="4px" />
    </mj-attributes>
    <mj-style inline="inline">.muted { color: #6c757d; } .lead { font-size: 18px; }</mj-style>
  </mj-head>
  <mj-body background-color="#f4f4f4">
    <mj-section padding="8px"><mj-column>
      <mj-text align="right" font-size="11px"><a href="{{ view_in_browser_url }}">View in your browser</a></mj-text>
    </mj-column></mj-section>
    <mj-section background-color="#ffffff"><mj-column>
      <mj-image src="https://example.org/static/logo.png" alt="Your Next Campus" width="160px" />
      <mj-text css-class="lead">Hi {{ first_name|default:"there" }},</mj-text>
      <mj-text>Here is what is new for students in {{ city|default:"your city" }} this month.
        {% if attributes.score and attributes.score > 70 %}You are among our most engaged readers: thank you!{% endif %}</mj-text>
    </mj-column></mj-section>
"""

ARTICLE = """    <mj-section background-color="#ffffff" padding="12px 0">
      <mj-column width="35%"><mj-image src="https://example.org/static/article-{n}.jpg" alt="Article {n}" /></mj-column>
      <mj-column width="65%">
        <mj-text font-weight="bold" font-size="17px">Story {n}: programmes that start this autumn</mj-text>
        <mj-text>{lorem}</mj-text>
        <mj-button href="https://example.org/stories/{n}?utm_source=newsletter&amp;utm_medium=email">Read story {n}</mj-button>
      </mj-column>
    </mj-section>
"""

FOOT = """    <mj-section padding="16px"><mj-column>
      <mj-text css-class="muted" font-size="12px" align="center">You receive this because {{ email }} subscribed to
        Your Next Campus news. <a href="{{ unsubscribe_url }}">Unsubscribe</a> at any time.</mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>
"""


def newsletter(target_bytes: int = 20_000) -> str:
    parts = [HEAD]
    n = 1
    while len("".join(parts)) + len(FOOT) < target_bytes:
        parts.append(ARTICLE.format(n=n, lorem=LOREM))
        n += 1
    return "".join(parts) + FOOT


SUBJECT = '{{ first_name|default:"Hello" }}, this month at Your Next Campus'


def contexts(n: int):  # type: ignore[no-untyped-def]
    from templates_app.rendering import contact_context

    cities = ["Oslo", "Bergen", "Lagos", "Delhi", ""]
    for i in range(n):
        yield contact_context(
            first_name="" if i % 17 == 0 else f"Name{i}",
            last_name=f"Last{i}",
            email=f"reader{i}@example.org",
            attributes={"city": cities[i % 5], "score": i % 100} if i % 5 else {},
            unsubscribe_url=f"https://herald.example.org/u/{i:08d}.token-abcdefghijklmnop",
            view_in_browser_url=f"https://herald.example.org/v/{i:08d}.token-abcdefghijklmnop",
        )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench render", description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    args = parser.parse_args(argv)

    setup_django(DB_NAME)
    from django.template import Context, Engine

    from templates_app.rendering import compile_message, compile_mjml, html_to_text

    source = newsletter()
    with timed() as t_compile:
        compiled = compile_message(subject=SUBJECT, body_mjml=source)
    n = args.recipients
    html_bytes = 0
    cpu_start = time.process_time()
    with timed() as t_render:
        for ctx in contexts(n):
            rendered = compiled.render(ctx)
            html_bytes += len(rendered.html)
    render_cpu = time.process_time() - cpu_start
    assert "Unsubscribe" in rendered.text and rendered.subject

    # Floor: string.Template substitution of the same compiled HTML/text with the same values.
    html_out = compile_mjml(source)
    floor_html = string.Template(
        html_out.replace('{{ first_name|default:"there" }}', "$first_name")
        .replace('{{ first_name|default:"you" }}', "$first_name")
        .replace('{{ city|default:"your city" }}', "$city")
        .replace("{{ email }}", "$email")
        .replace("{{ unsubscribe_url }}", "$unsubscribe_url")
        .replace("{{ view_in_browser_url }}", "$view_in_browser_url")
    )
    floor_text = string.Template(html_to_text(floor_html.template))
    cpu_start = time.process_time()
    with timed() as t_floor:
        for ctx in contexts(n):
            values = {
                "first_name": html.escape(ctx["first_name"] or "there"),
                "city": html.escape(str(ctx["attributes"].get("city") or "your city")),
                "email": html.escape(ctx["email"]),
                "unsubscribe_url": html.escape(ctx["unsubscribe_url"]),
                "view_in_browser_url": html.escape(ctx["view_in_browser_url"]),
            }
            floor_html.safe_substitute(values)
            floor_text.safe_substitute(values)
    floor_cpu = time.process_time() - cpu_start

    # Naive: stock Django Template.render + HTML-to-text per recipient, on a sample, scaled to n.
    engine = Engine(autoescape=True)
    naive_html = engine.from_string(html_out)
    naive_subject = engine.from_string(SUBJECT)
    sample = min(args.naive_sample, n)
    cpu_start = time.process_time()
    with timed() as t_naive:
        for ctx in contexts(sample):
            values = {**ctx["attributes"], **ctx}
            body = naive_html.render(Context(values))
            naive_subject.render(Context(values, autoescape=False))
            html_to_text(body)
    naive_scaled = t_naive.seconds * n / sample
    naive_cpu_scaled = (time.process_time() - cpu_start) * n / sample

    render_s = t_render.seconds
    print_table(
        f"Personalise a {len(source) / 1024:.1f} KB MJML template ({len(html_out) / 1024:.0f} KB of HTML) "
        f"for {n:,} recipients, one process (CPU s = time on one core; wall s includes waiting for a shared CPU)",
        [
            {"step": "compile once (MJML + templates)", "wall s": t_compile.seconds},
            {
                "step": "render subject + HTML + text, per recipient",
                "wall s": render_s,
                "CPU s": render_cpu,
                "CPU us/recipient": render_cpu / n * 1e6,
                "x floor (CPU)": render_cpu / floor_cpu,
                "target": "<= 10 s",
                "ok": "yes" if render_cpu <= 10 else "NO",
            },
            {
                "step": "floor: string.Template substitution (baseline)",
                "wall s": t_floor.seconds,
                "CPU s": floor_cpu,
                "CPU us/recipient": floor_cpu / n * 1e6,
                "x floor (CPU)": 1.0,
            },
            {
                "step": f"naive: stock Django render + html-to-text (scaled from {sample:,})",
                "wall s": naive_scaled,
                "CPU s": naive_cpu_scaled,
                "CPU us/recipient": naive_cpu_scaled / n * 1e6,
                "x floor (CPU)": naive_cpu_scaled / floor_cpu,
            },
        ],
    )
    print(f"\nHTML rendered: {html_bytes / n / 1024:.1f} KB per email; peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
