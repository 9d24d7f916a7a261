# PyTorch's own numbers for the engine's non-convolution layers (src/engine/layers.rs):
# average pooling, nearest upsampling and a convolution's bias, with their Jacobians.
# `tests/engine_layers.rs` reads what this prints, saved as tests/data/layers_reference.json,
# so that the tests never need PyTorch.
#
# Run from the repository root, with PyTorch installed (written with torch 2.15, CPU):
#   python3 tests/data/layers_reference.py > tests/data/layers_reference.json
#
# Every case runs on distinct integer tensors in float64, batch 1. Each output and
# Jacobian (torch.autograd.functional.jacobian, flattened to [output elements, input
# elements], row-major, batch axis included in both, which changes nothing) is saved twice:
# as numbers to read, and as the IEEE-754 bits of each float64 (`bits`), which the test
# compares exactly, without trusting any decimal parsing.

import json
import struct

import torch
import torch.nn.functional as F
from torch.autograd.functional import jacobian

torch.set_default_dtype(torch.float64)


def distinct(shape, offset):
    # Distinct nonzero integers in [-count, count], in a random order and with random signs.
    count = torch.Size(shape).numel()
    gen = torch.Generator().manual_seed(4321 + offset)
    picked = torch.randperm(2 * count, generator=gen)[:count] - count
    return torch.where(picked >= 0, picked + 1, picked).to(torch.float64).reshape(shape)


def saved(t):
    flat = t.detach().reshape(-1).tolist()
    return {
        "shape": list(t.shape),
        "values": flat,
        "bits": [struct.unpack("<Q", struct.pack("<d", v))[0] for v in flat],
    }


def matrix(j, out, arg):
    return saved(j.reshape(out.numel(), arg.numel()))


def layer(name, op, params, x, f):
    out = f(x)
    return name, {
        "op": op,
        "params": params,
        "x": saved(x),
        "output": saved(out),
        "jacobian_x": matrix(jacobian(f, x), out, x),
    }


def avg_pool(name, k, s, p, shape, offset):
    x = distinct(shape, offset)
    pool = F.avg_pool1d if len(k) == 1 else F.avg_pool2d
    f = lambda x: pool(x, k, s, p, ceil_mode=False, count_include_pad=True)
    return layer(name, "avg_pool", {"kernel": k, "stride": s, "padding": p}, x, f)


def upsample(name, scale, shape, offset):
    x = distinct(shape, offset)
    f = lambda x: F.interpolate(x, scale_factor=tuple(scale), mode="nearest")
    return layer(name, "upsample_nearest", {"scale": scale}, x, f)


def conv1d_bias(name, shape, weight, offset):
    x, w, b = distinct(shape, offset), distinct(weight, offset + 1), distinct(weight[:1], offset + 2)
    out = F.conv1d(x, w, b)
    return name, {
        "op": "conv1d_bias",
        "params": {},
        "x": saved(x),
        "w": saved(w),
        "b": saved(b),
        "output": saved(out),
        "jacobian_x": matrix(jacobian(lambda x: F.conv1d(x, w, b), x), out, x),
        "jacobian_b": matrix(jacobian(lambda b: F.conv1d(x, w, b), b), out, b),
    }


def upsample_and_identity(name, scale, shape, offset):
    # The upsampled input and the input itself, side by side: an input used twice, whose
    # gradients must add up.
    x = distinct(shape, offset)
    f = lambda x: torch.cat([F.interpolate(x, scale_factor=scale, mode="nearest"), x], dim=-1)
    return layer(name, "upsample_nearest_and_identity", {"scale": [scale]}, x, f)


