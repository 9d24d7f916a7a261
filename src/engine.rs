//! The engine: concrete convolution runs on candle-core with PyTorch's semantics
//! (cross-correlation, zero padding, stride, dilation, groups), their outputs and their
//! exact Jacobians. It knows nothing of the spec language.

use candle_core::{Device, Tensor, Var};

pub mod layers;
pub mod nd;
mod nd_gradient;

pub use nd_gradient::GradientCallNd;

/// One call of `conv1d` or `conv_transpose1d`, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv {
    /// `conv_transpose1d` rather than `conv1d`.
    pub transposed: bool,
    /// The stride.
    pub stride: usize,
    /// Zeros before and after the input (`conv1d`, applied before the convolution), or
    /// the padding of `conv_transpose1d` (both the same).
    pub padding: (usize, usize),
    /// `conv_transpose1d`'s output_padding.
    pub output_padding: usize,
    /// The dilation.
    pub dilation: usize,
    /// The number of groups.
    pub groups: usize,
    /// Whether the weight is reversed along its last axis first (`flip(w)`).
    pub flip: bool,
}

/// A dense array: its shape and its values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, the last axis fastest.
    pub data: Vec<f64>,
}

/// A Jacobian as sparse rows: each row's nonzero columns and values, by column.
pub type SparseRows = Vec<Vec<(usize, f64)>>;

/// How many entries of candle's im2col matrix one `conv1d` call builds at most. A longer
/// convolution runs in pieces, which keeps the matrix in cache (four times faster at
/// n = 10⁶, k = 64) and memory flat.
const PIECE: usize = 1 << 18;

/// A `conv1d`'s output and its pullbacks by `v`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backward {
    /// The output `[O, L]`.
    pub output: Array,
    /// `vᵀ·∂y/∂x`, shaped like the input.
    pub x: Array,
    /// `vᵀ·∂y/∂w`, shaped like the weight.
    pub w: Array,
}

/// An engine failure, as candle reports it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the engine (candle) failed: {0}")]
pub struct EngineError(String);

impl From<candle_core::Error> for EngineError {
    /// Candle's message, without the backtrace it appends when `RUST_BACKTRACE` is set.
    fn from(e: candle_core::Error) -> EngineError {
        EngineError(e.to_string().lines().next().unwrap_or_default().trim_end().to_string())
    }
}

/// How a Jacobian was obtained from the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reverse-mode autograd, one backward pass per output.
    Autograd,
    /// Forward passes on unit inputs: the convolution is linear in each argument.
    UnitInputs,
}

impl Conv {
    fn apply(&self, x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
        let w = if self.flip { w.flip(&[2])? } else { w.clone() };
        if self.transposed {
            // Candle computes the output's length as (n-1)·S - 2P + …, whose first
            // difference overflows when 2P > (n-1)·S even where the length is positive
            // (n = 1). So it runs unpadded, and P outputs are cropped from each end, as
            // PyTorch defines the padding.
            let full = x.conv_transpose1d(&w, 0, self.output_padding, self.stride, self.dilation, self.groups)?;
            let p = self.padding.0;
            let Some(len) = full.dim(2)?.checked_sub(2 * p) else {
                return Err(candle_core::Error::Msg(format!("padding {p} crops every output of conv_transpose1d")));
            };
            full.narrow(2, p, len)
        } else {
            let x = x.pad_with_zeros(2, self.padding.0, self.padding.1)?;
            x.conv1d(&w, 0, self.stride, self.dilation, self.groups)
        }
    }

    /// How many values one call on an input `[C, n]` and a weight `[O, C/G, k]` holds at
    /// once, at most: the input zero-padded and the output (`conv_transpose1d`: the input
    /// and the output before cropping). Saturating, for any parameters.
    pub fn footprint(&self, x: &[usize], w: &[usize]) -> u64 {
        let g = Geometry::of(self, x, w);
        let (input, output) = if self.transposed { (g.n, g.stretched) } else { (g.padded, g.l) };
        g.c.saturating_mul(input).saturating_add(g.o.saturating_mul(output)) as u64
    }

