"""run_many shards the run axis over local devices; the numbers must not depend on it.

Run ``r`` uses the key ``fold_in(key, r)`` and its step ``t`` the key
``fold_in(fold_in(key, r), t)``, so the statistics of ``simulate_sga`` on two
(forced host) devices must equal those on one, up to the order of the
floating-point sums over runs. Each layout runs in its own subprocess because
``XLA_FLAGS`` is read once, when JAX starts.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

_CHILD = textwrap.dedent(
    """
    import json
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from gandyn.games import tanh_wgan
    from gandyn.sga import SGAConfig, simulate_sga

    # Spy on device_put to see whether run_many actually placed a chunk on several devices.
    placements = []
    _device_put = jax.device_put

    def spy(x, device=None, *args, **kwargs):
        devices = getattr(device, "device_set", None)
        if devices is not None:
            placements.append(len(devices))
        return _device_put(x, device, *args, **kwargs)

    jax.device_put = spy

    game = tanh_wgan(n_latent=16, n_data=16)
    cfg = SGAConfig("alt", eta_theta=0.2, batch_size=8)
    f = lambda u: jnp.stack([u @ u, u[0], u[1]])
    # 1001 runs in chunks of 301 (rounded up to a multiple of the device count):
    # the last chunk is padded with dead runs.
    stats = simulate_sga(game, cfg, 6, 1001, jax.random.key(3), f, chunk_size=301)
    print(json.dumps({
        "device_count": jax.device_count(),
        "local_devices": len(jax.local_devices()),
        "max_devices_in_a_placement": max(placements, default=0),
        "mean": np.asarray(stats.mean).tolist(),
        "variance": np.asarray(stats.variance).tolist(),
        "count": np.asarray(stats.count).tolist(),
        "n_runs": stats.n_runs,
    }))
    """
)


def _run(n_devices: int) -> dict:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    flags.append(f"--xla_force_host_platform_device_count={n_devices}")
    env["XLA_FLAGS"] = " ".join(flags)
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"child with {n_devices} device(s) failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def one_and_two():
    return _run(1), _run(2)


def test_two_forced_host_devices_are_seen_and_used(one_and_two):
    one, two = one_and_two
    assert one["device_count"] == 1 and one["local_devices"] == 1
    assert two["device_count"] == 2 and two["local_devices"] == 2
    # run_many took its sharded path: a chunk was placed over both devices.
    assert two["max_devices_in_a_placement"] == 2
    assert one["max_devices_in_a_placement"] <= 1


def test_statistics_do_not_depend_on_the_device_layout(one_and_two):
    one, two = one_and_two
    assert one["n_runs"] == two["n_runs"] == 1001
    np.testing.assert_array_equal(one["count"], two["count"])
    assert one["count"][-1] == 1001
    # Same per-run keys, so the same runs: only the order of the sums over runs differs.
    np.testing.assert_allclose(two["mean"], one["mean"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(two["variance"], one["variance"], rtol=1e-9, atol=1e-16)
    # The statistics are not trivially equal: the runs spread out.
    assert np.min(np.asarray(one["variance"])[1:]) > 0
