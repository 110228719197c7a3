"""tests/nbval_myst.py starts a kernel again when it dies before answering kernel_info."""

from __future__ import annotations

import pytest

from tests import nbval_myst


class FlakyStart:
    """Stands in for nbval's start_new_kernel: the first `failures` calls die like a kernel whose port was taken."""

    def __init__(self, failures):
        self.failures, self.calls = failures, 0

    def __call__(self, *, stderr, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            stderr.write(f"zmq.error.ZMQError: Address already in use (call {self.calls})\n")
            stderr.flush()
            raise RuntimeError("Kernel died before replying to kernel_info")
        return ("manager", "client", kwargs)


def test_the_plugin_replaces_nbvals_kernel_start():
    from nbval import kernel
    assert kernel.start_new_kernel is nbval_myst.start_kernel_with_retries


def test_a_kernel_that_dies_once_is_started_again(monkeypatch, capsys):
    flaky = FlakyStart(failures=1)
    monkeypatch.setattr(nbval_myst, "_nbval_start_new_kernel", flaky)
    result = nbval_myst.start_kernel_with_retries(stderr=None, kernel_name="python3", cwd="/tmp")
    assert result == ("manager", "client", {"kernel_name": "python3", "cwd": "/tmp"})
    assert flaky.calls == 2
    note = capsys.readouterr().err
    assert "starting it again (attempt 2)" in note and "Address already in use (call 1)" in note


def test_a_kernel_that_never_starts_fails_with_its_stderr(monkeypatch):
    flaky = FlakyStart(failures=nbval_myst.KERNEL_START_ATTEMPTS)
    monkeypatch.setattr(nbval_myst, "_nbval_start_new_kernel", flaky)
    with pytest.raises(RuntimeError, match=r"(?s)3 attempts.*Address already in use \(call 3\)"):
        nbval_myst.start_kernel_with_retries(stderr=None, kernel_name="python3")
    assert flaky.calls == nbval_myst.KERNEL_START_ATTEMPTS
