"""The viewer half of `devstack.traces`: the newest traces at `/`, one trace's waterfall at
`/trace/<id>` and its spans as JSON at `/api/trace/<id>`. Plain HTML and CSS, nothing
fetched from elsewhere, every received string escaped."""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.traces import Span, SpanStore

LISTED_TRACES = 100
# One colour per service of docs/tracing.md; any other service gets one from its name.
SERVICE_COLOURS = {
    "binconv-gateway": "#4e79a7",
    "binconv-task-service": "#f28e2b",
    "binconv-relay": "#59a14f",
    "binconv-worker": "#e15759",
    "binconv-websocket": "#b07aa1",
}
_SPARE_COLOURS = ("#76b7b2", "#edc948", "#9c755f", "#bab0ac", "#ff9da7")


def colour_of(service: str) -> str:
    spare = _SPARE_COLOURS[zlib.crc32(service.encode()) % len(_SPARE_COLOURS)]
    return SERVICE_COLOURS.get(service, spare)


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    root: str
    services: list[str]
    spans: int
    start_ns: int
    duration_ms: float


def group_traces(spans: list[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    return traces


def summarize(trace_id: str, spans: list[Span]) -> TraceSummary:
    start = min(span.start_ns for span in spans)
    end = max(span.end_ns for span in spans)
    return TraceSummary(
        trace_id=trace_id,
        root=tree_order(spans)[0][0].name,
        services=sorted({span.service for span in spans}),
        spans=len(spans),
        start_ns=start,
        duration_ms=(end - start) / 1e6,
    )


def newest_traces(spans: list[Span], limit: int = LISTED_TRACES) -> list[TraceSummary]:
    summaries = [summarize(trace_id, group) for trace_id, group in group_traces(spans).items()]
    return sorted(summaries, key=lambda summary: summary.start_ns, reverse=True)[:limit]


def tree_order(spans: list[Span]) -> list[tuple[Span, int]]:
    """Each span with its depth, parents before children, siblings by start time. A span
    whose parent never arrived (not sampled, or its process died first) starts a tree."""
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children[parent].append(span)
    ordered: list[tuple[Span, int]] = []
    stack = [(span, 0) for span in sorted(children[None], key=_start, reverse=True)]
    while stack:
        span, depth = stack.pop()
        ordered.append((span, depth))
        below = sorted(children[span.span_id], key=_start, reverse=True)
        stack.extend((child, depth + 1) for child in below)
    return ordered


def _start(span: Span) -> int:
    return span.start_ns


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_STYLE}</style></head><body>{body}</body></html>"""


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
a { color: #1f5fa8; text-decoration: none; } a:hover { text-decoration: underline; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #eee; }
td { white-space: nowrap; } td.services { white-space: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.chip { display: inline-block; padding: 0 .4rem; margin: 0 .2rem .1rem 0; border-radius: 3px;
  color: #fff; font-size: 12px; }
.legend { margin: .5rem 0 1rem; }
.waterfall { display: grid; grid-template-columns: minmax(22rem, 34%) 1fr; }
.waterfall > div { border-bottom: 1px solid #f0f0f0; }
.axis { font-size: 12px; color: #666; position: relative; height: 1.3rem; }
.axis span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
.axis span:first-child { transform: none; } .axis span:last-child { transform: translateX(-100%); }
.name { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding: .15rem 0; }
.name .svc { display: inline-block; width: .6rem; height: .6rem; border-radius: 50%;
  margin-right: .35rem; }
.name label { cursor: pointer; }
.name .of { color: #888; font-size: 12px; margin-left: .4rem; }
.track { position: relative; min-height: 1.5rem; }
.bar { position: absolute; top: .3rem; height: .9rem; border-radius: 2px; min-width: 2px; }
.ms { position: absolute; top: .15rem; font-size: 12px; color: #444; white-space: nowrap; }
.attrs { grid-column: 1 / 3; font: 12px ui-monospace, monospace; background: #fafafa;
  padding: .3rem .6rem .4rem 2rem; white-space: pre-wrap; }
.error { outline: 2px solid #d62728; }
/* a span's name is the label of a hidden checkbox that shows its attributes below */
.attrs { display: none; } input:checked + .attrs { display: block; }
"""


def traces_page(spans: list[Span]) -> str:
    rows = "".join(
        f"<tr><td><a href='/trace/{s.trace_id}'>{escape(s.root)}</a></td>"
        f"<td class='services'>{''.join(_chip(service) for service in s.services)}</td>"
        f"<td class='num'>{s.spans}</td><td class='num'>{s.duration_ms:.1f} ms</td>"
        f"<td>{_clock(s.start_ns)}</td><td><code>{s.trace_id}</code></td></tr>"
        for s in newest_traces(spans)
    )
    body = (
        f"<h1>Traces</h1><p>{len(group_traces(spans))} traces, {len(spans)} spans received; "
        f"the newest {LISTED_TRACES} at most below, newest first. Reload for new ones.</p>"
        "<table><tr><th>root span</th><th>services</th><th class='num'>spans</th>"
        f"<th class='num'>duration</th><th>started (UTC)</th><th>trace id</th></tr>{rows}</table>"
    )
    return _page("Traces", body)


def trace_page(trace_id: str, spans: list[Span]) -> str:
    summary = summarize(trace_id, spans)
    start, total = summary.start_ns, max(summary.duration_ms * 1e6, 1.0)
    rows = []
    for index, (span, depth) in enumerate(tree_order(spans)):
        left = (span.start_ns - start) / total * 100
        width = (span.end_ns - span.start_ns) / total * 100
        label = f"{span.service} · {span.kind}"
        details = "\n".join(
            f"{key} = {json.dumps(value, ensure_ascii=False)}"
            for key, value in span.attributes.items()
        )
        error = " error" if span.status.get("code") == "error" else ""
        colour = colour_of(span.service)
        place = _duration_place(left, width)
        rows.append(
            f"<div class='name' style='padding-left:{depth * 1.1:.1f}rem' "
            f"title='{escape(label)}'><span class='svc' style='background:{colour}'></span>"
            f"<label for='a{index}'>{escape(span.name)}</label>"
            f"<span class='of'>{escape(span.service)}</span></div>"
            f"<div class='track' title='{escape(label + chr(10) + details)}'>"
            f"<div class='bar{error}' style='left:{left:.3f}%;width:{width:.3f}%;"
            f"background:{colour}'></div>"
            f"<span class='ms' style='{place}'>{span.duration_ms:.2f} ms</span></div>"
            f"<input type='checkbox' id='a{index}' hidden>"
            f"<div class='attrs'>{escape(label)}\n{escape(details)}</div>"
        )
    axis = "".join(
        f"<span style='left:{fraction * 100:.0f}%'>{summary.duration_ms * fraction:.1f} ms</span>"
        for fraction in (0, 0.25, 0.5, 0.75, 1)
    )
    body = (
        f"<p><a href='/'>&larr; all traces</a></p><h1>{escape(summary.root)}</h1>"
        f"<p>trace <code>{trace_id}</code> · {summary.spans} spans · "
        f"{summary.duration_ms:.1f} ms · started {_clock(start)} UTC · click a span for its "
        f"attributes</p><div class='legend'>"
        f"{''.join(_chip(service) for service in summary.services)}</div>"
        f"<div class='waterfall'><div></div><div class='axis'>{axis}</div>{''.join(rows)}</div>"
    )
    return _page(f"Trace {summary.root}", body)


def _duration_place(left: float, width: float) -> str:
    """Where a bar's duration is written: right of the bar, or left of it near the end of
    the track, or inside a bar too wide for either."""
    if left + width < 85:
        return f"left:calc({left + width:.3f}% + 4px)"
    if left > 15:
        return f"right:calc({100 - left:.3f}% + 4px)"
    return f"right:calc({100 - left - width:.3f}% + 4px);color:#fff"


def _chip(service: str) -> str:
    return f"<span class='chip' style='background:{colour_of(service)}'>{escape(service)}</span>"


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class _ViewerHandler(BaseHTTPRequestHandler):
    server: ViewerServer

    def do_GET(self) -> None:
        spans = self.server.store.spans()
        path = self.path.split("?")[0]
        if path == "/":
            return self._answer(200, traces_page(spans), "text/html")
        for prefix in ("/trace/", "/api/trace/"):
            if path.startswith(prefix):
                trace_id = path.removeprefix(prefix)
                found = [span for span in spans if span.trace_id == trace_id]
                if not found:
                    return self._answer(404, "no such trace", "text/plain")
                if prefix == "/trace/":
                    return self._answer(200, trace_page(trace_id, found), "text/html")
                listed = json.dumps([asdict(span) for span in found], ensure_ascii=False)
                return self._answer(200, listed, "application/json")
        self._answer(404, "not found", "text/plain")

    def _answer(self, status: int, text: str, content_type: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("content-type", f"{content_type}; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        # Received strings are escaped; nothing on these pages needs script or a fetch.
        self.send_header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, store: SpanStore) -> None:
        super().__init__(("127.0.0.1", port), _ViewerHandler)
        self.store = store
