//! The backward of the run lines that are no convolution, and of a convolution's bias,
//! each gradient named as one PyTorch call and proved to be it as a convolution's is (its
//! output has the tensor's shape, and its coefficient of `g` meets the derived Jacobian):
//! - nearest upsampling by `s`: `g`'s windows of `s` summed, a sum-pooling
//!   (`avg_pool2d(g, s, divisor_override = 1)`);
//! - average pooling whose windows tile the input (stride = kernel size, no padding): `g`
//!   upsampled by `k`, zero-padded past the last window, divided by `∏k`;
//! - other average pooling: `g` through a transposed depthwise convolution with a kernel of
//!   ones, divided by `∏k`;
//! - a bias: `g` summed over the batch and every position.

use super::{same_length, Derivation};
use crate::algebra::cond::{eq, le};
use crate::algebra::formula::fresh_name;
use crate::algebra::index::{div, modulo, var};
use crate::algebra::{Cond, Element, Env, Formula, Index, IndexExt, Term};
use crate::model::{Layer, Model, RunOp};
use crate::ops::{Axis, GradientCall};
use std::collections::BTreeSet;

/// Which call computes the gradient.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerCall {
    /// `avg_pool2d(g, s, divisor_override = 1)`: each window of `s` entries of `g` summed
    /// (∂L/∂x of nearest upsampling by `s`).
    SumPool {
        /// The factor per spatial axis.
        scale: Vec<Index>,
    },
    /// `pad(interpolate(g, scale_factor = k), (0, rest)) / ∏k` (∂L/∂x of average pooling
    /// whose windows tile the input from its start).
    Upsampled {
        /// The window's length per spatial axis.
        kernel: Vec<Index>,
        /// The inputs past the last window per spatial axis, `n mod k`.
        rest: Vec<Index>,
    },
    /// `conv_transpose(g, ones(C, 1, *k), …, groups = C) / ∏k` (∂L/∂x of any other
    /// average pooling).
    Transposed {
        /// The window's length per spatial axis: the kernel of ones.
        kernel: Vec<Index>,
        /// The transposed convolution's parameters per spatial axis.
        axes: Vec<Axis>,
    },
    /// `g.sum((0, 2, …))`: `g` summed over the batch and every spatial axis (∂L/∂b).
    BiasSum,
}

/// A gradient of a layer's run line, or of a convolution's bias, as one PyTorch call.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerGradient {
    /// The call.
    pub call: LayerCall,
    /// The upstream gradient's name.
    pub upstream: String,
    /// How many spatial axes the layer has.
    pub spatial: usize,
    /// The channels `C`, where the tensors have a channel axis.
    pub channels: Option<Index>,
    /// The window's size `∏k` that the call divides by (1: no division).
    pub divisor: i64,
}

/// The call that computes `∂L/∂wrt` for the spec's layer run line, or for the bias of its
/// convolution run line, or why none is named.
pub fn layer_gradient(model: &Model, derivation: &Derivation, wrt: &str) -> Result<LayerGradient, String> {
    if !derivation.domain.axes.iter().all(|(lo, _)| lo.is_zero()) {
        return Err("the output domain does not start at 0, so the engine's output is not the formula's".into());
    }
    let upstream = model.upstream.clone();
    if let Some(run) = model.runs.first() {
        if run.bias.as_deref() != Some(wrt) {
            return Err(format!("the run line does not pass `{wrt}`"));
        }
        let spatial = run.op.spatial();
        if derivation.lengths.len() != spatial + 1 {
            return Err(format!("the output has no channel axis for the bias `{wrt}` to be added along"));
        }
        let channels = Some(derivation.lengths[0].clone());
        return Ok(LayerGradient { call: LayerCall::BiasSum, upstream, spatial, channels, divisor: 1 });
    }
    let run = model.layers.first().ok_or("the spec has no run line to name the forward call")?;
    if run.input != wrt {
        return Err(format!("the run line does not pass `{wrt}`"));
    }
    let x = model.tensor(wrt).ok_or_else(|| format!("`{wrt}` is not a tensor of the spec"))?;
    let spatial = run.op.spatial();
    let channels = (x.shape.len() > spatial).then(|| x.shape[0].clone());
    let ns = &x.shape[x.shape.len() - spatial..];
    let (call, divisor) = match &run.layer {
        Layer::UpsampleNearest { scale_factor } => (LayerCall::SumPool { scale: scale_factor.clone() }, 1),
        Layer::AvgPool { kernel_size, stride, padding } => {
            let window = kernel_size.iter().map(|k| k.as_constant()).product::<Option<i64>>();
            let divisor = window.ok_or("the kernel size is not a constant, so the call's division is no number")?;
            let kernel = kernel_size.clone();
            let call = match kernel_size == stride && padding.iter().all(|p| p.is_zero()) {
                true => {
                    LayerCall::Upsampled { rest: ns.iter().zip(&kernel).map(|(n, k)| modulo(n, k)).collect(), kernel }
                }
                // Per axis, output_padding gives the input's length back.
                false => {
                    let axes = (0..spatial)
                        .map(|a| Axis {
                            stride: stride[a].clone(),
                            padding: (padding[a].clone(), padding[a].clone()),
                            output_padding: modulo(&ns[a].add(&padding[a].scale(2)).sub(&kernel[a]), &stride[a]),
                            dilation: Index::constant(1),
                        })
                        .collect();
                    LayerCall::Transposed { kernel, axes }
                }
            };
            (call, divisor)
        }
    };
    Ok(LayerGradient { call, upstream, spatial, channels, divisor })
}

