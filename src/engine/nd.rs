//! Exact 2-D and 3-D convolutions on candle with PyTorch's semantics: every call that
//! candle 0.9 cannot make directly (per-axis parameters, conv3d, groups in a transposed
//! call) runs as an exact composition of the calls it can make, and says which.

use std::panic::{catch_unwind, AssertUnwindSafe};

use candle_core::{Device, Tensor, Var};

use super::{array, tensor, Array, EngineError, SparseRows};

/// The input zero-padded per axis (`pad_with_zeros`), then a call with padding 0.
pub const EXPLICIT_PADDING: &str = "explicit zero padding";
/// Strides that differ per axis: a call with their common factor as the stride, then
/// every (s / factor)-th row and column selected.
pub const STRIDED_SELECTION: &str = "stride 1 followed by a strided selection";
/// Dilations that differ per axis: the kernel with d - 1 zeros between its taps along each
/// axis, then a call with dilation 1.
pub const DILATED_KERNEL: &str = "a kernel with zeros inserted for a per-axis dilation";
/// `conv3d`: for each depth of the kernel, one `conv2d` call on the input's depth slices it
/// reads (batched), the calls' outputs added up.
pub const DEPTH_SLICES: &str = "a conv3d as a sum over the kernel's depth of conv2d calls on depth slices";
/// `conv_transpose3d`: for each depth of the kernel, one `conv_transpose2d` call on every
/// depth slice of the input (batched), each output placed at its depths `i·S + m·D` and
/// added up, then cropped as the depth's padding and output_padding define.
pub const TRANSPOSED_DEPTH_SLICES: &str =
    "a conv_transpose3d as a sum over the kernel's depth of conv_transpose2d calls on depth slices";
/// Groups candle's call lacks (`conv_transpose2d`): one call per group on its channels,
/// the outputs concatenated along the channels.
pub const PER_GROUP: &str = "per-group calls, concatenated";
/// Transposed strides that differ per axis: the input with s - 1 zeros between its values
/// along each axis, then a transposed call with stride 1.
pub const STUFFED_INPUT: &str = "stride 1 on an input with zeros inserted for a per-axis stride";
/// A transposed call whose padding or output_padding differ per axis: the call unpadded,
/// then `p` outputs cropped from the start of each axis and the output_padding's positions
/// kept at its end (zeros past the uncropped output), as PyTorch defines them.
pub const CROPPED_OUTPUT: &str = "an unpadded transposed call, cropped per axis";

/// The most values one forward pass of [`ConvNd::jacobian_w_rows`] gives (2²²: 32 MB).
const W_PASS_VALUES: usize = 1 << 22;

/// candle-core 0.9's conv2d of one group reads an input of `C = H = W` as if it were NHWC
/// and gives wrong outputs (huggingface/candle#3404, fixed upstream by #3405; symconv's
/// runs found it as disagreements): the input gets one more zero column on the right, and
/// the output's extra column, if any, is cropped.
pub const EXTRA_ZERO_COLUMN: &str =
    "one more zero column on the right, cropped from the output (candle's conv2d is wrong when C = H = W)";

/// candle's `conv2d` with `(padding, stride, dilation, groups)`, made exact where its
/// layout fault strikes (see [`EXTRA_ZERO_COLUMN`]).
fn conv2d_exact(
    x: &Tensor,
    w: &Tensor,
    (padding, stride, dilation, groups): (usize, usize, usize, usize),
    used: &mut Vec<&'static str>,
) -> candle_core::Result<Tensor> {
    let (c, h, v) = (x.dim(1)?, x.dim(2)?, x.dim(3)?);
    if !(groups == 1 && c == h && h == v) {
        return x.conv2d(w, padding, stride, dilation, groups);
    }
    record(used, EXTRA_ZERO_COLUMN);
    let y = x.pad_with_zeros(3, 0, 1)?.conv2d(w, padding, stride, dilation, groups)?;
    // PyTorch's length along the last axis, without the extra column.
    let (v, reach) = (v + 2 * padding, dilation * (w.dim(3)? - 1) + 1);
    let length = if v >= reach { (v - reach) / stride + 1 } else { 0 };
    y.narrow(3, 0, length.min(y.dim(3)?))
}

/// One call of PyTorch's conv2d / conv3d / conv_transpose2d / conv_transpose3d, batch 1.
/// Layouts: x `[1, C, *spatial]`, w `[O, C/groups, *kernel]` (transposed:
/// `[C, O/groups, *kernel]`), output `[1, O, *out]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvNd {
    /// A transposed convolution rather than a convolution.
    pub transposed: bool,
    /// The stride, one per spatial axis (2 or 3 axes).
    pub stride: Vec<usize>,
    /// Convolution: zeros before and after each spatial axis (`F.pad`, then the call).
    /// Transposed: PyTorch's `padding`, `(p, p)` per axis, cropped from both ends.
    pub padding: Vec<(usize, usize)>,
    /// The transposed call's output_padding per axis (0 for a convolution).
    pub output_padding: Vec<usize>,
    /// The dilation per axis.
    pub dilation: Vec<usize>,
    /// The number of groups.
    pub groups: usize,
    /// Whether the weight is reversed along every kernel axis first.
    pub flip: bool,
}