    /// The output `[O, L]` for an input `[C, n]` and a weight `[O, C/G, k]` (transposed:
    /// `[C, O/G, k]`). A long `conv1d` runs in pieces of at most 2¹⁸ im2col entries.
    pub fn forward(&self, x: &Array, w: &Array) -> Result<Array, EngineError> {
        if self.transposed {
            return self.conv_transpose1d_in_pieces(x, w);
        }
        Ok(self.conv1d_in_pieces(x, w, None)?.0)
    }

    /// `conv1d` with a kernel far longer than its output (a weight's gradient, whose kernel
    /// is the upstream gradient): the kernel's positions in consecutive pieces, each
    /// piece's call reading its own slice of the zero-padded input, the pieces' outputs
    /// added up (exactly, on integers). Each piece's im2col matrix stays within 2¹⁸ entries.
    fn long_kernel(&self, x: &Array, w: &Array) -> Result<Array, EngineError> {
        let g = Geometry::of(self, &x.shape, &w.shape);
        let (st, dl, a) = (g.stride, g.dilation, self.padding.0);
        let np = g.padded;
        let mut padded = vec![0.0; g.c * np];
        for c in 0..g.c {
            padded[c * np + a..c * np + a + g.n].copy_from_slice(&x.data[c * g.n..(c + 1) * g.n]);
        }
        let (outs, ins) = (w.shape[0], w.shape[1]);
        let mut out = vec![0.0; g.o * g.l];
        if g.l == 0 {
            return Ok(Array { shape: vec![g.o, 0], data: out });
        }
        let per_piece = (PIECE / (g.l * g.c).max(1)).max(1);
        for i0 in (0..g.k).step_by(per_piece) {
            let i1 = (i0 + per_piece).min(g.k);
            let (p0, p1) = (i0 * dl, i0 * dl + (g.l - 1) * st + (i1 - i0 - 1) * dl + 1);
            let slice: Vec<f64> = (0..g.c).flat_map(|c| padded[c * np + p0..c * np + p1].iter().copied()).collect();
            let piece = Tensor::from_vec(slice, (1, g.c, p1 - p0), &Device::Cpu)?;
            let taps: Vec<f64> =
                (0..outs * ins).flat_map(|r| w.data[r * g.k + i0..r * g.k + i1].iter().copied()).collect();
            let kernel = Tensor::from_vec(taps, (outs, ins, i1 - i0), &Device::Cpu)?;
            let y = piece.conv1d(&kernel, 0, st, dl, self.groups)?.flatten_all()?.to_vec1::<f64>()?;
            out.iter_mut().zip(y).for_each(|(o, v)| *o += v);
        }
        Ok(Array { shape: vec![g.o, g.l], data: out })
    }

    /// `conv_transpose1d` on consecutive pieces of the input, each unpadded (candle then
    /// multiplies matrices instead of looping, where the dilation is 1): each piece's
    /// output is added in at its place, then the padding is cropped from both ends and the
    /// output_padding's zeros kept at the end, as PyTorch defines them. The sums are those
    /// of one call, exactly, on integers.
    fn conv_transpose1d_in_pieces(&self, x: &Array, w: &Array) -> Result<Array, EngineError> {
        let g = Geometry::of(self, &x.shape, &w.shape);
        let (s, d, k) = (g.stride, g.dilation, g.k);
        let kernel = tensor(w)?;
        let kernel = if self.flip { kernel.flip(&[2])? } else { kernel };
        let mut full = vec![0.0; g.o * g.stretched];
        let per_piece = (PIECE / (g.o * k).max(1)).max(1);
        for i0 in (0..g.n).step_by(per_piece) {
            let i1 = (i0 + per_piece).min(g.n);
            let slice: Vec<f64> = (0..g.c).flat_map(|c| x.data[c * g.n + i0..c * g.n + i1].iter().copied()).collect();
            let piece = Tensor::from_vec(slice, (1, g.c, i1 - i0), &Device::Cpu)?;
            let y = piece.conv_transpose1d(&kernel, 0, 0, s, d, self.groups)?;
            let len = y.dim(2)?;
            let values = y.flatten_all()?.to_vec1::<f64>()?;
            for o in 0..g.o {
                let at = o * g.stretched + i0 * s;
                full[at..at + len].iter_mut().zip(&values[o * len..(o + 1) * len]).for_each(|(f, v)| *f += v);
            }
        }
        let p = self.padding.0;
        if g.stretched < 2 * p {
            return Err(EngineError(format!("padding {p} crops every output of conv_transpose1d")));
        }
        let data =
            (0..g.o).flat_map(|o| full[o * g.stretched + p..o * g.stretched + p + g.l].iter().copied()).collect();
        Ok(Array { shape: vec![g.o, g.l], data })
    }

