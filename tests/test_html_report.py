"""The HTML report: self-contained and complete for a real run, and rendered as a person sees it in Chromium."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from reports.html import render_report
from store import Store

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
WORKLOADS = ("linear_regression", "mnist_mlp")
BACKENDS = ("torch", "tensorflow", "jax")
pytestmark = pytest.mark.slow

PARITY = {"checked_at": "2026-01-01T00:00:00+00:00", "git_sha": "abc123", "rows": [
    {"workload": "mnist_mlp", "a": "torch", "b": "jax", "params": 101770, "params_a": 101770, "params_b": 101770,
     "output_max_abs": 3e-7, "output_tol": 1e-5, "loss_sgd_max_rel": 2e-7, "loss_task_max_rel": 4e-7, "ok": True,
     "error": None},
    {"workload": "mnist_mlp", "a": "torch", "b": "tensorflow", "params": 101770, "params_a": 101770,
     "params_b": 101770, "output_max_abs": 0.2, "output_tol": 1e-5, "loss_sgd_max_rel": 0.1,
     "loss_task_max_rel": 0.1, "ok": False, "error": "outputs differ beyond tolerance"},
]}


@pytest.fixture(scope="module")
def run_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A real smoke run of two workloads on every backend, plus one hand-written failed cell."""
    db = tmp_path_factory.mktemp("html") / "bench.sqlite"
    out = subprocess.run([sys.executable, "run_bench.py", "run", "--suite", "smoke", "--workloads",
                          ",".join(WORKLOADS), "--db", str(db), "--quiet"],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    store = Store(db)
    run_id = store.latest_run_id()
    assert run_id
    failed = copy.deepcopy(store.records(run_id)[0])
    failed["cell"]["mode"] = "compiled"
    failed["key"] = "/".join(str(failed["cell"][k]) for k in ("workload", "backend", "mode", "precision"))
    failed["status"] = "failed"
    failed["error"] = {"type": "RuntimeError", "message": "synthetic failure for the report test",
                       "traceback": "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                                    "RuntimeError: synthetic failure for the report test\n"}
    store.add_record(run_id, failed)
    info = store.run(run_id)
    assert info
    records = store.records(run_id)
    store.close()
    return info, records


@pytest.fixture(scope="module")
def report(run_data: tuple[dict[str, Any], list[dict[str, Any]]]) -> str:
    info, records = run_data
    return render_report(info, records, None)


def _failed_key(records: list[dict[str, Any]]) -> str:
    return next(r["key"] for r in records if r["status"] != "ok")


def test_self_contained(report: str) -> None:
    lowered = report.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "<script" not in lowered and "<link" not in lowered and "<iframe" not in lowered
    assert "<img" not in lowered and "url(" not in re.sub(r"url\(#[^)]*\)", "", lowered)
    assert "@import" not in lowered


def test_every_workload_backend_and_section_appears(report: str) -> None:
    for name in (*WORKLOADS, *BACKENDS):
        assert name in report
    for workload in WORKLOADS:
        assert f'id="w-{workload}"' in report and f"<h3>{workload}</h3>" in report
    for section in ("findings", "summary", "workloads", "parity", "fairness", "environment", "failures"):
        assert f'id="{section}"' in report
    assert 'id="nightly"' not in report
    assert "faster than" in report and "samples/s" in report


def test_charts_are_inline_svg(report: str) -> None:
    charts = re.findall(r"<svg\b[^>]*>.*?</svg>", report, flags=re.S)
    # per workload: throughput, latency, memory, quality (+ curves for linear_regression); confusion per mnist cell
    assert len(charts) >= 4 * len(WORKLOADS) + 1 + len(BACKENDS)
    for svg in charts:
        assert 'class="chart"' in svg and "viewBox=" in svg and ("<path" in svg or "<use" in svg)
    ids = re.findall(r'\bid="([^"]+)"', report)
    assert len(ids) == len(set(ids)), "element ids must be unique on the page"


def test_curves_validation_split_and_infer_compile_are_shown(report: str) -> None:
    """The curves chart plots the validation metric per epoch, each workload names its validation rows, and the
    table has the inference compile column."""
    assert "Validation loss" in report  # linear_regression's 100 smoke epochs: val_loss per epoch
    assert re.search(r"[\d,]+ train / [\d,]+ validation / [\d,]+ test", report)
    assert "infer compile s" in report and "train compile s" in report


def test_failures_section_lists_the_failed_cell(report: str,
                                                run_data: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    failures = report[report.index('id="failures"'):]
    assert _failed_key(run_data[1]) in failures
    assert "synthetic failure for the report test" in failures and "<details>" in failures
    assert "RuntimeError" in failures


def test_parity_none_and_rows(report: str, run_data: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    assert "No parity check is stored" in report
    with_parity = render_report(run_data[0], run_data[1], PARITY)
    parity = with_parity[with_parity.index('id="parity"'):with_parity.index('id="fairness"')]
    assert "agree" in parity and "DIFFER" in parity and "outputs differ beyond tolerance" in parity


def test_nightly_section(run_data: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    info, records = run_data
    key = next(r["key"] for r in records if r["status"] == "ok")
    verdicts = [{"key": key, "metric": "accuracy", "current": 0.9, "baseline": 0.9, "change_rel": 0.0,
                 "threshold_rel": 0.02, "regress_at": -0.02, "verdict": "ok", "p_value": None},
                {"key": key, "metric": "train_samples_per_s", "current": 800.0, "baseline": 1000.0,
                 "change_rel": -0.2, "threshold_rel": 0.1, "regress_at": -0.0909, "verdict": "regression",
                 "p_value": 0.01}]
    history = {key: [{"run_id": f"r{i}", "started_at": f"2026-01-0{i + 1}T00:00:00+00:00",
                      "train_samples_per_s": v} for i, v in enumerate((1000.0, 1010.0, 990.0))]
               + [{"run_id": info["run_id"], "started_at": info["started_at"], "train_samples_per_s": 800.0}]}
    page = render_report(info, records, None, verdicts, history)
    nightly = page[page.index('id="nightly"'):page.index('id="parity"')]
    assert nightly.index("regression") < nightly.index(">ok<")
    assert 'class="v-regression"' in nightly and "<svg" in nightly and "#d62728" in nightly


def test_fairness_mismatch_is_flagged(run_data: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    info, records = run_data
    changed = copy.deepcopy(records)
    victim = next(r for r in changed if r["status"] == "ok" and r["cell"]["workload"] == "mnist_mlp")
    victim["task"]["batch_size"] = 7
    page = render_report(info, changed)
    fairness = page[page.index('id="fairness"'):page.index('id="environment"')]
    assert "MISMATCH: batch_size" in fairness and '<td class="mismatch">7</td>' in fairness
    assert "fairness mismatch" in page[:page.index('id="summary"')]


def test_autoescape(run_data: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    info, records = run_data
    evil = copy.deepcopy([r for r in records if r["status"] != "ok"])
    evil[0]["error"]["message"] = "<script>alert(1)</script>"
    page = render_report(info, evil)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def _tiny(backend: str) -> dict[str, Any]:
    """A hand-written ok cell of a classification workload (enough for the summary, table and charts)."""
    train = {"median": 1000.0, "ci_low": 900.0, "ci_high": 1100.0, "raw": [900.0, 1000.0, 1100.0]}
    return {"cell": {"workload": "w", "backend": backend, "mode": "m", "precision": "fp32"},
            "key": f"w/{backend}/m/fp32", "status": "ok", "error": None, "quality": {"accuracy": 0.5, "f1_macro": 0.4},
            "timing": {"train": train, "infer": train, "compile_s": 0.1},
            "memory": {"host_peak_bytes": 2**20, "device_peak_bytes": None, "device_peak_reason": "CPU run"}}


def test_backends_in_registry_order_then_alphabetically_with_palette_colours() -> None:
    """Legend, summary columns and table rows: registry backends first, others (old records) after, A to Z; one
    colour each from the palette, in that order (not hard-coded per framework)."""
    from reports.palette import PALETTE, registered

    known = registered()
    page = render_report({"run_id": "r"}, [_tiny(b) for b in ("zeta", known[-1], known[0], "alpha")])
    legend = re.findall(r'<span class="swatch" style="background: (#[0-9a-f]+)"></span>([a-z]+)</span>', page)
    expected = [known[0], known[-1], "alpha", "zeta"]
    assert [name for _, name in legend] == expected
    places = [0, len(known) - 1, len(known), len(known) + 1]  # the place of each in registry + A-to-Z order
    assert [colour for colour, _ in legend] == [PALETTE[i % len(PALETTE)] for i in places]
    table = page[page.index('id="w-w"'):]
    assert [table.index(f"{b}/m<") for b in expected] == sorted(table.index(f"{b}/m<") for b in expected)
    assert "n/a" in table and "CPU run" in table  # the device column's reason, as a footnote


# --- as a person sees it: headless Chromium -------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


class _Elements(HTMLParser):
    """Headings, and every <svg>/<img> with how many child elements it has (or its src)."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.svgs: list[dict[str, Any]] = []
        self.imgs: list[dict[str, str | None]] = []
        self._heading: list[str] | None = None
        self._svg_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h1", "h2", "h3"):
            self._heading = []
        if tag == "img":
            self.imgs.append(dict(attrs))
        if tag == "svg":
            if self._svg_depth == 0:
                self.svgs.append({"attrs": dict(attrs), "children": 0})
            self._svg_depth += 1
        elif self._svg_depth:
            self.svgs[-1]["children"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
        if tag == "svg":
            self._svg_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    return subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=180, cwd=tmp)


@pytest.fixture(scope="module")
def report_file(report: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("browser") / "report.html"
    path.write_text(report)
    return path


def test_screenshot_is_not_blank(report_file: Path) -> None:
    from PIL import Image

    shot = report_file.parent / "shot.png"
    out = _chromium(report_file.parent, f"--screenshot={shot}", "--window-size=1280,2400",
                    "--enable-logging=stderr", "--v=0", report_file.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, out.stderr[-3000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, f"only {len(colours)} distinct colours: the page looks blank"
    top = max(count for count, _ in colours)
    assert top < 0.9 * image.size[0] * image.size[1], "one colour covers 90 % of the page"
    errors = [line for line in out.stderr.splitlines()
              if ("ERROR" in line and "report.html" in line) or "Uncaught" in line
              or ("CONSOLE" in line and "report.html" in line)]
    assert not errors, "\n".join(errors)


def test_rendered_dom_has_headings_and_non_empty_charts(report_file: Path) -> None:
    out = _chromium(report_file.parent, "--dump-dom", report_file.as_uri())
    assert out.returncode == 0 and "</html>" in out.stdout, out.stderr[-3000:]
    parsed = _Elements()
    parsed.feed(out.stdout)
    for workload in WORKLOADS:
        assert workload in parsed.headings
    for section in ("Headline findings", "Parity", "Environment and provenance"):
        assert any(h.startswith(section) for h in parsed.headings), parsed.headings
    assert any(h.startswith("Failures") for h in parsed.headings)
    assert parsed.svgs, "no chart in the rendered page"
    for svg in parsed.svgs:
        assert svg["children"] > 5, svg["attrs"]
        assert float(re.sub(r"[a-z]+$", "", svg["attrs"].get("width") or "0")) > 0
    for img in parsed.imgs:
        assert img.get("src"), img



def _row(workload: str, backend: str, mode: str, sha: str, ok: bool = True, precision: str = "fp32",
         device: str = "cpu") -> dict[str, Any]:
    """A v4 parity row: `backend` in `mode` against the numpy reference."""
    return {"workload": workload, "a": "numpy-reference", "mode_a": None, "device_a": None, "b": backend,
            "mode_b": mode, "device_b": device, "precision": precision, "git_sha": sha, "ok": ok,
            "failed": [] if ok else ["outputs"]}


def test_parity_cells_match_mode_precision_device_and_commit() -> None:
    """A cell is proven only by a row of its own workload, backend, mode, precision and device at the run's SHA."""
    from reports.html_sections import parity_cells

    def rec(mode: str, precision: str = "fp32", device: str = "cpu") -> dict[str, Any]:
        return {"cell": {"workload": "mnist_mlp", "backend": "torch", "mode": mode, "precision": precision},
                "device_info": {"device": device}, "status": "ok", "key": f"mnist_mlp/torch/{mode}/{precision}"}

    rows = [_row("mnist_mlp", "torch", "eager", "abc123"), _row("mnist_mlp", "torch", "compile", "old999"),
            _row("mnist_mlp", "torch", "eager", "abc123", ok=False, precision="bf16")]
    parity = {"rows": rows, "all_rows": rows}
    got = {(c["mode"], c["precision"], c["device"]): c for c in parity_cells(
        parity, [rec("eager"), rec("compile"), rec("eager", "bf16"), rec("eager", device="cuda"),
                 rec("channels_last")], "abc1234567")}
    assert got[("eager", "fp32", "cpu")]["verdict"] == "proven"
    assert got[("compile", "fp32", "cpu")]["verdict"] == "not proven"
    assert "another commit (old999)" in got[("compile", "fp32", "cpu")]["why"]
    assert got[("eager", "bf16", "cpu")]["verdict"] == "DIFFER"
    for key in (("eager", "fp32", "cuda"), ("channels_last", "fp32", "cpu")):
        assert got[key]["verdict"] == "not proven" and "no parity for mode/precision/device" in got[key]["why"]
    legacy = [{"workload": "mnist_mlp", "a": "numpy-reference", "b": "torch", "ok": True, "git_sha": "abc123"}]
    [old] = parity_cells({"rows": legacy}, [rec("eager")], "abc123")
    assert old["verdict"] == "proven"  # a pre-v4 row: the default mode, fp32, CPU
    assert parity_cells(parity, [rec("eager")], None)[0]["verdict"] == "not proven"
    mine = {**rec("eager"), "workload_origin": {"path": "/x/my_model.py", "sha256": "f1e2" * 16, "builtin": False}}
    checked = [{**rows[0], "workload_origin": {"sha256": "f1e2" * 16}}]
    assert parity_cells({"rows": checked}, [mine], "abc123")[0]["verdict"] == "proven"
    edited = [{**rows[0], "workload_origin": {"sha256": "0000" * 16}}]  # the file changed after parity ran
    [stale] = parity_cells({"rows": edited}, [mine], "abc123")
    assert stale["verdict"] == "not proven" and "another version of the workload file" in stale["why"]


def test_report_shows_each_cells_matching_parity(run_data: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """Rows for the run's commit prove its cells; a row of another commit or mode proves nothing."""
    info, records = run_data
    sha = str((info.get("provenance") or {}).get("git_sha") or "")
    assert sha
    rows = [_row("mnist_mlp", "torch", "eager", sha), _row("linear_regression", "torch", "eager", "0ther5ha"),
            _row("mnist_mlp", "jax", "jit", sha, precision="bf16")]
    page = render_report(info, records, {**PARITY, "all_rows": rows})
    parity = page[page.index('id="parity"'):page.index('id="fairness"')]
    assert "This run's cells" in parity and ">proven<" in parity and "not proven" in parity
    assert "only for another commit (0ther5ha)" in parity
    assert "no parity for mode/precision/device jit/fp32/cpu" in parity
    assert "outputs differ beyond tolerance" in parity  # the latest stored check is still listed
    assert "cells proven at this commit" in page[page.index('id="findings"'):page.index('id="parity"')]