impl LayerGradient {
    /// The PyTorch function called.
    pub fn op(&self) -> &'static str {
        match &self.call {
            LayerCall::SumPool { .. } => "avg_pool2d",
            LayerCall::Upsampled { .. } => "interpolate",
            LayerCall::Transposed { .. } => RunOp::of(self.spatial, true).name(),
            LayerCall::BiasSum => "sum",
        }
    }

    /// The transposed convolution (of [`LayerCall::Transposed`]) on `g` with the weight
    /// written `weight`.
    pub fn convolution(&self, weight: String) -> Option<GradientCall> {
        let LayerCall::Transposed { axes, .. } = &self.call else { return None };
        Some(GradientCall {
            op: RunOp::of(self.spatial, true),
            input: self.upstream.clone(),
            weight,
            flip_weight: false,
            axes: axes.clone(),
            groups: self.channels.clone().unwrap_or(Index::constant(1)),
            channels_as_batch: false,
            crop: vec![None; self.spatial],
            flip_result: false,
        })
    }

    /// The kernel of ones' shape `[C, 1, *k]` (`[1, 1, *k]` without channels).
    pub fn ones_shape(&self) -> Vec<Index> {
        let LayerCall::Transposed { kernel, .. } = &self.call else { return Vec::new() };
        let c = self.channels.clone().unwrap_or(Index::constant(1));
        [vec![c, Index::constant(1)], kernel.clone()].concat()
    }

    /// The call as a formula of the sizes, e.g.
    /// `conv_transpose1d(g, ones(C, 1, 3), stride = 2, padding = 1, output_padding = (n - 1) mod 2, groups = C) / 3`.
    pub fn symbolic(&self) -> String {
        self.text(&|p: &Index| p.to_string(), false)
    }

    /// The call at concrete sizes, in symconv's notation.
    pub fn at(&self, sizes: &Env) -> Result<String, crate::algebra::EvalError> {
        self.params().iter().try_for_each(|p| p.eval(sizes).map(drop))?;
        Ok(self.text(&|p: &Index| p.eval(sizes).map_or_else(|_| p.to_string(), |v| v.to_string()), false))
    }

    /// One Python expression over `torch`, `F` and the upstream gradient `g` in PyTorch's
    /// layout (`[1, C, *out]`) that evaluates to the gradient in its tensor's PyTorch
    /// layout, at concrete sizes.
    pub fn torch(&self, sizes: &Env) -> Result<String, crate::algebra::EvalError> {
        self.params().iter().try_for_each(|p| p.eval(sizes).map(drop))?;
        Ok(self.text(&|p: &Index| p.eval(sizes).map_or_else(|_| p.to_string(), |v| v.to_string()), true))
    }

    /// Every size expression the call's text shows.
    fn params(&self) -> Vec<Index> {
        let mut all: Vec<Index> = self.channels.iter().cloned().collect();
        match &self.call {
            LayerCall::SumPool { scale } => all.extend(scale.iter().cloned()),
            LayerCall::Upsampled { kernel, rest } => all.extend(kernel.iter().chain(rest).cloned()),
            LayerCall::Transposed { kernel, axes } => {
                all.extend(kernel.iter().cloned());
                all.extend(axes.iter().flat_map(|a| [a.stride.clone(), a.padding.0.clone(), a.output_padding.clone()]));
            }
            LayerCall::BiasSum => {}
        }
        all
    }

    /// The call's text: symconv's notation (`torch` false) or PyTorch's.
    fn text(&self, show: &dyn Fn(&Index) -> String, torch: bool) -> String {
        let g = &self.upstream;
        let (f, keyword) = match torch {
            true => ("F.", "="),
            false => ("", " = "),
        };
        // One value for every axis where they are all alike, as PyTorch takes them.
        let values = |v: &[Index]| {
            let shown: Vec<String> = v.iter().map(show).collect();
            match shown.iter().all(|s| *s == shown[0]) {
                true => shown[0].clone(),
                false => format!("({})", shown.join(", ")),
            }
        };
        let over = |call: String| match self.divisor {
            1 => call,
            d => format!("{call} / {d}"),
        };
        match &self.call {
            LayerCall::SumPool { scale } => match self.spatial {
                // avg_pool1d has no divisor_override: the 2-D call on a height of 1.
                1 => format!(
                    "{f}avg_pool2d({g}.unsqueeze(-2), (1, {}), divisor_override{keyword}1).squeeze(-2)",
                    show(&scale[0])
                ),
                _ => format!("{f}avg_pool2d({g}, {}, divisor_override{keyword}1)", values(scale)),
            },
            LayerCall::Upsampled { kernel, rest } => {
                let mut call = format!("{f}interpolate({g}, scale_factor{keyword}{})", values(kernel));
                let ends: Vec<String> = rest.iter().rev().flat_map(|r| ["0".to_string(), show(r)]).collect();
                if !rest.iter().all(|r| r.is_zero() || show(r) == "0") {
                    call = format!("{f}pad({call}, ({}))", ends.join(", "));
                }
                over(call)
            }
            LayerCall::Transposed { .. } => {
                let shape: Vec<String> = self.ones_shape().iter().map(show).collect();
                let prefix = if torch { "torch." } else { "" };
                let call = self.convolution(format!("{prefix}ones({})", shape.join(", "))).expect("a convolution");
                over(call.shown(show, torch))
            }
            LayerCall::BiasSum => {
                let dims: Vec<String> = [0].into_iter().chain(2..self.spatial + 2).map(|a| a.to_string()).collect();
                format!("{g}.sum(({}))", dims.join(", "))
            }
        }
    }

    /// The call's formula in the spec's layouts, indexed by `out` (the gradient's
    /// tensor's index names), over the call's divisor; `lengths` are the upstream
    /// gradient's, `taken` the names the formula must not sum over.
    pub fn formula(&self, out: &[String], lengths: &[Index], taken: &BTreeSet<String>) -> Formula {
        let mut taken = taken.clone();
        taken.extend(out.iter().cloned());
        let mut summed = |base: &str| {
            let name = fresh_name(base, &taken);
            taken.insert(name.clone());
            name
        };
        let d = self.spatial;
        let one = Index::constant(1);
        let channel: Vec<Index> = self.channels.as_ref().map(|_| var(&out[0])).into_iter().collect();
        let within = |i: &Index, length: &Index| -> [Cond; 2] { [le(&Index::zero(), i), le(i, &length.sub(&one))] };
        let spatial_lengths = &lengths[lengths.len() - d..];
        let js: Vec<Index> = out[out.len().saturating_sub(d)..].iter().map(|n| var(n)).collect();
        let (bound, positions, brackets): (Vec<String>, Vec<Index>, Vec<Cond>) = match &self.call {
            // Σ_m g_<c, s·j + m> [0 ≤ m ≤ s - 1] per axis.
            LayerCall::SumPool { scale } => {
                let ms: Vec<String> = (0..d).map(|_| summed("m")).collect();
                let positions = (0..d).map(|a| scale[a].mul(&js[a]).add(&var(&ms[a]))).collect();
                let brackets = (0..d).flat_map(|a| within(&var(&ms[a]), &scale[a])).collect();
                (ms, positions, brackets)
            }
            // g_<c, j div k> [j div k ≤ L - 1] per axis: zero past the last window.
            LayerCall::Upsampled { kernel, .. } => {
                let positions: Vec<Index> = (0..d).map(|a| div(&js[a], &kernel[a])).collect();
                let brackets = (0..d).map(|a| le(&positions[a], &spatial_lengths[a].sub(&one))).collect();
                (Vec::new(), positions, brackets)
            }
            // Σ_<i,m> g_<c, i> [j = s·i + m - p] [0 ≤ m ≤ k - 1] per axis.
            LayerCall::Transposed { kernel, axes } => {
                let is_: Vec<String> = (0..d).map(|_| summed("i")).collect();
                let ms: Vec<String> = (0..d).map(|_| summed("m")).collect();
                let mut brackets = Vec::new();
                for a in 0..d {
                    let (i, m) = (var(&is_[a]), var(&ms[a]));
                    brackets.push(eq(&js[a], &axes[a].stride.mul(&i).add(&m).sub(&axes[a].padding.0)));
                    brackets.extend(within(&m, &kernel[a]));
                    brackets.extend(within(&i, &spatial_lengths[a]));
                }
                let positions = is_.iter().map(|i| var(i)).collect();
                (is_.into_iter().chain(ms).collect(), positions, brackets)
            }
            // Σ_i g_<p, i> over every position.
            LayerCall::BiasSum => {
                let is_: Vec<String> = (0..d).map(|_| summed("i")).collect();
                let brackets = (0..d).flat_map(|a| within(&var(&is_[a]), &spatial_lengths[a])).collect();
                (is_.clone(), is_.iter().map(|i| var(i)).collect(), brackets)
            }
        };
        let element = Element { tensor: self.upstream.clone(), index: [channel, positions].concat() };
        let term = Term { bound, coeff: one.clone(), elements: vec![element], brackets };
        Formula::over(vec![term], self.divisor)
    }

    /// The call's output lengths along its spatial axes, for an upstream gradient of these
    /// `lengths`.
    pub fn lengths(&self, lengths: &[Index]) -> Vec<Index> {
        let ls = &lengths[lengths.len() - self.spatial..];
        let one = Index::constant(1);
        match &self.call {
            LayerCall::SumPool { scale } => ls.iter().zip(scale).map(|(l, s)| div(&l.sub(s), s).add(&one)).collect(),
            LayerCall::Upsampled { kernel, rest } => {
                ls.iter().zip(kernel).zip(rest).map(|((l, k), r)| k.mul(l).add(r)).collect()
            }
            LayerCall::Transposed { kernel, axes } => {
                (0..self.spatial).map(|a| crate::ops::axis_length(true, &ls[a], &kernel[a], &axes[a])).collect()
            }
            LayerCall::BiasSum => Vec::new(),
        }
    }

    /// The proof that the call computes `∂L/∂wrt` (see the module's doc); `Err` says why
    /// it is not proved.
    pub fn prove(&self, model: &Model, derivation: &Derivation, wrt: &str) -> Result<(), String> {
        let d = derivation.derivative(wrt).ok_or_else(|| format!("`{wrt}` is not a tensor of the spec"))?;
        let t = model.tensor(wrt).expect("a derivative's tensor is the model's");
        let lengths = self.lengths(&derivation.lengths);
        let wanted = &t.shape[t.shape.len() - lengths.len()..];
        for (a, (got, want)) in lengths.iter().zip(wanted).enumerate() {
            if !same_length(got, want, &derivation.limits) {
                let axis = if lengths.len() == 1 { String::new() } else { format!(" along spatial axis {a}") };
                return Err(format!("its output's length {got}{axis} is not {want} for every size"));
            }
        }
        if let (Some(c), Some(want)) = (&self.channels, t.shape.first()) {
            if t.shape.len() > lengths.len() && !same_length(c, want, &derivation.limits) {
                return Err(format!("its output's {c} channels are not the {want} of `{wrt}`"));
            }
        }
        // The e-graph compares terms over the formula's divisor.
        if self.divisor == 0 || model.formula.divisor % self.divisor != 0 {
            return Err(format!(
                "it divides by {}, which does not divide the formula's {}, so the e-graph does not compare them",
                self.divisor, model.formula.divisor
            ));
        }
        let mut taken: BTreeSet<String> = model.sizes.iter().cloned().collect();
        taken.extend(model.tensors.iter().map(|t| t.name.clone()));
        let formula = self.formula(&d.wrt_indices, &derivation.lengths, &taken);
        let coefficient =
            derivation.upstream_coefficient(model, &formula, &d.wrt_indices).map_err(|e| e.to_string())?;
        match derivation.proves(model, d, &coefficient) {
            Ok(true) => Ok(()),
            Ok(false) => {
                Err(format!("the e-graph did not meet its coefficient of {} with {}", model.upstream, d.name(model)))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}