    /// The output and the pullbacks `vᵀ·∂y/∂x` and `vᵀ·∂y/∂w` of a `conv1d` for a `v`
    /// shaped like the output, by autograd: one backward pass per piece of the output.
    /// Candle has no backward for `conv_transpose1d`, which this refuses.
    pub fn backward(&self, x: &Array, w: &Array, v: &Array) -> Result<Backward, EngineError> {
        if self.transposed {
            return Err(EngineError("backward is not supported for conv_transpose1d".into()));
        }
        let (output, pullbacks) = self.conv1d_in_pieces(x, w, Some(v))?;
        let (x, w) = pullbacks.expect("asked with v");
        Ok(Backward { output, x, w })
    }

    /// `conv1d` on consecutive pieces of the output: each piece reads its own slice of the
    /// zero-padded input (its receptive field, overlapping the next piece's by the field's
    /// width), so the pieces' outputs are exactly the output's, and their pullbacks add up.
    fn conv1d_in_pieces(
        &self,
        x: &Array,
        w: &Array,
        v: Option<&Array>,
    ) -> Result<(Array, Option<(Array, Array)>), EngineError> {
        let g = Geometry::of(self, &x.shape, &w.shape);
        let a = self.padding.0;
        let np = g.padded;
        let mut padded = vec![0.0; g.c * np];
        for c in 0..g.c {
            padded[c * np + a..c * np + a + g.n].copy_from_slice(&x.data[c * g.n..(c + 1) * g.n]);
        }
        let weight = Var::from_tensor(&tensor(w)?)?;
        let kernel = if self.flip { weight.as_tensor().flip(&[2])? } else { weight.as_tensor().clone() };
        let mut output = vec![0.0; g.outputs()];
        let mut grad_x = vec![0.0; if v.is_some() { g.c * np } else { 0 }];
        let mut grad_w = vec![0.0; if v.is_some() { w.data.len() } else { 0 }];
        let per_piece = (PIECE / (g.c * g.k).max(1)).max(1);
        for t0 in (0..g.l).step_by(per_piece) {
            let t1 = (t0 + per_piece).min(g.l);
            let (p0, p1) = (t0 * g.stride, (t1 - 1) * g.stride + g.dilation * (g.k - 1) + 1);
            let slice: Vec<f64> = (0..g.c).flat_map(|c| padded[c * np + p0..c * np + p1].iter().copied()).collect();
            let piece = Var::from_tensor(&Tensor::from_vec(slice, (1, g.c, p1 - p0), &Device::Cpu)?)?;
            let y = piece.as_tensor().conv1d(&kernel, 0, g.stride, g.dilation, self.groups)?;
            let values = y.flatten_all()?.to_vec1::<f64>()?;
            for o in 0..g.o {
                output[o * g.l + t0..o * g.l + t1].copy_from_slice(&values[o * (t1 - t0)..(o + 1) * (t1 - t0)]);
            }
            let Some(v) = v else { continue };
            let part: Vec<f64> = (0..g.o).flat_map(|o| v.data[o * g.l + t0..o * g.l + t1].iter().copied()).collect();
            let part = Tensor::from_vec(part, (1, g.o, t1 - t0), &Device::Cpu)?;
            let grads = (&y * &part)?.sum_all()?.backward()?;
            if let Some(gx) = grads.get(piece.as_tensor()) {
                for (i, d) in gx.flatten_all()?.to_vec1::<f64>()?.into_iter().enumerate() {
                    grad_x[(i / (p1 - p0)) * np + p0 + i % (p1 - p0)] += d;
                }
            }
            if let Some(gw) = grads.get(weight.as_tensor()) {
                grad_w.iter_mut().zip(gw.flatten_all()?.to_vec1::<f64>()?).for_each(|(s, d)| *s += d);
            }
        }
        let output = Array { shape: vec![g.o, g.l], data: output };
        if v.is_none() {
            return Ok((output, None));
        }
        // The padding's zeros are constants: their gradient is dropped.
        let grad_x = (0..g.c).flat_map(|c| grad_x[c * np + a..c * np + a + g.n].iter().copied()).collect();
        let pullbacks =
            (Array { shape: x.shape.clone(), data: grad_x }, Array { shape: w.shape.clone(), data: grad_w });
        Ok((output, Some(pullbacks)))
    }

