"""Many independent runs at once, with streaming Monte Carlo statistics.

A *run* is a Markov chain ``u_{t+1} = step(key_t, u_t)`` from a fixed start.
:func:`run_many` simulates ``n_runs`` of them as one ``vmap``-ped, ``jit``-ted
loop per chunk of runs (equal chunks, one compilation for all of them and
for every number of steps in an octave), and keeps only the running mean and sum of
squared deviations of chosen observables at the recording times, so memory
does not grow with the number of steps or of runs.

Accuracy: inside a chunk (on the device, in the state's dtype, often
float32) the observables are accumulated as deviations from their value at
the start ``u0``, by pairwise summation with a corrected two-pass scheme;
chunks are combined on the host in float64. So the mean at step 0 is the
observables at ``u0`` exactly, and a mean over many float32 values carries
the rounding of the values themselves, not of a long float32 sum.

Reproducibility: run ``r`` uses the key ``fold_in(key, r)`` and its step ``t``
the key ``fold_in(fold_in(key, r), t)``, so results do not depend on the chunk
size or on how runs are spread over devices.

Divergence is a result, not a crash: a run whose state stops being finite or
leaves the ball of radius ``bound`` is frozen from that step on, left out of
the statistics from then on, and counted in ``n_diverged``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["RunStatistics", "run_many", "freeze_diverged", "Z95", "balanced_chunks",
           "record_capacity", "default_chunk_size", "CHUNK_MEMORY_BYTES"]

Step = Callable[[jax.Array, jax.Array], jax.Array]
Observables = Callable[[jax.Array], jax.Array]


@dataclass
class RunStatistics:
    """Streaming statistics of observables over runs at the recording times.

    ``mean[i, j]`` and ``variance[i, j]`` (unbiased, over runs) of observable
    ``j`` at ``steps[i]``, float64; ``count[i]`` runs still alive there and
    ``n_diverged[i] = n_runs − count[i]``.
    """

    steps: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    count: np.ndarray
    n_runs: int
    extra: dict = field(default_factory=dict)

    @property
    def n_diverged(self) -> np.ndarray:
        return self.n_runs - self.count

    @property
    def standard_error(self) -> np.ndarray:
        return np.sqrt(self.variance / np.maximum(self.count, 1)[:, None])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The statistics as named arrays (for a checkpoint); ``extra`` is not kept."""
        return {"steps": self.steps, "mean": self.mean, "variance": self.variance,
                "count": self.count, "n_runs": np.asarray(self.n_runs)}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "RunStatistics":
        """The inverse of :meth:`to_arrays`."""
        return cls(np.asarray(arrays["steps"]), np.asarray(arrays["mean"]),
                   np.asarray(arrays["variance"]), np.asarray(arrays["count"]),
                   int(arrays["n_runs"]))

    def merge(self, other: "RunStatistics") -> "RunStatistics":
        """Combine two independent batches of runs (Chan et al.'s parallel update)."""
        if not np.array_equal(self.steps, other.steps):
            raise ValueError("cannot merge statistics recorded at different steps")
        n_a, n_b = self.count[:, None].astype(float), other.count[:, None].astype(float)
        n = n_a + n_b
        safe = np.maximum(n, 1.0)
        delta = other.mean - self.mean
        mean = np.where(n > 0, self.mean + delta * n_b / safe, 0.0)
        m2 = (self.variance * np.maximum(n_a - 1, 0) + other.variance * np.maximum(n_b - 1, 0)
              + delta**2 * n_a * n_b / safe)
        variance = np.where(n > 1, m2 / np.maximum(n - 1, 1), 0.0)
        return RunStatistics(self.steps, mean, variance, (n_a + n_b)[:, 0].astype(int),
                             self.n_runs + other.n_runs)


#: The two-sided 95% quantile of the standard normal: intervals are ``mean ± Z95 · se``.
Z95 = 1.959963984540054


def freeze_diverged(u, u_new, alive, bound):
    """``(state, alive)`` after one step of one run: a run that diverges is frozen.

    A run stays alive while its new state is finite and within the ball of
    radius ``bound``; once it is not, it keeps its last healthy state and is
    dead from then on (left out of every statistic, counted as diverged).
    """
    flat = u_new.reshape(-1)
    ok = alive & jnp.all(jnp.isfinite(flat)) & (jnp.linalg.norm(flat) <= bound)
    return jnp.where(ok, u_new, u), ok


