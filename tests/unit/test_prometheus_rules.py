"""deploy/prometheus: promtool passes, and the rules keep their promises to operators.

promtool (built once by `python -m deploy.local.promtool`, long the first time)
checks the two scrape configs and the rule files and runs the rule unit tests. The
pure-Python tests check what promtool cannot: every alert says how bad it is, what it
means and where the runbook is; every rule is unit-tested; and every metric the rules
read is one the code defines, so renaming a metric in a service breaks this test rather
than silently muting an alert.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
# Where the services define their metrics (prometheus-client calls).
SOURCE_DIRS = [ROOT / "runtime" / "src", *sorted((ROOT / "services").glob("*/src"))]

# Metrics the rules read that were specified to the services' authors but are not in the
# code yet. A name here is accepted only while its family (`shopwatch_evidence_`, ...)
# has no metric in the code at all: once a service defines any metric of the family, the
# names here must match what it defined, so a name chosen differently fails this test.
PENDING = {
    "shopwatch_evidence_bytes_total",
    "shopwatch_evidence_verification_seconds",
    "shopwatch_evidence_rejected_total",
    "shopwatch_reports_received_total",
    "shopwatch_reports_rejected_total",
    "shopwatch_matching_seconds",
    "shopwatch_matching_links_total",
}
PROMETHEUS_OWN = {"up"}
SEVERITIES = {"critical", "warning"}
SERVICES = ("intake", "evidence", "routing", "matching", "notify")
METRIC_TYPES = {"Counter", "Gauge", "Histogram", "Summary"}
# What a metric's name becomes in the exposition, by its type (prometheus-client).
SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_count", "_sum", "_created"),
    "Summary": ("", "_count", "_sum", "_created"),
}


# --- promtool ----------------------------------------------------------------------------


def run_promtool(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.local.promtool", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,  # the first run builds promtool with Go: 26 minutes on 2 busy cores
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", ["check", "test"])
def test_promtool(command: str) -> None:
    result = run_promtool(command)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"python -m deploy.local.promtool {command} failed:\n{output}"


# --- the rule files, read as YAML ----------------------------------------------------------


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        for group in load(path)["groups"]:
            yield from group["rules"]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def records() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "record" in rule]


def test_there_are_rules() -> None:
    assert RULE_FILES and TEST_FILES
    assert len(alerts()) >= 10 and len(records()) >= 10


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_every_alert_says_how_bad_what_it_means_and_what_to_do(alert: dict[str, Any]) -> None:
    assert alert["alert"].startswith("Shopwatch")
    assert alert.get("labels", {}).get("severity") in SEVERITIES
    annotations = alert.get("annotations", {})
    for key in ("summary", "description", "runbook"):
        assert len(annotations.get(key, "").strip()) > 20, f"{alert['alert']}: no {key}"
    # The runbook hint points at a section of the README that exists.
    anchor = re.match(r"deploy/prometheus/README\.md#([a-z0-9-]+)", annotations["runbook"])
    assert anchor, f"{alert['alert']}: runbook must start with deploy/prometheus/README.md#..."
    assert anchor.group(1) in readme_anchors(), f"README has no section #{anchor.group(1)}"


def readme_anchors() -> set[str]:
    """GitHub-style anchors of the README's headings."""
    anchors = set()
    for line in (PROMETHEUS / "README.md").read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def test_alert_names_are_unique() -> None:
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names))


# --- every rule has a promtool unit test ----------------------------------------------------


def rule_test_cases() -> Iterator[dict[str, Any]]:
    for path in TEST_FILES:
        yield from load(path)["tests"]


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in rule_test_cases():
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - firing == set(), "alerts never shown firing in a test"
    assert names - quiet == set(), "alerts never shown staying quiet in a test"


def test_every_recording_rule_is_tested() -> None:
    tested = {
        check["expr"].strip()
        for case in rule_test_cases()
        for check in case.get("promql_expr_test", [])
    }
    assert {r["record"] for r in records()} - tested == set()


