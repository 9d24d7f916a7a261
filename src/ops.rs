//! PyTorch's convolutions as index formulas, from PyTorch's definitions: what a run line
//! means, and what the engine call that computes a gradient means. Nothing here runs.

use crate::algebra::cond::eq;
use crate::algebra::formula::fresh_name;
use crate::algebra::index::{div, var};
use crate::algebra::{Cond, Element, Env, Formula, Index, IndexExt, Term};
use crate::model::{Run, RunOp};
use std::collections::BTreeSet;

/// A call's parameters along one spatial axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// `stride`.
    pub stride: Index,
    /// Zeros before and after the input (`conv`); the transposed call crops the first
    /// from both ends of its output.
    pub padding: (Index, Index),
    /// The transposed call's `output_padding`.
    pub output_padding: Index,
    /// `dilation`.
    pub dilation: Index,
}

/// A tensor passed to a call: its name, its shape in the spec, and whether it is passed
/// reversed along its spatial axes (`flip(w)`).
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// The tensor's name.
    pub name: &'a str,
    /// Its shape as the spec declares it (a tensor of spatial axes only is one channel).
    pub shape: &'a [Index],
    /// Whether it is reversed along its spatial axes.
    pub flip: bool,
}

impl Operand<'_> {
    /// Its length along its last axis.
    pub fn length(&self) -> Index {
        self.shape[self.shape.len() - 1].clone()
    }

    /// The element at `(channel…, position…)` with one position per spatial axis, in the
    /// operand's own rank: the channel indices of a tensor of spatial axes only are
    /// dropped (they are 0), a flipped one is read from the end of each spatial axis.
    fn at(&self, channels: &[Index], pos: Vec<Index>) -> Element {
        let spatial = &self.shape[self.shape.len() - pos.len()..];
        let one = Index::constant(1);
        let pos = pos.into_iter().zip(spatial).map(|(p, len)| if self.flip { len.sub(&one).sub(&p) } else { p });
        let mut index: Vec<Index> = match self.shape.len() == spatial.len() {
            true => Vec::new(),
            false => channels.to_vec(),
        };
        index.extend(pos);
        Element { tensor: self.name.to_string(), index }
    }
}

/// Whether `p` is the constant `c`.
fn is(p: &Index, c: i64) -> bool {
    p.as_constant() == Some(c)
}

/// `a / b` for a channel count that the groups divide: `a` where `b` is 1, else
/// `a div b` (which is 1 where they are equal).
fn per_group(a: &Index, b: &Index) -> Index {
    if is(b, 1) {
        a.clone()
    } else {
        div(a, b)
    }
}

/// A summed name for `base`, apart from every name in `taken` (which it joins).
fn summed(base: &str, taken: &mut BTreeSet<String>) -> String {
    let name = if taken.contains(base) { fresh_name(base, taken) } else { base.to_string() };
    taken.insert(name.clone());
    name
}

/// Every name the operands, parameters and output names use.
fn names_of(input: &Operand, weight: &Operand, axes: &[Axis], groups: &Index, out: &[String]) -> BTreeSet<String> {
    let mut taken: BTreeSet<String> = out.iter().cloned().collect();
    let params = axes.iter().flat_map(|a| [&a.stride, &a.padding.0, &a.padding.1, &a.output_padding, &a.dilation]);
    taken.extend(input.shape.iter().chain(weight.shape).chain(params).chain([groups]).flat_map(|d| d.names()));
    taken
}