@eqx.filter_jit
def _run_chunk(step: Step, observables: Observables, u0, n_records, record_every, bound,
               run_ids, key, n_runs, capacity: int):
    """Shifted moments of the observables over one chunk of runs, at every record.

    Returns ``(shift, (mean, correction, m2, count))``: ``shift`` is the value
    of the observables at the start (every run starts at ``u0``); per record,
    ``mean`` is the chunk's mean deviation ``d = f(u) − shift`` over the live
    runs, ``correction = Σ (d − mean)`` its rounding residual and
    ``m2 = Σ (d − mean)²``, each a pairwise sum (see :func:`_moments`). The
    host combines them in float64: the chunk's mean is
    ``shift + mean + correction / count``.

    Compiled once per (step, observables, shapes): ``step`` and
    ``observables`` are equinox modules or plain functions whose arrays (the
    game's data, the learning rate) are traced, and so are ``n_records``,
    ``record_every`` and ``bound``. Only the buffer length ``capacity`` (at
    least ``n_records + 1`` rows; rows past ``n_records`` stay zero) and the
    chunk's size are shapes.
    """

    def one_record(t_record, carry):
        keys, u, alive, buffers = carry  # keys: (chunk,) run keys; u: (chunk, ...) states

        def body(i, state):
            u, alive = state
            t = t_record * record_every + i
            step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(keys)
            u_new = jax.vmap(step)(step_keys, u)
            return jax.vmap(freeze_diverged, in_axes=(0, 0, 0, None))(u, u_new, alive, bound)

        u, alive = jax.lax.fori_loop(0, record_every, body, (u, alive))
        row = _moments(_observe(observables, u), alive, shift)
        buffers = jax.tree_util.tree_map(lambda b, r: b.at[t_record + 1].set(r), buffers, row)
        return keys, u, alive, buffers

    keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(run_ids)
    u = jnp.broadcast_to(u0, (run_ids.shape[0],) + u0.shape)
    # Padding runs (ids past n_runs) start dead: they never enter the statistics.
    alive = run_ids < n_runs
    obs0 = _observe(observables, u)
    # Every run starts at u0, so every row of obs0 is the same value: taking the
    # shift from a row (not from a separate, possibly differently compiled call)
    # makes the deviations at the first record exactly 0.
    shift = jnp.where(jnp.isfinite(obs0[0]), obs0[0], jnp.zeros_like(obs0[0]))
    first = _moments(obs0, alive, shift)
    buffers = jax.tree_util.tree_map(
        lambda r: jnp.zeros((capacity,) + r.shape, r.dtype).at[0].set(r), first)
    _, _, _, buffers = jax.lax.fori_loop(0, n_records, one_record, (keys, u, alive, buffers))
    return shift, buffers


def record_capacity(n_records: int) -> int:
    """Rows of the record buffer for ``n_records`` records after the start.

    The next power of two at or above ``n_records + 1``: runs whose numbers of
    records fall in one octave share one compilation, at most doubling a
    buffer whose rows are a few numbers each.
    """
    return 1 << int(n_records).bit_length()


