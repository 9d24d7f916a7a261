//! `symconv new`: a spec written from a PyTorch call (`nn.Conv2d(3, 8, 3, stride=2)`, and
//! average pooling and nearest upsampling, [`sampling`]): the tensors, pads and formula
//! written from PyTorch's definition, the lengths in PyTorch's formula, the ∂ and backward
//! claims as the pipeline derives them, and the run line; checked (every claim proved,
//! every run agreeing) before it is handed back.

pub mod bind;
pub mod call;
pub mod sampling;

use crate::check::{self, CheckError, RunOptions, Verdict};
use crate::derive::backward::{gradient_call, prove_call};
use crate::derive::{self, DeriveError};
use crate::limits::Limits;
use crate::model::{self, Model};
use crate::ops::GradientCall;
use bind::{Bias, Conv, Form, Padding};
pub use call::CallError;

/// Why no spec is written.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// A mistake in the call, with its place.
    #[error("{0}")]
    Call(CallError),
    /// A size missing from `--let`, or one the call has no use for.
    #[error("{0}")]
    Sizes(String),
    /// The written spec did not derive.
    #[error("the written spec: {0}")]
    Derive(DeriveError),
    /// The written spec could not be checked (a limit: many channels, large sizes), or it
    /// did not check as proved and agreeing ([`CheckError::Bug`]: a bug in symconv).
    #[error("the written spec: {0}")]
    Check(CheckError),
}

/// The input's size names, by the number of spatial axes (1, 2, 3).
pub(super) const INPUT: [&[&str]; 3] = [&["n"], &["H", "V"], &["Z", "H", "V"]];
/// The kernel's size names.
const KERNEL: [&[&str]; 3] = [&["k"], &["P", "Q"], &["R", "P", "Q"]];
/// The output's position names.
pub(super) const OUT: [&[&str]; 3] = [&["i"], &["i", "j"], &["l", "i", "j"]];
/// The kernel's tap names.
pub(super) const TAP: [&[&str]; 3] = [&["m"], &["a", "b"], &["e", "a", "b"]];
/// The input's position names: in a transposed formula, and in the claims about `x`.
const AT: [&[&str]; 3] = [&["j"], &["u", "v"], &["t", "u", "v"]];

/// A written spec's text around the claims that derive gives.
pub(super) struct Parts {
    /// The header, tensors, output, sizes, formula and length claims.
    pub(super) skeleton: String,
    /// Claims that name the indices of each tensor as the written claims do (the
    /// derivation takes a claim's names); they are not written.
    pub(super) naming: String,
    /// The run line.
    pub(super) run: String,
    /// Sizes small enough for tables, where a run is compared only there.
    pub(super) small: Vec<(String, i64)>,
    /// Whether channel counts are numbers in the spec, which the check cannot shrink.
    pub(super) literal_channels: bool,
}

/// A convolution with every size settled: the call's, and `--let`'s.
struct Layer {
    conv: Conv,
    /// Input and output channels.
    channels: (i64, i64),
    /// Input sizes and kernel sizes per axis.
    n: Vec<i64>,
    k: Vec<i64>,
}

/// A spec written from a call.
#[derive(Debug)]
pub struct Written {
    /// The spec's text.
    pub spec: String,
    /// What the engine got wrong, where its run or a gradient's call disagrees with the
    /// proved formulas.
    pub engine_disagrees: Option<String>,
}