    /// The output's shape `[O, L]` for an input and a weight of these shapes.
    pub fn output_shape(&self, x: &Array, w: &Array) -> [usize; 2] {
        let g = Geometry::of(self, &x.shape, &w.shape);
        [g.o, g.l]
    }

    /// `∂y/∂x`, rows over `y` and columns over `x`, both flattened row-major (see
    /// [`Conv::jacobian_x_rows`]).
    pub fn jacobian_x(&self, x: &Array, w: &Array) -> Result<(Array, Method), EngineError> {
        let g = Geometry::of(self, &x.shape, &w.shape);
        let (rows, method) = self.jacobian_x_rows(x, w)?;
        let mut data = vec![0.0; g.outputs() * g.inputs()];
        for (r, row) in rows.iter().enumerate() {
            for &(c, v) in row {
                data[r * g.inputs() + c] = v;
            }
        }
        Ok((Array { shape: vec![g.outputs(), g.inputs()], data }, method))
    }

    /// `∂y/∂x` as sparse rows: for each output (flattened row-major), the inputs in its
    /// receptive field with their derivatives; every other entry is 0 by the engine's
    /// semantics. `conv1d` differentiates by autograd; candle has no backward for
    /// `conv_transpose1d`, whose columns are its outputs on unit inputs instead (it is
    /// linear in `x`). Either way, outputs (inputs) whose receptive fields do not overlap
    /// share one pass.
    pub fn jacobian_x_rows(&self, x: &Array, w: &Array) -> Result<(SparseRows, Method), EngineError> {
        let g = Geometry::of(self, &x.shape, &w.shape);
        let mut rows: SparseRows = vec![Vec::new(); g.outputs()];
        if self.transposed {
            let wt = tensor(w)?;
            // Input (c, i) reaches outputs (o, i·S - P + m·D) of its group: those of inputs
            // of other channels of the group, or T or more positions apart, do not meet.
            for (q, r) in colors(g.in_per_group, g.spread()) {
                let mut unit = Array { shape: x.shape.clone(), data: vec![0.0; x.data.len()] };
                let active: Vec<(usize, usize)> = (0..g.c)
                    .flat_map(|c| (0..g.n).map(move |i| (c, i)))
                    .filter(|&(c, i)| c % g.in_per_group == q && i % g.spread() == r)
                    .collect();
                for &(c, i) in &active {
                    unit.data[c * g.n + i] = 1.0;
                }
                let y = self.apply(&batch(&unit)?, &wt)?.flatten_all()?.to_vec1::<f64>()?;
                for (c, i) in active {
                    for (o, t) in g.reached_by(self, c, i) {
                        rows[o * g.l + t].push((c * g.n + i, y[o * g.l + t]));
                    }
                }
            }
            rows.iter_mut().for_each(|r| r.sort_by_key(|&(c, _)| c));
            return Ok((rows, Method::UnitInputs));
        }
        // Output (o, t) reads inputs (c, t·S + m·D - a) of its group: outputs of other
        // channels of the group, or T or more positions apart, read none in common.
        let xv = Var::from_tensor(&batch(x)?)?;
        let y = self.apply(xv.as_tensor(), &tensor(w)?)?;
        for (q, r) in colors(g.out_per_group, g.spread()) {
            let active: Vec<(usize, usize)> = (0..g.o)
                .flat_map(|o| (0..g.l).map(move |t| (o, t)))
                .filter(|&(o, t)| o % g.out_per_group == q && t % g.spread() == r)
                .collect();
            let mut mask = vec![0.0; g.outputs()];
            for &(o, t) in &active {
                mask[o * g.l + t] = 1.0;
            }
            let mask = Tensor::from_vec(mask, (1, g.o, g.l), &Device::Cpu)?;
            let grads = (&y * &mask)?.sum_all()?.backward()?;
            let Some(grad) = grads.get(xv.as_tensor()) else { continue };
            let grad = grad.flatten_all()?.to_vec1::<f64>()?;
            for (o, t) in active {
                let mut row: Vec<(usize, f64)> =
                    g.read_by(self, o, t).into_iter().map(|(c, p)| (c * g.n + p, grad[c * g.n + p])).collect();
                row.sort_by_key(|&(c, _)| c);
                row.dedup_by_key(|e| e.0);
                rows[o * g.l + t] = row;
            }
        }
        Ok((rows, Method::Autograd))
    }