impl ConvNd {
    /// The output's shape `[1, O, *out]` for an input and a weight of these shapes. An
    /// axis with no room for the kernel has length 0; shapes the call would refuse give
    /// some shape, without panicking.
    pub fn output_shape(&self, x: &[usize], w: &[usize]) -> Vec<usize> {
        let at = |s: &[usize], i: usize| s.get(i).copied().unwrap_or(0);
        let channels = if self.transposed { at(w, 1).saturating_mul(self.groups) } else { at(w, 0) };
        let lengths = (0..self.stride.len()).map(|a| self.length(a, at(x, a + 2), at(w, a + 2)));
        [at(x, 0), channels].into_iter().chain(lengths).collect()
    }

    /// The output's length along spatial axis `a` for an input length `n` and a kernel
    /// length `k`, as PyTorch defines it (0 where that is 0 or less).
    fn length(&self, a: usize, n: usize, k: usize) -> usize {
        let param = |v: &[usize]| v.get(a).copied().unwrap_or(1) as i128;
        let (s, d) = (param(&self.stride).max(1), param(&self.dilation));
        let (before, after) = self.padding.get(a).map_or((0, 0), |&(b, e)| (b as i128, e as i128));
        let span = d * (k as i128 - 1) + 1;
        let n = n as i128;
        let length = if self.transposed {
            let output_padding = self.output_padding.get(a).copied().unwrap_or(0) as i128;
            (n - 1) * s - 2 * before + span + output_padding
        } else {
            let room = n + before + after - span;
            if room < 0 {
                0
            } else {
                room / s + 1
            }
        };
        usize::try_from(length.max(0)).unwrap_or(usize::MAX)
    }

    /// The exact output `[1, O, *out]`, and the compositions that made it (empty where
    /// candle made it in one call, or where the output or an operand is empty).
    pub fn forward(&self, x: &Array, w: &Array) -> Result<(Array, Vec<&'static str>), EngineError> {
        let out = self.check(x, w)?;
        if out.contains(&0) || x.data.is_empty() || w.data.is_empty() {
            return Ok((zeros(out), Vec::new()));
        }
        let mut used = Vec::new();
        let y = guarded("forward", || self.run(&tensor(x)?, &tensor(w)?, &mut used))?;
        Ok((array(&y)?, used))
    }

    /// `∂y/∂x`, `[output elements, input elements]`, both flattened row-major without the
    /// batch axis: the outputs of one forward pass on every unit input at once (one per
    /// batch entry; the convolution is linear in `x`).
    pub fn jacobian_x(&self, x: &Array, w: &Array) -> Result<Array, EngineError> {
        let out = self.check(x, w)?;
        let (outputs, inputs) = (out.iter().product::<usize>(), x.data.len());
        if outputs == 0 || inputs == 0 || w.data.is_empty() {
            return Ok(zeros(vec![outputs, inputs]));
        }
        let too_large = || EngineError(format!("a Jacobian of {outputs} outputs by {inputs} inputs is too large"));
        let square = inputs.checked_mul(inputs).filter(|_| outputs.checked_mul(inputs).is_some());
        let mut units = vec![0.0; square.ok_or_else(too_large)?];
        (0..inputs).for_each(|e| units[e * inputs + e] = 1.0);
        let batch_shape: Vec<usize> = [inputs].into_iter().chain(x.shape[1..].iter().copied()).collect();
        let units = Array { shape: batch_shape, data: units };
        let y = guarded("jacobian_x", || self.run(&tensor(&units)?, &tensor(w)?, &mut Vec::new()))?;
        // Batch entry e holds column e.
        array(&y.reshape((inputs, outputs))?.t()?.contiguous()?)
    }

    /// `∂y/∂w`, `[output elements, weight elements]`, both flattened row-major (the output
    /// without its batch axis): the outputs of one forward pass per unit weight (the
    /// convolution is linear in `w`).
    pub fn jacobian_w(&self, x: &Array, w: &Array) -> Result<Array, EngineError> {
        let out = self.check(x, w)?;
        let (outputs, weights) = (out.iter().product::<usize>(), w.data.len());
        let entries = outputs.checked_mul(weights);
        let too_large = || EngineError(format!("a Jacobian of {outputs} outputs by {weights} weights is too large"));
        let mut jac = vec![0.0; entries.ok_or_else(too_large)?];
        if outputs == 0 || weights == 0 || x.data.is_empty() {
            return Ok(Array { shape: vec![outputs, weights], data: jac });
        }
        let input = tensor(x)?;
        for e in 0..weights {
            let mut unit = vec![0.0; weights];
            unit[e] = 1.0;
            let unit = Array { shape: w.shape.clone(), data: unit };
            let y = guarded("jacobian_w", || self.run(&input, &tensor(&unit)?, &mut Vec::new()))?;
            for (r, value) in y.flatten_all()?.to_vec1::<f64>()?.into_iter().enumerate() {
                jac[r * weights + e] = value;
            }
        }
        Ok(Array { shape: vec![outputs, weights], data: jac })
    }