/// The formula of PyTorch's convolution (`transposed`: its transpose) over any number of
/// spatial axes, one [`Axis`] each, indexed by `out`: one name for the output's channel
/// (where the operands have channels), then one per spatial axis. The operands are
/// `[*spatial]` (one channel), or `[C, *spatial]` and `[O, C/G, *kernel]` (transposed:
/// `[C, O/G, *kernel]`); `None` for other ranks. Each spatial axis reads as in one
/// dimension:
///
/// `conv1d`: `y_<o,t> = Σ_<c,m> x_<g·C/G + c, S·t + D·m - a> w_<o,c,m>`, `g = o div (O/G)`;
/// `conv_transpose1d`: `y_<o,t> = Σ_<c,i,m> x_<c, i> w_<c, o - (O/G)·(c div (C/G)), m> [t = S·i + D·m - P]`.
pub fn formula(
    transposed: bool,
    input: &Operand,
    weight: &Operand,
    axes: &[Axis],
    g: &Index,
    out: &[String],
) -> Option<Formula> {
    let d = axes.len();
    let channels =
        match (input.shape.len().checked_sub(d)?, weight.shape.len().checked_sub(d)?, out.len().checked_sub(d)?) {
            (0, 0, 0) => false,
            (1, 2, 1) => true,
            _ => return None,
        };
    let mut taken = names_of(input, weight, axes, g, out);
    let ts: Vec<Index> = out[out.len() - d..].iter().map(|n| var(n)).collect();
    let ms: Vec<String> = axes.iter().map(|_| summed("m", &mut taken)).collect();
    let taps: Vec<Index> = axes.iter().zip(&ms).map(|(a, m)| var(m).mul(&a.dilation)).collect();
    let kernel: Vec<Index> = ms.iter().map(|m| var(m)).collect();
    let term = |bound: Vec<String>, elements: Vec<Element>, brackets: Vec<Cond>| Term {
        bound,
        coeff: Index::constant(1),
        elements,
        brackets,
    };
    let formula = if !transposed {
        let pos: Vec<Index> =
            (axes.iter().zip(&ts).zip(&taps)).map(|((a, t), tap)| a.stride.mul(t).add(tap).sub(&a.padding.0)).collect();
        if !channels {
            term(ms.clone(), vec![input.at(&[], pos), weight.at(&[], kernel)], Vec::new())
        } else {
            let o = var(&out[0]);
            let (outs, ins) = (&weight.shape[0], &weight.shape[1]);
            let outs_per = per_group(outs, g);
            let group = match (is(g, 1), is(&outs_per, 1)) {
                (true, _) => Index::zero(),
                (false, true) => o.clone(),
                (false, false) => div(&o, &outs_per),
            };
            // One input channel per group: no sum over it.
            let (mut bound, c) = match is(ins, 1) {
                true => (Vec::new(), Index::zero()),
                false => {
                    let c = summed("c", &mut taken);
                    (vec![c.clone()], var(&c))
                }
            };
            bound.extend(ms.iter().cloned());
            let channel = group.mul(ins).add(&c);
            term(bound, vec![input.at(&[channel], pos), weight.at(&[o, c], kernel)], Vec::new())
        }
    } else {
        let is_: Vec<String> = axes.iter().map(|_| summed("i", &mut taken)).collect();
        let positions: Vec<Index> = is_.iter().map(|i| var(i)).collect();
        let hits: Vec<Cond> = (axes.iter().zip(&ts).zip(&taps).zip(&positions))
            .map(|(((a, t), tap), i)| eq(t, &a.stride.mul(i).add(tap).sub(&a.padding.0)))
            .collect();
        let mut bound: Vec<String> = is_.iter().chain(&ms).cloned().collect();
        if !channels {
            term(bound, vec![input.at(&[], positions), weight.at(&[], kernel)], hits)
        } else {
            // Every input channel c reaches the output channels of its group: o is the
            // weight's o - (O/G)·(c div (C/G)) there, which the weight's range bounds.
            let o = var(&out[0]);
            let (ins, outs_per) = (&input.shape[0], &weight.shape[1]);
            let ins_per = per_group(ins, g);
            let c = summed("c", &mut taken);
            let group = per_group(&var(&c), &ins_per);
            let (within, mut brackets) = match (is(g, 1), is(outs_per, 1)) {
                (true, _) => (o.clone(), hits),
                // One output channel per group: o is c's group.
                (false, true) => (Index::zero(), hits),
                (false, false) => (o.sub(&outs_per.mul(&group)), hits),
            };
            if !is(g, 1) && is(outs_per, 1) {
                brackets.push(eq(&o, &group));
            }
            let elements = vec![input.at(&[var(&c)], positions), weight.at(&[var(&c), within], kernel)];
            bound.insert(0, c);
            term(bound, elements, brackets)
        }
    };
    Some(Formula::integer(vec![formula]))
}

/// The output's length along one spatial axis of input length `n` and kernel length `k`:
/// `(n + a + b - D(k-1) - 1) div S + 1`; transposed, `(n - 1)·S - 2P + D(k-1) + output_padding + 1`.
pub fn axis_length(transposed: bool, n: &Index, k: &Index, a: &Axis) -> Index {
    let one = Index::constant(1);
    let span = a.dilation.mul(&k.sub(&one));
    match transposed {
        false => {
            let room = n.add(&a.padding.0).add(&a.padding.1).sub(&span).sub(&one);
            div(&room, &a.stride).add(&one)
        }
        true => n.sub(&one).mul(&a.stride).sub(&a.padding.0.scale(2)).add(&span).add(&a.output_padding).add(&one),
    }
}

/// The output's number of channels (for `[C, *n]` inputs) with `groups`: `O` of a
/// weight `[O, C/G, *k]`, `G·O/G` of a transposed call's weight `[C, O/G, *k]`.
pub fn output_channels(op: RunOp, weight: &[Index], groups: &Index) -> Index {
    match op.transposed() {
        false => weight[0].clone(),
        true => weight[1].mul(groups),
    }
}

/// A run line's parameters along each of its spatial axes, and its groups: PyTorch's
/// defaults where not written, one padding value meaning both ends (of every axis, when
/// it is the only one). (A run of several axes keeps one value per axis, two for padding;
/// see [`Run::params`].)
pub fn axes_of_run(run: &Run) -> (Vec<Axis>, Index) {
    let d = run.op.spatial();
    let values = |name: &str| run.params.iter().find(|(n, _, _)| n == name).map(|(_, v, _)| v.as_slice());
    let at = |name: &str, k: usize, default: i64| {
        values(name).and_then(|v| v.get(k).or(v.last())).cloned().unwrap_or(Index::constant(default))
    };
    let padding = |a: usize| match values("padding").map_or(0, <[Index]>::len) == 2 * d {
        true => (at("padding", 2 * a, 0), at("padding", 2 * a + 1, 0)),
        false => (at("padding", a, 0), at("padding", a, 0)),
    };
    let axes = (0..d)
        .map(|a| Axis {
            stride: at("stride", a, 1),
            padding: padding(a),
            output_padding: at("output_padding", a, 0),
            dilation: at("dilation", a, 1),
        })
        .collect();
    (axes, at("groups", 0, 1))
}

