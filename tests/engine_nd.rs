//! The N-D engine against plain loops written from PyTorch's definitions of conv2d,
//! conv3d (of `F.pad(x, ...)`), conv_transpose2d and conv_transpose3d: each composition
//! on its own, the Jacobians, candle's autograd, and candle 0.9.2's conv2d backward fault.
//! Every value is an integer below 2⁵³, so every comparison is exact.

use candle_core::{Device, Tensor, Var};
use symconv::engine::nd::{
    ConvNd, CROPPED_OUTPUT, DEPTH_SLICES, DILATED_KERNEL, EXPLICIT_PADDING, EXTRA_ZERO_COLUMN, PER_GROUP,
    STRIDED_SELECTION, STUFFED_INPUT, TRANSPOSED_DEPTH_SLICES,
};
use symconv::engine::Array;

/// A convolution with these strides and nothing else: no padding, dilation 1, 1 group.
fn conv(stride: &[usize]) -> ConvNd {
    ConvNd {
        transposed: false,
        stride: stride.to_vec(),
        padding: vec![(0, 0); stride.len()],
        output_padding: vec![0; stride.len()],
        dilation: vec![1; stride.len()],
        groups: 1,
        flip: false,
    }
}

/// The transposed convolution with these strides and nothing else.
fn transposed(stride: &[usize]) -> ConvNd {
    ConvNd { transposed: true, ..conv(stride) }
}

/// Distinct integers `first + step·i`, row-major.
fn values(shape: &[usize], first: f64, step: f64) -> Array {
    let data = (0..shape.iter().product::<usize>()).map(|i| first + step * i as f64).collect();
    Array { shape: shape.to_vec(), data }
}

fn input(shape: &[usize]) -> Array {
    values(shape, 1.0, 3.0)
}

fn weight(shape: &[usize]) -> Array {
    values(shape, 101.0, 7.0)
}

/// Every multi-index below `shape`, row-major.
fn positions(shape: &[usize]) -> Vec<Vec<usize>> {
    shape.iter().fold(vec![vec![]], |acc, &n| {
        acc.into_iter().flat_map(|p| (0..n).map(move |i| [p.clone(), vec![i]].concat())).collect()
    })
}

