#!/usr/bin/env python3
"""Checks the dashboard's queries against a Prometheus and draws them without Grafana.

  python3 deploy/grafana/preview.py --prometheus http://127.0.0.1:9090 \
      --minutes 15 --out /tmp/plenum-dashboard.html

For every panel of dashboards/plenum.json it runs each target's PromQL ($__rate_interval and
$__range filled in as Grafana would for a 5 s scrape interval), prints how many series came
back and their largest value, and writes an HTML page with the panels laid out on Grafana's
24-column grid (timeseries as SVG lines, stats as numbers). Exit status 1 if a query
returned nothing or failed. Standard library only.
"""
import argparse
import html
import json
import pathlib
import sys
import time
import urllib.parse
import urllib.request

COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a"]


def query(base, path, params):
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=20) as r:
        d = json.load(r)
    if d.get("status") != "success":
        raise RuntimeError(d)
    return d["data"]["result"]


def fmt(v, unit):
    if unit == "percentunit":
        return f"{v * 100:.2f} %"
    if unit == "Mbits":
        return f"{v:.1f} Mbit/s"
    a = abs(v)
    s = f"{v / 1e6:.2f} M" if a >= 1e6 else f"{v / 1e3:.1f} k" if a >= 1e4 else f"{v:.4g}"
    return s + {"pps": " pkt/s", "ops": "/s"}.get(unit, "")


def legend_of(fmt_str, metric):
    out = fmt_str or ""
    for k, v in metric.items():
        out = out.replace("{{" + k + "}}", v)
    return out or json.dumps(metric)


def svg_series(series, start, end, unit, w, h):
    pad_l, pad_b = 70, 18
    ymax = max([v for _, pts in series for _, v in pts] + [0]) or 1
    out = [f'<svg viewBox="0 0 {w} {h}" width="100%" height="{h}">']
    for i in range(5):
        y = 4 + (h - pad_b - 8) * i / 4
        out.append(f'<line x1="{pad_l}" y1="{y:.0f}" x2="{w}" y2="{y:.0f}" stroke="#333"/>')
        out.append(f'<text x="{pad_l - 4}" y="{y + 4:.0f}" text-anchor="end">{html.escape(fmt(ymax * (4 - i) / 4, unit))}</text>')
    for i in range(5):
        t = start + (end - start) * i / 4
        x = pad_l + (w - pad_l) * i / 4
        out.append(f'<text x="{x:.0f}" y="{h - 3}" text-anchor="middle">{time.strftime("%H:%M:%S", time.gmtime(t))}</text>')
    for n, (_, pts) in enumerate(series):
        p = " ".join(f"{pad_l + (w - pad_l) * (t - start) / (end - start):.1f},"
                     f"{4 + (h - pad_b - 8) * (1 - v / ymax):.1f}" for t, v in pts)
        out.append(f'<polyline fill="none" stroke="{COLORS[n % len(COLORS)]}" stroke-width="1.6" points="{p}"/>')
    out.append("</svg>")
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090")
    ap.add_argument("--dashboard", default=str(pathlib.Path(__file__).with_name("dashboards") / "plenum.json"))
    ap.add_argument("--start", type=float, help="unix seconds (default: --minutes before --end)")
    ap.add_argument("--end", type=float, help="unix seconds (default: now)")
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--scrape-interval", type=int, default=5)
    ap.add_argument("--out", help="the HTML page to write")
    a = ap.parse_args()
    end = a.end or time.time()
    start = a.start or end - a.minutes * 60
    step = max(a.scrape_interval, int((end - start) / 300))
    dash = json.loads(pathlib.Path(a.dashboard).read_text())
    subst = {"$__rate_interval": f"{4 * a.scrape_interval}s", "$__range": f"{int(end - start)}s"}
    failed = 0
    cells = []
    for p in dash["panels"]:
        g = p["gridPos"]
        style = f"grid-column:{g['x'] + 1}/span {g['w']};grid-row:{g['y'] + 1}/span {g['h']}"
        if p["type"] == "row":
            cells.append(f'<div class="row" style="{style}">{html.escape(p["title"])}</div>')
            continue
        unit = p["fieldConfig"]["defaults"].get("unit", "short")
        series, body = [], ""
        for t in p["targets"]:
            expr = t["expr"]
            for k, v in subst.items():
                expr = expr.replace(k, v)
            try:
                if p["type"] == "stat":
                    res = query(a.prometheus, "query", {"query": expr, "time": end})
                    got = [(legend_of(t.get("legendFormat"), r["metric"]), [(end, float(r["value"][1]))]) for r in res]
                else:
                    res = query(a.prometheus, "query_range", {"query": expr, "start": start, "end": end, "step": step})
                    got = [(legend_of(t.get("legendFormat"), r["metric"]),
                            [(float(ts), float(v)) for ts, v in r["values"] if v not in ("NaN", "+Inf", "-Inf")]) for r in res]
            except Exception as e:  # noqa: BLE001 - report and go on
                print(f"FAIL  {p['title']} / {t.get('legendFormat')}: {e}")
                failed += 1
                continue
            peak = max([v for _, pts in got for _, v in pts], default=None)
            status = "ok  " if got else "NONE"
            failed += 0 if got else 1
            print(f"{status}  {p['title']} / {t.get('legendFormat')}: {len(got)} series, max {peak if peak is None else fmt(peak, unit)}")
            series += got
        if p["type"] == "stat":
            body = "".join(f'<div class="stat"><b>{html.escape(fmt(pts[-1][1], unit))}</b> {html.escape(n)}</div>'
                           for n, pts in series if pts)
        else:
            body = svg_series(series, start, end, unit, 60 * g["w"], 36 * g["h"] - 62) + "".join(
                f'<span class="lg"><i style="background:{COLORS[n % len(COLORS)]}"></i>{html.escape(name)}</span>'
                for n, (name, _) in enumerate(series))
        cells.append(f'<div class="panel" style="{style}"><h3>{html.escape(p["title"])}</h3>{body}</div>')
    if a.out:
        span = f'{time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start))} – {time.strftime("%H:%M:%S", time.gmtime(end))} UTC'
        page = f"""<!doctype html><meta charset="utf-8"><title>{html.escape(dash['title'])}</title>
<style>body{{background:#111217;color:#ccccdc;font:13px sans-serif;margin:12px}}
.grid{{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:30px;gap:6px}}
.panel{{background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:4px 8px;overflow:hidden}}
.row{{font-weight:bold;font-size:15px;padding-top:6px}} h3{{margin:2px 0 4px;font-size:13px}}
svg text{{fill:#9fa7b3;font-size:10px}} .stat b{{font-size:26px;color:#73bf69}} .stat{{margin:4px 0}}
.lg{{margin-right:10px;font-size:11px}} .lg i{{display:inline-block;width:10px;height:3px;margin-right:3px;vertical-align:middle}}</style>
<h2>{html.escape(dash['title'])} <small style="font-weight:normal;font-size:12px">{span} · {html.escape(a.dashboard)} drawn from {html.escape(a.prometheus)} by preview.py</small></h2>
<div class="grid">{''.join(cells)}</div>"""
        pathlib.Path(a.out).write_text(page)
        print(f"wrote {a.out}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
