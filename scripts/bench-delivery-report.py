#!/usr/bin/env python3
"""Markdown table of scripts/bench-delivery.sh's raw.json, each figure against issue 12's target."""
import json
import sys

raw = json.load(open(sys.argv[1]))
machine = raw.get("machine", {})
n = machine.get("n")


def ms(value):
    return "-" if value is None else f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def seconds(value):
    return "not reached" if value is None else f"{value:.2f} s"


def verdict(ok):
    return "met" if ok else "missed"


lines = [
    f"N = {n:,} devices; steady state: {machine.get('steadyDevices'):,} devices, one check-in per {machine.get('steadyIntervalMs')} ms each at most "
    f"(offered {machine.get('steadyDevices') * 1000 / max(machine.get('steadyIntervalMs') or 1, 1):,.0f}/s), {machine.get('steadySeconds')} s after a "
    f"{machine.get('warmUpSeconds')} s warm-up; {machine.get('cores')} cores, {machine.get('memoryGiB')} GiB, started {machine.get('startedAt')}.",
    "",
    "| suite | measure | target (issue 12) | result | met? | load average |",
    "|---|---|---|---|---|---|",
]
ceiling = raw.get("sqlite.ceiling")
for engine in ["sqlite", "postgres"]:
    if f"{engine}.enroll" not in raw:
        continue
    label = "SQLite" if engine == "sqlite" else "PostgreSQL, 2 replicas"
    e = raw[f"{engine}.enroll"]
    lines.append(f"| {label} | enrollments/s, {n:,} devices, 32 in flight | (none) | {e['perSecond'] or 0:,.0f}/s, p50 {ms(e['latency']['p50Ms'])}, "
                 f"p99 {ms(e['latency']['p99Ms'])}; all {n:,} applied and reported after {e['allSucceededAfterSeconds']} s; {e['errors']} errors | - | {e['loadAverage']} |")
    c = raw.get(f"{engine}.convergence")
    if c:
        ok = c["p99Seconds"] is not None and c["p99Seconds"] <= 5
        lines.append(f"| {label} | convergence 50 / 99 / 100 % of {n:,} parked devices after a policy change | 99 % within 5 s (at 10,000) | "
                     f"{seconds(c['p50Seconds'])} / {seconds(c['p99Seconds'])} / {seconds(c['p100Seconds'])} (PUT {c['policyPutSeconds']} s; {c['errors']} errors)"
                     + (f"; CPU meanwhile: servers {c['serverCPUSeconds']} s ({c['serverCPUMillisecondsPerDevice']} ms per device), "
                        f"simulator {c['simulatorCPUSeconds']} s ({c['simulatorCPUMillisecondsPerDevice']} ms per device)" if 'serverCPUSeconds' in c else "") + " | "
                     f"{verdict(ok)}{'' if n >= 10000 else f' at {n:,}'} | {c['loadAverage']} |")
    h = raw.get(f"{engine}.hold")
    if h:
        ok = h["kibPerHeldLongPoll"] <= 10
        lines.append(f"| {label} | server memory per held long-poll, (RSS holding {h['held']:,} - RSS holding 0) / {h['held']:,}, {h['servers']} process(es) | <= 10 KiB; 20,000 held | "
                     f"{h['kibPerHeldLongPoll']:.1f} KiB ({h['rssKiBHoldingNone'] / 1024:.0f} -> {h['rssKiBHoldingAll'] / 1024:.0f} MiB); {h['held']:,} held | "
                     f"{verdict(ok)}{'' if h['held'] >= 20000 else f'; 20,000 not tried'} | {h['loadAverage']} |")
    for key, what in [("steady", "unchanged check-ins/s"), ("steadyWithoutSessionReuse", "unchanged check-ins/s, agents re-reading key and state each cycle (before)")]:
        s = raw.get(f"{engine}.{key}")
        if not s:
            continue
        ok = s["perSecond"] >= 5000 and (s["cycle"]["p99Ms"] or 1e9) <= 50
        share = ""
        if ceiling and key == "steady" and ceiling["perSecond"]:
            share = f"; rate {s['perSecond'] / ceiling['perSecond'] * 100:.0f} % of the ceiling's"
            if s["serverCPUms"] and ceiling["serverCPUms"]:
                share += f", server CPU per check-in {s['serverCPUms'] / ceiling['serverCPUms']:.1f} x the bare endpoint's"
        lines.append(f"| {label} | {what}, p50 / p99 of the agent cycle | >= 5,000/s, p99 <= 50 ms | {s['perSecond']:,.0f}/s, {ms(s['cycle']['p50Ms'])} / {ms(s['cycle']['p99Ms'])}; "
                     f"server CPU {ms(s['serverCPUms'])} per check-in ({s['serverCPUShare'] * 100:.0f} % of one core), simulator CPU {ms(s['simulatorCPUms'])} per cycle{share}; "
                     f"{s['errors']} errors | {verdict(ok)} | {s['loadAverage']} |")
if ceiling:
    lines.append(f"| ceiling | bare Hummingbird POST route (`palisade-bench ceiling`), same TLS, same devices and phase | (reference) | {ceiling['perSecond']:,.0f}/s, "
                 f"{ms(ceiling['cycle']['p50Ms'])} / {ms(ceiling['cycle']['p99Ms'])}; server CPU {ms(ceiling['serverCPUms'])} per request ({ceiling['serverCPUShare'] * 100:.0f} % of one core), "
                 f"simulator CPU {ms(ceiling['simulatorCPUms'])} per cycle; {ceiling['errors']} errors | - | {ceiling['loadAverage']} |")
print("\n".join(lines))
