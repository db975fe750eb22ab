"""The page around the report's sections: inline CSS, a contents list, no scripts.

Data flow: `adopt.report.build` passes the `Section`s; `page` returns the
whole HTML document. The Content-Security-Policy allows nothing but the
page's own inline styles and data: images: no script runs and no request
leaves the file, even if some text slipped through unescaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from adopt.report.fmt import esc
from adopt.report.sections_plan import Section

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); margin: 0; background: #f6f7f9; }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: var(--muted); }
nav { padding: 8px 32px; background: #fff; border-bottom: 1px solid var(--line); }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
main { padding: 8px 32px 40px; max-width: 1280px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: 16px 20px; margin: 16px 0; overflow-x: auto; }
h2 { margin: 0 0 12px; font-size: 18px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
  vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 130px; }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
.na { color: #8a5a00; background: #fff7e0; padding: 6px 10px; border-radius: 4px; }
pre { background: #f3f4f6; padding: 8px; font-size: 12px; white-space: pre-wrap; }
svg.chart { display: block; margin: 8px 0; max-width: 100%; height: auto; }
svg.chart text { font-size: 11px; }
svg.chart text:not([fill]) { fill: #333; }
svg.chart .label { fill: var(--muted); }
svg.chart .grid { stroke: #e6e9ef; }
svg.chart .axis { stroke: #888; }
svg.chart .diag { stroke: #999; stroke-dasharray: 4 4; }
svg.chart .mark { stroke: #c0392b; stroke-dasharray: 5 3; }
svg.chart .markdot { fill: #c0392b; }
svg.chart .marktext { fill: #c0392b; font-weight: 600; }
.row { display: flex; flex-wrap: wrap; gap: 16px; }
details summary { cursor: pointer; color: var(--accent); margin: 8px 0; }
footer { color: var(--muted); padding: 0 32px 24px; font-size: 12px; }
"""


def page(title: str, subtitle: str, sections: Sequence[Section], footer: str) -> str:
    """The complete HTML document.

    Parameters
    ----------
    title, subtitle, footer : str
        Plain text (escaped here).
    sections : sequence of Section
        Bodies are safe HTML.
    """
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}</section>'
                   for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main><footer>{esc(footer)}</footer></body></html>\n"
    )
