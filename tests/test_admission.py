"""Admission control: a call is analysed only while the threads can hold it at capacity."""

from __future__ import annotations

import pytest

from signaling.admission import Admission, AdmissionPolicy

POLICY = AdmissionPolicy(interval_s=1.0, threads=2)


def test_before_any_measurement_the_prior_cost_decides() -> None:
    admission = Admission(POLICY)
    held = POLICY.max_load * POLICY.threads / POLICY.prior_sample_s  # 53 calls at 30 ms
    assert admission.admits(int(held) - 1) and not admission.admits(int(held))


def test_the_measured_cost_sets_how_many_calls_are_held() -> None:
    admission = Admission(POLICY)
    admission.sampled(0.045, waited_s=0.0)  # the first measurement replaces the prior
    assert admission.sample_s == pytest.approx(0.045)
    assert admission.capacity() == 35  # 0.8 of two threads' seconds at 45 ms a sample
    assert admission.admits(34) and not admission.admits(35)
    for _ in range(50):  # the machine got busier: samples take twice as long
        admission.sampled(0.09, waited_s=0.0)
    assert admission.capacity() == 17 and not admission.admits(17)


def test_frames_waiting_for_a_thread_refuse_new_calls_whatever_the_cost_says() -> None:
    """Mean waits over 0.75 of the capacity budget (0.111 s at 0.9 of 1 Hz): another
    process or a stalled loop is slowing the threads down."""
    assert POLICY.wait_budget_s == pytest.approx(1 / 9)
    admission = Admission(POLICY)
    for _ in range(30):
        admission.sampled(0.01, waited_s=0.03)
    assert admission.admits(10)
    for _ in range(30):
        admission.sampled(0.01, waited_s=0.2)
    assert not admission.admits(10)
    for _ in range(60):  # the waits are gone again
        admission.sampled(0.01, waited_s=0.0)
    assert admission.admits(10)