    /// Candle's autograd through the forward as composed: `vᵀ·∂y/∂x` and `vᵀ·∂y/∂w` for a
    /// `v` shaped like the output, with x and w as `Var`s. Candle's errors, and its panics
    /// (caught), come back as an [`EngineError`].
    pub fn autograd(&self, x: &Array, w: &Array, v: &Array) -> Result<(Array, Array), EngineError> {
        let out = self.check(x, w)?;
        if v.shape != out || v.data.len() != out.iter().product::<usize>() {
            return Err(EngineError(format!("v is shaped {:?}, the output {out:?}", v.shape)));
        }
        let (no_x, no_w) = (zeros(x.shape.clone()), zeros(w.shape.clone()));
        if out.contains(&0) || x.data.is_empty() || w.data.is_empty() {
            return Ok((no_x, no_w));
        }
        let (xv, wv) = (Var::from_tensor(&tensor(x)?)?, Var::from_tensor(&tensor(w)?)?);
        let grads = guarded("autograd", || {
            let y = self.run(xv.as_tensor(), wv.as_tensor(), &mut Vec::new())?;
            (y * tensor(v)?)?.sum_all()?.backward()
        })?;
        // An operand the output does not depend on has no gradient: zeros.
        let pullback = |var: &Var, none: Array| match grads.get(var.as_tensor()) {
            Some(g) => array(g),
            None => Ok(none),
        };
        Ok((pullback(&xv, no_x)?, pullback(&wv, no_w)?))
    }

    /// How many values one call on an input shaped `x` and a weight shaped `w` holds at
    /// once, at most: the input as padded (a transposed call's: with zeros inserted for
    /// its stride) and the output before any selection or crop (a 3-D call's: once per
    /// depth of the kernel, stacked before the sum). Saturating, for any parameters.
    pub fn footprint(&self, x: &[usize], w: &[usize]) -> u64 {
        let at = |s: &[usize], i: usize| s.get(i).copied().unwrap_or(0) as u64;
        let axes = self.stride.len();
        let (mut input, mut output) = (at(x, 1), at(w, if self.transposed { 1 } else { 0 }));
        if self.transposed {
            output = output.saturating_mul(self.groups as u64);
        }
        for a in 0..axes {
            let (n, k) = (at(x, a + 2), at(w, a + 2));
            let (s, d) =
                (self.stride.get(a).copied().unwrap_or(1) as u64, self.dilation.get(a).copied().unwrap_or(1) as u64);
            let (before, after) = self.padding.get(a).map_or((0, 0), |&(b, e)| (b as u64, e as u64));
            let span = d.saturating_mul(k.saturating_sub(1)).saturating_add(1);
            let (i, o) = if self.transposed {
                let stuffed = n.saturating_sub(1).saturating_mul(s).saturating_add(1);
                let op = self.output_padding.get(a).copied().unwrap_or(0) as u64;
                (stuffed, stuffed.saturating_add(span).saturating_add(op))
            } else {
                let padded = n.saturating_add(before).saturating_add(after);
                (padded, padded)
            };
            input = input.saturating_mul(i);
            output = output.saturating_mul(o);
        }
        if axes == 3 {
            output = output.saturating_mul(at(w, 2).max(1));
        }
        input.saturating_add(output)
    }

    /// The input positions along spatial axis `a` (input length `n`, kernel length `k`)
    /// that output position `t` reads: `t·S + m·D - before` for a convolution, the `i`
    /// with `i·S + m·D - p = t` for a transposed one, for every kernel position `m`. This
    /// is the call's semantics (PyTorch's, which the compositions keep exactly); every
    /// other input is multiplied by no weight in that output.
    fn read_along(&self, a: usize, t: usize, n: usize, k: usize) -> Vec<usize> {
        let (s, d, p) = (self.stride[a] as i64, self.dilation[a] as i64, self.padding[a].0 as i64);
        (0..k as i64)
            .filter_map(|m| {
                let i = match self.transposed {
                    true => {
                        let q = t as i64 + p - m * d;
                        (q >= 0 && q % s == 0).then_some(q / s)?
                    }
                    false => t as i64 * s + m * d - p,
                };
                (0..n as i64).contains(&i).then_some(i as usize)
            })
            .collect()
    }

    /// How far apart two input positions along axis `a` must be for no output to read
    /// both: the kernel's span `D(k-1) + 1` for a convolution (an output reads positions
    /// `m·D` apart), `⌈span / S⌉` for a transposed one (inputs `S` apart land `S` apart).
    fn spacing(&self, a: usize, k: usize) -> usize {
        let span = self.dilation[a] * k.saturating_sub(1) + 1;
        match self.transposed {
            true => span.div_ceil(self.stride[a]),
            false => span,
        }
    }

