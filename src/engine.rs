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

    /// `∂y/∂x`, rows over `y` and columns over `x`, both flattened row-major. `conv1d`
    /// differentiates by autograd; candle has no backward for `conv_transpose1d`, whose
    /// columns are its outputs on unit inputs instead (it is linear in `x`).
    pub fn jacobian_x(&self, x: &Array, w: &Array) -> Result<(Array, Method), EngineError> {
        if self.transposed {
            let w = tensor(w)?;
            return Ok((self.by_unit_inputs(x, |u| self.apply(&batch(u)?, &w))?, Method::UnitInputs));
        }
        let xv = Var::from_tensor(&batch(x)?)?;
        let y = self.apply(xv.as_tensor(), &tensor(w)?)?.flatten_all()?;
        let rows = y.dim(0)?;
        let mut data = Vec::with_capacity(rows * x.data.len());
        for r in 0..rows {
            let grads = y.get(r)?.backward()?;
            let row = match grads.get(xv.as_tensor()) {
                Some(g) => g.flatten_all()?.to_vec1::<f64>()?,
                None => vec![0.0; x.data.len()],
            };
            data.extend(row);
        }
        Ok((Array { shape: vec![rows, x.data.len()], data }, Method::Autograd))
    }

    /// `∂y/∂w`, rows over `y` and columns over `w`: the outputs on unit weights (the
    /// convolution is linear in `w`).
    pub fn jacobian_w(&self, x: &Array, w: &Array) -> Result<Array, EngineError> {
        let x = batch(x)?;
        self.by_unit_inputs(w, |u| self.apply(&x, &tensor(u)?))
    }

    /// The Jacobian of a function linear in `a`: column `c` is its value at the unit array
    /// `e_c`.
    fn by_unit_inputs(
        &self,
        a: &Array,
        f: impl Fn(&Array) -> candle_core::Result<Tensor>,
    ) -> Result<Array, EngineError> {
        let mut unit = Array { shape: a.shape.clone(), data: vec![0.0; a.data.len()] };
        let mut columns = Vec::with_capacity(a.data.len());
        for c in 0..a.data.len() {
            unit.data[c] = 1.0;
            columns.push(f(&unit)?.flatten_all()?.to_vec1::<f64>()?);
            unit.data[c] = 0.0;
        }
        let rows = columns.first().map_or(0, |c| c.len());
        let data = (0..rows).flat_map(|r| columns.iter().map(move |col| col[r])).collect();
        Ok(Array { shape: vec![rows, a.data.len()], data })
    }
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
