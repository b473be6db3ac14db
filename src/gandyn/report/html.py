"""One self-contained HTML page for ``gandyn report``.

Everything is inline: figures as base64 PNG ``data:`` URIs, the style sheet
in a ``<style>`` block, system fonts only, and one small script at the end
that counts the images that decoded (``data-images-ok`` and
``data-images-total`` on ``<body>``, read by the browser test). The page
needs no network and no other file.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Iterable

__all__ = ["build_html", "format_value"]

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1100px; padding: 1.5em 2em 4em; color: #1d1d1f;
       line-height: 1.45; background: #fff; }
h1 { margin-bottom: 0.2em; }
h2 { margin-top: 2.2em; padding-top: 0.6em; border-top: 2px solid #d0d4da; }
h3 { margin-top: 1.6em; font-size: 1.05em; }
.meta { color: #555; margin-top: 0; }
nav ol { padding-left: 1.4em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #c9ced6; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e6ea; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
pre { background: #f5f6f8; border: 1px solid #e0e3e8; padding: 0.8em; overflow-x: auto;
      font-size: 0.85em; }
.status { font-weight: 600; padding: 0 0.4em; border-radius: 3px; }
.status-ok { color: #0b6b2b; background: #e3f4e8; }
.status-failed { color: #9b1c1c; background: #fbe4e4; }
.box { padding: 0.6em 0.9em; margin: 0.8em 0; border-left: 4px solid; }
.box-error { border-color: #c62828; background: #fdecec; }
.box-warning { border-color: #d98b00; background: #fff5e0; }
.box-note { border-color: #5a7bb5; background: #eef3fb; }
.box-verdict { border-color: #2e7d32; background: #edf7ee; }
.box p { margin: 0.2em 0; }
"""

# Counts the images that decoded, now and again whenever one finishes (data URIs may decode
# after this script runs) and once the page has loaded.
SCRIPT = """
(function () {
  function count() {
    var images = document.getElementsByTagName("img");
    var ok = 0;
    for (var i = 0; i < images.length; i++) {
      if (images[i].complete && images[i].naturalWidth > 0) { ok++; }
    }
    document.body.dataset.imagesOk = String(ok);
    document.body.dataset.imagesTotal = String(images.length);
  }
  var images = document.getElementsByTagName("img");
  for (var i = 0; i < images.length; i++) {
    images[i].addEventListener("load", count);
    images[i].addEventListener("error", count);
  }
  window.addEventListener("load", count);
  count();
})();
"""


def format_value(v: Any) -> str:
    """A table cell: numbers to 3 significant digits, ``None`` as a dash.

    Near 1 (a spectral radius at the stability boundary, an FDR ratio) more
    digits mean something: a value within 0.5% of 1 keeps enough of them to
    show how far from 1 it is.
    """
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "∞" if v > 0 else ("−∞" if v < 0 else "NaN")
        gap = v - 1.0
        if gap != 0.0 and abs(gap) < 1e-6:
            return f"1 {'+' if gap > 0 else '−'} {abs(gap):.2g}"
        if gap != 0.0 and abs(gap) < 5e-3:
            digits = 3 - math.floor(math.log10(abs(gap)))
            return f"{v:.{digits}f}"
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k} = {format_value(x)}" for k, x in v.items())
    return str(v)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{_e(format_value(v))}</td>' if _is_number(v)
                        else f"<td>{_e(format_value(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _figure(root: Path, fig: dict) -> str:
    path = root / fig["file"]
    if not path.is_file():
        return (f'<div class="box box-warning"><p>Figure missing: {_e(fig["file"])}</p></div>')
    return (f'<figure><img src="{_png_data_uri(path)}" alt="{_e(fig["caption"])}">'
            f"<figcaption>{_e(fig['caption'])} <code>{_e(fig['file'])}</code></figcaption></figure>")


def _boxes(kind: str, title: str, lines: list) -> str:
    if not lines:
        return ""
    items = "".join(f"<p>{_e(line)}</p>" for line in lines)
    return f'<div class="box box-{kind}"><p><strong>{_e(title)}</strong></p>{items}</div>'


def _status(status: str) -> str:
    return f'<span class="status status-{_e(status)}">{_e(status)}</span>'