# --- the metrics the rules read exist in the code ---------------------------------------------

# Labels every scraped series has (the target's); `le` and `quantile` come with the metric.
TARGET_LABELS = {"job", "instance"}
CLAUSE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
MATCHER = re.compile(r"\{([^}]*)\}")


def without_strings(expr: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', expr)


PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "atan2", "inf", "nan",
}  # fmt: skip
IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)")


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label names,
    label values and durations removed)."""
    text = MATCHER.sub("", without_strings(expr))
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = CLAUSE.sub("", text)
    text = re.sub(r"\boffset\s+-?[\dsmhdwy]+", "", text)
    names = set()
    for match in IDENTIFIER.finditer(text):
        word = match.group(1)
        followed_by_call = text[match.end() :].lstrip().startswith("(")
        if followed_by_call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_metric_name_parsing() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{le="1", x=~"y|z"}[5m])))'
        " > 5 and on (job) sum without (reason) (increase(b_total[15m] offset 10m)) or"
        " level:c:rate5m > bool 1e3 unless up offset 15m == 1"
    )
    assert metric_names_in(expr) == {"a_bucket", "b_total", "level:c:rate5m", "up"}


def defined_in(path: Path) -> Iterator[tuple[str, str, frozenset[str]]]:
    """(name, type, label names) of every prometheus-client metric a module defines."""
    tree = ast.parse(path.read_text(), str(path))
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def text(node: ast.expr | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name):
                    parts.append(constants.get(value.value.id))
                else:
                    parts.append(text(value))
            return None if None in parts else "".join(p for p in parts if p)
        return None

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if kind not in METRIC_TYPES:
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        name = text(node.args[0] if node.args else keywords.get("name"))
        if name is None:  # collections.Counter() and the like
            continue
        prefix = [text(keywords.get(k)) for k in ("namespace", "subsystem")]
        label_node = node.args[2] if len(node.args) > 2 else keywords.get("labelnames")
        labels = frozenset(
            elt.value
            for elt in getattr(label_node, "elts", [])
            if isinstance(elt, ast.Constant) and isinstance(elt.value, str)
        )
        yield "_".join(p for p in [*prefix, name] if p), kind, labels


def exported_names() -> dict[str, frozenset[str]]:
    """Every series name the services' code can export, and its label names."""
    names: dict[str, frozenset[str]] = {}
    for source in SOURCE_DIRS:
        for path in source.rglob("*.py"):
            for name, kind, labels in defined_in(path):
                base = name.removesuffix("_total") if kind == "Counter" else name
                for suffix in SUFFIXES[kind]:
                    extra = {"le"} if suffix == "_bucket" else set()
                    extra |= {"quantile"} if kind == "Summary" and not suffix else set()
                    names[base + suffix] = labels | extra
    return names


def family(name: str) -> str:
    return "_".join(name.split("_")[:2]) + "_"


def test_the_code_scan_finds_the_known_metrics() -> None:
    exported = exported_names()
    for name in (
        "shopwatch_outbox_oldest_pending_age_seconds",  # f"{PREFIX}_..." in the runtime
        "shopwatch_events_dead_lettered_total",  # a Counter named without _total
        "shopwatch_unroutable_reports_total",  # a Counter named with _total
        "shopwatch_submission_to_force_seconds_bucket",  # a Histogram
    ):
        assert name in exported
    assert exported["shopwatch_events_dead_lettered_total"] == {"topic", "group", "reason"}
    assert exported["shopwatch_submission_to_force_seconds_bucket"] == {"le"}