/// An engine call that computes a gradient, symbolic in the sizes: `op(input, weight)`
/// with parameters per spatial axis; for a weight's gradient, with each operand's channels
/// moved to the batch axis and the result's batch and channel axes swapped back
/// (`channels_as_batch`); then cropped along each spatial axis (`crop`) and reversed along
/// every spatial axis (`flip_result`) where the forward call reversed the weight.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientCall {
    /// The operation called.
    pub op: RunOp,
    /// The tensor passed as its input.
    pub input: String,
    /// The tensor passed as its weight.
    pub weight: String,
    /// Whether the weight is passed reversed along its spatial axes.
    pub flip_weight: bool,
    /// Its parameters along each spatial axis.
    pub axes: Vec<Axis>,
    /// Its groups.
    pub groups: Index,
    /// Channels as the batch: `op(inputᵀ, weightᵀ)ᵀ` (see the type's doc).
    pub channels_as_batch: bool,
    /// The part of each spatial axis kept, `(start, length)`; `None` keeps all of it.
    pub crop: Vec<Option<(Index, Index)>>,
    /// Whether the result is reversed along its spatial axes.
    pub flip_result: bool,
}

/// What [`GradientCall::formula`] needs of the spec: each tensor's shape by name.
pub type Shapes<'a> = &'a dyn Fn(&str) -> Option<Vec<Index>>;

impl GradientCall {
    /// The call's formula in the spec's layouts, indexed by `out` (the gradient's tensor's
    /// index names), and the lengths of its spatial axes before any crop. `None` where
    /// the ranks do not fit.
    pub fn formula(&self, shapes: Shapes, out: &[String]) -> Option<(Formula, Vec<Index>)> {
        let (a, b) = (shapes(&self.input)?, shapes(&self.weight)?);
        let input = Operand { name: &self.input, shape: &a, flip: false };
        let weight = Operand { name: &self.weight, shape: &b, flip: self.flip_weight };
        let d = self.axes.len();
        let (mut f, lengths) = if self.channels_as_batch {
            self.channels_as_batch_formula(&input, &weight, out)?
        } else {
            let f = formula(self.op.transposed(), &input, &weight, &self.axes, &self.groups, out)?;
            (f, self.lengths(&a, &b, self.op.transposed())?)
        };
        let names = out.get(out.len().checked_sub(d)?..)?;
        for (axis, name) in names.iter().enumerate() {
            let kept = self.crop.get(axis).cloned().flatten();
            let length = match &kept {
                Some((start, length)) => {
                    f = f.substitute(name, &var(name).add(start));
                    length.clone()
                }
                None => lengths[axis].clone(),
            };
            if self.flip_result {
                f = f.substitute(name, &length.sub(&Index::constant(1)).sub(&var(name)));
            }
        }
        Some((f, lengths))
    }

    /// Why PyTorch refuses the call on operands of these shapes at `sizes`, where it does:
    /// its groups do not fit their channels (a tensor of spatial axes only is one channel).
    pub fn misfit(&self, shapes: Shapes, sizes: &Env) -> Option<String> {
        let (a, b) = (shapes(&self.input)?, shapes(&self.weight)?);
        let d = self.axes.len();
        // Channels moved to the batch, or ranks that fit no call ([`GradientCall::formula`]
        // says so): nothing to check here.
        if self.channels_as_batch || ![d, d + 1].contains(&a.len()) || ![d, d + 2].contains(&b.len()) {
            return None;
        }
        let at = |shape: &[Index], axis: usize| match shape.len() > d {
            true => shape.get(axis)?.eval(sizes).ok(),
            false => Some(1),
        };
        let (g, c, outer, inner) = (self.groups.eval(sizes).ok()?, at(&a, 0)?, at(&b, 0)?, at(&b, 1)?);
        let (input, weight) = (&self.input, &self.weight);
        let size = format!("weight `{weight}` of size [{outer}, {inner}, …]");
        let why = match self.op.transposed() {
            false if inner.checked_mul(g) != Some(c) => format!(
                "given groups={g}, {size}, expected `{input}` to have {} channels, but got {c} channels instead",
                inner.saturating_mul(g)
            ),
            false if g < 1 || outer % g != 0 => format!("out_channels ({outer}) must be divisible by groups ({g})"),
            true if outer != c => format!(
                "given transposed=1, {size}, expected `{input}` to have {outer} channels, but got {c} channels instead"
            ),
            true if g < 1 || c % g != 0 => format!("in_channels ({c}) must be divisible by groups ({g})"),
            _ => return None,
        };
        Some(format!("PyTorch refuses it: {why}"))
    }