def _section(root: Path, number: int, s: dict) -> str:
    parts = [f'<section id="{_e(s["name"])}">',
             f"<h2>{number}. {_e(s['title'])} {_status(s['status'])}</h2>",
             f"<p>{_e(s['description'])}</p>",
             f'<p class="meta">Wall time {s["seconds"]:.1f} s'
             f'{" (in an earlier, interrupted run; loaded from its checkpoint)" if s.get("resumed") else ""}'
             f' · seeds: {_e(format_value(s["seeds"]))}'
             f" · data in <code>{_e(s['name'])}/</code></p>"]
    if s["error"]:
        parts.append(_boxes("error", "This section failed:", [s["error"]]))
    parts.append(_boxes("warning", "Divergent runs and infinite scores:", s["warnings"]))
    parts.append(_boxes("verdict", "What the numbers say:", s.get("verdicts", [])))
    parts.append(_boxes("note", "Notes:", s["notes"]))
    for fig in s["figures"]:
        parts.append(_figure(root, fig))
    for t in s["tables"]:
        parts.append(f"<h3>{_e(t['title'])}</h3>")
        parts.append(_table(t["header"], t["rows"]))
    parts.append("<h3>Configuration</h3>")
    if s["commands"]:
        parts.append("<p>Commands run (equivalent command lines):</p>")
        parts.append(f"<pre>{_e(chr(10).join(s['commands']))}</pre>")
    if s["config_text"] and s["name"] != "kernel":
        parts.append("<p>Configuration file:</p>")
        parts.append(f"<pre>{_e(s['config_text'])}</pre>")
    if s["settings"]:
        parts.append("<p>Section settings in the report configuration:</p>")
        parts.append(f"<pre>{_e(s['settings'])}</pre>")
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _warning_count(warnings: list) -> str:
    n = len(warnings)
    return f" ({n} warning{'s' if n > 1 else ''}, see the section)" if n else ""


def _overview(report: dict) -> str:
    rows = [[s["title"], s["status"], f"{s['seconds']:.1f}",
             s["error"] or s["headline"] + _warning_count(s["warnings"])]
            for s in report["sections"]]
    return _table(["section", "status", "wall time (s)", "key result or error"], rows)


def _contents(report: dict) -> str:
    items = [f'<li><a href="#{_e(s["name"])}">{_e(s["title"])}</a> {_status(s["status"])} '
             f'<span class="meta">{s["seconds"]:.1f} s</span></li>' for s in report["sections"]]
    items.append('<li><a href="#environment">Environment and configuration</a></li>')
    return f"<nav><h2>Contents</h2><ol>{''.join(items)}</ol></nav>"


def _environment(report: dict) -> str:
    rows = [[k, v] for k, v in report["versions"].items()]
    rows += [[k, v] for k, v in report["platform"].items()]
    rows += [["report seed", report["seed"]], ["quick", report["quick"]],
             ["created (UTC)", report["created"]], ["total wall time (s)", report["seconds"]]]
    rows += [[f"seeds: {s['name']}", s["seeds"]] for s in report["sections"]]
    return "\n".join([
        '<section id="environment"><h2>Environment and configuration</h2>',
        _table(["item", "value"], rows),
        "<h3>Command</h3>", f"<pre>{_e(report['command'])}</pre>",
        "<h3>Report configuration (resolved)</h3>", f"<pre>{_e(report['config_text'])}</pre>",
        "</section>"])


def build_html(report: dict, root: Path) -> str:
    """The report page; figures are read from ``root`` (the report folder) and embedded."""
    failed = [s["name"] for s in report["sections"] if s["status"] != "ok"]
    verdict = (f"{len(failed)} of {len(report['sections'])} sections failed: {', '.join(failed)}"
               if failed else f"all {len(report['sections'])} sections ran")
    body = [f"<h1>{_e(report['title'])}</h1>",
            f'<p class="meta">gandyn {_e(report["versions"]["gandyn"])} · created '
            f"{_e(report['created'])} UTC · {report['seconds']:.1f} s in all · {_e(verdict)}"
            f"{' · quick settings' if report['quick'] else ''}</p>",
            _contents(report),
            '<section id="overview"><h2>Overview</h2>', _overview(report), "</section>"]
    body += [_section(root, i, s) for i, s in enumerate(report["sections"], start=1)]
    body.append(_environment(report))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(report['title'])}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n")