    /// `∂y/∂x` as sparse rows, by a compressed Jacobian (Curtis, Powell and Reid): the
    /// call is linear in `x`, and which inputs each output reads is fixed by the call's
    /// parameters (stride, dilation, padding, kernel extent, groups; see
    /// `ConvNd::read_along`), not by the values. Inputs of one color (a channel within
    /// their group, and a residue of each position modulo `ConvNd::spacing`) are read by
    /// no output in common, so one forward pass on the sum of their unit inputs gives, at
    /// each output, the derivative by the one input of that color it reads: all colors
    /// (`C/G · Π spacing` probes, in batches of at most `most` values in and out) give
    /// every entry of every row's receptive field, and every other entry is 0 by the
    /// call's semantics. An output whose value on a probe comes from no input it reads
    /// contradicts that structure, and is reported in `stray`.
    pub fn jacobian_x_rows(&self, x: &Array, w: &Array, most: usize) -> Result<CompressedRows, EngineError> {
        let out = self.check(x, w)?;
        let axes = self.stride.len();
        let (c, n, k) = (x.shape[1], &x.shape[2..], &w.shape[2..]);
        let (o, l) = (out[1], &out[2..]);
        let (outputs, inputs) = (out.iter().product::<usize>(), x.data.len());
        let mut found = CompressedRows { rows: vec![Vec::new(); outputs], probes: 0, calls: 0, stray: None };
        if outputs == 0 || inputs == 0 || w.data.is_empty() {
            return Ok(found);
        }
        let (ipg, opg) = (c / self.groups, o / self.groups);
        let spacing: Vec<usize> = (0..axes).map(|a| self.spacing(a, k[a])).collect();
        let residues: usize = spacing.iter().product();
        let colors = ipg * residues;
        let (plane, lout): (usize, usize) = (n.iter().product(), l.iter().product());
        let color_of: Vec<u32> = (0..inputs)
            .map(|j| {
                let (mut rest, mut r, mut scale) = (j % plane, 0, 1);
                for a in (0..axes).rev() {
                    r += (rest % n[a]) % spacing[a] * scale;
                    rest /= n[a];
                    scale *= spacing[a];
                }
                ((j / plane) % ipg * residues + r) as u32
            })
            .collect();
        // The spatial offsets each output position reads.
        let along: Vec<Vec<Vec<usize>>> =
            (0..axes).map(|a| (0..l[a]).map(|t| self.read_along(a, t, n[a], k[a])).collect()).collect();
        let fields: Vec<Vec<usize>> = (0..lout)
            .map(|pos| {
                let mut t = vec![0; axes];
                let mut rest = pos;
                for a in (0..axes).rev() {
                    t[a] = rest % l[a];
                    rest /= l[a];
                }
                (0..axes).fold(vec![0usize], |offsets, a| {
                    let stride: usize = n[a + 1..].iter().product();
                    offsets.iter().flat_map(|&f| along[a][t[a]].iter().map(move |&p| f + p * stride)).collect()
                })
            })
            .collect();
        // Each row gets the C/G · |field| entries it reads, with room for them at once.
        for (r, row) in found.rows.iter_mut().enumerate() {
            row.reserve_exact(ipg * fields[r % lout].len());
        }
        let per_call = (most / (inputs + outputs)).clamp(1, colors);
        let (mut stray_count, mut first_stray) = (0usize, None);
        for first in (0..colors).step_by(per_call) {
            let count = per_call.min(colors - first);
            let mut units = vec![0.0; count * inputs];
            for (j, &color) in color_of.iter().enumerate() {
                let color = color as usize;
                if (first..first + count).contains(&color) {
                    units[(color - first) * inputs + j] = 1.0;
                }
            }
            let shape: Vec<usize> = [count].into_iter().chain(x.shape[1..].iter().copied()).collect();
            let units = Array { shape, data: units };
            let y = guarded("jacobian_x", || self.run(&tensor(&units)?, &tensor(w)?, &mut Vec::new()))?;
            let y = y.flatten_all()?.to_vec1::<f64>()?;
            found.calls += 1;
            let mut attributed = vec![false; y.len()];
            for (r, row) in found.rows.iter_mut().enumerate() {
                let group = r / lout / opg.max(1);
                for ch in group * ipg..(group + 1) * ipg {
                    for &offset in &fields[r % lout] {
                        let j = ch * plane + offset;
                        let color = color_of[j] as usize;
                        if (first..first + count).contains(&color) {
                            let e = (color - first) * outputs + r;
                            row.push((j, y[e]));
                            attributed[e] = true;
                        }
                    }
                }
            }
            for (e, _) in y.iter().zip(&attributed).enumerate().filter(|(_, (&v, &seen))| v != 0.0 && !seen) {
                stray_count += 1;
                first_stray.get_or_insert(e % outputs);
            }
        }
        found.rows.iter_mut().for_each(|row| row.sort_by_key(|&(j, _)| j));
        found.probes = colors;
        found.stray = first_stray.map(|r| (r, stray_count));
        Ok(found)
    }

