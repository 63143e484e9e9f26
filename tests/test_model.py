"""The network's equations, gradients and Dale bound against independent computations."""

import inspect
import math

import numpy as np
import pytest
import torch

from eisnn import surrogates
from eisnn.backends import Backend, backend_for, compiled, set_cpu_threads, torch_ops
from eisnn.data import SpikeDataset, make_synthetic
from eisnn.initial import init_weights
from eisnn.model import dale_bound_, forward_backward, make_input_batch, readout_kernel, simulate
from eisnn.params import SURROGATES, ModelConfig, reference_weight_scale
from reference import reference_forward, reference_loss


@pytest.fixture(scope="module")
def data():
    return make_synthetic(64, n_units=40, n_steps=30, n_classes=4, seed=3)


def _weights(n_in, n_hidden, n_out, sigma_in, sigma_out, seed, ratio=0.8):
    generator = torch.Generator().manual_seed(seed)
    w_in, w_out, excitatory = init_weights(n_in, n_hidden, n_out, ratio, sigma_in, sigma_out, generator)
    return w_in.double(), w_out.double(), excitatory


def _ensemble(data):
    """Three float64 networks of 24 hidden neurons at three input scales, and their sample indices [3, 16]."""
    nets = [_weights(data.n_units, 24, data.n_classes, s, 0.3, seed) for s, seed in [(0.4, 1), (0.7, 2), (1.0, 3)]]
    indices = np.stack([np.arange(16), np.arange(16, 32), np.arange(8, 24)])
    return torch.stack([n[0] for n in nets]), torch.stack([n[1] for n in nets]), indices


def test_decay_constants_match_spec():
    config = ModelConfig()
    assert config.alpha == pytest.approx(math.exp(-1 / 5))
    assert config.beta == pytest.approx(math.exp(-1 / 10))
    assert reference_weight_scale(784, config) == pytest.approx(0.0238, abs=5e-5)


BACKENDS = pytest.mark.parametrize("backend", ["compiled", "torch"])


@BACKENDS
def test_hidden_layer_follows_the_equations_step_by_step(backend):
    """One neuron driven by hand-picked input currents, against the equations written out."""
    config = ModelConfig()
    n_steps = 12
    # A single input unit with weight 3 firing at steps 0, 1 and 6 into one hidden neuron.
    dataset = SpikeDataset(
        sample=[0, 0, 0], step=[0, 1, 6], unit=[0, 0, 0], labels=[0], n_steps=n_steps, n_units=1, n_classes=2
    )
    w_in = torch.full((1, 1, 1), 3.0, dtype=torch.float64)
    w_out = torch.tensor([[[1.0, -1.0]]], dtype=torch.float64)
    spikes, voltage_out = simulate(w_in, w_out, dataset, np.array([0]), config, backend=backend)

    alpha, beta = config.alpha, config.beta
    x = np.zeros(n_steps)
    x[[0, 1, 6]] = 3.0
    syn, mem, expected_spikes = 0.0, 0.0, []
    for t in range(n_steps):
        s = 1.0 if mem > 1.0 else 0.0
        expected_spikes.append(s)
        syn, mem = alpha * syn + x[t], 0.0 if s else beta * mem + syn
    assert spikes[:, 0, 0, 0].double().numpy().tolist() == expected_spikes
    assert sum(expected_spikes) >= 2  # the case exercises the reset

    # Readout: J[t+1] = αJ[t] + W_out·S[t], U[t+1] = βU[t] + J[t], U[0] = 0.
    j, u, trace = np.zeros(2), np.zeros(2), [np.zeros(2)]
    for t in range(n_steps):
        j, u = alpha * j + expected_spikes[t] * np.array([1.0, -1.0]), beta * u + j
        trace.append(u)
    np.testing.assert_allclose(voltage_out[:, 0, 0].numpy(), np.array(trace), atol=1e-12)


