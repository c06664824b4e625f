"""The clock self-test catches a timer that stops before the device work: with a fake async device and real JAX."""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from harness.selftest import ClockStoppedEarly, clock_selftest, judge_trials, require_clock
from harness.timing import TrialPlan, throughput_trials


class FakeAsyncDevice:
    """Work is queued on a background thread (like a GPU stream); synchronize may be honest or broken."""

    def __init__(self, honest: bool):
        self.honest = honest
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.lock = threading.Lock()

    def step(self) -> Future:
        return self.pool.submit(time.sleep, 0.01)

    def synchronize(self, value=None):
        if self.honest and value is not None:
            value.result()

    def to_host(self, value: Future):
        value.result()
        self.pool.submit(lambda: None).result()  # and everything queued before it


def test_honest_sync_passes_and_broken_sync_fails():
    good = FakeAsyncDevice(honest=True)
    result = clock_selftest(good, good.step, good.to_host)
    assert result["ok"] and result["timed_s"] >= 0.05
    bad = FakeAsyncDevice(honest=False)
    result = clock_selftest(bad, bad.step, bad.to_host)
    assert not result["ok"]
    with pytest.raises(ClockStoppedEarly, match="synchronize"):
        require_clock(result, "train")


def test_real_jax_async_dispatch_is_caught_without_sync():
    pytest.importorskip("jax")
    from backends.jax.adapter import JaxAdapter
    from suites.params import init_weights
    from suites.registry import get_workload

    w = get_workload("mnist_cnn")
    adapter = JaxAdapter()
    adapter.build(w.model, w.task, init_weights(w.model, 0))
    rng = np.random.default_rng(0)
    batch = adapter.put(rng.random((128, 28, 28, 1), np.float32), rng.integers(0, 10, 128).astype(np.int32))
    assert clock_selftest(adapter, lambda: adapter.train_step(batch), adapter.to_numpy)["ok"]
    adapter.synchronize = lambda value=None: None  # the classic mistake: stop the clock at dispatch
    assert not clock_selftest(adapter, lambda: adapter.train_step(batch), adapter.to_numpy)["ok"]


def test_every_timed_trial_is_checked_and_a_majority_of_waiting_fetches_fails():
    assert judge_trials([0.1, 0.1, 0.1], [0.001, 0.002, 0.001], 10)["ok"]
    set_aside = judge_trials([0.1] * 7, [0.001, 0.09, 0.001, 0.001, 0.002, 0.001, 0.001], 10)
    assert set_aside["ok"] and set_aside["failed_trials"] == 1 and set_aside["fetch_after_s"] == 0.09
    broken = judge_trials([0.1] * 7, [0.06, 0.09, 0.07, 0.001, 0.08, 0.001, 0.05], 10)  # most fetches waited
    assert not broken["ok"] and broken["failed_trials"] == 5 and broken["fetch_after_s"] == 0.09


def test_throughput_trials_time_the_fetch_after_each_trial():
    bad = FakeAsyncDevice(honest=False)
    result = throughput_trials(bad, bad.step, 1, TrialPlan(warmup_steps=1, trials=3, min_trial_s=0.03),
                               to_host=bad.to_host)
    assert len(result["fetch_after_s"]) == 3
    assert not judge_trials(result["trial_s"], result["fetch_after_s"], result["steps_per_trial"])["ok"]