    /// `∂y/∂w` as sparse rows, and the forward passes it took: the call is linear in `w`,
    /// and an output channel reads only its own weights (`w[o, ·]` of a convolution; of a
    /// transposed one, `w[c, o mod O/G]` for the channels c of its group). So one pass on
    /// a weight with a 1 at the same kernel position and input channel (within its group)
    /// for every output channel gives, at each output, the derivative by its own one of
    /// them: `C/G · Π k` passes give every entry of every row's weights, and every other
    /// entry is 0 by the call's semantics. A convolution's passes are batched as output
    /// channels of fewer calls (see [`ConvNd::jacobian_w_rows_batched`]).
    pub fn jacobian_w_rows(&self, x: &Array, w: &Array) -> Result<(SparseRows, usize), EngineError> {
        let out = self.check(x, w)?;
        let (outputs, weights) = (out.iter().product::<usize>(), w.data.len());
        let mut rows: SparseRows = vec![Vec::new(); outputs];
        if outputs == 0 || weights == 0 || x.data.is_empty() {
            return Ok((rows, 0));
        }
        let (c, o, lout) = (x.shape[1], out[1], out[2..].iter().product::<usize>());
        let (ipg, opg) = (c / self.groups, o / self.groups);
        let (a0, a1, kk) = (w.shape[0], w.shape[1], w.shape[2..].iter().product::<usize>());
        // A convolution's weight is [O, C/G, *k]; a transposed one's [C, O/G, *k].
        let channels = if self.transposed { ipg } else { a1 };
        let input = tensor(x)?;
        if !self.transposed {
            return self.jacobian_w_rows_batched(&input, w, (o, lout), rows);
        }
        for (q, m) in (0..channels).flat_map(|q| (0..kk).map(move |m| (q, m))) {
            let mut unit = vec![0.0; weights];
            match self.transposed {
                false => (0..a0).for_each(|oc| unit[(oc * a1 + q) * kk + m] = 1.0),
                true => (q..a0)
                    .step_by(ipg.max(1))
                    .for_each(|ch| (0..a1).for_each(|oo| unit[(ch * a1 + oo) * kk + m] = 1.0)),
            }
            let unit = Array { shape: w.shape.clone(), data: unit };
            let y = guarded("jacobian_w", || self.run(&input, &tensor(&unit)?, &mut Vec::new()))?;
            let y = y.flatten_all()?.to_vec1::<f64>()?;
            for (r, row) in rows.iter_mut().enumerate() {
                let och = r / lout;
                let col = match self.transposed {
                    false => (och * a1 + q) * kk + m,
                    true => (((och / opg.max(1)) * ipg + q) * a1 + och % opg.max(1)) * kk + m,
                };
                row.push((col, y[r]));
            }
        }
        rows.iter_mut().for_each(|row| row.sort_by_key(|&(j, _)| j));
        Ok((rows, channels * kk))
    }

    /// [`ConvNd::jacobian_w_rows`] of a convolution (not transposed), with several unit
    /// weights in one pass: a call with `K` times the output channels, where channel
    /// `(g, k, oo)` (group `g`, weight `k` of the `K = C/G · Π k` an output channel reads,
    /// channel `oo` of the group) has a 1 at weight `k`, gives at each of its outputs the
    /// derivative of output channel `g·O/G + oo` by its own weight `k`; as many units a
    /// pass as keep its output within [`W_PASS_VALUES`].
    fn jacobian_w_rows_batched(
        &self,
        input: &Tensor,
        w: &Array,
        (o, lout): (usize, usize),
        mut rows: SparseRows,
    ) -> Result<(SparseRows, usize), EngineError> {
        let (a1, kk) = (w.shape[1], w.shape[2..].iter().product::<usize>());
        let (units, opg) = (a1 * kk, o / self.groups);
        let per_pass = (W_PASS_VALUES / (o * lout).max(1)).clamp(1, units);
        let mut passes = 0;
        for first in (0..units).step_by(per_pass) {
            let count = per_pass.min(units - first);
            // Output channel (g, k, oo) of the pass, k counted from `first`.
            let channel = |g: usize, k: usize, oo: usize| (g * count + k) * opg + oo;
            let mut unit = vec![0.0; o * count * units];
            for (g, k, oo) in
                (0..self.groups).flat_map(|g| (0..count).flat_map(move |k| (0..opg).map(move |oo| (g, k, oo))))
            {
                unit[channel(g, k, oo) * units + first + k] = 1.0;
            }
            let shape: Vec<usize> = [o * count].into_iter().chain(w.shape[1..].iter().copied()).collect();
            let unit = Array { shape, data: unit };
            let y = guarded("jacobian_w", || self.run(input, &tensor(&unit)?, &mut Vec::new()))?;
            let y = y.flatten_all()?.to_vec1::<f64>()?;
            passes += 1;
            for (r, row) in rows.iter_mut().enumerate() {
                let (och, at) = (r / lout, r % lout);
                let (g, oo) = (och / opg, och % opg);
                row.extend((0..count).map(|k| (och * units + first + k, y[channel(g, k, oo) * lout + at])));
            }
        }
        Ok((rows, passes))
    }