    /// The call's output lengths along its spatial axes, once cropped.
    pub fn cropped_lengths(&self, lengths: &[Index]) -> Vec<Index> {
        let kept = |a: usize| self.crop.get(a).cloned().flatten().map(|(_, length)| length);
        (0..lengths.len()).map(|a| kept(a).unwrap_or_else(|| lengths[a].clone())).collect()
    }

    /// The output's spatial lengths for operands of shapes `a` and `b`.
    fn lengths(&self, a: &[Index], b: &[Index], transposed: bool) -> Option<Vec<Index>> {
        let d = self.axes.len();
        let (n, k) = (a.get(a.len().checked_sub(d)?..)?, b.get(b.len().checked_sub(d)?..)?);
        Some((0..d).map(|i| axis_length(transposed, &n[i], &k[i], &self.axes[i])).collect())
    }

    /// `conv(inputᵀ, weightᵀ)ᵀ` (see [`GradientCall`]):
    /// `y_<b,a,t…> = Σ_<i…> A_<a, S·t + D·i - pad, …> B_<b, i, …>`, one group per channel
    /// where `groups` is not 1 (`y_<b,0,t…>` with `a = b`).
    fn channels_as_batch_formula(&self, a: &Operand, b: &Operand, out: &[String]) -> Option<(Formula, Vec<Index>)> {
        let d = self.axes.len();
        let mut taken = names_of(a, b, &self.axes, &self.groups, out);
        let is_: Vec<String> = self.axes.iter().map(|_| summed("i", &mut taken)).collect();
        let ts = out.get(out.len().checked_sub(d)?..)?;
        let pos: Vec<Index> = (self.axes.iter().zip(ts).zip(&is_))
            .map(|((p, t), i)| p.stride.mul(&var(t)).add(&p.dilation.mul(&var(i))).sub(&p.padding.0))
            .collect();
        let taps: Vec<Index> = is_.iter().map(|i| var(i)).collect();
        let lengths = self.lengths(a.shape, b.shape, false)?;
        let (elements, brackets) =
            match (a.shape.len().checked_sub(d)?, b.shape.len().checked_sub(d)?, out.len().checked_sub(d)?) {
                (0, 0, 0) => (vec![a.at(&[], pos), b.at(&[], taps)], Vec::new()),
                (1, 1, 2) => {
                    let (bc, ac) = (var(&out[0]), var(&out[1]));
                    if is(&self.groups, 1) {
                        (vec![a.at(&[ac], pos), b.at(&[bc], taps)], Vec::new())
                    } else {
                        let elements = vec![a.at(std::slice::from_ref(&bc), pos), b.at(&[bc], taps)];
                        (elements, vec![eq(&ac, &Index::zero())])
                    }
                }
                _ => return None,
            };
        let term = Term { bound: is_, coeff: Index::constant(1), elements, brackets };
        Some((Formula::integer(vec![term]), lengths))
    }

    /// The call as a formula of the sizes, e.g.
    /// `conv_transpose1d(g, w, stride = S, output_padding = (n - k) mod S)`.
    pub fn symbolic(&self, channels: bool) -> String {
        let show = |p: &Index| p.to_string();
        self.text(&show, channels, false)
    }

    /// The call at concrete sizes, e.g. `conv_transpose1d(g, w, stride = 2, output_padding = 1)`.
    pub fn at(&self, sizes: &Env, channels: bool) -> Result<String, crate::algebra::EvalError> {
        self.check_values(sizes)?;
        let show = |p: &Index| p.eval(sizes).map_or_else(|_| p.to_string(), |v| v.to_string());
        Ok(self.text(&show, channels, false))
    }

    /// One Python expression over `torch`, `F`, the upstream gradient and the spec's
    /// tensors in PyTorch's layouts (inputs `[1, C, *n]`, weights `[O, C/G, *k]`, the
    /// upstream gradient shaped like the engine's output) that evaluates to the gradient
    /// in its tensor's layout, at concrete sizes.
    pub fn torch(&self, sizes: &Env) -> Result<String, crate::algebra::EvalError> {
        self.check_values(sizes)?;
        let show = |p: &Index| p.eval(sizes).map_or_else(|_| p.to_string(), |v| v.to_string());
        Ok(self.text(&show, true, true))
    }

    fn check_values(&self, sizes: &Env) -> Result<(), crate::algebra::EvalError> {
        for a in &self.axes {
            for q in [&a.stride, &a.padding.0, &a.padding.1, &a.output_padding, &a.dilation] {
                q.eval(sizes)?;
            }
        }
        self.groups.eval(sizes)?;
        for (s, l) in self.crop.iter().flatten() {
            s.eval(sizes)?;
            l.eval(sizes)?;
        }
        Ok(())
    }

    /// Whether a convolution's padding differs between the ends of some axis: the call
    /// then pads its input first (PyTorch's conv takes one padding per axis).
    fn pads_first(&self) -> bool {
        !self.op.transposed() && self.axes.iter().any(|a| a.padding.0 != a.padding.1)
    }

