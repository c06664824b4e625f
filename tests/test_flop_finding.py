"""A framework FLOP count outside the documented band becomes a finding of the report."""

from reports.findings import FLOP_RATIO_BAND, flop_disagreements, run_findings


def _record(backend: str, train_ratio: float | None, forward_ratio: float | None = 1.0) -> dict:
    return {"key": f"mnist_cnn/{backend}/m/fp32", "status": "ok",
            "cell": {"workload": "mnist_cnn", "backend": backend, "mode": "m", "precision": "fp32"},
            "efficiency": {"framework_count": {"train_ratio": train_ratio, "forward_ratio": forward_ratio}}}


def test_counts_inside_the_band_say_nothing_and_outside_are_named():
    inside = [_record("torch", 1.0), _record("tensorflow", 1.37), _record("jax", None)]
    assert flop_disagreements(inside) == []
    assert not any("FLOP counter" in f["text"] for f in run_findings([], inside, None, 0))
    outside = [*inside, _record("jax", 2.1), _record("torch", 1.0, FLOP_RATIO_BAND[0] - 0.2)]
    named = flop_disagreements(outside)
    assert len(named) == 2 and "train 2.10×" in named[0] and "forward 0.70×" in named[1]
    finding = next(f for f in run_findings([], outside, None, 0) if "FLOP counter" in f["text"])
    assert finding["cls"] == "bad" and "MFU suspect" in finding["text"]