    /// The output's shape, once the shapes and parameters are found to be a call PyTorch
    /// makes; otherwise what is wrong with them.
    fn check(&self, x: &Array, w: &Array) -> Result<Vec<usize>, EngineError> {
        let axes = self.stride.len();
        let fail = |what: String| Err(EngineError(what));
        if !(2..=3).contains(&axes) {
            return fail(format!("a 2-D or 3-D convolution takes 2 or 3 strides, not {axes}"));
        }
        let lengths = [self.padding.len(), self.output_padding.len(), self.dilation.len()];
        if lengths.iter().any(|&l| l != axes) {
            return fail(format!("{axes} strides but {lengths:?} paddings, output_paddings, dilations"));
        }
        for (name, a) in [("x", x), ("w", w)] {
            if a.shape.len() != axes + 2 {
                return fail(format!("{name} is shaped {:?}, not with {} axes", a.shape, axes + 2));
            }
            if a.shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d)) != Some(a.data.len()) {
                return fail(format!("{name} is shaped {:?} but holds {} values", a.shape, a.data.len()));
            }
        }
        let g = self.groups;
        if x.shape[0] != 1 {
            return fail(format!("the batch is {}, not 1", x.shape[0]));
        }
        if g == 0 || self.stride.contains(&0) || self.dilation.contains(&0) || w.shape[2..].contains(&0) {
            return fail("groups, strides, dilations and kernel lengths must be at least 1".into());
        }
        let c = x.shape[1];
        let channels_fit = if self.transposed {
            w.shape[0] == c && c % g == 0
        } else {
            w.shape[1].checked_mul(g) == Some(c) && w.shape[0] % g == 0
        };
        if !channels_fit {
            return fail(format!("an input {:?} and a weight {:?} do not fit {g} groups", x.shape, w.shape));
        }
        if self.transposed && self.padding.iter().any(|&(b, e)| b != e) {
            return fail(format!("a transposed convolution's padding is symmetric, not {:?}", self.padding));
        }
        if !self.transposed && self.output_padding.iter().any(|&p| p != 0) {
            return fail(format!("a convolution has no output_padding, not {:?}", self.output_padding));
        }
        let out = self.output_shape(&x.shape, &w.shape);
        if out.iter().try_fold(1usize, |p, &d| p.checked_mul(d)).is_none() {
            return fail(format!("an output shaped {out:?} is too large"));
        }
        Ok(out)
    }

    /// The call on a batch: x `[B, C, *spatial]` and the weight, both non-empty, with a
    /// non-empty output `[B, O, *out]`. Records each composition used in `used`.
    fn run(&self, x: &Tensor, w: &Tensor, used: &mut Vec<&'static str>) -> candle_core::Result<Tensor> {
        let axes = self.stride.len();
        let w = if self.flip { w.flip(&(2..axes + 2).collect::<Vec<_>>())? } else { w.clone() };
        match (self.transposed, axes) {
            (false, 2) => self.conv2d(x, &w, used),
            (true, 2) => self.conv_transpose2d(x, &w, used),
            (false, _) => self.conv3d(x, &w, used),
            (true, _) => self.conv_transpose3d(x, &w, used),
        }
    }

    /// The same call on the last two spatial axes only.
    fn plane(&self) -> ConvNd {
        let last2 = |v: &[usize]| v[v.len() - 2..].to_vec();
        ConvNd {
            stride: last2(&self.stride),
            padding: self.padding[self.padding.len() - 2..].to_vec(),
            output_padding: last2(&self.output_padding),
            dilation: last2(&self.dilation),
            ..self.clone()
        }
    }

    /// `conv2d` on `[B, C, H, W]`: candle's call, with explicit padding, a dilated kernel
    /// and a strided selection where its single padding, dilation and stride do not fit.
    fn conv2d(&self, x: &Tensor, w: &Tensor, used: &mut Vec<&'static str>) -> candle_core::Result<Tensor> {
        let [(t, b), (l, r)] = [self.padding[0], self.padding[1]];
        let (x, padding) = if t == b && b == l && l == r {
            (x.clone(), t)
        } else {
            record(used, EXPLICIT_PADDING);
            (x.pad_with_zeros(2, t, b)?.pad_with_zeros(3, l, r)?, 0)
        };
        let (w, dilation) = self.uniform_dilation(w, used)?;
        let [s0, s1] = [self.stride[0], self.stride[1]];
        let common = gcd(s0, s1);
        let y = conv2d_exact(&x, &w, (padding, common, dilation, self.groups), used)?;
        if s0 == s1 {
            return Ok(y);
        }
        record(used, STRIDED_SELECTION);
        // Output t at stride s is output t·(s / common) at stride common, and
        // ⌊⌊q / common⌋ / (s / common)⌋ = ⌊q / s⌋ keeps the lengths PyTorch's.
        every(&every(&y, 2, s0 / common)?, 3, s1 / common)
    }

    /// `conv_transpose2d` on `[B, C, H, W]`: candle's call (which has no groups), per group
    /// where there are groups, on a zero-stuffed input, with a dilated kernel and cropped
    /// where its single stride, dilation, padding and output_padding do not fit.
    fn conv_transpose2d(&self, x: &Tensor, w: &Tensor, used: &mut Vec<&'static str>) -> candle_core::Result<Tensor> {
        if self.groups > 1 {
            record(used, PER_GROUP);
            let one = ConvNd { groups: 1, ..self.clone() };
            let (xs, ws) = (x.chunk(self.groups, 1)?, w.chunk(self.groups, 0)?);
            let ys = xs.iter().zip(&ws).map(|(x, w)| one.conv_transpose2d(x, w, used));
            return Tensor::cat(&ys.collect::<candle_core::Result<Vec<_>>>()?, 1);
        }
        let lengths = [self.length(0, x.dim(2)?, w.dim(2)?), self.length(1, x.dim(3)?, w.dim(3)?)];
        let [s0, s1] = [self.stride[0], self.stride[1]];
        let (x, stride) = if s0 == s1 {
            (x.clone(), s0)
        } else {
            record(used, STUFFED_INPUT);
            (insert_zeros(&insert_zeros(x, 2, s0)?, 3, s1)?, 1)
        };
        let (w, dilation) = self.uniform_dilation(w, used)?;
        let [(p0, _), (p1, _)] = [self.padding[0], self.padding[1]];
        let [op0, op1] = [self.output_padding[0], self.output_padding[1]];
        if p0 == p1 && op0 == op1 {
            return x.conv_transpose2d(&w, p0, op0, stride, dilation);
        }
        record(used, CROPPED_OUTPUT);
        let full = x.conv_transpose2d(&w, 0, 0, stride, dilation)?;
        crop(&crop(&full, 2, p0, lengths[0])?, 3, p1, lengths[1])
    }

    /// `conv3d` on `[B, C, D, H, W]`: the depth zero-padded, then for each depth m of the
    /// kernel one `conv2d` call on the depth slices z·S + m·D (z over the output's depths,
    /// in the batch) with the kernel's slice m, the calls' outputs added up.
    fn conv3d(&self, x: &Tensor, w: &Tensor, used: &mut Vec<&'static str>) -> candle_core::Result<Tensor> {
        record(used, DEPTH_SLICES);
        let (front, back) = self.padding[0];
        let x = if (front, back) == (0, 0) {
            x.clone()
        } else {
            record(used, EXPLICIT_PADDING);
            x.pad_with_zeros(2, front, back)?
        };
        let (b, c, _, h, wd) = x.dims5()?;
        let (s, d) = (self.stride[0], self.dilation[0]);
        let depths = self.length(0, x.dim(2)? - front - back, w.dim(2)?);
        let plane = self.plane();
        let mut outputs = Vec::new();
        for m in 0..w.dim(2)? {
            let picks: Vec<u32> = (0..depths).map(|z| (z * s + m * d) as u32).collect();
            let slices = x.index_select(&Tensor::new(picks, &Device::Cpu)?, 2)?;
            let slices = slices.transpose(1, 2)?.contiguous()?.reshape((b * depths, c, h, wd))?;
            outputs.push(plane.conv2d(&slices, &w.narrow(2, m, 1)?.squeeze(2)?, used)?);
        }
        let sum = Tensor::stack(&outputs, 0)?.sum(0)?;
        let (_, o, lh, lw) = sum.dims4()?;
        sum.reshape((b, depths, o, lh, lw))?.transpose(1, 2)?.contiguous()
    }

    /// `conv_transpose3d` on `[B, C, D, H, W]`: for each depth m of the kernel one
    /// `conv_transpose2d` call on every depth slice i (in the batch) with the kernel's slice
    /// m, its output placed at depths i·S + m·D, the placed outputs added up and cropped as
    /// the depth's padding and output_padding define.
    fn conv_transpose3d(&self, x: &Tensor, w: &Tensor, used: &mut Vec<&'static str>) -> candle_core::Result<Tensor> {
        record(used, TRANSPOSED_DEPTH_SLICES);
        let (b, c, n, h, wd) = x.dims5()?;
        let (s, d, k) = (self.stride[0], self.dilation[0], w.dim(2)?);
        let slices = x.transpose(1, 2)?.contiguous()?.reshape((b * n, c, h, wd))?;
        let (stuffed, full) = ((n - 1) * s + 1, (n - 1) * s + d * (k - 1) + 1);
        let plane = self.plane();
        let mut placed = Vec::new();
        for m in 0..k {
            let y = plane.conv_transpose2d(&slices, &w.narrow(2, m, 1)?.squeeze(2)?, used)?;
            let (_, o, lh, lw) = y.dims4()?;
            let y = insert_zeros(&y.reshape((b, n, o, lh, lw))?, 1, s)?;
            placed.push(y.pad_with_zeros(1, m * d, full - stuffed - m * d)?);
        }
        let sum = Tensor::stack(&placed, 0)?.sum(0)?;
        let depths = self.length(0, n, k);
        crop(&sum, 1, self.padding[0].0, depths)?.transpose(1, 2)?.contiguous()
    }

    /// The kernel and the dilation to call candle with: the same where both axes'
    /// dilations agree, otherwise the kernel with zeros inserted and dilation 1.
    fn uniform_dilation(&self, w: &Tensor, used: &mut Vec<&'static str>) -> candle_core::Result<(Tensor, usize)> {
        let [d0, d1] = [self.dilation[0], self.dilation[1]];
        if d0 == d1 {
            return Ok((w.clone(), d0));
        }
        record(used, DILATED_KERNEL);
        Ok((insert_zeros(&insert_zeros(w, 2, d0)?, 3, d1)?, 1))
    }
}

