//! The engine: concrete convolution runs on candle-core with PyTorch's semantics
//! (cross-correlation, zero padding, stride, dilation, groups), their outputs and their
//! exact Jacobians. It knows nothing of the spec language.

use candle_core::{Device, Tensor, Var};

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

/// An engine failure, as candle reports it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the engine (candle) failed: {0}")]
pub struct EngineError(String);

impl From<candle_core::Error> for EngineError {
    fn from(e: candle_core::Error) -> EngineError {
        EngineError(e.to_string())
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
            x.conv_transpose1d(&w, self.padding.0, self.output_padding, self.stride, self.dilation, self.groups)
        } else {
            let x = x.pad_with_zeros(2, self.padding.0, self.padding.1)?;
            x.conv1d(&w, 0, self.stride, self.dilation, self.groups)
        }
    }

    /// The output `[O, L]` for an input `[C, n]` and a weight `[O, C/G, k]` (transposed:
    /// `[C, O/G, k]`).
    pub fn forward(&self, x: &Array, w: &Array) -> Result<Array, EngineError> {
        let y = self.apply(&batch(x)?, &tensor(w)?)?;
        array(&y.squeeze(0)?)
    }

    /// `∂y/∂x`, rows over `y` and columns over `x`, both flattened row-major (see
    /// [`Conv::jacobian_x_rows`]).
    pub fn jacobian_x(&self, x: &Array, w: &Array) -> Result<(Array, Method), EngineError> {
        let g = Geometry::of(self, x, w);
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
        let g = Geometry::of(self, x, w);
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
        let g = Geometry::of(self, x, w);
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
}

impl Geometry {
    fn of(conv: &Conv, x: &Array, w: &Array) -> Geometry {
        let (c, n, k) = (x.shape[0], x.shape[1], w.shape[2]);
        let groups = conv.groups.max(1);
        let (o, out_per_group) =
            if conv.transposed { (w.shape[1] * groups, w.shape[1]) } else { (w.shape[0], w.shape[0] / groups) };
        let (s, d) = (conv.stride.max(1), conv.dilation.max(1));
        let l = if conv.transposed {
            ((n - 1) * s + d * (k - 1) + conv.output_padding + 1).saturating_sub(2 * conv.padding.0)
        } else {
            (n + conv.padding.0 + conv.padding.1).saturating_sub(d * (k - 1) + 1) / s + 1
        };
        Geometry { c, n, o, l, k, stride: s, dilation: d, in_per_group: c / groups, out_per_group }
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
}
