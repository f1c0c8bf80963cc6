#!/usr/bin/env python3
"""Writes dashboards/plenum.json, the Grafana dashboard of compose.yaml and k8s/.

Every query uses a metric that Plenum emits (grep `metrics::counter!` / `gauge!` in sfu/src
and signalling/src); a counter that has not been touched yet is absent from /metrics, hence
the `or vector(0)`. Run again after changing panels: python3 deploy/grafana/make-dashboard.py
"""
import json
import pathlib

DS = {"type": "prometheus", "uid": "${datasource}"}
RI = "$__rate_interval"
panels = []
next_id = 1
y = 0


def target(expr, legend, ref):
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def panel(kind, title, desc, targets, x, w, h, unit="short", **extra):
    global next_id
    p = {
        "id": next_id,
        "type": kind,
        "title": title,
        "description": desc,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit, "min": 0}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "value_and_name"}
    else:
        p["fieldConfig"]["defaults"]["custom"] = {"drawStyle": "line", "lineWidth": 1,
                                                   "fillOpacity": 10, "showPoints": "never"}
    p.update(extra)
    next_id += 1
    panels.append(p)


def row(title):
    global next_id, y
    panels.append({"id": next_id, "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
    next_id += 1
    y += 1


# --- participants ---------------------------------------------------------------------------
row("Participants")
panel("stat", "Media participants",
      "WebRTC connections on the media plane (plenum_media_peers, summed over shards).",
      [("sum(plenum_media_peers)", "media")], 0, 4, 5)
panel("stat", "WebSocket connections",
      "Open signalling connections, joined or not yet (plenum_ws_connections).",
      [("sum(plenum_ws_connections) or vector(0)", "websocket")], 4, 4, 5)
panel("timeseries", "Participants",
      "Media participants and WebSocket connections over time.",
      [("sum(plenum_media_peers)", "media participants"),
       ("sum(plenum_ws_connections) or vector(0)", "WebSocket connections")], 8, 16, 5)
y += 5

# --- media ------------------------------------------------------------------------------------
row("Media")
panel("timeseries", "Packets per second",
      "RTP packets the SFU forwarded to subscribers, received from publishers, and handed to "
      "relays for other servers (plenum_media_rtp_forwarded_total, plenum_media_rtp_received_total, "
      "plenum_media_rtp_relayed_total).",
      [(f"sum(rate(plenum_media_rtp_forwarded_total[{RI}]))", "forwarded"),
       (f"sum(rate(plenum_media_rtp_received_total[{RI}]))", "received"),
       (f"sum(rate(plenum_media_rtp_relayed_total[{RI}])) or vector(0)", "relayed")], 0, 8, 8, unit="pps")
panel("timeseries", "Forwarded Mbit/s",
      "RTP payload forwarded, in Mbit/s (plenum_media_rtp_forwarded_bytes_total counts payload "
      "bytes; RTP header, SRTP tag and UDP/IP add about 60 bytes a packet on the wire).",
      [(f"sum(rate(plenum_media_rtp_forwarded_bytes_total[{RI}])) * 8 / 1e6", "forwarded")],
      8, 8, 8, unit="Mbits")
panel("timeseries", "Fan-out",
      "Forwarded per received packet: how many subscribers each incoming packet reaches on average.",
      [(f"sum(rate(plenum_media_rtp_forwarded_total[{RI}])) / sum(rate(plenum_media_rtp_received_total[{RI}]))",
        "forwarded / received")], 16, 8, 8)
y += 8
panel("timeseries", "Server-side loss (drops)",
      "Share of the server's outgoing datagrams it had to drop: the UDP socket refused them "
      "(plenum_media_send_dropped_total) or an ICE-TCP connection's queue was full "
      "(plenum_media_tcp_dropped_total). Loss on the way to the browsers is not measured by "
      "the server.",
      [(f"(sum(rate(plenum_media_send_dropped_total[{RI}])) or vector(0)) / sum(rate(plenum_media_udp_sent_total[{RI}]) + rate(plenum_media_tcp_sent_total[{RI}]))",
        "UDP dropped"),
       (f"sum(rate(plenum_media_tcp_dropped_total[{RI}])) / sum(rate(plenum_media_udp_sent_total[{RI}]) + rate(plenum_media_tcp_sent_total[{RI}]))",
        "ICE-TCP dropped")], 0, 8, 8, unit="percentunit")
panel("timeseries", "Datagrams sent by transport",
      "Datagrams out over UDP and frames over ICE-TCP, ICE-TCP frames in "
      "(plenum_media_udp_sent_total, plenum_media_tcp_sent_total, plenum_media_tcp_received_total).",
      [(f"sum(rate(plenum_media_udp_sent_total[{RI}]))", "UDP sent"),
       (f"sum(rate(plenum_media_tcp_sent_total[{RI}]))", "ICE-TCP sent"),
       (f"sum(rate(plenum_media_tcp_received_total[{RI}])) or vector(0)", "ICE-TCP received")],
      8, 8, 8, unit="pps")
panel("timeseries", "Keyframe requests and peer timeouts",
      "Keyframe requests (PLI/FIR) the SFU sent to publishers and str0m connection timeouts "
      "run, per second (plenum_media_keyframe_requests_total, plenum_media_peer_timeouts_total).",
      [(f"sum(rate(plenum_media_keyframe_requests_total[{RI}]))", "keyframe requests"),
       (f"sum(rate(plenum_media_peer_timeouts_total[{RI}]))", "peer timeouts")], 16, 8, 8,
      unit="ops")
y += 8
panel("timeseries", "Media shards: load per shard",
      "Each media worker's share of a core (plenum_media_shard_busy_microseconds_total{shard}: "
      "time from waking to sleeping again): near 1 a shard is saturated and adds latency.",
      [(f"rate(plenum_media_shard_busy_microseconds_total[{RI}]) / 1e6", "shard {{shard}}")],
      0, 6, 7, unit="percentunit")
panel("timeseries", "Media shards: cross-shard messages",
      "Messages between media shards per second (plenum_media_shard_messages_total): a room's "
      "home shard hands its writes to the shards of subscribers on other cores (summed over "
      "shards).",
      [(f"sum(rate(plenum_media_shard_messages_total[{RI}]))", "messages")], 6, 6, 7, unit="ops")
panel("timeseries", "Forwarded packets per participant",
      "Forwarded packets per second divided by media participants: the per-participant load "
      "that sizing figures are given in (docs/operations.md, Sizing).",
      [(f"sum(rate(plenum_media_rtp_forwarded_total[{RI}])) / sum(plenum_media_peers)",
        "pkt/s per participant")], 12, 12, 7, unit="pps")
y += 7

# --- signalling ---------------------------------------------------------------------------------
row("Signalling and polls")
panel("timeseries", "Votes per second",
      "cast_vote (secret and open polls) and cast_ballot (verifiable polls) commands "
      "(plenum_ws_commands_total{cmd}).",
      [(f'sum by (cmd) (rate(plenum_ws_commands_total{{cmd=~"cast_vote|cast_ballot"}}[{RI}]))',
        "{{cmd}}")], 0, 8, 8, unit="ops")
panel("stat", "Poll commands in the range",
      "Poll commands over the dashboard's time range: created, opened, closed, published, votes "
      "(plenum_ws_commands_total{cmd=~\"poll_.*|cast_.*\"}).",
      [('round(sum by (cmd) (increase(plenum_ws_commands_total{cmd=~"poll_create|poll_open|poll_close|poll_publish|poll_cancel|cast_vote|cast_ballot"}[$__range])))',
        "{{cmd}}")], 8, 8, 8, unit="none")
panel("timeseries", "WebSocket errors",
      "Refused or closed WebSocket work per second: upgrades from a foreign origin "
      "(plenum_ws_rejected_origin_total), upgrades over the cap of connections not yet joined "
      "(plenum_ws_rejected_pending_total), connections closed for not joining in time "
      "(plenum_ws_join_timeouts_total), commands refused by the rate limit "
      "(plenum_ws_rate_limited_total).",
      [(f"sum(rate(plenum_ws_rejected_origin_total[{RI}])) or vector(0)", "foreign origin"),
       (f"sum(rate(plenum_ws_rejected_pending_total[{RI}])) or vector(0)", "too many pending"),
       (f"sum(rate(plenum_ws_join_timeouts_total[{RI}])) or vector(0)", "join timeout"),
       (f"sum(rate(plenum_ws_rate_limited_total[{RI}])) or vector(0)", "rate limited")],
      16, 8, 8, unit="ops")
y += 8
panel("timeseries", "Commands per second",
      "WebSocket commands received, by command (plenum_ws_commands_total{cmd}).",
      [(f"sum by (cmd) (rate(plenum_ws_commands_total[{RI}]))", "{{cmd}}")], 0, 24, 8,
      unit="ops")
y += 8

dashboard = {
    "uid": "plenum-overview",
    "title": "Plenum",
    "description": "Plenum's media plane and signalling, from its /metrics (aggregate counters only).",
    "tags": ["plenum"],
    "timezone": "browser",
    "schemaVersion": 39,
    "version": 1,
    "editable": False,
    "graphTooltip": 1,
    "refresh": "5s",
    "time": {"from": "now-15m", "to": "now"},
    "templating": {"list": [{
        "name": "datasource", "label": "Prometheus", "type": "datasource",
        "query": "prometheus", "refresh": 1, "hide": 0,
        "current": {"text": "Prometheus", "value": "plenum-prometheus"},
    }]},
    "annotations": {"list": []},
    "links": [],
    "panels": panels,
}
out = pathlib.Path(__file__).with_name("dashboards") / "plenum.json"
out.write_text(json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n")
print(f"{out}: {sum(1 for p in panels if p['type'] != 'row')} panels")