/// `∂y/∂x` found by [`ConvNd::jacobian_x_rows`].
#[derive(Debug, Clone, PartialEq)]
pub struct CompressedRows {
    /// Per output (flattened row-major, without the batch axis), the inputs it reads
    /// (flattened likewise) with their derivatives, by input.
    pub rows: SparseRows,
    /// How many probes (sums of unit inputs whose fields do not meet) it took.
    pub probes: usize,
    /// How many forward passes (each on a batch of probes) it took.
    pub calls: usize,
    /// An output with a value on some probe that no input it reads accounts for, and how
    /// many such values there are: the engine departed from the call's structure.
    pub stray: Option<(usize, usize)>,
}

/// An array of zeros of this shape.
fn zeros(shape: Vec<usize>) -> Array {
    let data = vec![0.0; shape.iter().product()];
    Array { shape, data }
}

/// `t` along `axis` from `start`, `len` entries, zeros where that runs past its end: a
/// transposed call's padding cropped, its output_padding kept.
fn crop(t: &Tensor, axis: usize, start: usize, len: usize) -> candle_core::Result<Tensor> {
    let kept = t.dim(axis)?.saturating_sub(start).min(len);
    if kept == 0 {
        let mut shape = t.dims().to_vec();
        shape[axis] = len;
        return Tensor::zeros(shape, t.dtype(), t.device());
    }
    t.narrow(axis, start, kept)?.pad_with_zeros(axis, 0, len - kept)
}

