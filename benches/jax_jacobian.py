"""Times JAX's Jacobian of the 2-D convolution that `benches/nd.rs` checks every entry of.

`jax.jit(jax.jacrev(conv, argnums=(0, 1)))` of a valid cross-correlation
(`lax.conv_general_dilated`, NCHW / OIHW, float64) at a 32 x 32 input, a 3 x 3 kernel and
4 -> 4 channels: both Jacobians, dense (output elements by input elements, and by weight
elements). One warm-up call compiles it; then the median (and the minimum) of several
calls, each waited for with `block_until_ready`, in milliseconds.

Prints one line: `jax <version> jit(jacrev) median <ms> ms min <ms> ms (<runs> runs)`.

Run: `python benches/jax_jacobian.py [H W P Q C O [runs]]`.
"""

import statistics
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402


def main() -> None:
    args = [int(a) for a in sys.argv[1:]]
    h, v, p, q, c, o = args[:6] if len(args) >= 6 else (32, 32, 3, 3, 4, 4)
    runs = args[6] if len(args) >= 7 else 21

    def conv(x, w):
        return lax.conv_general_dilated(
            x, w, window_strides=(1, 1), padding="VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
        )

    jacobian = jax.jit(jax.jacrev(conv, argnums=(0, 1)))
    x = jnp.arange(1, c * h * v + 1, dtype=jnp.float64).reshape(1, c, h, v)
    w = jnp.arange(1, o * c * p * q + 1, dtype=jnp.float64).reshape(o, c, p, q)
    jx, jw = jacobian(x, w)
    jx.block_until_ready()
    jw.block_until_ready()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jx, jw = jacobian(x, w)
        jx.block_until_ready()
        jw.block_until_ready()
        times.append((time.perf_counter() - start) * 1e3)
    print(
        f"jax {jax.__version__} jit(jacrev) median {statistics.median(times):.2f} ms "
        f"min {min(times):.2f} ms ({runs} runs; Jacobians {tuple(jx.shape)} and {tuple(jw.shape)})"
    )


if __name__ == "__main__":
    main()