/// The row-major offset of `index` in `shape`.
fn offset(index: &[usize], shape: &[usize]) -> usize {
    index.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// PyTorch's output lengths: conv `⌊(n + a + b − d(k−1) − 1)/s⌋ + 1` (0 where negative),
/// transposed `(n−1)s − 2p + d(k−1) + output_padding + 1`.
fn reference_lengths(c: &ConvNd, x: &Array, w: &Array) -> Vec<usize> {
    (0..c.stride.len())
        .map(|a| {
            let (n, k) = (x.shape[a + 2] as i64, w.shape[a + 2] as i64);
            let (s, d, (p, q)) = (c.stride[a] as i64, c.dilation[a] as i64, c.padding[a]);
            let span = d * (k - 1) + 1;
            let len = if c.transposed {
                (n - 1) * s - 2 * p as i64 + span + c.output_padding[a] as i64
            } else if n + p as i64 + q as i64 >= span {
                (n + p as i64 + q as i64 - span) / s + 1
            } else {
                0
            };
            len.max(0) as usize
        })
        .collect()
}

/// The kernel's tap `m`, reversed along every axis where the call flips the weight.
fn tap(c: &ConvNd, m: &[usize], kernel: &[usize]) -> Vec<usize> {
    m.iter().zip(kernel).map(|(&m, &k)| if c.flip { k - 1 - m } else { m }).collect()
}

/// The call by plain loops over PyTorch's definitions.
fn reference(c: &ConvNd, x: &Array, w: &Array) -> Array {
    let lengths = reference_lengths(c, x, w);
    let (channels, kernel, spatial) = (x.shape[1], &w.shape[2..], &x.shape[2..]);
    let outs = if c.transposed { w.shape[1] * c.groups } else { w.shape[0] };
    let (in_group, out_group) = (channels / c.groups, outs / c.groups);
    let shape = [vec![1, outs], lengths.clone()].concat();
    let mut y = vec![0.0; shape.iter().product()];
    // Where position `base` meets tap `m`: base·s + m·d − p along each axis, if in 0..limit.
    let meet = |base: &[usize], m: &[usize], limit: &[usize]| -> Option<Vec<usize>> {
        (0..base.len())
            .map(|a| {
                let p = (base[a] * c.stride[a] + m[a] * c.dilation[a]) as i64 - c.padding[a].0 as i64;
                (0..limit[a] as i64).contains(&p).then_some(p as usize)
            })
            .collect()
    };
    for ch in 0..channels {
        let group = ch / in_group;
        for o in group * out_group..(group + 1) * out_group {
            for m in positions(kernel) {
                let t = tap(c, &m, kernel);
                let wv = if c.transposed {
                    w.data[offset(&[vec![ch, o - group * out_group], t].concat(), &w.shape)]
                } else {
                    w.data[offset(&[vec![o, ch - group * in_group], t].concat(), &w.shape)]
                };
                // conv: y[o, t] += x[ch, t·s + m·d − a]; transposed: y[o, i·s + m·d − p] += x[ch, i].
                let (from, to) = if c.transposed { (spatial, &lengths[..]) } else { (&lengths[..], spatial) };
                for base in positions(from) {
                    let Some(other) = meet(&base, &m, to) else { continue };
                    let (xi, yi) = if c.transposed { (base, other) } else { (other, base) };
                    let xv = x.data[offset(&[vec![0, ch], xi].concat(), &x.shape)];
                    y[offset(&[vec![0, o], yi].concat(), &shape)] += xv * wv;
                }
            }
        }
    }
    Array { shape, data: y }
}

/// `∂y/∂x` (or `∂y/∂w` with `of_weight`) by perturbing each entry of the operand by 1 in
/// the plain loops (exact: the call is linear in each operand).
fn reference_jacobian(c: &ConvNd, x: &Array, w: &Array, of_weight: bool) -> Array {
    let base = reference(c, x, w);
    let columns = if of_weight { w.data.len() } else { x.data.len() };
    let rows = base.data.len();
    let mut jac = vec![0.0; rows * columns];
    for e in 0..columns {
        let (mut x, mut w) = (x.clone(), w.clone());
        if of_weight { &mut w } else { &mut x }.data[e] += 1.0;
        let moved = reference(c, &x, &w);
        for r in 0..rows {
            jac[r * columns + e] = moved.data[r] - base.data[r];
        }
    }
    Array { shape: vec![rows, columns], data: jac }
}

/// `vᵀ·J` for a Jacobian `[rows, columns]`.
fn pull_back(v: &Array, jac: &Array) -> Vec<f64> {
    let columns = jac.shape[1];
    (0..columns).map(|e| v.data.iter().enumerate().map(|(r, vr)| vr * jac.data[r * columns + e]).sum()).collect()
}

/// The call's forward equals the plain loops exactly, its output is not all zeros, and it
/// used exactly the compositions `expected` (in any order).
fn check(c: &ConvNd, x: &[usize], w: &[usize], expected: &[&str]) {
    let (x, w) = (input(x), weight(w));
    let (y, mut used) = c.forward(&x, &w).unwrap();
    let want = reference(c, &x, &w);
    assert_eq!(y, want, "{c:?}");
    assert_eq!(c.output_shape(&x.shape, &w.shape), want.shape);
    assert!(y.data.iter().any(|&v| v != 0.0), "a test that shows something: {c:?}");
    let mut expected = expected.to_vec();
    used.sort();
    expected.sort();
    assert_eq!(used, expected, "{c:?}");
}

#[test]
fn uniform_conv2d_is_one_candle_call() {
    let c = ConvNd { padding: vec![(1, 1); 2], dilation: vec![2, 2], ..conv(&[2, 2]) };
    check(&c, &[1, 2, 7, 8], &[3, 2, 3, 2], &[]);
    check(&conv(&[1, 1]), &[1, 2, 4, 5], &[3, 2, 2, 3], &[]);
}

#[test]
fn asymmetric_padding_is_explicit_zero_padding() {
    let c = ConvNd { padding: vec![(2, 0), (1, 3)], ..conv(&[1, 1]) };
    check(&c, &[1, 2, 4, 5], &[2, 2, 3, 2], &[EXPLICIT_PADDING]);
    // Symmetric, but not the same on both axes.
    let c = ConvNd { padding: vec![(1, 1), (2, 2)], ..conv(&[1, 1]) };
    check(&c, &[1, 1, 3, 4], &[2, 1, 2, 3], &[EXPLICIT_PADDING]);
}

#[test]
fn per_axis_strides_are_a_strided_selection() {
    check(&conv(&[2, 1]), &[1, 2, 7, 6], &[3, 2, 3, 2], &[STRIDED_SELECTION]);
    // Common factor 2: the call runs at stride 2 and every 2nd (3rd) row (column) is kept.
    check(&conv(&[4, 6]), &[1, 1, 13, 17], &[2, 1, 3, 2], &[STRIDED_SELECTION]);
    // Lengths that do not divide evenly.
    check(&conv(&[3, 2]), &[1, 2, 10, 9], &[1, 2, 2, 4], &[STRIDED_SELECTION]);
}

#[test]
fn per_axis_dilations_are_a_kernel_with_zeros() {
    let c = ConvNd { dilation: vec![1, 2], ..conv(&[1, 1]) };
    check(&c, &[1, 2, 5, 8], &[2, 2, 3, 3], &[DILATED_KERNEL]);
    let c = ConvNd { dilation: vec![3, 2], ..conv(&[1, 1]) };
    check(&c, &[1, 1, 9, 7], &[1, 1, 2, 3], &[DILATED_KERNEL]);
}

#[test]
fn groups_and_depthwise_are_candle_calls() {
    let c = ConvNd { groups: 2, ..conv(&[1, 1]) };
    check(&c, &[1, 4, 5, 6], &[6, 2, 3, 2], &[]);
    let depthwise = ConvNd { groups: 3, padding: vec![(1, 1); 2], ..conv(&[2, 2]) };
    check(&depthwise, &[1, 3, 5, 6], &[3, 1, 3, 3], &[]);
    // Depthwise with a multiplier of 2, strides per axis.
    let multiplied = ConvNd { groups: 3, ..conv(&[1, 2]) };
    check(&multiplied, &[1, 3, 5, 6], &[6, 1, 2, 3], &[STRIDED_SELECTION]);
}

/// candle-core 0.9's own conv2d is wrong on an input of `C = H = W` (it reads it as NHWC:
/// huggingface/candle#3404). When this test fails, candle is fixed: drop
/// `EXTRA_ZERO_COLUMN` and this test.
#[test]
fn candle_conv2d_is_wrong_when_channels_height_and_width_are_equal() {
    let (x, w) = (input(&[1, 4, 4, 4]), weight(&[2, 4, 3, 3]));
    let plain = |x: &Array, w: &Array, padding: usize| {
        let t = |a: &Array| Tensor::from_vec(a.data.clone(), a.shape.as_slice(), &Device::Cpu).unwrap();
        t(x).conv2d(&t(w), padding, 1, 1, 1).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
    };
    assert_ne!(plain(&x, &w, 0), reference(&conv(&[1, 1]), &x, &w).data, "candle is fixed: see this test's doc");
    // One more column (H ≠ W), and candle is right.
    let (x5, w5) = (input(&[1, 4, 4, 5]), weight(&[2, 4, 3, 3]));
    assert_eq!(plain(&x5, &w5, 0), reference(&conv(&[1, 1]), &x5, &w5).data);
    // Equal only after candle's own padding (7 channels of 5 × 5, padded by 1): right.
    let (x7, w7) = (input(&[1, 7, 5, 5]), weight(&[2, 7, 3, 3]));
    let padded = ConvNd { padding: vec![(1, 1); 2], ..conv(&[1, 1]) };
    assert_eq!(plain(&x7, &w7, 1), reference(&padded, &x7, &w7).data);
    // In groups, candle is right: a group's channels equal to its rows and columns (2
    // groups of 3 channels over 3 × 3), or all the channels (4 over 4 × 4).
    let t = |a: &Array| Tensor::from_vec(a.data.clone(), a.shape.as_slice(), &Device::Cpu).unwrap();
    let grouped = |x: &[usize], w: &[usize]| {
        let (x, w) = (input(x), weight(w));
        let y = t(&x).conv2d(&t(&w), 0, 1, 1, 2).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        y == reference(&ConvNd { groups: 2, ..conv(&[1, 1]) }, &x, &w).data
    };
    assert!(grouped(&[1, 6, 3, 3], &[4, 3, 2, 2]));
    assert!(grouped(&[1, 4, 4, 4], &[4, 2, 2, 2]));
}

#[test]
fn equal_channels_height_and_width_get_an_extra_zero_column() {
    check(&conv(&[1, 1]), &[1, 4, 4, 4], &[2, 4, 3, 3], &[EXTRA_ZERO_COLUMN]);
    // With candle's padding and a stride: the extra column is cropped from the output.
    let c = ConvNd { padding: vec![(1, 1); 2], ..conv(&[2, 2]) };
    check(&c, &[1, 5, 5, 5], &[3, 5, 3, 3], &[EXTRA_ZERO_COLUMN]);
    // Where candle is right, nothing is added: equal only after the padding, or in groups.
    let c = ConvNd { padding: vec![(1, 1); 2], ..conv(&[1, 1]) };
    check(&c, &[1, 7, 5, 5], &[2, 7, 3, 3], &[]);
    check(&ConvNd { groups: 2, ..conv(&[1, 1]) }, &[1, 4, 4, 4], &[4, 2, 2, 2], &[]);
}

#[test]
fn uniform_conv_transpose2d_is_one_candle_call() {
    let c = ConvNd { padding: vec![(1, 1); 2], output_padding: vec![1, 1], ..transposed(&[2, 2]) };
    check(&c, &[1, 2, 3, 4], &[2, 3, 3, 3], &[]);
}

#[test]
fn conv_transpose2d_with_per_axis_stride_and_output_padding() {
    let c = ConvNd { output_padding: vec![1, 0], ..transposed(&[2, 1]) };
    check(&c, &[1, 2, 3, 4], &[2, 3, 3, 2], &[STUFFED_INPUT, CROPPED_OUTPUT]);
    // With padding: the output_padding's positions hold values of the uncropped output.
    let c = ConvNd { padding: vec![(1, 1), (2, 2)], output_padding: vec![1, 0], ..transposed(&[2, 1]) };
    check(&c, &[1, 2, 3, 4], &[2, 3, 3, 3], &[STUFFED_INPUT, CROPPED_OUTPUT]);
    // output_padding past the uncropped output: zeros there.
    let c = ConvNd { output_padding: vec![2, 0], dilation: vec![1, 2], ..transposed(&[3, 1]) };
    check(&c, &[1, 1, 2, 3], &[1, 2, 2, 2], &[STUFFED_INPUT, DILATED_KERNEL, CROPPED_OUTPUT]);
    // The padding crops all of the uncropped height: only the output_padding's zero is left.
    let c = ConvNd { padding: vec![(1, 1), (0, 0)], output_padding: vec![2, 0], ..transposed(&[3, 1]) };
    let (x, w) = (input(&[1, 1, 1, 2]), weight(&[1, 1, 1, 2]));
    let (y, used) = c.forward(&x, &w).unwrap();
    assert_eq!((&y.shape[..], used), (&[1, 1, 1, 3][..], vec![STUFFED_INPUT, CROPPED_OUTPUT]));
    assert_eq!(y, reference(&c, &x, &w));
    assert!(y.data.iter().all(|&v| v == 0.0));
}

#[test]
fn conv_transpose2d_with_groups_is_per_group_calls() {
    let c = ConvNd { groups: 2, padding: vec![(1, 1); 2], ..transposed(&[2, 2]) };
    check(&c, &[1, 4, 3, 3], &[4, 3, 3, 2], &[PER_GROUP]);
    let depthwise = ConvNd { groups: 3, ..transposed(&[1, 2]) };
    check(&depthwise, &[1, 3, 2, 3], &[3, 1, 2, 2], &[PER_GROUP, STUFFED_INPUT]);
}

#[test]
fn conv3d_valid_is_a_sum_of_conv2d_calls() {
    check(&conv(&[1, 1, 1]), &[1, 2, 4, 5, 6], &[3, 2, 2, 3, 3], &[DEPTH_SLICES]);
}

#[test]
fn conv3d_strided_and_padded() {
    let c = ConvNd { padding: vec![(1, 0), (1, 1), (1, 1)], ..conv(&[2, 2, 2]) };
    check(&c, &[1, 2, 5, 5, 6], &[2, 2, 3, 3, 2], &[DEPTH_SLICES, EXPLICIT_PADDING]);
    let c = ConvNd { padding: vec![(1, 2), (0, 1), (2, 0)], dilation: vec![2, 1, 2], groups: 2, ..conv(&[2, 1, 3]) };
    let expected = [DEPTH_SLICES, EXPLICIT_PADDING, DILATED_KERNEL, STRIDED_SELECTION];
    check(&c, &[1, 4, 5, 4, 8], &[2, 2, 2, 2, 3], &expected);
}

#[test]
fn conv_transpose3d_is_a_sum_of_conv_transpose2d_calls() {
    check(&transposed(&[1, 1, 1]), &[1, 2, 2, 3, 3], &[2, 3, 2, 2, 2], &[TRANSPOSED_DEPTH_SLICES]);
    let c = ConvNd { padding: vec![(1, 1); 3], output_padding: vec![1, 1, 1], ..transposed(&[2, 2, 2]) };
    check(&c, &[1, 2, 3, 2, 3], &[2, 2, 3, 3, 2], &[TRANSPOSED_DEPTH_SLICES]);
    let c = ConvNd {
        padding: vec![(1, 1), (0, 0), (1, 1)],
        output_padding: vec![1, 0, 0],
        dilation: vec![1, 1, 2],
        groups: 2,
        ..transposed(&[2, 1, 2])
    };
    let expected = [TRANSPOSED_DEPTH_SLICES, PER_GROUP, STUFFED_INPUT, DILATED_KERNEL, CROPPED_OUTPUT];
    check(&c, &[1, 4, 3, 2, 3], &[4, 1, 2, 2, 3], &expected);
    // Depth stride 3 and dilation 2: the kernel's slice m lands at depths 3i + 2m − 1.
    let c = ConvNd { padding: vec![(1, 1), (0, 0), (0, 0)], dilation: vec![2, 1, 1], ..transposed(&[3, 1, 1]) };
    check(&c, &[1, 1, 3, 2, 2], &[1, 2, 3, 2, 2], &[TRANSPOSED_DEPTH_SLICES]);
}

#[test]
fn flip_reverses_every_kernel_axis() {
    let flipped = |c: ConvNd| ConvNd { flip: true, ..c };
    check(&flipped(conv(&[1, 2])), &[1, 2, 4, 5], &[2, 2, 2, 3], &[STRIDED_SELECTION]);
    check(&flipped(transposed(&[2, 2])), &[1, 1, 2, 3], &[1, 2, 3, 2], &[]);
    check(&flipped(conv(&[1, 1, 1])), &[1, 1, 3, 4, 4], &[2, 1, 2, 3, 2], &[DEPTH_SLICES]);
    check(
        &flipped(transposed(&[1, 2, 1])),
        &[1, 1, 2, 2, 3],
        &[1, 1, 2, 2, 3],
        &[TRANSPOSED_DEPTH_SLICES, STUFFED_INPUT],
    );
    // A flip changes the result: the kernel is not symmetric.
    let (x, w) = (input(&[1, 1, 3, 3]), weight(&[1, 1, 2, 2]));
    assert_ne!(conv(&[1, 1]).forward(&x, &w).unwrap().0, flipped(conv(&[1, 1])).forward(&x, &w).unwrap().0);
}

#[test]
fn an_empty_output_is_empty_not_a_panic() {
    let cases = [
        (conv(&[1, 1]), vec![1, 1, 2, 5], vec![1, 1, 3, 3], vec![1, 1, 0, 3]),
        (ConvNd { dilation: vec![1, 3], ..conv(&[1, 1]) }, vec![1, 1, 4, 6], vec![2, 1, 2, 3], vec![1, 2, 3, 0]),
        (conv(&[1, 1, 1]), vec![1, 1, 1, 4, 4], vec![1, 1, 2, 2, 2], vec![1, 1, 0, 3, 3]),
        (
            ConvNd { padding: vec![(2, 2), (0, 0)], ..transposed(&[1, 1]) },
            vec![1, 1, 1, 3],
            vec![1, 1, 2, 2],
            vec![1, 1, 0, 4],
        ),
    ];
    for (c, xs, ws, out) in cases {
        let (x, w) = (input(&xs), weight(&ws));
        assert_eq!(c.output_shape(&xs, &ws), out);
        assert_eq!(reference(&c, &x, &w).shape, out);
        let (y, used) = c.forward(&x, &w).unwrap();
        assert_eq!((y.shape, y.data, used), (out.clone(), vec![], vec![]));
        assert_eq!(c.jacobian_x(&x, &w).unwrap().shape, [0, x.data.len()]);
        assert_eq!(c.jacobian_w(&x, &w).unwrap().shape, [0, w.data.len()]);
        let v = Array { shape: out, data: vec![] };
        let (gx, gw) = c.autograd(&x, &w, &v).unwrap();
        assert!(gx.data.iter().chain(&gw.data).all(|&d| d == 0.0));
    }
}

#[test]
fn jacobians_match_the_plain_loops_on_strided_non_square_inputs() {
    let cases = [
        (conv(&[2, 2]), vec![1, 2, 5, 6], vec![2, 2, 3, 3]),
        (ConvNd { padding: vec![(1, 0), (0, 2)], groups: 2, ..conv(&[2, 1]) }, vec![1, 2, 5, 6], vec![2, 1, 3, 2]),
        (ConvNd { output_padding: vec![1, 0], ..transposed(&[2, 1]) }, vec![1, 2, 3, 2], vec![2, 2, 2, 3]),
        (
            ConvNd { padding: vec![(0, 1), (1, 0), (1, 1)], ..conv(&[2, 1, 2]) },
            vec![1, 1, 3, 4, 5],
            vec![2, 1, 2, 2, 3],
        ),
    ];
    for (c, xs, ws) in cases {
        let (x, w) = (input(&xs), weight(&ws));
        let jx = c.jacobian_x(&x, &w).unwrap();
        assert_eq!(jx, reference_jacobian(&c, &x, &w, false), "{c:?}");
        let jw = c.jacobian_w(&x, &w).unwrap();
        assert_eq!(jw, reference_jacobian(&c, &x, &w, true), "{c:?}");
        assert!(jx.data.iter().any(|&d| d != 0.0) && jw.data.iter().any(|&d| d != 0.0));
    }
}

#[test]
fn autograd_through_the_compositions_matches_the_plain_loops() {
    let cases = [
        (
            ConvNd { padding: vec![(2, 0), (1, 1)], dilation: vec![1, 2], ..conv(&[2, 1]) },
            vec![1, 2, 6, 7],
            vec![2, 2, 2, 2],
        ),
        (ConvNd { groups: 2, ..transposed(&[1, 2]) }, vec![1, 2, 2, 3], vec![2, 2, 2, 2]),
        (
            ConvNd { padding: vec![(1, 1), (0, 1), (1, 0)], ..conv(&[1, 2, 1]) },
            vec![1, 1, 3, 4, 4],
            vec![1, 1, 2, 2, 2],
        ),
        (
            ConvNd { padding: vec![(1, 1); 3], output_padding: vec![1, 0, 0], ..transposed(&[2, 1, 1]) },
            vec![1, 1, 2, 2, 2],
            vec![1, 2, 3, 2, 2],
        ),
    ];
    for (c, xs, ws) in cases {
        let (x, w) = (input(&xs), weight(&ws));
        let out = reference(&c, &x, &w).shape;
        let v = values(&out, -5.0, 2.0);
        let (gx, gw) = c.autograd(&x, &w, &v).unwrap();
        assert_eq!(gx.shape, x.shape);
        assert_eq!(gx.data, pull_back(&v, &reference_jacobian(&c, &x, &w, false)), "{c:?}");
        assert_eq!(gw.data, pull_back(&v, &reference_jacobian(&c, &x, &w, true)), "{c:?}");
    }
}

/// candle 0.9.2's conv2d backward (backprop.rs, `Op::Conv2D`) works out the
/// output_padding of the input's gradient from the height alone and uses it for the width.
/// With stride 2 on a 5×6 input and a 3×3 kernel, the height needs 0 and the width 1: the
/// gradient comes out 5×5, and adding it to the input's 5×6 zeros fails. It fails rather
/// than giving wrong values: where both axes need the same output_padding (5×7), the
/// gradient is right.
#[test]
fn candle_conv2d_backward_fails_where_the_axes_need_different_output_paddings() {
    let backward = |h: usize, w: usize| {
        let x = Var::from_tensor(&Tensor::from_vec(input(&[1, 1, h, w]).data, (1, 1, h, w), &Device::Cpu).unwrap())
            .unwrap();
        let k = Tensor::from_vec(weight(&[1, 1, 3, 3]).data, (1, 1, 3, 3), &Device::Cpu).unwrap();
        let y = x.as_tensor().conv2d(&k, 0, 2, 1, 1).unwrap();
        let grads = y.sum_all().unwrap().backward()?;
        Ok::<_, candle_core::Error>(grads.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap())
    };
    let error = backward(5, 6).unwrap_err().to_string();
    assert_eq!(error.lines().next(), Some("shape mismatch in add, lhs: [1, 1, 5, 6], rhs: [1, 1, 5, 5]"));

    // 5×7: both axes need output_padding 0, and candle's gradient is the plain loops'.
    let c = conv(&[2, 2]);
    let (x, w) = (input(&[1, 1, 5, 7]), weight(&[1, 1, 3, 3]));
    let ones = values(&reference(&c, &x, &w).shape, 1.0, 0.0);
    assert_eq!(backward(5, 7).unwrap(), pull_back(&ones, &reference_jacobian(&c, &x, &w, false)));

    // Our forward and Jacobians never call candle's backward: exact on 5×6. Autograd of
    // that uniform call (one candle conv2d) meets the fault and reports it.
    let (x, w) = (input(&[1, 1, 5, 6]), weight(&[1, 1, 3, 3]));
    assert_eq!(c.forward(&x, &w).unwrap().0, reference(&c, &x, &w));
    assert_eq!(c.jacobian_x(&x, &w).unwrap(), reference_jacobian(&c, &x, &w, false));
    let v = values(&[1, 1, 2, 2], 1.0, 0.0);
    let error = c.autograd(&x, &w, &v).unwrap_err().to_string();
    assert!(error.contains("shape mismatch in add, lhs: [1, 1, 5, 6], rhs: [1, 1, 5, 5]"), "{error}");
}

#[test]
fn bad_shapes_and_parameters_are_errors() {
    let (x, w) = (input(&[1, 2, 4, 4]), weight(&[2, 2, 2, 2]));
    let refused = [
        conv(&[1]),
        conv(&[1, 1, 1, 1]),
        conv(&[0, 1]),
        ConvNd { dilation: vec![1, 0], ..conv(&[1, 1]) },
        ConvNd { groups: 0, ..conv(&[1, 1]) },
        ConvNd { groups: 2, ..conv(&[1, 1]) },
        ConvNd { padding: vec![(0, 0)], ..conv(&[1, 1]) },
        ConvNd { output_padding: vec![1, 0], ..conv(&[1, 1]) },
        ConvNd { padding: vec![(1, 0), (0, 0)], ..transposed(&[1, 1]) },
        conv(&[1, 1, 1]),
    ];
    for c in refused {
        assert!(c.forward(&x, &w).is_err(), "{c:?}");
        assert!(c.jacobian_x(&x, &w).is_err() && c.jacobian_w(&x, &w).is_err(), "{c:?}");
    }
    let c = conv(&[1, 1]);
    let batch2 = input(&[2, 2, 4, 4]);
    let short = Array { shape: vec![1, 2, 4, 4], data: vec![1.0; 31] };
    let no_kernel = Array { shape: vec![2, 2, 0, 2], data: vec![] };
    for (x, w) in [(&batch2, &w), (&short, &w), (&x, &no_kernel), (&x, &weight(&[2, 3, 2, 2]))] {
        assert!(c.forward(x, w).is_err(), "{:?} {:?}", x.shape, w.shape);
    }
    let wrong_v = values(&[1, 2, 3, 4], 1.0, 1.0);
    assert!(c.autograd(&x, &w, &wrong_v).is_err());
}