def balanced_chunks(n_runs: int, chunk_size: int, multiple: int = 1) -> tuple[int, int]:
    """``(n_chunks, size)``: equal chunks of at most ``chunk_size`` runs that cover ``n_runs``.

    Every chunk has the same size (one compilation), a multiple of
    ``multiple`` (the device count) and, for chunks above 32 runs, of 32; the
    padding is then under 32 runs per chunk (``multiple`` with more devices),
    instead of up to a whole chunk when only the last one is padded.
    """
    chunk_size = max(1, min(chunk_size, n_runs))
    step = math.lcm(32, multiple) if chunk_size > 32 else multiple
    limit = max(step, chunk_size // step * step)
    n_chunks = math.ceil(n_runs / limit)
    size = math.ceil(math.ceil(n_runs / n_chunks) / step) * step
    return n_chunks, size


def _observe(observables, u):
    """``(chunk, n_obs)`` observables of a chunk of states (a scalar counts as one)."""
    return jax.vmap(lambda v: jnp.reshape(observables(v), (-1,)))(u)


def _pairwise_sum(x):
    """``Σ_i x[i]`` over axis 0 by pairwise (tree) summation.

    The rounding error grows like ``log2(n)·eps`` instead of the ``n·eps`` of
    a running sum, which matters for float32 sums over thousands of runs.
    """
    n = x.shape[0]
    if n == 0:
        return jnp.zeros(x.shape[1:], x.dtype)
    size = 1 << (n - 1).bit_length()
    if size != n:
        x = jnp.concatenate([x, jnp.zeros((size - n,) + x.shape[1:], x.dtype)])
    while x.shape[0] > 1:
        half = x.shape[0] // 2
        x = x[:half] + x[half:]
    return x[0]


def _moments(obs, alive, shift):
    """``(mean, correction, m2, count)`` of ``d = obs − shift`` over the live rows.

    A corrected two-pass scheme (Chan, Golub & LeVeque 1983): ``mean`` is
    ``Σ d / count``, ``correction = Σ (d − mean)`` (zero but for rounding) and
    ``m2 = Σ (d − mean)²``, all pairwise sums over the live rows. The exact
    mean and sum of squared deviations are then ``mean + correction/count``
    and ``m2 − correction²/count``; the host forms them in float64.
    """
    live = alive[:, None]
    count = jnp.sum(alive)
    d = jnp.where(live, obs - shift, jnp.zeros_like(obs))
    mean = _pairwise_sum(d) / jnp.maximum(count, 1).astype(obs.dtype)
    r = jnp.where(live, d - mean, jnp.zeros_like(obs))
    return mean, _pairwise_sum(r), _pairwise_sum(r * r), count


def _chunk_statistics(steps, shift, moments, size) -> "RunStatistics":
    """A :class:`RunStatistics` in float64 from the outputs of :func:`_run_chunk`."""
    mean, correction, m2, count = (np.asarray(a) for a in moments)
    count = count.astype(int)
    n = np.maximum(count, 1)[:, None].astype(np.float64)
    correction = correction.astype(np.float64)
    mean = np.asarray(shift, dtype=np.float64)[None, :] + mean.astype(np.float64) + correction / n
    m2 = np.maximum(m2.astype(np.float64) - correction**2 / n, 0.0)
    mean = np.where(count[:, None] > 0, mean, 0.0)
    variance = m2 / np.maximum(count - 1, 1)[:, None]
    return RunStatistics(steps, mean, variance, count, size)


def run_many(
    step: Step,
    u0,
    n_steps: int,
    n_runs: int,
    key: jax.Array,
    observables: Observables,
    *,
    record_every: int = 1,
    chunk_size: Optional[int] = None,
    bound: float = 1e6,
    capacity: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
    first_run: int = 0,
) -> RunStatistics:
    """Simulate ``n_runs`` independent chains for ``n_steps`` steps.

    Args:
        step: ``step(key, u) -> u'`` for one run (it is vmapped here).
        u0: the common starting state.
        observables: ``u -> (n_obs,)`` array of test-function values (a scalar
            is one observable; any other shape is flattened). Anything hashable
            by value (a function, an equinox module, a
            :class:`gandyn.analysis.QuadraticTestFunction`): equal observables
            reuse the compilation.
        record_every: record statistics every this many steps (and at step 0);
            must divide ``n_steps``.
        chunk_size: at most about this many runs are simulated together
            (memory is ``O(chunk_size · dim)``); default
            :func:`default_chunk_size`. The runs are split into equal chunks
            (:func:`balanced_chunks`), so all chunks share one compilation.
        bound: a run whose state leaves this radius counts as diverged.
        capacity: rows of the compiled record buffer (default
            :func:`record_capacity`); give the largest ``n_steps //
            record_every + 1`` of a sweep to compile the sweep once.
        progress: called with the number of runs finished after each chunk.
        first_run: the number of the first run: these are runs ``first_run``,
            ..., ``first_run + n_runs - 1`` of a larger batch (same keys), so a
            batch split into blocks of runs (tasks) simulates the same runs.

    Runs are spread over all local devices when there is more than one (the
    run axis of each chunk is sharded).
    """
    if n_steps < 0 or n_runs < 1 or record_every < 1:
        raise ValueError("need n_steps >= 0, n_runs >= 1 and record_every >= 1")
    if n_steps % record_every:
        raise ValueError(f"record_every={record_every} must divide n_steps={n_steps}")
    u0 = jnp.asarray(u0)
    n_records = n_steps // record_every
    capacity = record_capacity(n_records) if capacity is None else int(capacity)
    if capacity < n_records + 1:
        raise ValueError(f"capacity={capacity} is below the {n_records + 1} records of this run")
    devices = jax.local_devices()
    if chunk_size is None:
        chunk_size = default_chunk_size(u0)
    n_chunks, size = balanced_chunks(n_runs, chunk_size, len(devices))
    steps = np.arange(n_records + 1) * record_every
    total: Optional[RunStatistics] = None
    traced = (jnp.asarray(n_records, jnp.int32), jnp.asarray(record_every, jnp.int32),
              jnp.asarray(float(bound)))
    for c in range(n_chunks):
        start = c * size
        live = max(0, min(size, n_runs - start))
        ids = jnp.arange(first_run + start, first_run + start + size, dtype=jnp.uint32)
        if len(devices) > 1:
            mesh = Mesh(np.array(devices), ("runs",))
            ids = jax.device_put(ids, NamedSharding(mesh, PartitionSpec("runs")))
        shift, moments = _run_chunk(step, observables, u0, *traced, ids, key,
                                    jnp.asarray(first_run + n_runs, jnp.uint32), capacity)
        moments = tuple(np.asarray(a)[: n_records + 1] for a in moments)  # host slice: no program
        part = _chunk_statistics(steps, shift, moments, live)
        total = part if total is None else total.merge(part)
        if progress is not None:
            progress(start + live)
    assert total is not None
    return total


#: Device memory the states of one chunk of runs may take (see :func:`default_chunk_size`).
CHUNK_MEMORY_BYTES = 64 * 2**20


def default_chunk_size(u0, memory_bytes: int = CHUNK_MEMORY_BYTES) -> int:
    """Runs per chunk: 8192, or fewer when their states would exceed ``memory_bytes``.

    A step's intermediates are a small multiple of its state, so a budget on
    the states bounds the chunk's working memory; at least 64 runs.
    """
    state_bytes = max(1, int(np.prod(jnp.shape(u0))) * jnp.asarray(u0).dtype.itemsize)
    return int(max(64, min(8192, memory_bytes // state_bytes)))