    /// `∂y/∂w`, rows over `y` and columns over `w`: the outputs on unit weights (the
    /// convolution is linear in `w`), one pass for all output channels at once, since
    /// each output channel reads its own weights only.
    pub fn jacobian_w(&self, x: &Array, w: &Array) -> Result<Array, EngineError> {
        let g = Geometry::of(self, &x.shape, &w.shape);
        let xt = batch(x)?;
        let (a, b, k) = (w.shape[0], w.shape[1], w.shape[2]);
        let mut jac = vec![0.0; g.outputs() * w.data.len()];
        // Conv1d's weight is [O, C/G, k]: unit at (·, c, m) for every o. The transposed
        // one's is [C, O/G, k]: unit at (c, ·, m) for every output channel of c's group.
        let (outer, inner) = if self.transposed { (a, b) } else { (b, a) };
        for (fixed, m) in (0..outer).flat_map(|f| (0..k).map(move |m| (f, m))) {
            let mut unit = Array { shape: w.shape.clone(), data: vec![0.0; w.data.len()] };
            for free in 0..inner {
                let (i0, i1) = if self.transposed { (fixed, free) } else { (free, fixed) };
                unit.data[(i0 * b + i1) * k + m] = 1.0;
            }
            let y = self.apply(&xt, &tensor(&unit)?)?.flatten_all()?.to_vec1::<f64>()?;
            for o in 0..g.o {
                let (i0, i1) = if self.transposed {
                    if o / g.out_per_group != fixed / g.in_per_group {
                        continue;
                    }
                    (fixed, o % g.out_per_group)
                } else {
                    (o, fixed)
                };
                let col = (i0 * b + i1) * k + m;
                for t in 0..g.l {
                    jac[(o * g.l + t) * w.data.len() + col] = y[o * g.l + t];
                }
            }
        }
        Ok(Array { shape: vec![g.outputs(), w.data.len()], data: jac })
    }
}

/// An engine call that computes a gradient, at concrete sizes: `conv` on two operands,
/// with each operand's channels moved to the batch axis first and the result's batch and
/// channel axes swapped back where `channels_as_batch` (only the weight's, with groups),
/// then cropped to `crop = (start, length)` along the last axis and reversed there where
/// `flip_result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GradientCall {
    /// The convolution called.
    pub conv: Conv,
    /// Channels as the batch (a weight's gradient).
    pub channels_as_batch: bool,
    /// The part of the last axis kept.
    pub crop: Option<(usize, usize)>,
    /// Whether the result is reversed along its last axis.
    pub flip_result: bool,
}