cases = dict(
    [
        avg_pool("avg_pool1d_k3_s2_p1", [3], [2], [1], [1, 2, 7], 0),
        avg_pool("avg_pool2d_k2x3_s2x1_p1x1", [2, 3], [2, 1], [1, 1], [1, 2, 5, 6], 10),
        # Windows that do not tile the input: the last row and column are read by none.
        avg_pool("avg_pool2d_untiled_k2_s2", [2, 2], [2, 2], [0, 0], [1, 1, 5, 5], 20),
        # Sums p whose p·fl(1/9) differs from p/9: PyTorch divides.
        avg_pool("avg_pool2d_k3_s1", [3, 3], [1, 1], [0, 0], [1, 1, 4, 5], 30),
        upsample("upsample_nearest1d_s2", [2], [1, 2, 4], 40),
        upsample("upsample_nearest1d_s3", [3], [1, 1, 5], 50),
        upsample("upsample_nearest2d_s2x3", [2, 3], [1, 2, 2, 3], 60),
        upsample_and_identity("upsample_nearest1d_s2_and_identity", 2, [1, 1, 3], 70),
        conv1d_bias("conv1d_bias", [1, 2, 6], [3, 2, 3], 80),
    ]
)


def refusal(op, params, shape):
    x = torch.zeros(shape)
    try:
        if op == "avg_pool":
            pool = F.avg_pool1d if len(params["kernel"]) == 1 else F.avg_pool2d
            pool(x, params["kernel"], params["stride"], params["padding"])
        else:
            F.interpolate(x, scale_factor=tuple(params["scale"]), mode="nearest")
    except RuntimeError as e:
        return {"op": op, "params": params, "shape": shape, "message": str(e).splitlines()[0]}
    raise AssertionError(f"PyTorch accepts {op} {params} on {shape}")


def pool(k, s, p):
    return {"kernel": k, "stride": s, "padding": p}


# Calls PyTorch refuses, with its first line of the message: PyTorch checks, per axis (H
# before W), a zero stride and a padding past half the kernel, then a zero kernel, an
# empty input and an output below 1; nearest upsampling, empty sizes before no channels.
refusals = [
    refusal("avg_pool", pool([3], [2], [2]), [1, 1, 5]),
    refusal("avg_pool", pool([3, 5], [1, 1], [1, 3]), [1, 1, 5, 5]),
    refusal("avg_pool", pool([3, 5], [1, 1], [2, 3]), [1, 2, 5, 5]),
    refusal("avg_pool", pool([0], [1], [0]), [1, 1, 5]),
    refusal("avg_pool", pool([0, 1], [1, 1], [0, 0]), [1, 1, 5, 5]),
    refusal("avg_pool", pool([0, 5], [0, 1], [0, 2]), [1, 1, 5, 5]),
    refusal("avg_pool", pool([1], [0], [0]), [1, 1, 5]),
    refusal("avg_pool", pool([1, 1], [1, 0], [0, 0]), [1, 1, 5, 5]),
    refusal("avg_pool", pool([6], [1], [0]), [1, 2, 5]),
    refusal("avg_pool", pool([8], [2], [0]), [1, 2, 5]),
    refusal("avg_pool", pool([7, 8], [1, 1], [0, 0]), [1, 2, 5, 5]),
    refusal("avg_pool", pool([7, 3], [2, 2], [0, 0]), [1, 2, 5, 5]),
    refusal("avg_pool", pool([2], [1], [0]), [1, 0, 3]),
    refusal("avg_pool", pool([2**31], [1], [0]), [1, 1, 5]),
    refusal("avg_pool", pool([1, 1], [1, 2**31], [0, 0]), [1, 1, 5, 5]),
    refusal("avg_pool", pool([1, 1], [1, 1], [0, 0]), [1, 2, 0, 5]),
    refusal("avg_pool", pool([5, 3], [1, 1], [0, 0]), [1, 1, 0, 3]),
    refusal("upsample_nearest", {"scale": [0]}, [1, 1, 5]),
    refusal("upsample_nearest", {"scale": [2, 0]}, [1, 1, 5, 5]),
    refusal("upsample_nearest", {"scale": [2]}, [1, 2, 0]),
    refusal("upsample_nearest", {"scale": [0]}, [1, 0, 3]),
    refusal("upsample_nearest", {"scale": [2]}, [1, 0, 3]),
    refusal("upsample_nearest", {"scale": [2, 2]}, [1, 0, 3, 3]),
    refusal("upsample_nearest", {"scale": [2, 2]}, [1, 2, 0, 3]),
]
print(json.dumps({"torch": torch.__version__, "cases": cases, "refusals": refusals}, indent=1))