/// Records a composition once, in the order first used.
fn record(used: &mut Vec<&'static str>, composition: &'static str) {
    if !used.contains(&composition) {
        used.push(composition);
    }
}

/// Every `step`-th entry of `t` along `axis`, from the first (exact: a selection).
fn every(t: &Tensor, axis: usize, step: usize) -> candle_core::Result<Tensor> {
    if step == 1 {
        return Ok(t.clone());
    }
    let picks: Vec<u32> = (0..t.dim(axis)?).step_by(step).map(|i| i as u32).collect();
    t.index_select(&Tensor::new(picks, &Device::Cpu)?, axis)
}

/// `t` with `factor - 1` zeros between consecutive entries along `axis`: entry i lands at
/// i·factor, and the length n becomes (n - 1)·factor + 1.
fn insert_zeros(t: &Tensor, axis: usize, factor: usize) -> candle_core::Result<Tensor> {
    let n = t.dim(axis)?;
    if factor == 1 || n == 0 {
        return Ok(t.clone());
    }
    let mut merged = t.dims().to_vec();
    merged[axis] = n * factor;
    let spread = t.unsqueeze(axis + 1)?.pad_with_zeros(axis + 1, 0, factor - 1)?.reshape(merged)?;
    spread.narrow(axis, 0, (n - 1) * factor + 1)
}

/// The greatest common divisor.
fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Runs a composition of candle calls, turning candle's errors and panics into an
/// [`EngineError`] that names what failed.
pub(super) fn guarded<T>(what: &str, f: impl FnOnce() -> candle_core::Result<T>) -> Result<T, EngineError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(EngineError::from),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(EngineError(format!("candle panicked in {what}: {message}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_candle_is_an_error_naming_it() {
        let panicking = || -> candle_core::Result<()> { panic!("attempt to subtract with overflow") };
        let error = guarded("autograd", panicking).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the engine (candle) failed: candle panicked in autograd: attempt to subtract with overflow"
        );
        let failing = || -> candle_core::Result<()> { Err(candle_core::Error::Msg("refused".into())) };
        assert_eq!(guarded("forward", failing).unwrap_err().to_string(), "the engine (candle) failed: refused");
    }
}