def test_readout_kernel_is_the_impulse_response_of_both_filters():
    config = ModelConfig()
    kernel = readout_kernel(6, config).double().numpy()
    alpha, beta = config.alpha, config.beta
    expected = [0.0, 0.0, 1.0, alpha + beta, alpha**2 + alpha * beta + beta**2]
    np.testing.assert_allclose(kernel[:5, 0], expected, rtol=1e-6)
    assert np.all(np.triu(kernel[:6, :6], k=0) == 0)  # causal: U[t] never sees Y[t] or later


@BACKENDS
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "exponential"])
@pytest.mark.parametrize("readout", ["max", "per_step"])
def test_forward_and_gradients_match_autograd_reference(data, surrogate, readout, backend):
    """Event-driven, hand-differentiated ensemble code == dense autograd loop, per network."""
    config = ModelConfig(surrogate=surrogate, readout=readout, surrogate_scale=10.0 if surrogate == "exponential" else 100.0)
    w_in, w_out, indices = _ensemble(data)
    batch = make_input_batch(data, indices)
    result = forward_backward(w_in, w_out, batch, config, backend=backend)
    evaluated = forward_backward(w_in, w_out, batch, config, compute_gradients=False, backend=backend)
    assert torch.equal(evaluated.loss, result.loss) and torch.equal(evaluated.correct, result.correct)

    for k in range(3):
        ref_in = w_in[k].clone().requires_grad_(True)
        ref_out = w_out[k].clone().requires_grad_(True)
        dense = torch.as_tensor(data.dense(indices[k]), dtype=torch.float64)
        spikes, voltage_out = reference_forward(
            ref_in, ref_out, dense, config.alpha, config.beta, scale=config.surrogate_scale, kind=surrogate
        )
        labels = torch.as_tensor(data.labels[indices[k]])
        loss = reference_loss(voltage_out, labels, readout)
        loss.backward()
        assert spikes.sum() > 0, "the test network must spike for the comparison to mean anything"
        assert result.loss[k].item() == pytest.approx(loss.item(), rel=1e-10)
        assert ref_in.grad.abs().max() > 0
        torch.testing.assert_close(result.grad_w_in[k], ref_in.grad, rtol=1e-7, atol=1e-12)
        torch.testing.assert_close(result.grad_w_out[k], ref_out.grad, rtol=1e-7, atol=1e-12)


@BACKENDS
def test_silent_network_has_zero_gradient_with_max_readout(data, backend):
    """A silent hidden layer ties every readout at U[0] = 0: max-over-time gives no gradient."""
    config = ModelConfig()
    w_in, w_out, _ = _weights(data.n_units, 20, data.n_classes, 1e-4, 0.3, 0)
    batch = make_input_batch(data, np.arange(32)[None])
    result = forward_backward(w_in[None], w_out[None], batch, config)
    assert result.loss.item() == pytest.approx(math.log(data.n_classes))
    assert result.grad_w_in.abs().max() == 0 and result.grad_w_out.abs().max() == 0


def test_initialisation_signs_and_scale():
    generator = torch.Generator().manual_seed(0)
    w_in, w_out, excitatory = init_weights(784, 100, 10, 0.8, 0.01, 0.05, generator)
    assert excitatory.sum() == 80 and excitatory[:80].all()
    assert (w_in >= 0).all() and (w_out[:80] >= 0).all() and (w_out[80:] <= 0).all()
    # |N(0, σ)| has mean σ·√(2/π).
    assert w_in.mean().item() == pytest.approx(0.01 * math.sqrt(2 / math.pi), rel=0.02)
    w_in_free, w_out_free, exc_free = init_weights(784, 100, 10, None, 0.01, 0.05, generator)
    assert exc_free.all() and (w_in_free < 0).any() and (w_out_free < 0).any()
    assert w_in_free.std().item() == pytest.approx(0.01, rel=0.02)