/// The spec text for `call` at the sizes `sizes` (`--let`): checked, every claim proved
/// and the run and the gradients' calls run on the engine, before it is returned.
pub fn new_spec(call: &str, sizes: &[(String, i64)]) -> Result<Written, NewError> {
    let parsed = call::parse(call).map_err(NewError::Call)?;
    let parts = match sampling::bind(&parsed).map_err(NewError::Call)? {
        Some(layer) => layer.parts(call, sizes)?,
        None => {
            let layer = settle(bind::bind(&parsed).map_err(NewError::Call)?, sizes)?;
            Parts {
                skeleton: layer.skeleton(call, sizes),
                naming: layer.naming_claims(),
                run: layer.run_line(),
                small: layer.small_sizes(),
                literal_channels: true,
            }
        }
    };
    let (skeleton, run) = (&parts.skeleton, &parts.run);
    let (model, derivation) = derived(&format!("{skeleton}{}{run}", parts.naming), &[])?;
    let claims = derived_claims(&model, &derivation);
    let mut spec = format!("{skeleton}{claims}{run}");
    let engine_disagrees = checked(&mut spec, &parts.small).map_err(|e| match e {
        // Many channels: the check cannot shrink literal counts.
        NewError::Check(CheckError::Limit(why)) if parts.literal_channels => NewError::Sizes(format!(
            "the spec written from the call cannot be checked: {why}; its channel counts are written as the \
             call's numbers, which the checks by numbers cannot make smaller: write the same layer with fewer \
             channels (its index formulas do not depend on how many)"
        )),
        other => other,
    })?;
    Ok(Written { spec, engine_disagrees })
}

/// The sizes of `conv` from `--let`: the input's always, the kernel's and the channels
/// (default 1) for a functional call.
fn settle(conv: Conv, sizes: &[(String, i64)]) -> Result<Layer, NewError> {
    let d = conv.dims;
    let mut known: Vec<&str> = INPUT[d - 1].to_vec();
    if conv.form == Form::Functional {
        known.extend(KERNEL[d - 1]);
        known.extend(["C", "O"]);
    }
    let call = format!("{}(…)", conv.callee);
    if let Some((name, _)) = sizes.iter().find(|(n, _)| !known.contains(&n.as_str())) {
        let why = match KERNEL[d - 1].contains(&name.as_str()) {
            true => "the kernel's sizes come from the call's kernel_size".to_string(),
            false => format!("its sizes are {}", known.join(", ")),
        };
        return Err(NewError::Sizes(format!("--let {name}: {call} has no size `{name}` ({why})")));
    }
    if let Some((name, v)) = sizes.iter().find(|(_, v)| *v > bind::LARGEST) {
        return Err(NewError::Sizes(format!(
            "--let {name}={v}: too large: symconv new takes sizes up to {} (no run of more values fits its limits)",
            bind::LARGEST
        )));
    }
    let value = |name: &str| sizes.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v);
    let mut required: Vec<&str> = INPUT[d - 1].to_vec();
    if conv.form == Form::Functional {
        required.extend(KERNEL[d - 1]);
    }
    require(&call, &required, sizes)?;
    let n: Vec<i64> = INPUT[d - 1].iter().map(|s| value(s).expect("required")).collect();
    let (k, channels) = match (&conv.kernel, conv.channels) {
        (Some(k), Some(c)) => (k.clone(), c),
        _ => {
            let k: Vec<i64> = KERNEL[d - 1].iter().map(|s| value(s).expect("required")).collect();
            (k, (value("C").unwrap_or(1), value("O").unwrap_or(1)))
        }
    };
    let layer = Layer { conv, channels, n, k };
    layer.check_sizes()?;
    Ok(layer)
}