def test_every_metric_in_the_rules_is_defined_by_the_code() -> None:
    exported = exported_names()
    recorded = {r["record"] for r in records()}
    defined_families = {family(n) for n in exported}
    unknown: dict[str, list[str]] = {}
    for rule in rules():
        rule_name = rule.get("alert") or rule["record"]
        for name in metric_names_in(rule["expr"]):
            if name in exported or name in recorded or name in PROMETHEUS_OWN:
                continue
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            if base in PENDING and family(base) not in defined_families:
                continue  # not written yet, and nothing of its family is
            unknown.setdefault(name, []).append(rule_name)
    assert unknown == {}, (
        "the rules read metrics no service defines (renamed? then rename them in "
        f"deploy/prometheus/rules too): {unknown}"
    )


def label_names_in(expr: str) -> set[str]:
    """Label names an expression groups, joins or matches on."""
    text = without_strings(expr)
    names = {n.strip() for m in CLAUSE.finditer(text) for n in m.group(1).split(",")}
    for matchers in MATCHER.finditer(text):
        names |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers.group(1)))
    return names - {""}


def recorded_labels(record: str) -> set[str]:
    """The labels a recording rule keeps, from its name's level (`job_topic_group:...`)."""
    level = record.split(":")[0]
    return set(level.split("_")) if level else set()


def test_recording_rule_names_say_which_labels_they_keep() -> None:
    for rule in records():
        kept = {n.strip() for m in CLAUSE.finditer(rule["expr"]) for n in m.group(1).split(",")}
        assert kept - {"le"} == recorded_labels(rule["record"]), rule["record"]


def test_every_label_in_the_rules_is_one_the_metrics_have() -> None:
    exported = exported_names()
    recorded = {r["record"]: recorded_labels(r["record"]) for r in records()}
    wrong = {}
    for rule in rules():
        known: set[str] = set(TARGET_LABELS)
        metrics = metric_names_in(rule["expr"])
        if any(
            m not in exported and m not in recorded and m not in PROMETHEUS_OWN for m in metrics
        ):
            continue  # a pending metric: its labels are not known yet
        for metric in metrics:
            known |= exported.get(metric, set()) | recorded.get(metric, set())
        if unknown := label_names_in(rule["expr"]) - known:
            wrong[rule.get("alert") or rule["record"]] = sorted(unknown)
    assert wrong == {}, f"rules use labels their metrics do not have: {wrong}"


def test_label_name_parsing() -> None:
    expr = 'sum by (job, le) (rate(a{reason=~"x|y", b!="1"}[5m])) and on (job) c'
    assert label_names_in(expr) == {"job", "le", "reason", "b"}


# --- the scrape configs ------------------------------------------------------------------------


def service_ports() -> dict[str, int]:
    with (ROOT / "deploy" / "local" / "services.toml").open("rb") as handle:
        return {s["name"]: s["port"] for s in tomllib.load(handle)["service"]}


def scrape_targets(config: str) -> dict[str, list[str]]:
    data = load(PROMETHEUS / config)
    assert data["global"]["scrape_interval"] == "5s"
    return {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in data["scrape_configs"]
    }


def test_local_config_scrapes_every_service_on_loopback() -> None:
    ports = service_ports()
    assert set(ports) == set(SERVICES)
    expected = {name: [f"127.0.0.1:{port}"] for name, port in ports.items()}
    assert scrape_targets("prometheus.local.yml") == expected


def test_compose_config_scrapes_every_service_by_its_compose_name() -> None:
    compose = load(ROOT / "docker-compose.yml")["services"]
    expected = {}
    for name, port in service_ports().items():
        assert name in compose, f"docker-compose.yml has no service {name}"
        assert f"{port}:{port}" in [str(p) for p in compose[name].get("ports", [])]
        expected[name] = [f"{name}:{port}"]
    assert scrape_targets("prometheus.compose.yml") == expected


def test_both_configs_load_the_same_rule_files() -> None:
    local = load(PROMETHEUS / "prometheus.local.yml")["rule_files"]
    assert local == load(PROMETHEUS / "prometheus.compose.yml")["rule_files"]
    assert sorted(PROMETHEUS / f for f in local) == RULE_FILES