def test_dale_bound_zeroes_exactly_the_weights_that_crossed_their_sign():
    w_in = torch.tensor([[[0.5, -0.2], [-0.1, 0.3]], [[0.5, -0.2], [-0.1, 0.3]]], dtype=torch.float64)
    w_out = torch.tensor([[[0.4, -0.1], [0.2, -0.3]], [[0.4, -0.1], [0.2, -0.3]]], dtype=torch.float64)
    out_sign = torch.tensor([1.0, -1.0], dtype=torch.float64).view(1, 2, 1).expand(2, 2, 1)
    constrained = torch.tensor([True, False]).view(2, 1, 1)
    dale_bound_(w_in, w_out, out_sign, constrained)
    assert w_in[0].tolist() == [[0.5, 0.0], [0.0, 0.3]]
    assert w_out[0].tolist() == [[0.4, 0.0], [0.0, -0.3]]  # row 0 excitatory, row 1 inhibitory
    assert w_in[1].tolist() == [[0.5, -0.2], [-0.1, 0.3]]  # unconstrained: untouched
    assert w_out[1].tolist() == [[0.4, -0.1], [0.2, -0.3]]


@BACKENDS
def test_each_backend_module_implements_the_interface(backend):
    module = backend_for(backend, "cpu")
    assert module.__name__ == f"eisnn.backends.{'compiled' if backend == 'compiled' else 'torch_ops'}"
    assert isinstance(module, Backend)
    for method in ("forward", "forward_backward"):
        expected = list(inspect.signature(getattr(Backend, method)).parameters)[1:]  # without self
        assert list(inspect.signature(getattr(module, method)).parameters) == expected


def test_backend_for_resolves_auto_by_device_and_refuses_compiled_off_the_cpu():
    assert backend_for("auto", "cpu") is backend_for("compiled", torch.device("cpu"))
    assert backend_for("auto", "cuda") is torch_ops
    with pytest.raises(ValueError, match="CPU only"):
        backend_for("compiled", "cuda")
    with pytest.raises(ValueError, match="not one of"):
        backend_for("numba", "cpu")


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_backends_agree_on_the_same_batch(data, surrogate):
    """compiled vs torch on the CPU in float64: the same spikes, voltages, losses and gradients."""
    config = ModelConfig(surrogate=surrogate, surrogate_scale=10.0 if surrogate == "exponential" else 100.0)
    w_in, w_out, indices = _ensemble(data)
    batch = make_input_batch(data, indices)
    compiled_module, torch_module = backend_for("compiled", "cpu"), backend_for("torch", "cpu")
    spikes_c, voltage_c = compiled_module.forward(w_in, w_out, batch, config)
    spikes_t, voltage_t = torch_module.forward(w_in, w_out, batch, config)
    n_steps, n_networks, batch_size = data.n_steps, 3, 16
    assert spikes_c.dtype == spikes_t.dtype == torch.bool and spikes_c.shape == (n_steps, n_networks, batch_size, 24)
    assert voltage_c.shape == voltage_t.shape == (n_steps + 1, n_networks, batch_size, data.n_classes)
    assert spikes_c.any() and torch.equal(spikes_c, spikes_t)
    torch.testing.assert_close(voltage_c, voltage_t, rtol=1e-12, atol=1e-12)

    compiled = compiled_module.forward_backward(w_in, w_out, batch, config, True)
    reference = torch_module.forward_backward(w_in, w_out, batch, config, True)
    assert torch.equal(compiled.correct, reference.correct)
    for name in ("loss", "grad_w_in", "grad_w_out"):
        torch.testing.assert_close(getattr(compiled, name), getattr(reference, name), rtol=1e-10, atol=1e-13)


def test_torch_backend_evaluates_the_surrogate_in_blocks_of_steps_alike(data, monkeypatch):
    config = ModelConfig(surrogate="exponential", surrogate_scale=10.0)
    w_in, w_out, indices = _ensemble(data)
    batch = make_input_batch(data, indices)
    whole = torch_ops.forward_backward(w_in, w_out, batch, config, True)
    monkeypatch.setattr(torch_ops, "_block_elements", lambda device: 2 * 3 * 16 * 24)  # two steps of [K, B, H]
    blocks = torch_ops.forward_backward(w_in, w_out, batch, config, True)
    torch.testing.assert_close(blocks.grad_w_in, whole.grad_w_in, rtol=1e-14, atol=0)
    torch.testing.assert_close(blocks.grad_w_out, whole.grad_w_out, rtol=0, atol=0)