    /// The call's text with each size shown by `show`, channels written: symconv's
    /// notation (`torch` false) or PyTorch's.
    pub fn shown(&self, show: &dyn Fn(&Index) -> String, torch: bool) -> String {
        self.text(show, true, torch)
    }

    /// The call's text: symconv's notation (`torch` false) or PyTorch's.
    fn text(&self, show: &dyn Fn(&Index) -> String, channels: bool, torch: bool) -> String {
        let name = self.op.name();
        let d = self.axes.len();
        let moved = |t: &str| match (self.channels_as_batch && channels, torch) {
            (true, true) => format!("{t}.transpose(0, 1)"),
            (true, false) => format!("{t}ᵀ"),
            _ => t.to_string(),
        };
        // PyTorch's flip and F.pad name the spatial axes from the last.
        let spatial_dims = (1..=d).rev().map(|a| format!("-{a}")).collect::<Vec<_>>().join(", ");
        let unpadded = self.pads_first();
        let mut input = self.input.clone();
        if torch && unpadded {
            let pairs = self.axes.iter().rev().flat_map(|a| [show(&a.padding.0), show(&a.padding.1)]);
            input = format!("F.pad({input}, ({}))", pairs.collect::<Vec<_>>().join(", "));
        }
        let weight = match (self.flip_weight, torch) {
            (true, true) => format!("{}.flip({spatial_dims})", self.weight),
            (true, false) => format!("flip({})", self.weight),
            _ => self.weight.clone(),
        };
        // With groups, each channel of the input is its own group already: only the
        // weight's channels move (see engine::GradientCall).
        let input = if is(&self.groups, 1) { moved(&input) } else { input };
        let mut args = vec![input, moved(&weight)];
        let keyword = |k: &str, shown: String| if torch { format!("{k}={shown}") } else { format!("{k} = {shown}") };
        // One value per axis, written once where every axis has it; none where that is
        // PyTorch's default.
        let per_axis = |k: &str, value: &dyn Fn(&Axis) -> &Index, default: i64| {
            let shown: Vec<String> = self.axes.iter().map(|a| show(value(a))).collect();
            let defaults =
                self.axes.iter().zip(&shown).all(|(a, s)| is(value(a), default) || *s == default.to_string());
            match (defaults, shown.iter().all(|s| *s == shown[0])) {
                (true, _) => None,
                (false, true) => Some(keyword(k, shown[0].clone())),
                (false, false) => Some(keyword(k, format!("({})", shown.join(", ")))),
            }
        };
        let padding = match (unpadded, torch) {
            (false, _) => per_axis("padding", &|a| &a.padding.0, 0),
            (true, false) => {
                let pairs: Vec<String> =
                    self.axes.iter().map(|a| format!("({}, {})", show(&a.padding.0), show(&a.padding.1))).collect();
                Some(match d {
                    1 => format!("padding = {}", pairs[0]),
                    _ => format!("padding = ({})", pairs.join(", ")),
                })
            }
            (true, true) => None,
        };
        let output_padding = match self.op.transposed() {
            true => per_axis("output_padding", &|a| &a.output_padding, 0),
            false => None,
        };
        let groups = (!is(&self.groups, 1) && show(&self.groups) != "1").then(|| keyword("groups", show(&self.groups)));
        args.extend(
            [
                per_axis("stride", &|a| &a.stride, 1),
                padding,
                output_padding,
                per_axis("dilation", &|a| &a.dilation, 1),
                groups,
            ]
            .into_iter()
            .flatten(),
        );
        let prefix = if torch { "F." } else { "" };
        let mut call = format!("{prefix}{name}({})", args.join(", "));
        if self.channels_as_batch && channels {
            call = if torch { format!("{call}.transpose(0, 1)") } else { format!("({call})ᵀ") };
        }
        if self.crop.iter().any(Option::is_some) {
            let slices: Vec<String> = (0..d)
                .map(|a| match self.crop.get(a).cloned().flatten() {
                    None => ":".to_string(),
                    Some((start, len)) if is(&start, 0) => {
                        if torch {
                            format!(":{}", show(&len))
                        } else {
                            format!(": {}", show(&len))
                        }
                    }
                    Some((start, len)) => {
                        let end = show(&start.add(&len));
                        if torch {
                            format!("{}:{end}", show(&start))
                        } else {
                            format!("{} : {end}", show(&start))
                        }
                    }
                })
                .collect();
            call = match torch {
                true => format!("{call}[..., {}]", slices.join(", ")),
                false => format!("{call}[{}]", slices.join(", ")),
            };
        }
        if self.flip_result {
            call = if torch { format!("{call}.flip({spatial_dims})") } else { format!("flip({call})") };
        }
        call
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Array;
    use std::collections::BTreeMap;

    /// PyTorch's definitions by plain loops: `conv1d` on x `[C, n]` (zero-padded by
    /// `(a, b)`) and w `[O, C/G, k]`; `conv_transpose1d` on x `[C, n]` and w `[C, O/G, k]`.
    fn reference(op: RunOp, x: &Array, w: &Array, p: [usize; 6], flip: bool) -> (Vec<f64>, usize, usize) {
        let [s, a, b, op_pad, d, g] = p;
        let (c, n, k) = (x.shape[0], x.shape[1], w.shape[2]);
        let wt = |i: usize, j: usize, m: usize| w.data[(i * w.shape[1] + j) * k + if flip { k - 1 - m } else { m }];
        match op.transposed() {
            false => {
                let (o, per_in) = (w.shape[0], c / g);
                let len = (n + a + b - d * (k - 1) - 1) / s + 1;
                let mut y = vec![0.0; o * len];
                for oc in 0..o {
                    let group = oc / (o / g);
                    for t in 0..len {
                        for cl in 0..per_in {
                            for m in 0..k {
                                let pos = (t * s + m * d) as i64 - a as i64;
                                if (0..n as i64).contains(&pos) {
                                    y[oc * len + t] += x.data[(group * per_in + cl) * n + pos as usize] * wt(oc, cl, m);
                                }
                            }
                        }
                    }
                }
                (y, o, len)
            }
            true => {
                let per_out = w.shape[1];
                let o = per_out * g;
                let len = (n - 1) * s + d * (k - 1) + op_pad + 1 - 2 * a;
                let mut y = vec![0.0; o * len];
                for ci in 0..c {
                    let group = ci / (c / g);
                    for ol in 0..per_out {
                        for i in 0..n {
                            for m in 0..k {
                                let t = (i * s + m * d) as i64 - a as i64;
                                if (0..len as i64).contains(&t) {
                                    y[(group * per_out + ol) * len + t as usize] += x.data[ci * n + i] * wt(ci, ol, m);
                                }
                            }
                        }
                    }
                }
                (y, o, len)
            }
        }
    }

    /// Every tuple of indices below `dims`, the last fastest.
    fn tuples(dims: &[usize]) -> Vec<Vec<usize>> {
        dims.iter().fold(vec![Vec::new()], |acc, &d| {
            acc.into_iter().flat_map(|t| (0..d).map(move |i| [t.clone(), vec![i]].concat())).collect()
        })
    }

    /// One spatial axis of a call for [`reference_nd`]: stride, padding before and
    /// after (a transposed call's is symmetric), output_padding and dilation.
    type AxisP = (usize, usize, usize, usize, usize);

    /// PyTorch's conv2d / conv3d on x `[C, *n]` (zero-padded per axis) and w
    /// `[O, C/G, *k]`, or their transposes on w `[C, O/G, *k]`, by plain loops over
    /// every input and kernel element: the output `[O, *len]`, flattened.
    fn reference_nd(
        transposed: bool,
        x: &Array,
        w: &Array,
        axes: &[AxisP],
        g: usize,
        flip: bool,
    ) -> (Vec<f64>, Vec<usize>) {
        let d = axes.len();
        let (c, n, k) = (x.shape[0], &x.shape[1..], &w.shape[2..]);
        let o = if transposed { w.shape[1] * g } else { w.shape[0] };
        let len: Vec<usize> = (0..d)
            .map(|a| {
                let (s, before, after, op, dl) = axes[a];
                match transposed {
                    false => (n[a] + before + after - dl * (k[a] - 1) - 1) / s + 1,
                    true => (n[a] - 1) * s + dl * (k[a] - 1) + op + 1 - 2 * before,
                }
            })
            .collect();
        let flat = |idx: &[usize], dims: &[usize]| idx.iter().zip(dims).fold(0, |acc, (i, d)| acc * d + i);
        let kernel_at = |m: &[usize]| -> Vec<usize> {
            m.iter().zip(k).map(|(&mi, &ki)| if flip { ki - 1 - mi } else { mi }).collect()
        };
        let wt = |i: usize, j: usize, m: &[usize]| w.data[flat(&[vec![i, j], kernel_at(m)].concat(), &w.shape)];
        let mut y = vec![0.0; o * len.iter().product::<usize>()];
        let out_dims = [vec![o], len.clone()].concat();
        for m in tuples(k) {
            if !transposed {
                let per_in = c / g;
                for (oc, t) in (0..o).flat_map(|oc| tuples(&len).into_iter().map(move |t| (oc, t))) {
                    let pos: Option<Vec<usize>> = (0..d)
                        .map(|a| {
                            let (s, before, _, _, dl) = axes[a];
                            let p = (t[a] * s + m[a] * dl) as i64 - before as i64;
                            (0..n[a] as i64).contains(&p).then_some(p as usize)
                        })
                        .collect();
                    let Some(pos) = pos else { continue };
                    let group = oc / (o / g);
                    for cl in 0..per_in {
                        let xv = x.data[flat(&[vec![group * per_in + cl], pos.clone()].concat(), &x.shape)];
                        y[flat(&[vec![oc], t.clone()].concat(), &out_dims)] += xv * wt(oc, cl, &m);
                    }
                }
            } else {
                let per_out = w.shape[1];
                for (ci, i) in (0..c).flat_map(|ci| tuples(n).into_iter().map(move |i| (ci, i))) {
                    let t: Option<Vec<usize>> = (0..d)
                        .map(|a| {
                            let (s, p, _, _, dl) = axes[a];
                            let t = (i[a] * s + m[a] * dl) as i64 - p as i64;
                            (0..len[a] as i64).contains(&t).then_some(t as usize)
                        })
                        .collect();
                    let Some(t) = t else { continue };
                    let group = ci / (c / g);
                    for ol in 0..per_out {
                        let xv = x.data[flat(&[vec![ci], i.clone()].concat(), &x.shape)];
                        y[flat(&[vec![group * per_out + ol], t.clone()].concat(), &out_dims)] += xv * wt(ci, ol, &m);
                    }
                }
            }
        }
        (y, out_dims)
    }

    #[test]
    fn formulas_over_several_axes_are_pytorchs_definitions() {
        // (transposed, C, O, groups, spatial input, kernel, axes, flip, channels written)
        type Case = (bool, usize, usize, usize, Vec<usize>, Vec<usize>, Vec<AxisP>, bool, bool);
        let cases: Vec<Case> = vec![
            (false, 1, 1, 1, vec![5, 6], vec![2, 3], vec![(2, 1, 0, 0, 1), (1, 0, 2, 0, 2)], true, false),
            (false, 4, 6, 2, vec![5, 6], vec![3, 2], vec![(1, 0, 1, 0, 2), (2, 1, 1, 0, 1)], false, true),
            (false, 3, 3, 3, vec![6, 5], vec![3, 3], vec![(2, 1, 1, 0, 1), (2, 1, 1, 0, 1)], false, true),
            (
                false,
                2,
                2,
                1,
                vec![4, 5, 3],
                vec![2, 2, 2],
                vec![(1, 1, 1, 0, 1), (2, 0, 0, 0, 1), (1, 0, 1, 0, 1)],
                false,
                true,
            ),
            (true, 2, 3, 1, vec![3, 4], vec![3, 2], vec![(2, 1, 1, 1, 1), (1, 0, 0, 0, 2)], false, true),
            (true, 4, 4, 2, vec![3, 3], vec![2, 2], vec![(2, 0, 0, 1, 1), (1, 1, 1, 0, 1)], true, true),
            (true, 4, 2, 2, vec![3, 2], vec![2, 3], vec![(1, 0, 0, 0, 1), (3, 1, 1, 2, 1)], false, true),
            (
                true,
                1,
                1,
                1,
                vec![2, 3, 2],
                vec![2, 2, 2],
                vec![(2, 0, 0, 1, 1), (1, 1, 1, 0, 1), (2, 0, 0, 1, 1)],
                false,
                false,
            ),
        ];
        for (transposed, c, o, g, n, k, axes, flip, channels) in cases {
            let w_head = if transposed { vec![c, o / g] } else { vec![o, c / g] };
            let (x_shape, w_shape) = ([vec![c], n.clone()].concat(), [w_head, k.clone()].concat());
            let (x, w) = (distinct(x_shape.clone(), 1.0), distinct(w_shape.clone(), 101.0));
            let (expected, out_dims) = reference_nd(transposed, &x, &w, &axes, g, flip);
            let index = |v: &[usize]| v.iter().map(|&d| Index::constant(d as i64)).collect::<Vec<_>>();
            let (xs, ws) = if channels { (index(&x_shape), index(&w_shape)) } else { (index(&n), index(&k)) };
            let params: Vec<Axis> = (axes.iter())
                .map(|&(s, before, after, op, dl)| Axis {
                    stride: Index::constant(s as i64),
                    padding: (Index::constant(before as i64), Index::constant(after as i64)),
                    output_padding: Index::constant(op as i64),
                    dilation: Index::constant(dl as i64),
                })
                .collect();
            let spatial: Vec<String> = (0..n.len()).map(|a| format!("t{a}")).collect();
            let out: Vec<String> =
                if channels { [vec!["o".to_string()], spatial.clone()].concat() } else { spatial.clone() };
            let input = Operand { name: "x", shape: &xs, flip: false };
            let weight = Operand { name: "w", shape: &ws, flip };
            let groups = Index::constant(g as i64);
            let case = format!("transposed={transposed} C={c} O={o} G={g} n={n:?} k={k:?} {axes:?} flip={flip}");
            let f = formula(transposed, &input, &weight, &params, &groups, &out).expect("the ranks fit");
            for (a, p) in params.iter().enumerate() {
                let length = axis_length(transposed, &Index::constant(n[a] as i64), &Index::constant(k[a] as i64), p);
                assert_eq!(length.as_constant(), Some(out_dims[a + 1] as i64), "{case}: the length of axis {a}");
            }
            let mut data = BTreeMap::new();
            data.insert(
                "x".to_string(),
                Array { shape: xs.iter().map(|d| d.as_constant().unwrap() as usize).collect(), data: x.data.clone() },
            );
            data.insert(
                "w".to_string(),
                Array { shape: ws.iter().map(|d| d.as_constant().unwrap() as usize).collect(), data: w.data.clone() },
            );
            let shape = |name: &str| data.get(name).map(|a| a.shape.iter().map(|&d| d as i64).collect());
            for (flat, at) in tuples(&out_dims).into_iter().enumerate() {
                let mut env = crate::algebra::Env::new();
                let named = if channels { at.clone() } else { at[1..].to_vec() };
                env.extend(out.iter().cloned().zip(named.iter().map(|&v| v as i64)));
                let got = crate::check::numeric(&f.eval(&env, &shape).unwrap(), &data);
                assert_eq!(got, expected[flat], "{case} at {at:?}");
            }
        }
    }

    fn distinct(shape: Vec<usize>, start: f64) -> Array {
        let len = shape.iter().product();
        Array { data: (0..len).map(|i| start + 3.0 * i as f64).collect(), shape }
    }

    #[test]
    fn formulas_are_pytorchs_definitions() {
        let cases: &[(RunOp, [usize; 3], [usize; 6], bool)] = &[
            // (op, [C, O, n], [stride, pad before, pad after, output_padding, dilation, groups], flip)
            (RunOp::Conv1d, [1, 1, 9], [1, 0, 0, 0, 1, 1], false),
            (RunOp::Conv1d, [1, 1, 9], [2, 2, 1, 0, 1, 1], true),
            (RunOp::Conv1d, [2, 3, 8], [1, 1, 1, 0, 2, 1], false),
            (RunOp::Conv1d, [4, 4, 8], [2, 0, 2, 0, 1, 2], false),
            (RunOp::Conv1d, [3, 3, 7], [1, 1, 0, 0, 1, 3], true),
            (RunOp::Conv1d, [4, 6, 9], [1, 0, 0, 0, 1, 2], false),
            (RunOp::ConvTranspose1d, [1, 1, 5], [2, 1, 1, 1, 1, 1], false),
            (RunOp::ConvTranspose1d, [2, 3, 4], [3, 0, 0, 2, 1, 1], true),
            (RunOp::ConvTranspose1d, [4, 4, 5], [1, 1, 1, 0, 2, 2], false),
            (RunOp::ConvTranspose1d, [3, 3, 4], [2, 0, 0, 1, 1, 3], false),
            (RunOp::ConvTranspose1d, [4, 6, 4], [1, 0, 0, 0, 1, 2], false),
        ];
        let k = 3usize;
        for &(op, [c, o, n], p, flip) in cases {
            let g = p[5];
            let one_d = c == 1 && o == 1 && g == 1;
            let w_shape = match op.transposed() {
                false => vec![o, c / g, k],
                true => vec![c, o / g, k],
            };
            let (x, w) = (distinct(vec![c, n], 1.0), distinct(w_shape.clone(), 101.0));
            let (expected, outs, len) = reference(op, &x, &w, p, flip);
            let index = |v: &[usize]| v.iter().map(|&d| Index::constant(d as i64)).collect::<Vec<_>>();
            let (xs, ws) = if one_d { (index(&[n]), index(&[k])) } else { (index(&[c, n]), index(&w_shape)) };
            let axis = Axis {
                stride: Index::constant(p[0] as i64),
                padding: (Index::constant(p[1] as i64), Index::constant(p[2] as i64)),
                output_padding: Index::constant(p[3] as i64),
                dilation: Index::constant(p[4] as i64),
            };
            let groups = Index::constant(g as i64);
            let out: Vec<String> = if one_d { vec!["t".into()] } else { vec!["o".into(), "t".into()] };
            let input = Operand { name: "x", shape: &xs, flip: false };
            let weight = Operand { name: "w", shape: &ws, flip };
            let f = formula(op.transposed(), &input, &weight, std::slice::from_ref(&axis), &groups, &out)
                .expect("the ranks fit");
            let length = axis_length(op.transposed(), &input.length(), &weight.length(), &axis);
            assert_eq!(length.as_constant(), Some(len as i64), "{op:?} {p:?}: the length");
            let mut data = BTreeMap::new();
            let flat = |a: &Array, d: Vec<usize>| Array { shape: d, data: a.data.clone() };
            data.insert("x".to_string(), if one_d { flat(&x, vec![n]) } else { x.clone() });
            data.insert("w".to_string(), if one_d { flat(&w, vec![k]) } else { w.clone() });
            let shape = |name: &str| data.get(name).map(|a| a.shape.iter().map(|&d| d as i64).collect());
            for oc in 0..outs {
                for t in 0..len {
                    let mut env = crate::algebra::Env::new();
                    env.insert("t".into(), t as i64);
                    env.insert("o".into(), oc as i64);
                    let got = crate::check::numeric(&f.eval(&env, &shape).unwrap(), &data);
                    assert_eq!(
                        got,
                        expected[oc * len + t],
                        "{op:?} C={c} O={o} n={n} {p:?} flip={flip} at ({oc}, {t})"
                    );
                }
            }
        }
    }
}
