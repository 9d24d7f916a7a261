//! Every shipped spec's Jacobian tables against PyTorch's semantics, computed here from
//! scratch: a plain-loop `conv1d` / `conv_transpose1d`, and their N-D forms (`conv2d`,
//! `conv_transpose2d`, `conv3d`), exactly as PyTorch defines them (cross-correlation, zero
//! padding, stride, dilation, groups, output_padding, per spatial axis), with the
//! Jacobians found one perturbation at a time, as the seed test did with autograd. Inputs
//! and weights are distinct integers, so every number is exact and no two weights can be
//! confused. symconv's symbolic entries (`table --format json`) are evaluated at the same
//! values and must agree entry by entry. So must each gradient: the plain loops' `Jᵀg`
//! for a distinct integer `g` against symconv's gather form and its named engine call.
//! The layers that are no convolution (average pooling, nearest upsampling, a conv's bias)
//! are plain loops too: their outputs against the spec's formula expanded exactly, and
//! every table, rational entries included (`1/3`), compared as exact fractions.

use serde_json::Value;
use std::process::Command;
use symconv::algebra::IndexExt;
use symconv::check::{gradient_values, Values};
use symconv::engine::Array;

/// A PyTorch call: `conv1d(F.pad(x, pad), w', stride, dilation, groups)` or
/// `conv_transpose1d(x, w', stride, padding, output_padding, dilation, groups)`, where
/// `w'` is `w` reversed along its last axis when `flip` is set.
#[derive(Clone, Copy)]
struct Op {
    transposed: bool,
    flip: bool,
    stride: usize,
    pad: (usize, usize),
    output_padding: usize,
    dilation: usize,
    groups: usize,
}

const CONV: Op =
    Op { transposed: false, flip: false, stride: 1, pad: (0, 0), output_padding: 0, dilation: 1, groups: 1 };