impl GradientCall {
    /// The call on an input `[C, n]` and a weight in the engine's layout (`[O, C/G, k]`,
    /// transposed `[C, O/G, k]`; with channels as batch, `[C', n']`): the gradient, in its
    /// tensor's engine layout. It runs as [`GradientCall::candle`] writes it, in pieces
    /// whose results add up to it exactly (see [`Conv::forward`]).
    pub fn run(&self, input: &Array, weight: &Array) -> Result<Array, EngineError> {
        // The convolution runs in pieces (see Conv::forward), one batch entry at a time.
        let mut y = match self.channels_as_batch {
            false => tensor(&self.conv.forward(input, weight)?)?,
            true => {
                let (c, len) = (weight.shape[0], weight.shape[weight.shape.len() - 1]);
                let b = Array { shape: vec![c, 1, len], data: weight.data.clone() };
                if self.conv.groups != 1 {
                    tensor(&self.conv.long_kernel(input, &b)?)?.unsqueeze(1)?
                } else {
                    let n = input.shape[input.shape.len() - 1];
                    let rows = input.data.len() / n.max(1);
                    let outs = (0..rows)
                        .map(|a| {
                            let row = Array { shape: vec![1, n], data: input.data[a * n..(a + 1) * n].to_vec() };
                            tensor(&self.conv.long_kernel(&row, &b)?).map_err(EngineError::from)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    // [C_B, k'] per input channel, stacked on axis 1: [C_B, C_A, k'].
                    Tensor::stack(&outs, 1)?
                }
            }
        };
        if let Some((start, len)) = self.crop {
            let last = y.rank() - 1;
            y = y.narrow(last, start, len)?;
        }
        if self.flip_result {
            y = y.flip(&[y.rank() - 1])?;
        }
        array(&y.contiguous()?)
    }

    /// How many values the call holds at once, at most (see [`Conv::footprint`]), on
    /// operands laid out as [`GradientCall::run`] takes them.
    pub fn footprint(&self, input: &[usize], weight: &[usize]) -> u64 {
        if !self.channels_as_batch {
            return self.conv.footprint(input, weight);
        }
        let moved = |s: &[usize]| s.iter().take(s.len() - 1).product::<usize>();
        let (batch, channels) = (moved(input), moved(weight));
        let per = self.conv.footprint(&[1, input[input.len() - 1]], &[channels, 1, weight[weight.len() - 1]]);
        per.saturating_mul(batch as u64)
    }

    /// The same call in candle-core's API, on tensors named `input` and `weight` (laid out
    /// as [`GradientCall::run`] takes them, with a batch axis in front unless moved).
    pub fn candle(&self, input: &str, weight: &str) -> String {
        let c = &self.conv;
        let moved_input = self.channels_as_batch && c.groups == 1;
        let a = if moved_input { format!("{input}.unsqueeze(1)?") } else { format!("{input}.unsqueeze(0)?") };
        let b = if self.channels_as_batch { format!("{weight}.unsqueeze(1)?") } else { weight.to_string() };
        let b = if c.flip { format!("{b}.flip(&[2])?") } else { b };
        let mut y = if c.transposed {
            let full = format!(
                "{a}.conv_transpose1d(&{b}, 0, {}, {}, {}, {})?",
                c.output_padding, c.stride, c.dilation, c.groups
            );
            match c.padding.0 {
                0 => full,
                p => format!("{{ let y = {full}; let len = y.dim(2)? - {}; y.narrow(2, {p}, len)? }}", 2 * p),
            }
        } else {
            let padded = match c.padding {
                (0, 0) => a,
                (l, r) => format!("{a}.pad_with_zeros(2, {l}, {r})?"),
            };
            format!("{padded}.conv1d(&{b}, 0, {}, {}, {})?", c.stride, c.dilation, c.groups)
        };
        y = if self.channels_as_batch { format!("{y}.transpose(0, 1)?") } else { format!("{y}.squeeze(0)?") };
        let last = if self.channels_as_batch { 2 } else { 1 };
        if let Some((start, len)) = self.crop {
            y = format!("{y}.narrow({last}, {start}, {len})?");
        }
        if self.flip_result {
            y = format!("{y}.flip(&[{last}])?");
        }
        y
    }
}

/// The sizes of one call, and which inputs each output reads.
struct Geometry {
    c: usize,
    n: usize,
    o: usize,
    l: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    in_per_group: usize,
    out_per_group: usize,
    /// `conv1d`: the input's length once zero-padded.
    padded: usize,
    /// `conv_transpose1d`: the output's length before cropping.
    stretched: usize,
}

impl Geometry {
    /// The geometry of a call on an input shaped `x` and a weight shaped `w`. Saturating:
    /// [`Conv::footprint`] sizes calls with any parameters before they are refused.
    fn of(conv: &Conv, x: &[usize], w: &[usize]) -> Geometry {
        let (c, n, k) = (x[0], x[1], w[2]);
        let groups = conv.groups.max(1);
        let (o, out_per_group) =
            if conv.transposed { (w[1].saturating_mul(groups), w[1]) } else { (w[0], w[0] / groups) };
        let (s, d) = (conv.stride.max(1), conv.dilation.max(1));
        let span = d.saturating_mul(k.saturating_sub(1)).saturating_add(1);
        let padded = n.saturating_add(conv.padding.0).saturating_add(conv.padding.1);
        let stretched = n.saturating_sub(1).saturating_mul(s).saturating_add(span).saturating_add(conv.output_padding);
        // Parameters PyTorch would reject (an input shorter than the kernel's span) leave
        // no output at all.
        let l = if conv.transposed {
            stretched.saturating_sub(conv.padding.0.saturating_mul(2))
        } else {
            padded.checked_sub(span).map_or(0, |room| room / s + 1)
        };
        Geometry { c, n, o, l, k, stride: s, dilation: d, in_per_group: c / groups, out_per_group, padded, stretched }
    }

    fn outputs(&self) -> usize {
        self.o * self.l
    }

    fn inputs(&self) -> usize {
        self.c * self.n
    }

    /// How many positions apart two outputs (inputs) must be for their fields not to
    /// meet: a field spans `D(k-1) + 1` input (output) positions, and neighbours are `S`
    /// apart.
    fn spread(&self) -> usize {
        (self.dilation * (self.k - 1) + 1).div_ceil(self.stride)
    }

    /// The inputs `(c, p)` output `(o, t)` of a `conv1d` reads.
    fn read_by(&self, conv: &Conv, o: usize, t: usize) -> Vec<(usize, usize)> {
        self.field(conv, (o, t), (self.out_per_group, self.in_per_group), self.n)
    }

    /// The outputs `(o, t)` input `(c, i)` of a `conv_transpose1d` reaches.
    fn reached_by(&self, conv: &Conv, c: usize, i: usize) -> Vec<(usize, usize)> {
        self.field(conv, (c, i), (self.in_per_group, self.out_per_group), self.l)
    }

    /// The `(channel, position)` pairs on the other side that `(channel, pos)` meets: the
    /// channels of its group there, at the positions `pos·S + m·D - pad` below `limit`.
    /// `(here, there)` count the channels of one group on this side and on the other.
    fn field(
        &self,
        conv: &Conv,
        (channel, pos): (usize, usize),
        (here, there): (usize, usize),
        limit: usize,
    ) -> Vec<(usize, usize)> {
        let group = channel / here.max(1);
        let channels = group * there..(group + 1) * there;
        let positions: Vec<usize> = (0..self.k)
            .filter_map(|m| (pos * conv.stride + m * conv.dilation).checked_sub(conv.padding.0))
            .filter(|&p| p < limit)
            .collect();
        channels.flat_map(|c| positions.iter().map(move |&p| (c, p))).collect()
    }
}

/// Every color `(q, r)`: a channel within the group and a position modulo `spread`.
fn colors(per_group: usize, spread: usize) -> Vec<(usize, usize)> {
    (0..per_group.max(1)).flat_map(|q| (0..spread.max(1)).map(move |r| (q, r))).collect()
}

fn tensor(a: &Array) -> candle_core::Result<Tensor> {
    Tensor::from_vec(a.data.clone(), a.shape.as_slice(), &Device::Cpu)
}

/// The array with a batch axis of 1 in front, as the engine takes inputs.
fn batch(a: &Array) -> candle_core::Result<Tensor> {
    tensor(a)?.unsqueeze(0)
}

fn array(t: &Tensor) -> Result<Array, EngineError> {
    Ok(Array { shape: t.dims().to_vec(), data: t.flatten_all()?.to_vec1::<f64>()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Conv =
        Conv { transposed: false, stride: 1, padding: (0, 0), output_padding: 0, dilation: 1, groups: 1, flip: false };

    fn a(shape: &[usize], data: &[f64]) -> Array {
        Array { shape: shape.to_vec(), data: data.to_vec() }
    }

    #[test]
    fn conv1d_is_a_cross_correlation() {
        let (x, w) = (a(&[1, 4], &[1.0, 2.0, 3.0, 4.0]), a(&[1, 1, 2], &[10.0, 100.0]));
        assert_eq!(PLAIN.forward(&x, &w).unwrap().data, [210.0, 320.0, 430.0]);
        let flipped = Conv { flip: true, ..PLAIN };
        assert_eq!(flipped.forward(&x, &w).unwrap().data, [120.0, 230.0, 340.0]);
        let padded = Conv { padding: (1, 0), ..PLAIN };
        assert_eq!(padded.forward(&x, &w).unwrap().data, [100.0, 210.0, 320.0, 430.0]);
    }

    #[test]
    fn a_kernel_longer_than_the_input_gives_no_output() {
        let (x, w) = (a(&[1, 3], &[1.0, 2.0, 3.0]), a(&[1, 1, 3], &[1.0, 1.0, 1.0]));
        let dilated = Conv { dilation: 2, ..PLAIN };
        assert_eq!(dilated.output_shape(&x, &w), [1, 0]);
        assert_eq!(dilated.forward(&x, &w).unwrap().data, Vec::<f64>::new());
    }

    #[test]
    fn transposed_padding_past_the_stretched_input_is_cropped() {
        // n = 1, S = 2, P = 2, k = 5, output_padding 1: (n-1)·S - 2P is negative, the
        // length 2 is not. Unpadded, o = i·S + m for o < 6 (o = 5 the output padding's 0);
        // PyTorch's outputs are o = 2, 3.
        let (x, w) = (a(&[1, 1], &[3.0]), a(&[1, 1, 5], &[1.0, 10.0, 100.0, 1000.0, 10000.0]));
        let conv = Conv { transposed: true, stride: 2, padding: (2, 2), output_padding: 1, ..PLAIN };
        assert_eq!(conv.output_shape(&x, &w), [1, 2]);
        assert_eq!(conv.forward(&x, &w).unwrap().data, [300.0, 3000.0]);
        let cropped = Conv { padding: (4, 4), ..conv };
        assert!(cropped.forward(&x, &w).is_err());
    }

    #[test]
    fn jacobians_are_exact() {
        let (x, w) = (a(&[1, 3], &[1.0, 2.0, 3.0]), a(&[1, 1, 2], &[10.0, 100.0]));
        let (jx, method) = PLAIN.jacobian_x(&x, &w).unwrap();
        assert_eq!(method, Method::Autograd);
        assert_eq!(jx.data, [10.0, 100.0, 0.0, 0.0, 10.0, 100.0]);
        let jw = PLAIN.jacobian_w(&x, &w).unwrap();
        assert_eq!(jw.data, [1.0, 2.0, 2.0, 3.0]);
        let transposed = Conv { transposed: true, ..PLAIN };
        let (jx, method) = transposed.jacobian_x(&x, &w).unwrap();
        assert_eq!(method, Method::UnitInputs);
        // y_o = Σ x_i w_m [o = i + m]: 4 outputs.
        assert_eq!(jx.shape, [4, 3]);
        assert_eq!(&jx.data[3..6], [100.0, 10.0, 0.0]);
    }

    #[test]
    fn pieces_agree_with_one_call_and_pullbacks_with_the_jacobians() {
        // 4 input channels, 2 groups, k = 64: 1024 outputs a piece, so 2 pieces here.
        let conv = Conv { stride: 3, padding: (5, 2), dilation: 2, groups: 2, flip: true, ..PLAIN };
        let x = a(&[4, 4000], &(0..16000).map(|i| ((i * 7919) % 201) as f64 - 100.0).collect::<Vec<_>>());
        let w = a(&[2, 2, 64], &(0..256).map(|i| ((i * 31) % 17) as f64 - 8.0).collect::<Vec<_>>());
        let whole = array(&conv.apply(&batch(&x).unwrap(), &tensor(&w).unwrap()).unwrap().squeeze(0).unwrap()).unwrap();
        let (l, outputs) = (whole.shape[1], whole.data.len());
        assert!(l > PIECE / (4 * 64), "more than one piece");
        assert_eq!(conv.forward(&x, &w).unwrap(), whole);
        let v = a(&[2, l], &(0..outputs).map(|i| ((i * 13) % 11) as f64 - 5.0).collect::<Vec<_>>());
        let back = conv.backward(&x, &w, &v).unwrap();
        assert_eq!(back.output, whole);
        let (rows, _) = conv.jacobian_x_rows(&x, &w).unwrap();
        let mut vjx = vec![0.0; x.data.len()];
        for (r, row) in rows.iter().enumerate() {
            row.iter().for_each(|&(c, d)| vjx[c] += v.data[r] * d);
        }
        assert_eq!(back.x.data, vjx);
        let jw = conv.jacobian_w(&x, &w).unwrap();
        let vjw: Vec<f64> =
            (0..w.data.len()).map(|c| (0..outputs).map(|r| v.data[r] * jw.data[r * w.data.len() + c]).sum()).collect();
        assert_eq!(back.w.data, vjw);
        assert!(Conv { transposed: true, ..PLAIN }.backward(&x, &w, &v).is_err());
    }
}
