"""Training helpers: NoisyBatches (input-noise mini-batches) and NLLHistory (exact NLL callback)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from gaussianization.gauss_keras import NLLHistory, NoisyBatches, make_gaussianization_flow


def epoch(batches):
    return np.concatenate([batches[i] for i in range(len(batches))])


def test_batches_cover_a_permutation_without_noise():
    x = np.arange(26, dtype="float32").reshape(13, 2)
    batches = NoisyBatches(x, noise_std=0.0, batch_size=5, seed=3)
    assert len(batches) == 3
    assert [batches[i].shape for i in range(3)] == [(5, 2), (5, 2), (3, 2)]
    assert batches[0].dtype == np.float32
    first = epoch(batches)
    np.testing.assert_array_equal(first, x[batches.permutation])
    np.testing.assert_array_equal(np.sort(first[:, 0]), x[:, 0])
    np.testing.assert_array_equal(batches[1], batches[1])  # items are stable within an epoch
    batches.on_epoch_end()
    second = epoch(batches)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(second[:, 0]), x[:, 0])


def test_noise_has_the_requested_scale_per_coordinate_and_is_redrawn():
    x = np.zeros((40000, 2), dtype="float32")
    batches = NoisyBatches(x, noise_std=[0.1, 0.3], batch_size=4096, seed=0)
    first = epoch(batches)
    np.testing.assert_allclose(first.std(axis=0), [0.1, 0.3], rtol=0.02)
    assert np.abs(first.mean(axis=0)).max() < 0.01
    batches.on_epoch_end()
    assert np.abs(np.corrcoef(first[:, 0], epoch(batches)[:, 0])[0, 1]) < 0.03


def test_same_seed_same_batches():
    x = np.random.default_rng(0).standard_normal((50, 3)).astype("float32")
    a, b = NoisyBatches(x, 0.05, 16, seed=7), NoisyBatches(x, 0.05, 16, seed=7)
    for _ in range(2):
        np.testing.assert_array_equal(epoch(a), epoch(b))
        a.on_epoch_end()
        b.on_epoch_end()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=np.zeros(5)), "shape \\(n, d\\)"),
        (dict(x=np.full((4, 2), np.nan)), "NaN"),
        (dict(x=np.zeros((4, 2)), noise_std=-0.1), ">= 0"),
        (dict(x=np.zeros((4, 2)), noise_std=[0.1, 0.1, 0.1]), "shape \\(2,\\)"),
        (dict(x=np.zeros((4, 2)), batch_size=0), "batch_size"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NoisyBatches(**kwargs)
    with pytest.raises(IndexError):
        NoisyBatches(np.zeros((4, 2)), batch_size=2)[2]


def test_nll_history_records_the_exact_mean_nll():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).standard_normal((300, 2)).astype("float32") * [1.0, 0.5]
    held_out = np.random.default_rng(2).standard_normal((200, 2)).astype("float32")
    flow = make_gaussianization_flow(2, 1, num_reflectors=2, num_components=3)
    flow.compile(keras.optimizers.Adam(1e-2))
    history = NLLHistory({"train": x, "held_out": held_out}, every=2)
    flow.fit(NoisyBatches(x, 0.01, batch_size=64, seed=0), epochs=4, verbose=0, callbacks=[history])
    assert history.epochs == [2, 4]
    assert set(history.history) == {"train", "held_out"}
    for name, data in (("train", x), ("held_out", held_out)):
        exact = -float(np.mean(ops.convert_to_numpy(flow.log_prob(data))))
        assert history.history[name][-1] == pytest.approx(exact, abs=1e-5)
    with pytest.raises(ValueError, match="every"):
        NLLHistory({"train": x}, every=0)
    with pytest.raises(ValueError, match="at least one"):
        NLLHistory({})
