"""The load test's section of bench/RESULTS.md, from a finished run."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench.common import markdown_table, percentile

if TYPE_CHECKING:
    from bench.load.run import Outcome

NATIONAL_DAY = 55_000  # reports a day nationally (the figure)


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # NaN or no rate at all
        return "never"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q):,.1f}" if values else "n/a"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2g}" if b else "n/a"


def figures(outcome: Outcome) -> dict[str, Any]:
    """The numbers the section is made of (also handy to test and to print as JSON)."""
    t = outcome.tally
    routed_times = list(outcome.routed.values())
    routed_span = (max(routed_times) - t.first_at) if routed_times else 0.0
    latencies = [(outcome.routed[r] - t.submitted[r]) * 1000 for r in outcome.routed]
    resent = [
        (outcome.evidence_routed[r] - done) * 1000
        for r, done in t.evidence_completed.items()
        if r in outcome.evidence_routed
    ]
    accepted_rate = t.accepted / outcome.submit_seconds if outcome.submit_seconds else 0.0
    routed_rate = len(routed_times) / routed_span if routed_span else 0.0
    return {
        "accepted": t.accepted,
        "sent": t.sent,
        "routed": len(routed_times),
        "accepted_rate": accepted_rate,
        "routed_rate": routed_rate,
        "latencies_ms": latencies,
        "resent_ms": resent,
        "absorb_s": NATIONAL_DAY / routed_rate if routed_rate else float("inf"),
        "raw_absorb_s": NATIONAL_DAY / outcome.raw_max.rate
        if outcome.raw_max.rate
        else float("inf"),
    }


def render(outcome: Outcome, command: str) -> str:
    args, info, t = outcome.args, outcome.info, outcome.tally
    f = figures(outcome)
    raw_max, raw_paced = outcome.raw_max, outcome.raw_paced
    mode = f"as fast as {args.clients} clients can" if args.max else f"at {args.rate:g} reports/s"
    paced = f"{outcome.raw_paced_rate:.1f}/s"
    main = markdown_table(
        ["measure", "Shopwatch (5 services)", "raw aiokafka, same broker, same run", "ratio"],
        [
            [
                "reports/s accepted (202)",
                f"**{f['accepted_rate']:,.1f}**",
                f"{raw_max.sent / raw_max.seconds if raw_max.seconds else 0:,.0f} produced",
                "",
            ],
            [
                "reports/s routed (on the force topics)",
                f"**{f['routed_rate']:,.1f}**",
                f"{raw_max.rate:,.0f} consumed",
                _ratio(f["routed_rate"], raw_max.rate),
            ],
            [
                f"p50 ms submission -> force topic (raw: produce -> consume at {paced})",
                f"**{_ms(f['latencies_ms'], 50)}**",
                _ms(raw_paced.latencies_ms, 50),
                "",
            ],
            [
                f"p99 ms submission -> force topic (raw: at {paced})",
                f"**{_ms(f['latencies_ms'], 99)}**",
                _ms(raw_paced.latencies_ms, 99),
                "",
            ],
            [
                f"time to absorb the day's national volume ({NATIONAL_DAY:,} reports)",
                f"**{_duration(f['absorb_s'])}**",
                _duration(f["raw_absorb_s"]),
                "",
            ],
        ],
    )
    rss = markdown_table(
        ["service", *outcome.peak_rss],
        [
            [
                "peak RSS MiB",
                *("n/a" if v is None else f"{v / 2**20:.0f}" for v in outcome.peak_rss.values()),
            ]
        ],
    )
    offences = ", ".join(
        f"{name} {count / max(1, t.sent):.1%}" for name, count in t.offences.most_common()
    )
    errors = ", ".join(f"{k}: {v}" for k, v in t.errors.most_common()) or "none"
    failed = ", ".join(f"{k}: {v}" for k, v in t.evidence_failed.most_common()) or "none"
    mean_value = t.value_pence / max(1, t.sent) / 100
    day_rate = NATIONAL_DAY / 86_400
    headroom = f["routed_rate"] / day_rate
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        f"## Load {mode}: chains, stores and forces through the whole system ({when})",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {info['nproc']} cores, {memory:.1f} GiB RAM, {info['cpu_model']},"
        f" Python {info['python']}, load average {info['load_avg_1m']:.2f} at start;"
        " the local stack (one Kafka broker, FerretDB 1.24 on SQLite, versitygw, all on"
        " loopback), the five services as separate processes on their own databases and"
        " topic prefix.",
        "",
        f"Load: {args.chains} chains x {args.stores} stores = {outcome.stores} stores in"
        f" {len(outcome.forces)} forces ({', '.join(outcome.forces)}), reports {mode} for"
        f" {args.duration:g} s ({t.sent} sent, {f['accepted']} accepted, {f['routed']} routed"
        f" within the {args.drain:g} s drain), then the raw baseline: {raw_max.sent} records"
        f" of {outcome.raw_payload_bytes} bytes as fast as possible and"
        f" {raw_paced.sent} at {paced}, on a topic with as many partitions as a force topic"
        f" ({outcome.partitions}), acks=all, idempotent.",
        "",
        main,
        "",
        rss,
        "",
        f"- Rates: accepted = 202s / seconds of sending; routed = distinct cases on the force"
        f" topics / seconds from the first submission to the last arrival; latency from each"
        f" request's {'scheduled start (a stall is not hidden by a late client)' if not args.max else 'start'}"
        " to the case's first record on its force topic.",
        f"- The day's {NATIONAL_DAY:,} reports average {day_rate:.2f}/s over 24 h: the routed"
        f" rate is {headroom:,.1f} x that average."
        + (
            " In a paced run the routed rate cannot exceed the offered rate; the flat-out run"
            " (`--max`) gives the capacity."
            if not args.max
            else ""
        ),
        *(
            [
                f"- Routing fell behind: {f['routed']} of {f['accepted']} accepted reports were"
                f" on their force topic by the end of the {args.drain:g} s drain, so the routed"
                " rate is what the pipeline sustained with a growing backlog, and the latency"
                " is mostly time queued behind it."
            ]
            if f["routed"] < f["accepted"]
            else []
        ),
        f"- Mix: {offences}; {t.offenders / max(1, t.sent):.2f} offenders per report"
        f" (repeat offenders from the matching benchmark's crowd); mean value of goods"
        f" £{mean_value:,.2f}; {outcome.force_records} records on the force topics in all"
        " (a case is sent again when evidence or matching links arrive).",
        f"- Evidence: {len(t.evidence_wanted)} reports chosen for CCTV"
        f" ({args.evidence_share:.0%}), {t.evidence_uploaded} uploaded (a 2 s H.264 clip each,"
        f" `shopwatch upload`'s client), upload p50 {_ms([s * 1000 for s in t.evidence_upload_s], 50)} ms;"
        f" {len(f['resent_ms'])} cases re-sent with the verified hash, upload complete -> re-sent"
        f" p50 {_ms(f['resent_ms'], 50)} ms, p99 {_ms(f['resent_ms'], 99)} ms; failed: {failed}.",
        f"- HTTP answers other than 202: {errors}."
        + (
            f" Services that died during the run: {', '.join(outcome.died)}."
            if outcome.died
            else ""
        ),
    ]
    return "\n".join(lines)
