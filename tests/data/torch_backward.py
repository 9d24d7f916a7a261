# Checks symconv's `torch` expressions for every gradient of every shipped spec against
# real PyTorch autograd, and writes what it found to tests/data/torch_backward.json, which
# `tests/torch_backward.rs` reads (so that the tests never need PyTorch).
#
# Run from the repository root, with symconv built and a PyTorch installed:
#   cargo build && python3 tests/data/torch_backward.py
#
# For each spec: the run line is evaluated as PyTorch code (its sizes bound to the `let`
# values, `div`/`mod` as Python's `//`/`%`, padding pairs applied with F.pad, conv2d, conv3d
# and their transposes as F's, flip over every spatial axis), on distinct integer x and w
# in PyTorch's layouts; `out.backward(g)` with a distinct integer g gives
# autograd's gradients; each `torch` expression of `symconv derive --format json` is
# evaluated on the same tensors. Both are saved, with the tensors (exact integers), and
# whether they are equal, or (a pooling's rational gradient) within a relative 1e-12.

import glob
import json
import os
import re
import subprocess

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
SYMCONV = os.environ.get("SYMCONV", "target/debug/symconv")


def symconv(*args):
    done = subprocess.run([SYMCONV, *args], capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr  # 1: a claim or run of the spec fails
    return json.loads(done.stdout)


def distinct(shape, offset):
    count = 1
    for d in shape:
        count *= d
    gen = torch.Generator().manual_seed(1234 + offset)
    values = torch.randperm(count, generator=gen).to(torch.float64) + 1
    signs = torch.randint(0, 2, (count,), generator=gen).to(torch.float64) * 2 - 1
    return (values * signs).reshape(shape)


def flip(w):
    # Every spatial axis: w is [O, C/groups, *kernel].
    return w.flip(list(range(2, w.dim())))


def conv1d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if padding == "valid":
        padding = 0
    if padding == "same":
        return F.conv1d(x, w, bias, stride=stride, padding="same", dilation=dilation, groups=groups)
    pair = padding if isinstance(padding, tuple) else (padding, padding)
    return F.conv1d(F.pad(x, pair), w, bias, stride=stride, dilation=dilation, groups=groups)


def upsample_nearest(x, scale_factor):
    return F.interpolate(x, scale_factor=scale_factor, mode="nearest")


def conv_transpose1d(x, w, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    return F.conv_transpose1d(
        x, w, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups
    )


def nd(conv):
    """PyTorch's conv2d or conv3d as a run line writes it: `padding` one value, one per
    axis (symmetric), a pair per axis `((t, b), (l, r))` (F.pad first: its pairs run from
    the last axis back), 'same' or 'valid'."""

    def call(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if padding == "valid":
            padding = 0
        if isinstance(padding, tuple) and padding and isinstance(padding[0], tuple):
            pairs = [p for pair in reversed(padding) for p in pair]
            return conv(F.pad(x, pairs), w, bias, stride=stride, dilation=dilation, groups=groups)
        return conv(x, w, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)

    return call


def python(text):
    text = re.sub(r"\bdiv\b", "//", text)
    text = re.sub(r"\bmod\b", "%", text)
    return text.replace("F.", "")


results = {}
for path in sorted(glob.glob("specs/*.conv")):
    derived = symconv("derive", "--format", "json", path)
    name = derived["spec"]
    run = derived["runs"][0]["text"]
    spatial = 3 if "3d(" in run else 2 if "2d(" in run else 1
    # The tensors x, w and b in PyTorch's layouts: a tensor of spatial axes only is one
    # channel (x [1, 1, *spatial], w [1, 1, *kernel]); a bias is [O] as it is.
    tensors = {}
    for offset, wrt in enumerate(d["wrt"] for d in derived["derivatives"]):
        table = symconv("table", path, "--wrt", wrt, "--format", "json")
        sizes, shape = table["sizes"], table["wrt_shape"]
        one_channel = len(shape) == spatial
        layout = {"x": [1] + ([1] if one_channel else []), "w": [1, 1] if one_channel else []}.get(wrt, [])
        tensors[wrt] = distinct(layout + shape, 3 if wrt == "b" else offset).requires_grad_()
    env = dict(sizes, **tensors, flip=flip, conv1d=conv1d, conv_transpose1d=conv_transpose1d,
               conv2d=nd(F.conv2d), conv3d=nd(F.conv3d), conv_transpose2d=F.conv_transpose2d,
               conv_transpose3d=F.conv_transpose3d, avg_pool1d=F.avg_pool1d, avg_pool2d=F.avg_pool2d,
               upsample_nearest1d=upsample_nearest, upsample_nearest2d=upsample_nearest)
    out = eval(python(run), {}, env)
    g = distinct(list(out.shape), 2)
    out.backward(g)
    grads = {wrt: t.grad for wrt, t in tensors.items()}
    entry = {"sizes": sizes, "run": run, "g": g.flatten().tolist(), "g_shape": list(g.shape), "gradients": {}}
    entry.update({wrt: t.detach().flatten().tolist() for wrt, t in tensors.items()})
    for b in derived["backward"]:
        call = b["call"]
        wrt = b["wrt"]
        autograd = grads[wrt].flatten().tolist()
        record = {"autograd": autograd, "torch": None, "value": None, "equal": None, "close": None}
        if call is not None:
            known = {wrt: t.detach() for wrt, t in tensors.items()}
            value = eval(call["torch"], {"torch": torch, "F": F}, dict(known, g=g))
            same_shape = list(value.shape) == list(grads[wrt].shape)
            # A pooling's gradient is rational: PyTorch rounds each window's g / k and adds,
            # a call may divide a window's exact sum once; "close" is within that rounding.
            record.update(torch=call["torch"], value=value.flatten().tolist(),
                          equal=same_shape and bool(torch.equal(value, grads[wrt])),
                          close=same_shape and bool(torch.allclose(value, grads[wrt], rtol=1e-12, atol=0)))
        entry["gradients"][wrt] = record
        print(f"{name:20} ∂L/∂{wrt}: {call['torch'] if call else '(no call)'}: "
              f"{'equal to autograd' if record['equal'] else 'within rounding of autograd' if record['close'] else 'NOT EQUAL' if call else ''}")
    results[name] = entry

results["torch_version"] = torch.__version__
with open("tests/data/torch_backward.json", "w") as f:
    json.dump(results, f, indent=1, sort_keys=True)
    f.write("\n")