/// A tensor as nested shape and row-major values.
#[derive(Clone)]
struct T {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl T {
    fn at(&self, idx: &[usize]) -> f64 {
        let flat = idx.iter().zip(&self.shape).fold(0, |acc, (i, d)| acc * d + i);
        self.data[flat]
    }
}

/// PyTorch's forward pass on x `[C_in, n]` and w (`[C_out, C_in/G, k]`, or `[C_in, C_out/G, k]`
/// when transposed), returning `[C_out, L]` flattened row-major.
fn forward(op: Op, x: &T, w: &T) -> Vec<f64> {
    let (cin, n) = (x.shape[0], x.shape[1]);
    let k = w.shape[2];
    let wt = |a: usize, b: usize, m: usize| w.at(&[a, b, if op.flip { k - 1 - m } else { m }]);
    let (s, d, g) = (op.stride, op.dilation, op.groups);
    if !op.transposed {
        let cout = w.shape[0];
        let (a, b) = op.pad;
        let len = (n + a + b - d * (k - 1) - 1) / s + 1;
        let per_in = cin / g;
        let mut y = vec![0.0; cout * len];
        for o in 0..cout {
            let group = o / (cout / g);
            for t in 0..len {
                for cl in 0..per_in {
                    for m in 0..k {
                        let pos = (t * s + m * d) as i64 - a as i64;
                        if (0..n as i64).contains(&pos) {
                            y[o * len + t] += x.at(&[group * per_in + cl, pos as usize]) * wt(o, cl, m);
                        }
                    }
                }
            }
        }
        y
    } else {
        let per_out = w.shape[1];
        let cout = per_out * g;
        let p = op.pad.0;
        let len = (n - 1) * s + d * (k - 1) + op.output_padding + 1 - 2 * p;
        let mut y = vec![0.0; cout * len];
        for c in 0..cin {
            let group = c / (cin / g);
            for ol in 0..per_out {
                for i in 0..n {
                    for m in 0..k {
                        let t = (i * s + m * d) as i64 - p as i64;
                        if (0..len as i64).contains(&t) {
                            y[(group * per_out + ol) * len + t as usize] += x.at(&[c, i]) * wt(c, ol, m);
                        }
                    }
                }
            }
        }
        y
    }
}

/// PyTorch's `F.conv2d(F.pad(x, (l, r, t, b)), w)` for x `[H, V]` and w `[P, Q]` (one
/// channel each), returning the output flattened row-major.
fn conv2d_padded(x: &T, w: &T, (t, b): (usize, usize), (l, r): (usize, usize)) -> Vec<f64> {
    let (h, v, p, q) = (x.shape[0] + t + b, x.shape[1] + l + r, w.shape[0], w.shape[1]);
    let padded = |u: usize, c: usize| match (u.checked_sub(t), c.checked_sub(l)) {
        (Some(u), Some(c)) if u < x.shape[0] && c < x.shape[1] => x.at(&[u, c]),
        _ => 0.0,
    };
    let mut y = Vec::new();
    for i in 0..=h - p {
        for j in 0..=v - q {
            y.push(
                (0..p)
                    .flat_map(|a| (0..q).map(move |c| (a, c)))
                    .map(|(a, c)| padded(i + a, j + c) * w.at(&[a, c]))
                    .sum(),
            );
        }
    }
    y
}

/// PyTorch's N-D call, one value per spatial axis: `conv2d(F.pad(x, pad), w, stride,
/// dilation, groups)` (`pad` a pair per axis, before and after), or `conv_transpose2d(x, w,
/// stride, padding, output_padding, dilation, groups)` (`pad` symmetric: `(p, p)`), and
/// the same with three axes.
#[derive(Clone)]
struct Nd {
    transposed: bool,
    stride: Vec<usize>,
    pad: Vec<(usize, usize)>,
    output_padding: Vec<usize>,
    dilation: Vec<usize>,
    groups: usize,
}

/// An [`Nd`] with `axes` spatial axes and PyTorch's defaults.
fn nd(axes: usize) -> Nd {
    Nd {
        transposed: false,
        stride: vec![1; axes],
        pad: vec![(0, 0); axes],
        output_padding: vec![0; axes],
        dilation: vec![1; axes],
        groups: 1,
    }
}

/// Every index tuple below `dims`, row-major.
fn positions(dims: &[usize]) -> Vec<Vec<usize>> {
    dims.iter().fold(vec![Vec::new()], |acc, &d| {
        acc.into_iter().flat_map(|p| (0..d).map(move |i| [p.clone(), vec![i]].concat())).collect()
    })
}

/// PyTorch's N-D forward pass on x `[C_in, *spatial]` and w (`[C_out, C_in/G, *kernel]`, or
/// `[C_in, C_out/G, *kernel]` when transposed), returning `[C_out, *out]` flattened
/// row-major: each output sums `x[c, t·S + m·D - pad_before] · w[o, c, m]` over the input
/// channels of its group and the kernel, the input read as 0 outside its shape; transposed,
/// each input `x[c, i]` adds `x[c, i] · w[c, o, m]` to output `i·S + m·D - p`.
fn forward_nd(op: &Nd, x: &T, w: &T) -> Vec<f64> {
    let (cin, spatial) = (x.shape[0], &x.shape[1..]);
    let kernel = &w.shape[2..];
    let g = op.groups;
    let axes = 0..spatial.len();
    let kernel_taps = positions(kernel);
    if !op.transposed {
        let cout = w.shape[0];
        let lens: Vec<usize> = axes
            .clone()
            .map(|a| {
                let (before, after) = op.pad[a];
                (spatial[a] + before + after - op.dilation[a] * (kernel[a] - 1) - 1) / op.stride[a] + 1
            })
            .collect();
        let per_in = cin / g;
        let mut y = Vec::new();
        for o in 0..cout {
            let group = o / (cout / g);
            for t in positions(&lens) {
                let mut sum = 0.0;
                for cl in 0..per_in {
                    for m in &kernel_taps {
                        let pos: Vec<i64> = axes
                            .clone()
                            .map(|a| (t[a] * op.stride[a] + m[a] * op.dilation[a]) as i64 - op.pad[a].0 as i64)
                            .collect();
                        if pos.iter().zip(spatial).all(|(&p, &n)| (0..n as i64).contains(&p)) {
                            let at: Vec<usize> =
                                [vec![group * per_in + cl], pos.iter().map(|&p| p as usize).collect()].concat();
                            sum += x.at(&at) * w.at(&[vec![o, cl], m.clone()].concat());
                        }
                    }
                }
                y.push(sum);
            }
        }
        y
    } else {
        let per_out = w.shape[1];
        let cout = per_out * g;
        let lens: Vec<usize> = axes
            .clone()
            .map(|a| {
                (spatial[a] - 1) * op.stride[a] + op.dilation[a] * (kernel[a] - 1) + op.output_padding[a] + 1
                    - 2 * op.pad[a].0
            })
            .collect();
        let size: usize = lens.iter().product();
        let mut y = vec![0.0; cout * size];
        for c in 0..cin {
            let group = c / (cin / g);
            for ol in 0..per_out {
                for i in positions(spatial) {
                    for m in &kernel_taps {
                        let t: Vec<i64> = axes
                            .clone()
                            .map(|a| (i[a] * op.stride[a] + m[a] * op.dilation[a]) as i64 - op.pad[a].0 as i64)
                            .collect();
                        if t.iter().zip(&lens).all(|(&p, &n)| (0..n as i64).contains(&p)) {
                            let flat = t.iter().zip(&lens).fold(0, |acc, (&p, &n)| acc * n + p as usize);
                            let value = x.at(&[vec![c], i.clone()].concat()) * w.at(&[vec![c, ol], m.clone()].concat());
                            y[(group * per_out + ol) * size + flat] += value;
                        }
                    }
                }
            }
        }
        y
    }
}

/// ∂y/∂(x or w) of a bilinear `forward`, one column per element, by perturbing it by 1
/// (exact: y is bilinear).
fn jacobian_of(forward: &dyn Fn(&T, &T) -> Vec<f64>, x: &T, w: &T, wrt_w: bool) -> Vec<Vec<f64>> {
    let base = forward(x, w);
    let count = if wrt_w { w.data.len() } else { x.data.len() };
    let columns: Vec<Vec<f64>> = (0..count)
        .map(|c| {
            let (mut x2, mut w2) = (x.clone(), w.clone());
            if wrt_w {
                w2.data[c] += 1.0;
            } else {
                x2.data[c] += 1.0;
            }
            forward(&x2, &w2).iter().zip(&base).map(|(a, b)| a - b).collect()
        })
        .collect();
    (0..base.len()).map(|r| columns.iter().map(|col| col[r]).collect()).collect()
}

/// Evaluates an entry such as `2*w[0,1,2]*x[1] - w[3]` at the given tensors.
fn evaluate(entry: &str, x: &T, w: &T) -> f64 {
    let spaced = entry.replace(" - ", " + -");
    spaced
        .split(" + ")
        .map(|term| {
            let (sign, term) = term.strip_prefix('-').map_or((1.0, term), |t| (-1.0, t));
            sign * term
                .split('*')
                .map(|f| match f.split_once('[') {
                    None => f.parse::<f64>().expect("an integer factor"),
                    Some((name, idx)) => {
                        let idx: Vec<usize> =
                            idx.trim_end_matches(']').split(',').map(|i| i.parse().expect("an index")).collect();
                        let t = if name == "x" { x } else { w };
                        // Specs state 1-D tensors as x[n], w[k]; the reference holds them as
                        // [1, n] and [1, 1, k].
                        let full: Vec<usize> = std::iter::repeat_n(0, t.shape.len() - idx.len()).chain(idx).collect();
                        t.at(&full)
                    }
                })
                .product::<f64>()
        })
        .sum()
}

/// `symconv table` for a shipped spec (`standard`) or another file (`tests/…/x.conv`).
fn table(spec: &str, wrt: &str, sizes: &str) -> Value {
    let path = if spec.ends_with(".conv") { spec.to_string() } else { format!("specs/{spec}.conv") };
    let out = Command::new(env!("CARGO_BIN_EXE_symconv"))
        .args(["table", &path, "--wrt", wrt, "--format", "json", "--let", sizes])
        .output()
        .expect("symconv runs");
    assert!(out.status.success(), "{spec}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Distinct nonzero integers for every element.
fn tensor(shape: Vec<usize>, start: f64) -> T {
    let len = shape.iter().product();
    T { data: (0..len).map(|i| start + 3.0 * i as f64).collect(), shape }
}

/// Checks both tables of a spec against the reference; returns ∂s/∂x's entries.
fn check(spec: &str, sizes: &str, op: Op, x_shape: Vec<usize>, w_shape: Vec<usize>) -> Value {
    check_with(spec, sizes, &|x, w| forward(op, x, w), x_shape, w_shape)
}

/// Checks both tables of a spec against the Jacobians of the plain-loop `forward` at
/// distinct integer tensors of the given shapes; returns ∂s/∂x's entries.
fn check_with(
    spec: &str,
    sizes: &str,
    forward: &dyn Fn(&T, &T) -> Vec<f64>,
    x_shape: Vec<usize>,
    w_shape: Vec<usize>,
) -> Value {
    let (x, w) = (tensor(x_shape, 1.0), tensor(w_shape, 101.0));
    let mut first = Value::Null;
    for (wrt, wrt_w) in [("x", false), ("w", true)] {
        let reference = jacobian_of(forward, &x, &w, wrt_w);
        let ours = table(spec, wrt, sizes);
        let entries = ours["entries"].as_array().expect("entries");
        assert_eq!(
            entries.len(),
            reference.len(),
            "{spec}: ∂s/∂{wrt} has {} rows, PyTorch {}",
            entries.len(),
            reference.len()
        );
        for (r, (row, expected)) in entries.iter().zip(&reference).enumerate() {
            let row = row.as_array().expect("a row");
            assert_eq!(row.len(), expected.len(), "{spec}: ∂s/∂{wrt} row {r} has the wrong number of columns");
            for (c, (entry, e)) in row.iter().zip(expected).enumerate() {
                let got = evaluate(entry.as_str().expect("a string"), &x, &w);
                assert_eq!(got, *e, "{spec}: ∂s/∂{wrt} at row {r}, column {c}: symconv {entry} = {got}, PyTorch {e}");
            }
        }
        if first.is_null() {
            first = ours["entries"].clone();
        }
        check_gradient(spec, sizes, &x, &w, wrt, &reference);
    }
    first
}

/// The spec at `path` resolved at `sizes` (`n=10,k=3`) and derived.
fn loaded(path: &str, spec: &str, sizes: &str) -> (symconv::model::Model, symconv::derive::Derivation) {
    let src = std::fs::read_to_string(path).expect("a spec");
    let overrides: Vec<(String, i64)> = sizes
        .split(',')
        .map(|p| p.split_once('=').map(|(n, v)| (n.to_string(), v.parse().expect("a size"))).expect("n=v"))
        .collect();
    let model = symconv::model::resolve(&symconv::syntax::parse(&src).unwrap(), &src, spec, &overrides).unwrap();
    let derivation = symconv::derive::derive(&model, &symconv::limits::Limits::default()).unwrap();
    (model, derivation)
}

/// symconv's `∂L/∂wrt` at `x`, `w` and a distinct integer `g`, by the gather form and by
/// the named call on candle, against `Jᵀg` from the plain loops' Jacobian `reference`.
fn check_gradient(spec: &str, sizes: &str, x: &T, w: &T, wrt: &str, reference: &[Vec<f64>]) {
    let path = if spec.ends_with(".conv") { spec.to_string() } else { format!("specs/{spec}.conv") };
    let (model, derivation) = loaded(&path, spec, sizes);
    let g: Vec<f64> =
        (0..reference.len()).map(|r| if r % 2 == 0 { 7.0 + r as f64 } else { -3.0 - 2.0 * r as f64 }).collect();
    let expected: Vec<f64> =
        (0..reference[0].len()).map(|c| reference.iter().zip(&g).map(|(row, gi)| row[c] * gi).sum()).collect();
    let mut values = Values::new();
    for (name, t) in [("x", x), ("w", w)] {
        let shape = model.shape_at(name, &model.values).unwrap().iter().map(|&d| d as usize).collect();
        values.insert(name.to_string(), Array { shape, data: t.data.clone() });
    }
    let lengths = derivation.lengths.iter().map(|l| l.eval(&model.values).unwrap() as usize).collect();
    values.insert(model.upstream.clone(), Array { shape: lengths, data: g });
    let (gather, call) = gradient_values(&model, &derivation, wrt, &model.values, &values).unwrap();
    assert_eq!(gather, expected, "{spec}: ∂L/∂{wrt} by the gather form against the plain loops' Jᵀg");
    // The call is named for the run line: the formula's gradient where the run line
    // computes the formula, not where it does not (the seed's conv1d(x, w)).
    let computes = symconv::derive::backward::prove_run(&model, &derivation, &model.runs[0]).is_ok();
    if let Some(call) = call {
        assert_eq!(call == expected, computes, "{spec}: ∂L/∂{wrt} by the named call against the plain loops' Jᵀg");
    }
}

#[test]
fn seed_families_match_pytorch() {
    let flipped = Op { flip: true, ..CONV };
    check("standard", "n=10,k=3", flipped, vec![1, 10], vec![1, 1, 3]);
    // The seed's formula is the same true convolution; its run line is not (see above).
    check("seed", "n=10,k=3", flipped, vec![1, 10], vec![1, 1, 3]);
    check("left_padded", "n=10,k=3", Op { pad: (2, 0), ..flipped }, vec![1, 10], vec![1, 1, 3]);
    check("full", "n=10,k=3", Op { pad: (2, 2), ..flipped }, vec![1, 10], vec![1, 1, 3]);
    check("right_padded", "n=10,k=3", Op { pad: (0, 2), ..CONV }, vec![1, 10], vec![1, 1, 3]);
}

#[test]
fn padding_stride_and_dilation_match_pytorch() {
    check("same_odd", "n=10,k=3", Op { pad: (1, 1), ..CONV }, vec![1, 10], vec![1, 1, 3]);
    check("same_even", "n=10,k=4", Op { pad: (1, 2), ..CONV }, vec![1, 10], vec![1, 1, 4]);
    check("strided", "n=10,k=3,S=2", Op { stride: 2, ..CONV }, vec![1, 10], vec![1, 1, 3]);
    check("strided", "n=11,k=4,S=3", Op { stride: 3, ..CONV }, vec![1, 11], vec![1, 1, 4]);
    check("dilated", "n=10,k=3,D=2", Op { dilation: 2, ..CONV }, vec![1, 10], vec![1, 1, 3]);
    check("causal_dilated", "n=10,k=3,D=2", Op { dilation: 2, pad: (4, 0), ..CONV }, vec![1, 10], vec![1, 1, 3]);
    let asymmetric = Op { stride: 2, pad: (2, 1), ..CONV };
    check("strided_asymmetric", "n=10,k=3,S=2,a=2,b=1", asymmetric, vec![1, 10], vec![1, 1, 3]);
}

#[test]
fn channels_and_groups_match_pytorch() {
    check("multichannel", "n=8,k=3,C=2,O=3", CONV, vec![2, 8], vec![3, 2, 3]);
    check("depthwise", "n=8,k=3,C=3", Op { groups: 3, ..CONV }, vec![3, 8], vec![3, 1, 3]);
    check("grouped", "n=8,k=3", Op { groups: 2, ..CONV }, vec![4, 8], vec![4, 2, 3]);
}

#[test]
fn transposed_convolutions_match_pytorch() {
    let strided = Op { transposed: true, stride: 2, pad: (1, 1), output_padding: 1, ..CONV };
    check("transposed_strided", "n=5,k=3", strided, vec![1, 5], vec![1, 1, 3]);
    check("transposed", "n=5,k=3", Op { transposed: true, ..CONV }, vec![1, 5], vec![1, 1, 3]);
    let gaps = Op { transposed: true, stride: 3, ..CONV };
    let jx = check("tests/fixtures/transposed_gaps.conv", "n=4,k=2", gaps, vec![1, 4], vec![1, 1, 2]);
    // Rows 2, 5 and 8 are reached by no term: all zero, and still there.
    let rows = jx.as_array().unwrap();
    assert_eq!(rows.len(), 11);
    for r in [2, 5, 8] {
        assert!(rows[r].as_array().unwrap().iter().all(|e| e == "0"), "row {r}: {:?}", rows[r]);
    }
}

#[test]
fn a_pad_of_two_axes_is_f_pad_of_both() {
    // `pad x (1, 1), (0, 2)` pads rows by 1 and 1, columns by 0 and 2:
    // F.pad(x, (0, 2, 1, 1)), whose pairs run from the last axis back.
    let (x, w) = (tensor(vec![4, 5], 1.0), tensor(vec![3, 2], 101.0));
    let forward = |x: &T, w: &T| conv2d_padded(x, w, (1, 1), (0, 2));
    for (wrt, wrt_w) in [("x", false), ("w", true)] {
        let reference = jacobian_of(&forward, &x, &w, wrt_w);
        let ours = table("tests/fixtures/pad_two_axes.conv", wrt, "H=4,V=5,P=3,Q=2");
        let entries = ours["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), reference.len(), "∂s/∂{wrt}: rows");
        assert_eq!(entries.len(), 4 * 6, "the output is (4 + 2 - 3 + 1) × (5 + 2 - 2 + 1)");
        for (r, (row, expected)) in entries.iter().zip(&reference).enumerate() {
            let got: Vec<f64> = row
                .as_array()
                .expect("a row")
                .iter()
                .map(|e| evaluate(e.as_str().expect("a string"), &x, &w))
                .collect();
            assert_eq!(&got, expected, "∂s/∂{wrt} row {r}");
        }
    }
}

/// A shipped N-D spec against the plain-loop [`forward_nd`], at the sizes given.
fn check_nd(spec: &str, sizes: &str, op: Nd, x_shape: Vec<usize>, w_shape: Vec<usize>) {
    check_with(spec, sizes, &|x, w| forward_nd(&op, x, w), x_shape, w_shape);
}

#[test]
fn conv2d_specs_match_pytorch() {
    // One channel: x [1, H, V], w [1, 1, P, Q]; each at its `let` sizes and at others.
    check_nd("conv2d_valid", "H=5,V=6,P=2,Q=3", nd(2), vec![1, 5, 6], vec![1, 1, 2, 3]);
    check_nd("conv2d_valid", "H=4,V=3,P=3,Q=1", nd(2), vec![1, 4, 3], vec![1, 1, 3, 1]);
    let same = |p: usize, q: usize| Nd { pad: vec![((p - 1) / 2, p / 2), ((q - 1) / 2, q / 2)], ..nd(2) };
    check_nd("conv2d_same", "H=5,V=6,P=3,Q=3", same(3, 3), vec![1, 5, 6], vec![1, 1, 3, 3]);
    // An even kernel: PyTorch's 'same' puts the odd zero after.
    check_nd("conv2d_same", "H=4,V=5,P=2,Q=4", same(2, 4), vec![1, 4, 5], vec![1, 1, 2, 4]);
    let strided = Nd { stride: vec![2, 1], ..nd(2) };
    check_nd("conv2d_strided", "H=7,V=5,P=3,Q=2", strided.clone(), vec![1, 7, 5], vec![1, 1, 3, 2]);
    check_nd("conv2d_strided", "H=6,V=4,P=2,Q=3", strided, vec![1, 6, 4], vec![1, 1, 2, 3]);
    let dilated = Nd { dilation: vec![1, 2], ..nd(2) };
    check_nd("conv2d_dilated", "H=5,V=7,P=2,Q=3", dilated.clone(), vec![1, 5, 7], vec![1, 1, 2, 3]);
    check_nd("conv2d_dilated", "H=3,V=6,P=3,Q=2", dilated, vec![1, 3, 6], vec![1, 1, 3, 2]);
    // F.conv2d(F.pad(x, (0, 1, 1, 2)), w, stride=2).
    let asymmetric = Nd { stride: vec![2, 2], pad: vec![(1, 2), (0, 1)], ..nd(2) };
    check_nd("conv2d_asymmetric", "H=6,V=5,P=3,Q=2", asymmetric.clone(), vec![1, 6, 5], vec![1, 1, 3, 2]);
    check_nd("conv2d_asymmetric", "H=5,V=6,P=2,Q=3", asymmetric, vec![1, 5, 6], vec![1, 1, 2, 3]);
}

#[test]
fn conv2d_channels_and_groups_match_pytorch() {
    check_nd("conv2d_multichannel", "C=2,O=3,H=4,V=5,P=2,Q=3", nd(2), vec![2, 4, 5], vec![3, 2, 2, 3]);
    let depthwise = Nd { stride: vec![2, 2], groups: 2, ..nd(2) };
    check_nd("conv2d_depthwise", "C=2,H=7,V=5,P=3,Q=2", depthwise, vec![2, 7, 5], vec![2, 1, 3, 2]);
    let depthwise = Nd { stride: vec![2, 2], groups: 3, ..nd(2) };
    check_nd("conv2d_depthwise", "C=3,H=5,V=6,P=2,Q=2", depthwise, vec![3, 5, 6], vec![3, 1, 2, 2]);
    let grouped = Nd { groups: 2, ..nd(2) };
    check_nd("conv2d_grouped", "H=4,V=4,P=2,Q=2", grouped.clone(), vec![4, 4, 4], vec![6, 2, 2, 2]);
    check_nd("conv2d_grouped", "H=3,V=5,P=1,Q=3", grouped, vec![4, 3, 5], vec![6, 2, 1, 3]);
}

#[test]
fn conv_transpose2d_matches_pytorch() {
    // F.conv_transpose2d(x, w, stride=(2, 1), padding=(1, 0), output_padding=(1, 0)).
    let op =
        Nd { transposed: true, stride: vec![2, 1], pad: vec![(1, 1), (0, 0)], output_padding: vec![1, 0], ..nd(2) };
    check_nd("conv_transpose2d", "H=3,V=4,P=3,Q=2", op.clone(), vec![1, 3, 4], vec![1, 1, 3, 2]);
    check_nd("conv_transpose2d", "H=2,V=3,P=2,Q=3", op, vec![1, 2, 3], vec![1, 1, 2, 3]);
}

#[test]
fn conv3d_specs_match_pytorch() {
    check_nd("conv3d_valid", "Z=4,H=5,V=3,R=2,P=3,Q=2", nd(3), vec![1, 4, 5, 3], vec![1, 1, 2, 3, 2]);
    check_nd("conv3d_valid", "Z=3,H=3,V=4,R=3,P=1,Q=2", nd(3), vec![1, 3, 3, 4], vec![1, 1, 3, 1, 2]);
    // F.conv3d(x, w, stride=(1, 2, 2), padding=(1, 0, 1)).
    let op = Nd { stride: vec![1, 2, 2], pad: vec![(1, 1), (0, 0), (1, 1)], ..nd(3) };
    check_nd("conv3d_strided_padded", "Z=3,H=5,V=4,R=2,P=3,Q=2", op.clone(), vec![1, 3, 5, 4], vec![1, 1, 2, 3, 2]);
    check_nd("conv3d_strided_padded", "Z=2,H=4,V=5,R=3,P=2,Q=3", op, vec![1, 2, 4, 5], vec![1, 1, 3, 2, 3]);
}

#[test]
fn the_n_d_reference_with_one_axis_is_the_1_d_one() {
    // The plain loops of N-D and of 1-D are written apart; on one axis they must agree,
    // for every parameter the 1-D reference has.
    let ops = [
        Op { stride: 2, pad: (2, 1), dilation: 2, ..CONV },
        Op { groups: 2, pad: (0, 3), ..CONV },
        Op { transposed: true, stride: 3, pad: (1, 1), output_padding: 2, dilation: 2, ..CONV },
        Op { transposed: true, groups: 2, ..CONV },
    ];
    for op in ops {
        let w_shape = if op.transposed { vec![4, 3, 3] } else { vec![6, 4 / op.groups, 3] };
        let (x, w) = (tensor(vec![4, 9], 1.0), tensor(w_shape, 101.0));
        let one = Nd {
            transposed: op.transposed,
            stride: vec![op.stride],
            pad: vec![op.pad],
            output_padding: vec![op.output_padding],
            dilation: vec![op.dilation],
            groups: op.groups,
        };
        assert_eq!(forward_nd(&one, &x, &w), forward(op, &x, &w));
    }
}

#[test]
fn the_evaluator_reads_entries() {
    let (x, w) = (tensor(vec![1, 3], 1.0), tensor(vec![1, 1, 2], 101.0));
    assert_eq!(evaluate("0", &x, &w), 0.0);
    assert_eq!(evaluate("2*w[1]*x[2] - x[0]", &x, &w), 2.0 * 104.0 * 7.0 - 1.0);
}

/// PyTorch's `avg_pool1d/2d(x, kernel_size, stride, padding)` (count_include_pad=True,
/// ceil_mode=False) on x `[C, *spatial]`: each output the sum of its window of the input
/// read as 0 outside its shape, returned with the divisor every sum is divided by, ∏k.
fn avg_pool_nd(x: &T, kernel: &[usize], stride: &[usize], padding: &[usize]) -> (Vec<f64>, f64) {
    let (channels, spatial) = (x.shape[0], &x.shape[1..]);
    let out: Vec<usize> =
        (0..spatial.len()).map(|a| (spatial[a] + 2 * padding[a] - kernel[a]) / stride[a] + 1).collect();
    let mut y = Vec::new();
    for c in 0..channels {
        for at in positions(&out) {
            let mut sum = 0.0;
            for m in positions(kernel) {
                let pos: Option<Vec<usize>> = (0..out.len())
                    .map(|a| (at[a] * stride[a] + m[a]).checked_sub(padding[a]).filter(|&p| p < spatial[a]))
                    .collect();
                if let Some(pos) = pos {
                    sum += x.at(&[vec![c], pos].concat());
                }
            }
            y.push(sum);
        }
    }
    (y, kernel.iter().product::<usize>() as f64)
}

/// PyTorch's `F.interpolate(x, scale_factor, mode='nearest')` for integer factors on x
/// `[C, *spatial]`: output `[c, i, j]` is `x[c, ⌊i / s₀⌋, ⌊j / s₁⌋]`.
fn upsample_nearest_nd(x: &T, scale: &[usize]) -> Vec<f64> {
    let (channels, spatial) = (x.shape[0], &x.shape[1..]);
    let out: Vec<usize> = spatial.iter().zip(scale).map(|(n, s)| n * s).collect();
    let mut y = Vec::new();
    for c in 0..channels {
        for at in positions(&out) {
            let read: Vec<usize> = at.iter().zip(scale).map(|(i, s)| i / s).collect();
            y.push(x.at(&[vec![c], read].concat()));
        }
    }
    y
}

/// ∂y/∂t of a `forward` affine in each tensor (one column per element of `tensors[wrt]`),
/// by perturbing it by 1: exact.
fn jacobian_by(forward: &dyn Fn(&[T]) -> Vec<f64>, tensors: &[T], wrt: usize) -> Vec<Vec<f64>> {
    let base = forward(tensors);
    let columns: Vec<Vec<f64>> = (0..tensors[wrt].data.len())
        .map(|c| {
            let mut moved = tensors.to_vec();
            moved[wrt].data[c] += 1.0;
            forward(&moved).iter().zip(&base).map(|(a, b)| a - b).collect()
        })
        .collect();
    (0..base.len()).map(|r| columns.iter().map(|col| col[r]).collect()).collect()
}

/// An entry such as `1/6*x[2]`, `2*w[0,1,2]*x[1] - w[3]` or `1/3` at the named tensors,
/// as a fraction (numerator, denominator) of integers.
fn fraction(entry: &str, tensors: &[(&str, &T)]) -> (f64, f64) {
    entry.replace(" - ", " + -").split(" + ").fold((0.0, 1.0), |(num, den), term| {
        let (sign, term) = term.strip_prefix('-').map_or((1.0, term), |t| (-1.0, t));
        let (n, d) = term.split('*').fold((sign, 1.0), |(n, d), f| {
            if let Some((p, q)) = f.split_once('/') {
                return (n * p.parse::<f64>().expect("a numerator"), d * q.parse::<f64>().expect("a denominator"));
            }
            match f.split_once('[') {
                None => (n * f.parse::<f64>().expect("an integer factor"), d),
                Some((name, idx)) => {
                    let idx: Vec<usize> =
                        idx.trim_end_matches(']').split(',').map(|i| i.parse().expect("an index")).collect();
                    let t = tensors.iter().find(|(t, _)| *t == name).unwrap_or_else(|| panic!("a tensor {name}")).1;
                    (n * t.at(&idx), d)
                }
            }
        });
        (num * d + n * den, den * d)
    })
}

/// A shipped layer spec at `sizes` against the plain loops `forward` of `tensors` (named,
/// with their shapes as the spec declares them, each filled with distinct integers),
/// whose outputs are the spec's times `divisor`: the outputs (the spec's formula expanded
/// exactly) and the table `∂s/∂t` of every tensor, entry by entry as exact fractions.
fn check_layer(
    spec: &str,
    sizes: &str,
    forward: &dyn Fn(&[T]) -> Vec<f64>,
    divisor: f64,
    tensors: &[(&str, Vec<usize>)],
) {
    let values: Vec<T> =
        tensors.iter().enumerate().map(|(i, (_, s))| tensor(s.clone(), 1.0 + 50.0 * i as f64)).collect();
    let named: Vec<(&str, &T)> = tensors.iter().map(|(n, _)| *n).zip(&values).collect();
    let reference = forward(&values);
    // The outputs: the formula expanded at every output position, times its divisor.
    let path = format!("specs/{spec}.conv");
    let (model, derivation) = loaded(&path, spec, sizes);
    let ranges: Vec<(i64, i64)> = derivation.lengths.iter().map(|l| (0, l.eval(&model.values).unwrap() - 1)).collect();
    let rows = symconv::check::tuples(&ranges);
    assert_eq!(rows.len(), reference.len(), "{spec} at {sizes}: the output's size");
    let expanded = symconv::check::expand(&model, &model.values, &rows).unwrap();
    for (r, (value, want)) in expanded.iter().zip(&reference).enumerate() {
        let at = |e: &symconv::algebra::formula::ElemRef| {
            let t = named.iter().find(|(n, _)| *n == e.tensor).expect("a tensor").1;
            let idx: Vec<usize> = e.index.iter().map(|&i| i as usize).collect();
            symconv::algebra::poly::Poly::<u8>::constant(t.at(&idx) as i64)
        };
        let got = value.map_atoms(&mut |e| at(e)).as_constant().expect("a number") as f64;
        // got / formula's divisor = want / divisor
        assert_eq!(got * divisor, want * model.formula.divisor as f64, "{spec} at {sizes}: output {:?}", rows[r]);
    }
    // The tables.
    for (wrt, (name, _)) in tensors.iter().enumerate() {
        let jacobian = jacobian_by(forward, &values, wrt);
        let ours = table(spec, name, sizes);
        let entries = ours["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), jacobian.len(), "{spec} at {sizes}: ∂s/∂{name}'s rows");
        for (r, (row, expected)) in entries.iter().zip(&jacobian).enumerate() {
            let row = row.as_array().expect("a row");
            assert_eq!(row.len(), expected.len(), "{spec} at {sizes}: ∂s/∂{name} row {r}'s columns");
            for (c, (entry, e)) in row.iter().zip(expected).enumerate() {
                let (num, den) = fraction(entry.as_str().expect("a string"), &named);
                // num / den = e / divisor
                assert_eq!(
                    num * divisor,
                    e * den,
                    "{spec} at {sizes}: ∂s/∂{name} [{r}, {c}] = {entry}, PyTorch {e}/{divisor}"
                );
            }
        }
    }
}

#[test]
fn average_pooling_matches_pytorch() {
    // F.avg_pool1d(x, 3, stride=2, padding=1): the padding's zeros counted, the last
    // window dropped where it would start in the padding (n even).
    for (c, n) in [(2, 9), (2, 8), (1, 4)] {
        let pool = |t: &[T]| avg_pool_nd(&t[0], &[3], &[2], &[1]).0;
        check_layer("avg_pool1d", &format!("C={c},n={n}"), &pool, 3.0, &[("x", vec![c, n])]);
    }
    // F.avg_pool2d(x, (3, 2), stride=2, padding=(1, 0)).
    for (h, v) in [(5, 6), (6, 5), (3, 2)] {
        let pool = |t: &[T]| avg_pool_nd(&t[0], &[3, 2], &[2, 2], &[1, 0]).0;
        check_layer("avg_pool2d", &format!("C=2,H={h},V={v}"), &pool, 6.0, &[("x", vec![2, h, v])]);
    }
}

#[test]
fn nearest_upsampling_matches_pytorch() {
    for (c, n) in [(2, 5), (1, 3)] {
        let up = |t: &[T]| upsample_nearest_nd(&t[0], &[2]);
        check_layer("upsample_nearest1d", &format!("C={c},n={n}"), &up, 1.0, &[("x", vec![c, n])]);
    }
    for (h, v) in [(4, 3), (2, 5)] {
        let up = |t: &[T]| upsample_nearest_nd(&t[0], &[2, 3]);
        check_layer("upsample_nearest2d", &format!("C=2,H={h},V={v}"), &up, 1.0, &[("x", vec![2, h, v])]);
    }
}

#[test]
fn a_bias_matches_pytorch() {
    // F.conv1d(x, w, bias=b): the convolution's plain loops, then b[o] added to channel o.
    for (c, o, n, k) in [(2, 3, 7, 3), (1, 2, 5, 2)] {
        let biased = |t: &[T]| {
            let y = forward(CONV, &t[0], &t[1]);
            let len = y.len() / o;
            y.iter().enumerate().map(|(at, v)| v + t[2].data[at / len]).collect()
        };
        let tensors = [("x", vec![c, n]), ("w", vec![o, c, k]), ("b", vec![o])];
        check_layer("conv1d_bias", &format!("C={c},O={o},n={n},k={k}"), &biased, 1.0, &tensors);
    }
}

#[test]
fn the_layers_plain_loops_are_pytorchs() {
    // Fixed numbers PyTorch gives (and arithmetic by hand): avg_pool1d([1, 2, 3, 4, 5], 3,
    // stride=2, padding=1) = [(0+1+2)/3, (2+3+4)/3, (4+5+0)/3]; interpolate([1, 2], 2) =
    // [1, 1, 2, 2].
    let x = T { shape: vec![1, 5], data: vec![1.0, 2.0, 3.0, 4.0, 5.0] };
    assert_eq!(avg_pool_nd(&x, &[3], &[2], &[1]), (vec![3.0, 9.0, 9.0], 3.0));
    let x = T { shape: vec![1, 2], data: vec![1.0, 2.0] };
    assert_eq!(upsample_nearest_nd(&x, &[2]), vec![1.0, 1.0, 2.0, 2.0]);
    let x = T { shape: vec![1, 2, 2], data: vec![1.0, 2.0, 3.0, 4.0] };
    assert_eq!(avg_pool_nd(&x, &[2, 2], &[2, 2], &[0, 0]), (vec![10.0], 4.0));
    assert_eq!(upsample_nearest_nd(&x, &[1, 2]), vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]);
    assert_eq!(fraction("1/6*x[0,1] - 2*x[1,0]", &[("x", &x)]), (2.0 - 36.0, 6.0));
}