def test_surrogate_registry_is_the_one_table_both_backends_use():
    assert tuple(surrogates.REGISTRY) == SURROGATES
    threshold, scale = 1.0, 10.0
    voltage = threshold + np.array([-0.3, -0.1, 0.0, 0.05, 0.1, 0.4])
    x = np.abs(voltage - threshold) * scale
    expected = {"fast_sigmoid": 1.0 / (x + 1.0) ** 2, "exponential": np.exp(-x)}
    for name in SURROGATES:
        slope = np.empty_like(voltage)
        surrogates.fill_slopes(surrogates.kernel_code(name), slope, voltage, threshold, scale, 1.0)
        np.testing.assert_allclose(slope, expected[name], rtol=1e-15)
        on_tensor = surrogates.formula(name)(torch.as_tensor(x), 1.0)
        np.testing.assert_allclose(on_tensor.numpy(), expected[name], rtol=1e-15)
    with pytest.raises(ValueError, match="not one of"):
        surrogates.kernel_code("sigmoid")


def test_cpu_threads_go_to_the_kernels_and_torch_keeps_one_on_the_cpu(data):
    """set_cpu_threads: on the CPU the kernels run on the threads and torch on one (its spinning
    OpenMP threads would take the kernels' cores); off the CPU torch gets them."""
    w_in, w_out, indices = _ensemble(data)
    batch = make_input_batch(data, indices)
    previous = torch.get_num_threads()
    try:
        set_cpu_threads(3, "cpu")
        forward_backward(w_in.float(), w_out.float(), batch, ModelConfig(), backend="compiled")
        assert (compiled._THREADS.size, torch.get_num_threads()) == (3, 1)
        set_cpu_threads(2, "cuda")
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="at least 1"):
            compiled.set_threads(0)
    finally:
        compiled.set_threads(None)
        torch.set_num_threads(previous)


def test_compiled_results_do_not_depend_on_the_thread_count(data):
    """Fixed sample groups summed in order: 1, 2 or 3 threads give the same bits (float32)."""
    config = ModelConfig(readout="per_step")
    w_in, w_out, indices = _ensemble(data)
    batch = make_input_batch(data, indices)
    results = []
    try:
        for threads in (1, 2, 3):
            compiled.set_threads(threads)
            results.append(forward_backward(w_in.float(), w_out.float(), batch, config, backend="compiled"))
            assert threads == 1 or compiled._THREADS.size == threads  # the pool's threads
    finally:
        compiled.set_threads(None)
    assert results[0].grad_w_in.abs().max() > 0
    for other in results[1:]:
        for name in ("loss", "correct", "grad_w_in", "grad_w_out"):
            assert torch.equal(getattr(results[0], name), getattr(other, name)), name