/// An error naming the sizes of `required` that `--let` (`sizes`) does not give.
pub(super) fn require(call: &str, required: &[&str], sizes: &[(String, i64)]) -> Result<(), NewError> {
    let missing: Vec<&str> = required.iter().copied().filter(|r| !sizes.iter().any(|(n, _)| n == r)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let example: Vec<String> = missing.iter().map(|n| format!("{n}=…")).collect();
    Err(NewError::Sizes(format!(
        "{call} needs --let {}: the sizes {} are missing",
        example.join(","),
        missing.join(", ")
    )))
}

impl Layer {
    fn dims(&self) -> usize {
        self.conv.dims
    }

    /// Sizes that PyTorch would refuse: kernels and channels below 1, groups that do not
    /// divide the channels, an empty output.
    fn check_sizes(&self) -> Result<(), NewError> {
        let d = self.dims();
        let (c, o) = self.channels;
        let g = self.conv.groups;
        for (name, v) in KERNEL[d - 1].iter().zip(&self.k).chain([(&"C", &c), (&"O", &o)]) {
            if *v < 1 {
                return Err(NewError::Sizes(format!("--let {name}={v}: it must be at least 1")));
            }
        }
        if let (Some(span), true) = (self.conv.groups_span, c % g != 0 || o % g != 0) {
            let (what, n) = if c % g != 0 { ("in_channels", c) } else { ("out_channels", o) };
            let letter = if c % g != 0 { "C" } else { "O" };
            return Err(NewError::Call(
                CallError::at(span, format!("{what} must be divisible by groups"))
                    .hint(format!("{what} is {n} (--let {letter}, 1 when not given), groups is {g}")),
            ));
        }
        let lengths = self.pytorch_lengths();
        if lengths.iter().any(|&l| l < 1) {
            let shown = |v: &[i64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("x");
            return Err(NewError::Sizes(format!(
                "--let {}: given input size ({c}x{}), calculated output size ({o}x{}): output size is too small",
                self.input_lets(),
                shown(&self.n),
                shown(&lengths)
            )));
        }
        Ok(())
    }

    /// Input sizes small enough for tables, where a run is compared only there: each
    /// spatial length cut to what PyTorch's formula needs for an output of 1 or more (the
    /// kernel's reach and a stride; for a transposed call, one more input than it takes
    /// for the strides to cover both paddings).
    fn small_sizes(&self) -> Vec<(String, i64)> {
        let c = &self.conv;
        let names = INPUT[self.dims() - 1].iter();
        let small = names.enumerate().map(|(a, name)| {
            let least = match (&c.padding, c.transposed) {
                (Padding::Numbers(p), true) => 2 + (2 * p[a] + c.stride[a] - 1) / c.stride[a],
                _ => c.dilation[a] * (self.k[a] - 1) + 1 + c.stride[a],
            };
            (name.to_string(), self.n[a].min(least))
        });
        small.collect()
    }

    /// `H=32,V=32` as given.
    fn input_lets(&self) -> String {
        let names = INPUT[self.dims() - 1].iter().zip(&self.n);
        names.map(|(s, v)| format!("{s}={v}")).collect::<Vec<_>>().join(",")
    }

    /// The output's spatial lengths by PyTorch's formulas.
    fn pytorch_lengths(&self) -> Vec<i64> {
        let c = &self.conv;
        (0..self.dims())
            .map(|a| {
                let (n, k, s, dl) = (self.n[a], self.k[a], c.stride[a], c.dilation[a]);
                match (&c.padding, c.transposed) {
                    (Padding::Numbers(p), true) => (n - 1) * s - 2 * p[a] + dl * (k - 1) + c.output_padding[a] + 1,
                    (Padding::Numbers(p), false) => (n + 2 * p[a] - dl * (k - 1) - 1).div_euclid(s) + 1,
                    (Padding::Valid, _) => (n - dl * (k - 1) - 1).div_euclid(s) + 1,
                    (Padding::Same, _) => n,
                }
            })
            .collect()
    }

    /// Whether the layer adds a bias `bias[O]` (PyTorch's name; `b` is a tap's in 2-D):
    /// PyTorch's modules by default, a functional call when it passes one.
    fn biased(&self) -> bool {
        self.conv.bias != Bias::Without
    }

    /// Whether the tensors have channel axes: not where one channel goes in and one out.
    fn with_channels(&self) -> bool {
        self.channels != (1, 1)
    }

    /// The padding before and after each axis, as size expressions.
    fn pads(&self) -> Vec<(String, String)> {
        let c = &self.conv;
        let ks = KERNEL[self.dims() - 1];
        (0..self.dims())
            .map(|a| match &c.padding {
                Padding::Numbers(p) => (p[a].to_string(), p[a].to_string()),
                Padding::Valid => ("0".into(), "0".into()),
                Padding::Same => {
                    let total = match c.dilation[a] {
                        1 => format!("{} - 1", ks[a]),
                        dl => format!("{dl}*({} - 1)", ks[a]),
                    };
                    let left = format!("({total}) div 2");
                    (left.clone(), format!("{total} - {left}"))
                }
            })
            .collect()
    }

    /// Everything before the claims: the header, tensors, pad, output, sizes, formula and
    /// length claims.
    fn skeleton(&self, call: &str, sizes: &[(String, i64)]) -> String {
        let d = self.dims();
        let c = &self.conv;
        let (ci, co) = self.channels;
        let g = c.groups;
        let (ns, ks) = (INPUT[d - 1], KERNEL[d - 1]);
        let lets: Vec<String> = sizes.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let lets = if lets.is_empty() { String::new() } else { format!(" --let {}", lets.join(",")) };
        let mut out = format!("# written by `symconv new '{}'{lets}`: PyTorch's {}\n", call.trim(), c.name);
        let bias = match &c.bias {
            Bias::Default => format!("PyTorch's default for {} (bias=True)", c.callee),
            Bias::Written(b) => format!("the call's {b}"),
            Bias::Without => String::new(),
        };
        if self.biased() {
            out += &format!("# bias: {bias}, added to every output of its channel\n");
        }
        let spatial = |names: &[&str]| names.join(", ");
        if !self.with_channels() {
            let bias = if self.biased() { ", bias[1]" } else { "" };
            out += &format!(
                "# one channel in and out: x and w have spatial axes only (PyTorch's x[1, 1, {}], w[1, 1, {}]{bias})\n",
                spatial(ns),
                spatial(ks)
            );
        }
        let (x_shape, w_shape) = match (self.with_channels(), c.transposed) {
            (false, _) => (spatial(ns), spatial(ks)),
            (true, false) => (format!("{ci}, {}", spatial(ns)), format!("{co}, {}, {}", ci / g, spatial(ks))),
            (true, true) => (format!("{ci}, {}", spatial(ns)), format!("{ci}, {}, {}", co / g, spatial(ks))),
        };
        out += &format!("input  x[{x_shape}]\nweight w[{w_shape}]\n");
        if self.biased() {
            out += &format!("weight bias[{co}]\n");
        }
        let pads = self.pads();
        if !c.transposed && pads.iter().any(|(a, b)| a != "0" || b != "0") {
            let pairs: Vec<String> = pads.iter().map(|(a, b)| format!("({a}, {b})")).collect();
            out += &format!("pad    x {}\n", pairs.join(", "));
        }
        // A second weight, the bias, leaves the output's shape to an output line.
        if c.transposed || self.biased() {
            let mut lengths: Vec<String> = (0..d).map(|a| self.length_text(a)).collect();
            if self.with_channels() {
                lengths.insert(0, co.to_string());
            }
            out += &format!("output s[{}]\n", lengths.join(", "));
        }
        let lets = ns.iter().zip(&self.n).chain(ks.iter().zip(&self.k)).map(|(s, v)| format!("{s} = {v}"));
        out += &format!("let    {}\n", lets.collect::<Vec<_>>().join(", "));
        out += &self.formula();
        out += "\n";
        let lengths = match (c.transposed, &c.padding) {
            (true, _) => "(n - 1)·stride - 2·padding + dilation·(k - 1) + output_padding + 1",
            (false, Padding::Same) => "padding='same' keeps the input's",
            (false, _) => "⌊(n + 2·padding - dilation·(k - 1) - 1) / stride⌋ + 1",
        };
        out += &format!("# lengths: {lengths}, along each axis as in PyTorch's docs\n");
        let first = usize::from(self.with_channels());
        if self.with_channels() {
            out += &format!("claim len(s, 0) = {co}\n");
        }
        for a in 0..d {
            let axis = if a + 1 == d { String::new() } else { format!(", {}", a + first) };
            out += &format!("claim len(s{axis}) = {}\n", self.length_text(a));
        }
        out
    }

    /// The output length along spatial axis `a` in PyTorch's formula.
    fn length_text(&self, a: usize) -> String {
        let c = &self.conv;
        let d = self.dims();
        let (n, k) = (INPUT[d - 1][a], KERNEL[d - 1][a]);
        let (s, dl) = (c.stride[a], c.dilation[a]);
        match (&c.padding, c.transposed) {
            (Padding::Same, _) => n.to_string(),
            (Padding::Numbers(p), true) => {
                format!("({n} - 1)*{s} - 2*{} + {dl}*({k} - 1) + {} + 1", p[a], c.output_padding[a])
            }
            (Padding::Numbers(p), false) => format!("({n} + 2*{} - {dl}*({k} - 1) - 1) div {s} + 1", p[a]),
            // A transposed call takes no padding string (bind refuses one).
            (Padding::Valid, _) => format!("({n} - {dl}*({k} - 1) - 1) div {s} + 1"),
        }
    }

    /// The definition in cross-correlation form, from PyTorch's definition.
    fn formula(&self) -> String {
        let d = self.dims();
        let c = &self.conv;
        let (ci, co) = self.channels;
        let g = c.groups;
        let (per_in, per_out) = (ci / g, co / g);
        let (outs, taps, ats) = (OUT[d - 1], TAP[d - 1], AT[d - 1]);
        let ats: Vec<&str> = if d == 1 { vec!["u"] } else { ats.to_vec() };
        let join = |v: &[&str]| v.join(", ");
        let s_at = match self.with_channels() {
            true => format!("o, {}", join(outs)),
            false => join(outs),
        };
        let at = |name: &str, index: &str| match index.chars().all(char::is_alphanumeric) {
            true => format!("{name}_{index}"),
            false => format!("{name}_<{index}>"),
        };
        let pads = self.pads();
        if !c.transposed {
            let pos: Vec<String> = (0..d)
                .map(|a| {
                    let mut p = format!("{} + {}", times(c.stride[a], outs[a]), times(c.dilation[a], taps[a]));
                    if pads[a].0 != "0" {
                        p += &format!(" - {}", pads[a].0);
                    }
                    p
                })
                .collect();
            let pos = pos.join(", ");
            let (sum, x_at, w_at) = match self.with_channels() {
                false => (join(taps), pos, join(taps)),
                true => {
                    let channel = match (g, per_in, per_out) {
                        (1, 1, _) => "0".to_string(),
                        (1, _, _) => "c".to_string(),
                        (_, 1, 1) => "o".to_string(),
                        (_, 1, _) => format!("o div {per_out}"),
                        (_, _, 1) => format!("{per_in}o + c"),
                        _ => format!("{per_in}(o div {per_out}) + c"),
                    };
                    let summed: Vec<&str> = if per_in == 1 { taps.to_vec() } else { [&["c"], taps].concat() };
                    let w_channel = if per_in == 1 { "0" } else { "c" };
                    (join(&summed), format!("{channel}, {pos}"), format!("o, {w_channel}, {}", join(taps)))
                }
            };
            let (s, sum, x, w) = (at("s", &s_at), at("Σ", &sum), at("x", &x_at), at("w", &w_at));
            return format!("{s} = {sum} {x} {w}{}\n", self.bias_term());
        }
        let hits: Vec<String> = (0..d)
            .map(|a| {
                let mut hit =
                    format!("{} = {} + {}", outs[a], times(c.stride[a], ats[a]), times(c.dilation[a], taps[a]));
                if pads[a].0 != "0" {
                    hit += &format!(" - {}", pads[a].0);
                }
                format!("[{hit}]")
            })
            .collect();
        let (sum, x_at, w_at) = match self.with_channels() {
            false => (format!("{}, {}", join(&ats), join(taps)), join(&ats), join(taps)),
            true => {
                // Input channel c feeds the output channels of its group: o - (O/G)(c div (C/G))
                // is the weight's index within the group, in range only there.
                let within = match (g, per_in, per_out) {
                    (1, _, _) => "o".to_string(),
                    (_, 1, 1) => "o - c".to_string(),
                    (_, 1, _) => format!("o - {per_out}c"),
                    (_, _, 1) => format!("o - c div {per_in}"),
                    _ => format!("o - {per_out}(c div {per_in})"),
                };
                (
                    format!("c, {}, {}", join(&ats), join(taps)),
                    format!("c, {}", join(&ats)),
                    format!("c, {within}, {}", join(taps)),
                )
            }
        };
        let (s, sum, x, w) = (at("s", &s_at), at("Σ", &sum), at("x", &x_at), at("w", &w_at));
        format!("{s} = {sum} {x} {w} {}{}\n", hits.join(" "), self.bias_term())
    }

    /// ` + bias_o` where the layer adds a bias (` + bias_0` without a channel axis), else
    /// nothing.
    fn bias_term(&self) -> &'static str {
        match (self.biased(), self.with_channels()) {
            (false, _) => "",
            (true, true) => " + bias_o",
            (true, false) => " + bias_0",
        }
    }

    /// Claims that name the indices of `x` and `w` as the written claims do (the
    /// derivation takes a claim's names); they are not written.
    fn naming_claims(&self) -> String {
        let d = self.dims();
        let outs = OUT[d - 1].join(", ");
        let (x_at, w_at) = (AT[d - 1].join(", "), TAP[d - 1].join(", "));
        let s = match self.with_channels() {
            true => format!("s_<o, {outs}>"),
            false => format!("s_<{outs}>"),
        };
        let (x, w) = match (self.with_channels(), self.conv.transposed) {
            (false, _) => (x_at, w_at),
            (true, false) => {
                let c = if self.conv.groups == 1 { "c" } else { "d" };
                (format!("{c}, {x_at}"), format!("p, c, {w_at}"))
            }
            (true, true) => {
                let c = if self.conv.groups == 1 { "c" } else { "d" };
                (format!("{c}, {x_at}"), format!("c, p, {w_at}"))
            }
        };
        let b = if self.biased() { format!("claim ∂{s}/∂bias_p = 0\n") } else { String::new() };
        format!("claim ∂{s}/∂x_<{x}> = 0\nclaim ∂{s}/∂w_<{w}> = 0\n{b}")
    }

    /// The run line: the call on the engine, with PyTorch's defaults left out.
    fn run_line(&self) -> String {
        let c = &self.conv;
        let d = self.dims();
        let op = match c.transposed {
            true => format!("conv_transpose{d}d"),
            false => format!("conv{d}d"),
        };
        let mut args = vec!["x".to_string(), "w".to_string()];
        per_axis(&mut args, "stride", &c.stride, 1);
        match &c.padding {
            Padding::Numbers(p) => per_axis(&mut args, "padding", p, 0),
            Padding::Same => args.push("padding = 'same'".into()),
            Padding::Valid => args.push("padding = 'valid'".into()),
        }
        if c.transposed {
            per_axis(&mut args, "output_padding", &c.output_padding, 0);
        }
        per_axis(&mut args, "dilation", &c.dilation, 1);
        if c.groups != 1 {
            args.push(format!("groups = {}", c.groups));
        }
        if self.biased() {
            args.push("bias = bias".into());
        }
        format!("run   {op}({})\n", args.join(", "))
    }
}

/// `name = v` (one value where every axis has it) pushed on `args`, unless every axis has
/// PyTorch's default.
fn per_axis(args: &mut Vec<String>, name: &str, v: &[i64], default: i64) {
    if v.iter().all(|&x| x == default) {
        return;
    }
    let shown = match v.iter().all(|&x| x == v[0]) {
        true => v[0].to_string(),
        false => format!("({})", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
    };
    args.push(format!("{name} = {shown}"));
}

/// `2i`, `i` for a factor of 1.
pub(super) fn times(factor: i64, name: &str) -> String {
    match factor {
        1 => name.to_string(),
        _ => format!("{factor}{name}"),
    }
}

/// A spec's text resolved and derived.
fn derived(src: &str, overrides: &[(String, i64)]) -> Result<(Model, derive::Derivation), NewError> {
    let bug = |why: String| NewError::Check(CheckError::Bug(format!("the written spec does not load: {why}")));
    let line = |at: usize| src[..at.min(src.len())].rsplit('\n').next().unwrap_or("").to_string();
    let spec = crate::syntax::parse(src).map_err(|e| bug(format!("{e} after `{}`", line(e.span.start))))?;
    let model = model::resolve(&spec, src, "new", overrides)
        .map_err(|errors| bug(errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ")))?;
    let derivation = derive::derive(&model, &Limits::default()).map_err(NewError::Derive)?;
    Ok((model, derivation))
}

/// The claims the derivation gives: each closed form; for each tensor, the engine call
/// that computes its gradient where derive names one that a claim can state and proves
/// it, and the gradient as `Σ_i g_i ∂s_i/∂t_j`.
fn derived_claims(model: &Model, derivation: &derive::Derivation) -> String {
    let mut out = String::new();
    for d in &derivation.derivatives {
        out += &claim(&check::closed_form_text(model, d), closed(d));
    }
    let outs = &model.output.indices;
    let g = crate::algebra::Element {
        tensor: model.upstream.clone(),
        index: outs.iter().map(|n| crate::algebra::index::var(n)).collect(),
    };
    for d in &derivation.derivatives {
        let call = model.runs.first().map(|run| gradient_call(model, derivation, run, &d.wrt));
        let stated = |c: &GradientCall| !c.channels_as_batch && c.crop.iter().all(Option::is_none) && !c.flip_result;
        let (t, shown) = (&d.wrt, call.as_ref().and_then(|c| c.as_ref().ok()).map(|c| c.symbolic(true)));
        match (call, shown) {
            (Some(Ok(call)), Some(shown)) if stated(&call) => match prove_call(model, derivation, &call, t) {
                Ok(()) => out += &format!("claim ∂L/∂{t} = {shown}\n"),
                Err(why) => out += &format!("# ∂L/∂{t} = {shown}: derive's call, not proved here ({why})\n"),
            },
            (_, Some(shown)) => out += &format!("# ∂L/∂{t} = {shown}: derive's call, which a claim cannot state\n"),
            // A bias's gradient sums g over each channel's positions: no convolution.
            (Some(Err(_)), _) if model.runs.first().and_then(|r| r.bias.as_ref()) == Some(t) => {
                out += &format!("# ∂L/∂{t}: g summed over every position of its channel, no convolution's call\n")
            }
            (Some(Err(why)), _) => out += &format!("# ∂L/∂{t}: no single call ({why})\n"),
            _ => {}
        }
        let form = d.closed_form.show(&model.sizes);
        let form = if d.closed_form.terms.len() > 1 { format!("({form})") } else { form };
        let gradient = crate::algebra::Element {
            tensor: format!("(∂L/∂{})", d.wrt),
            index: d.wrt_indices.iter().map(|n| crate::algebra::index::var(n)).collect(),
        };
        let sum = crate::algebra::Element { tensor: "Σ".into(), index: g.index.clone() };
        out += &claim(&format!("{gradient} = {sum} {g} {form}"), closed(d));
    }
    out
}

/// Whether derive found `d` in closed form: no Σ left (a Σ whose summed index a `div`
/// bracket holds, from a dilation or a transposed stride, is not eliminated; it may sum
/// over an index no shape bounds, and over renamed indices such as `c′`).
fn closed(d: &derive::Derivative) -> bool {
    d.closed_form.terms.iter().all(|t| t.bound.is_empty())
}

/// `claim TEXT` for a closed form the spec language reads back, else a comment.
fn claim(text: &str, closed: bool) -> String {
    let line = format!("claim {text}\n");
    match closed && crate::syntax::parse(&line).is_ok() {
        true => line,
        false => format!("# {text}: derive's form, not closed, which a claim does not state\n"),
    }
}

/// The written spec checked: every claim proved (one that brute force confirms but the
/// e-graph does not reach is turned into a comment saying so; else a bug in symconv), and
/// where a run or a gradient's call disagrees on the engine, what it found. A run that
/// the engine compares only at sizes with tables (a layer's, a bias's) and that is not
/// run at the spec's sizes is run at `small` (overrides of the spec's sizes).
fn checked(src: &mut String, small: &[(String, i64)]) -> Result<Option<String>, NewError> {
    let report = loop {
        let report = report_at(src, &[])?;
        let Some(c) = report.claims.iter().find(|c| c.verdict == Verdict::Checked) else { break report };
        let line = format!("claim {}\n", c.text);
        if !src.contains(&line) {
            return Err(bug("claim", &c.text, &c.grounds));
        }
        let comment = format!("# {}: derive's form, which brute force checks and the e-graph does not prove\n", c.text);
        *src = src.replacen(&line, &comment, 1);
    };
    if let Some(c) = report.claims.iter().find(|c| c.verdict != Verdict::Proved) {
        return Err(bug("claim", &c.text, &c.grounds));
    }
    let runs = match report.runs.iter().any(|r| r.holds.is_none()) {
        true => report_at(src, small)?.runs,
        false => report.runs,
    };
    // The run line and the calls are proved for all sizes: where the engine disagrees,
    // the engine is wrong (candle has been: see EXTRA_ZERO_COLUMN), not the spec.
    if let Some(r) = runs.iter().find(|r| r.holds == Some(false)) {
        return Ok(Some(format!("the written spec's run `{}` disagrees on the engine: {}", r.text, r.detail())));
    }
    if let Some(r) = runs.iter().find(|r| r.holds.is_none()) {
        return Err(bug("run", &r.text, &r.detail()));
    }
    if let Some(b) = report.backward.iter().find(|b| b.holds == Some(false)) {
        return Ok(Some(format!("the written spec's gradient {} disagrees on the engine: {}", b.gather, b.detail())));
    }
    Ok(None)
}

/// The error for a written claim or run that does not hold: a bug in symconv.
fn bug(what: &str, text: &str, why: &str) -> NewError {
    NewError::Check(CheckError::Bug(format!("the written spec's {what} `{text}` does not hold: {why}")))
}

/// The check's report of the spec `src` at its sizes with `overrides`.
fn report_at(src: &str, overrides: &[(String, i64)]) -> Result<check::Report, NewError> {
    let (model, derivation) = derived(src, overrides)?;
    check::report(model, derivation, false, RunOptions::default()).map_err(NewError::Check)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that disagrees on the engine is told, not taken for a bug in symconv: the
    /// written spec's run line is proved for all sizes, so only the engine can be wrong.
    /// (Here the run flips a kernel it should not, to make the engine disagree.)
    #[test]
    fn a_run_that_disagrees_is_what_the_engine_found() {
        let spec = "input x[n]\nweight w[k]\nlet n = 6, k = 3\ns_i = Σ x_<i+m> w_m\nrun conv1d(x, flip(w))\n";
        let found = checked(&mut spec.to_string(), &[]).expect("checked").expect("the run disagrees");
        assert!(found.starts_with("the written spec's run `conv1d(x, flip(w))` disagrees on the engine: "), "{found}");
        let right = "input x[n]\nweight w[k]\nlet n = 6, k = 3\ns_i = Σ x_<i+m> w_m\nrun conv1d(x, w)\n";
        assert_eq!(checked(&mut right.to_string(), &[]).expect("checked"), None);
    }
}