def test_a_training_batch_leaves_the_results_of_earlier_calls_intact(data):
    """The compiled backend reuses its arrays between training batches, never ones it returned."""
    config = ModelConfig()
    w_in, w_out, indices = _ensemble(data)
    spikes, voltage_out = simulate(w_in, w_out, data, indices[0], config, backend="compiled")
    first = forward_backward(w_in, w_out, make_input_batch(data, indices), config, backend="compiled")
    kept = [tensor.clone() for tensor in (spikes, voltage_out, first.loss, first.grad_w_in, first.grad_w_out)]
    forward_backward(2 * w_in, w_out, make_input_batch(data, indices[::-1].copy()), config, backend="compiled")
    simulate(2 * w_in, w_out, data, indices[1], config, backend="compiled")
    for before, now in zip(kept, (spikes, voltage_out, first.loss, first.grad_w_in, first.grad_w_out)):
        assert torch.equal(before, now)


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (6, 9, 8), (5, 13, 4), (2, 4, 16)])
@pytest.mark.parametrize("row_type", [np.float64, np.uint8])
def test_combine_rows_adds_the_matrix_product(shape, row_type):
    """out += C·R, on shapes that leave remainders in both blockings, with spike (uint8) rows too."""
    from eisnn.kernels import combine_rows

    n_i, n_j, n = shape
    rng = np.random.default_rng(n_i * 100 + n_j)
    coefficients = rng.standard_normal((n_i, n_j))
    rows = (rng.random((n_j, n)) < 0.4).astype(row_type) if row_type is np.uint8 else rng.standard_normal((n_j, n))
    start = rng.standard_normal((n_i, n))
    out = start.copy()
    combine_rows(out, coefficients, rows)
    np.testing.assert_allclose(out, start + coefficients @ rows.astype(np.float64), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (6, 9, 8), (5, 13, 4)])
def test_rows_dot_is_the_matrix_product(shape):
    from eisnn.kernels import rows_dot

    n_i, n_h, n_j = shape
    rng = np.random.default_rng(n_i * 100 + n_j)
    a, b = rng.standard_normal((n_i, n_h)), rng.standard_normal((n_j, n_h))
    out = np.full((n_i, n_j), np.nan)
    rows_dot(a, b, out)
    np.testing.assert_allclose(out, a @ b.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("readout", ["max", "per_step"])
def test_the_kernels_sample_loss_is_the_tensor_readout_loss(readout, dtype, rtol):
    """The forward kernel's per-sample loss and ∂L/∂U against `readout_loss`, sample by sample:
    random traces, a trace whose peaks tie across steps (the gradient goes to the first), and
    non-finite traces (a diverged network's loss is NaN)."""
    from eisnn.backends.common import readout_loss
    from eisnn.kernels import _sample_loss

    rng = np.random.default_rng(7)
    n_steps, batch_size, n_classes = 9, 6, 5
    traces = rng.standard_normal((n_steps + 1, 1, batch_size, n_classes)).astype(dtype)
    traces[0] = 0.0
    traces[:, 0, 1] = 0.0  # a silent network's trace: every step ties at U[0] = 0
    traces[3:6, 0, 2, 4] = traces[:, 0, 2, 4].max() + 1.0  # a plateau: the first step of it peaks
    labels = torch.as_tensor(rng.integers(0, n_classes, (1, batch_size)))
    loss, _, grad = readout_loss(torch.as_tensor(traces), labels, readout)
    sample_grad = np.empty((n_steps + 1, n_classes), dtype)
    total = 0.0
    for b in range(batch_size):
        total += _sample_loss(traces[:, 0, b], labels[0, b].item(), readout == "per_step", dtype(1 / batch_size), sample_grad)
        np.testing.assert_allclose(sample_grad, grad[:, 0, b].numpy(), rtol=rtol, atol=rtol * 1e-3)
    assert total == pytest.approx(loss.item(), rel=rtol)
    for bad in (np.nan, np.inf, -np.inf):
        trace = traces[:, 0, 0].copy()
        trace[4, 2] = bad
        assert math.isnan(_sample_loss(trace, 1, readout == "per_step", dtype(1), sample_grad))


@pytest.mark.parametrize("label", [-1, 4])
def test_the_compiled_backend_refuses_labels_outside_the_readouts_classes(data, label):
    """A label the readout has no output for is refused with one line, never read out of bounds."""
    w_in, w_out, indices = _ensemble(data)  # 4 classes
    batch = make_input_batch(data, indices)
    batch.labels[1, 3] = label
    with pytest.raises(ValueError, match=rf"labels must lie in 0\.\.3 \(the readout's classes\), got {min(label, 0)}\.\.{max(label, 3)}"):
        forward_backward(w_in, w_out, batch, ModelConfig(), compute_gradients=False, backend="compiled")
