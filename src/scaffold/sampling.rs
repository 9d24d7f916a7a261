//! The layers `symconv new` writes besides convolutions: average pooling (`nn.AvgPool1d/2d`,
//! `F.avg_pool1d/2d`) and nearest upsampling (`nn.Upsample`, `nn.UpsamplingNearest2d`,
//! `F.interpolate`), bound to PyTorch's signatures and checked as PyTorch checks them, and
//! written as a spec without a weight: the input `x[C, …]`, an output line with PyTorch's
//! lengths, the formula, the length claims and the run line.

use super::bind::{arguments, int, ints, positive, split_callee};
use super::call::{Call, CallError, Spanned, Value};
use super::{NewError, Parts, INPUT, OUT, TAP};
use crate::syntax::Span;

/// What the layer does along each spatial axis.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Average pooling (count_include_pad=True, ceil_mode=False).
    AvgPool {
        /// `kernel_size`.
        kernel: Vec<i64>,
        /// `stride` (PyTorch's default: the kernel size).
        stride: Vec<i64>,
        /// `padding`.
        padding: Vec<i64>,
    },
    /// Nearest upsampling by integer factors.
    Upsample {
        /// `scale_factor`; `None` where one number is given and `--let` says how many axes.
        scale: Option<Vec<i64>>,
        /// The one number given for every axis.
        every: i64,
    },
}

/// A pooling or upsampling call bound to its signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// As the user wrote the callee.
    callee: String,
    /// PyTorch's class or function name, e.g. `AvgPool2d`.
    name: String,
    /// The spatial axes where the callee fixes them (`AvgPool2d`: 2); `None` for
    /// `nn.Upsample` and `F.interpolate` with one scale factor, which take them from `--let`.
    dims: Option<usize>,
    kind: Kind,
}

/// The signature of each callee, in PyTorch's positional order, and its fixed spatial axes.
fn signature(name: &str, module: bool, functional: bool) -> Option<(&'static [&'static str], Option<usize>)> {
    const POOL1: &[&str] = &["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"];
    const POOL2: &[&str] = &["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"];
    const F_POOL1: &[&str] = &["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"];
    const F_POOL2: &[&str] =
        &["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"];
    const UPSAMPLE: &[&str] = &["size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"];
    const NEAREST2D: &[&str] = &["size", "scale_factor"];
    const INTERPOLATE: &[&str] =
        &["input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"];
    match name {
        "AvgPool1d" if module => Some((POOL1, Some(1))),
        "AvgPool2d" if module => Some((POOL2, Some(2))),
        "avg_pool1d" if functional => Some((F_POOL1, Some(1))),
        "avg_pool2d" if functional => Some((F_POOL2, Some(2))),
        "Upsample" if module => Some((UPSAMPLE, None)),
        "UpsamplingNearest2d" if module => Some((NEAREST2D, Some(2))),
        "interpolate" if functional => Some((INTERPOLATE, None)),
        _ => None,
    }
}

/// The call bound, when its callee is a pooling or an upsampling; `None` for any other.
pub fn bind(call: &Call) -> Result<Option<Sampling>, CallError> {
    let (name, module, functional) = split_callee(&call.callee);
    let Some((params, dims)) = signature(name, module, functional) else { return Ok(None) };
    let owner = match module && name.chars().next().is_some_and(char::is_uppercase) {
        true => format!("{name}.__init__()"),
        false => format!("{name}()"),
    };
    let bound = arguments(call, params, &owner)?;
    let get = |p: &str| params.iter().position(|q| *q == p).and_then(|i| bound[i]).map(|a| &a.value);
    let required: &[&str] = match (params.contains(&"input"), params.contains(&"kernel_size")) {
        (true, true) => &["input", "kernel_size"],
        (true, false) => &["input"],
        (false, true) => &["kernel_size"],
        (false, false) => &[],
    };
    if let Some(missing) = required.iter().find(|p| get(p).is_none()) {
        return Err(CallError::at(call.callee_span, format!("{owner} missing required argument: '{missing}'")));
    }
    let kind = match params.contains(&"kernel_size") {
        true => pool(&get, dims.expect("a pooling fixes its axes"))?,
        false => upsample(&get, call.callee_span, dims)?,
    };
    let dims = match &kind {
        Kind::Upsample { scale: Some(s), .. } => Some(s.len()),
        _ => dims,
    };
    Ok(Some(Sampling { callee: call.callee.clone(), name: name.to_string(), dims, kind }))
}

/// Average pooling's arguments, checked as PyTorch checks them; the options an index
/// formula cannot state refused, naming them.
fn pool<'a>(get: &dyn Fn(&str) -> Option<&'a Spanned>, dims: usize) -> Result<Kind, CallError> {
    let k = get("kernel_size").expect("required");
    let kernel = ints(k, "kernel_size", dims)?;
    positive(Some(k), &kernel, &format!("kernel_size must be greater than zero, but got {}", shown(&kernel)))?;
    let stride = match get("stride") {
        None => kernel.clone(),
        Some(Spanned { value: Value::Name(n), .. }) if n == "None" => kernel.clone(),
        Some(v) => {
            let stride = ints(v, "stride", dims)?;
            positive(Some(v), &stride, &format!("stride must be greater than zero, but got {}", shown(&stride)))?;
            stride
        }
    };
    let padding = match get("padding") {
        None => vec![0; dims],
        Some(v) => {
            let padding = ints(v, "padding", dims)?;
            if padding.iter().zip(&kernel).any(|(&p, &k)| p < 0 || p > k / 2) {
                return Err(CallError::at(
                    v.span,
                    format!(
                        "pad should be at most half of effective kernel size, but got pad={}, kernel_size={} and dilation=1",
                        shown(&padding),
                        shown(&kernel)
                    ),
                ));
            }
            padding
        }
    };
    for (option, default) in [("ceil_mode", "False"), ("count_include_pad", "True"), ("divisor_override", "None")] {
        default_only(get(option), option, default)?;
    }
    Ok(Kind::AvgPool { kernel, stride, padding })
}

/// Refuses an option other than PyTorch's default, naming it.
fn default_only(v: Option<&Spanned>, option: &str, default: &str) -> Result<(), CallError> {
    match v.map(|v| (v, &v.value)) {
        None => Ok(()),
        Some((_, Value::Name(n))) if n == default => Ok(()),
        Some((v, value)) => Err(CallError::at(
            v.span,
            format!("{option}={} is not supported: with it the formula would depend on the position in ways an index formula cannot state", as_written(value)),
        )
        .hint(format!("leave {option} at PyTorch's default, {option}={default}"))),
    }
}

/// Nearest upsampling's arguments: an integer `scale_factor` (one, or one per axis), mode
/// `'nearest'`, the other options at PyTorch's defaults.
fn upsample<'a>(
    get: &dyn Fn(&str) -> Option<&'a Spanned>,
    callee: Span,
    dims: Option<usize>,
) -> Result<Kind, CallError> {
    let written = |p: &str| get(p).filter(|v| v.value != Value::Name("None".into()));
    if let Some(v) = written("size") {
        let message = match written("scale_factor") {
            Some(_) => "only one of size or scale_factor should be defined",
            None => "size is not supported: the formula reads input i div s at output i for an integer scale_factor s",
        };
        return Err(CallError::at(v.span, message).hint("give scale_factor, an integer per axis"));
    }
    let Some(v) = written("scale_factor") else {
        return Err(CallError::at(callee, "either size or scale_factor should be defined")
            .hint("give scale_factor, an integer per axis"));
    };
    match get("mode").map(|m| (m, &m.value)) {
        None => {}
        Some((_, Value::Str(m))) if m == "nearest" => {}
        Some((m, Value::Str(mode))) => {
            return Err(CallError::at(
                m.span,
                format!("mode='{mode}' is not supported: symconv writes nearest upsampling only"),
            )
            .hint("mode='nearest' (PyTorch's default) reads input i div s at output i"))
        }
        Some((m, _)) => return Err(CallError::at(m.span, "mode must be a string")),
    }
    if let Some(a) = written("align_corners") {
        return Err(CallError::at(
            a.span,
            "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear",
        ));
    }
    if let Some(r) = written("recompute_scale_factor").filter(|r| r.value != Value::Name("False".into())) {
        return Err(CallError::at(r.span, format!("recompute_scale_factor={} is not supported", as_written(&r.value)))
            .hint("leave recompute_scale_factor at PyTorch's default, None"));
    }
    if let Some(a) = get("antialias").filter(|a| a.value != Value::Name("False".into())) {
        return Err(CallError::at(
            a.span,
            "Anti-alias option is restricted to bilinear and bicubic modes and requires a 4-D or 5-D input",
        ));
    }
    let factor = |s: &Spanned| {
        match &s.value {
        Value::Float(f) => match f.parse::<f64>() {
            Ok(x) if x.fract() == 0.0 && x.abs() <= super::bind::LARGEST as f64 => Ok(x as i64),
            _ => Err(CallError::at(s.span, format!("scale_factor={f} is not an integer: nearest upsampling reads input i div s at output i only for an integer s"))),
        },
        _ => int(s, "scale_factor"),
    }
    };
    let scale = match &v.value {
        Value::Tuple(items) => {
            if dims.is_some_and(|d| d != items.len()) || !(1..=2).contains(&items.len()) {
                let wanted = dims.map_or("1 or 2".to_string(), |d| d.to_string());
                return Err(CallError::at(
                    v.span,
                    format!("scale_factor must be a number or a tuple of {wanted} numbers here"),
                )
                .hint("symconv writes nearest upsampling along 1 or 2 spatial axes"));
            }
            Some(items.iter().map(factor).collect::<Result<Vec<_>, _>>()?)
        }
        _ => None,
    };
    let every = match &scale {
        Some(s) => s[0],
        None => factor(v)?,
    };
    let all = scale.clone().unwrap_or_else(|| vec![every]);
    positive(Some(v), &all, &format!("scale_factor must be a positive integer here, but got {}", shown(&all)))?;
    Ok(Kind::Upsample { scale: scale.or_else(|| dims.map(|d| vec![every; d])), every })
}

/// A value as the call wrote it, for a message.
fn as_written(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Float(f) | Value::Name(f) => f.clone(),
        Value::Str(s) => format!("'{s}'"),
        Value::Tuple(_) => "(…)".into(),
    }
}

/// Values as a run line writes them: one where every axis has it, `(2, 3)` otherwise.
fn compact(vs: &[i64]) -> String {
    match vs.iter().all(|&v| v == vs[0]) {
        true => vs[0].to_string(),
        false => shown(vs),
    }
}

/// Values as PyTorch prints one or several: `3`, `(2, 3)`.
fn shown(vs: &[i64]) -> String {
    match vs {
        [v] => v.to_string(),
        _ => format!("({})", vs.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

impl Sampling {
    /// The spec's parts at `--let`'s sizes: `C` (channels, 1 where not given) and the
    /// input's; an `nn.Upsample` with one scale factor has the axes its sizes name.
    pub(super) fn parts(self, call: &str, sizes: &[(String, i64)]) -> Result<Parts, NewError> {
        let dims = match self.dims {
            Some(d) => d,
            None if sizes.iter().any(|(n, _)| n == "n") => 1,
            None if sizes.iter().any(|(n, _)| INPUT[1].contains(&n.as_str())) => 2,
            None => {
                return Err(NewError::Sizes(format!(
                    "{}(…) needs --let n=… (one spatial axis) or --let H=…,V=… (two): its input's sizes",
                    self.callee
                )))
            }
        };
        let names = INPUT[dims - 1];
        let call_name = format!("{}(…)", self.callee);
        if let Some((name, _)) = sizes.iter().find(|(n, _)| n != "C" && !names.contains(&n.as_str())) {
            return Err(NewError::Sizes(format!(
                "--let {name}: {call_name} has no size `{name}` (its sizes are C, {})",
                names.join(", ")
            )));
        }
        let value = |name: &str| sizes.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v);
        super::require(&call_name, names, sizes)?;
        if let Some((name, v)) = sizes.iter().find(|(_, v)| *v < 1 || *v > super::bind::LARGEST) {
            return Err(NewError::Sizes(format!(
                "--let {name}={v}: sizes must be from 1 to {} (no run of more values fits symconv's limits)",
                super::bind::LARGEST
            )));
        }
        let channels = value("C").unwrap_or(1);
        let n: Vec<i64> = names.iter().map(|s| value(s).expect("required")).collect();
        let kind = match self.kind.clone() {
            Kind::Upsample { scale: None, every } => Kind::Upsample { scale: Some(vec![every; dims]), every },
            other => other,
        };
        let layer = Settled { s: self, dims, channels, n, kind };
        layer.check_sizes()?;
        Ok(layer.parts(call, sizes))
    }
}

/// A pooling or upsampling with every size settled.
struct Settled {
    s: Sampling,
    dims: usize,
    channels: i64,
    n: Vec<i64>,
    kind: Kind,
}

impl Settled {
    /// PyTorch's refusal of an empty output, in its words.
    fn check_sizes(&self) -> Result<(), NewError> {
        let Kind::AvgPool { kernel, stride, padding } = &self.kind else { return Ok(()) };
        let out: Vec<i64> =
            (0..self.dims).map(|a| (self.n[a] + 2 * padding[a] - kernel[a]).div_euclid(stride[a]) + 1).collect();
        if out.iter().all(|&l| l >= 1) {
            return Ok(());
        }
        let x = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join("x");
        let lets: Vec<String> = INPUT[self.dims - 1].iter().zip(&self.n).map(|(s, v)| format!("{s}={v}")).collect();
        Err(NewError::Sizes(format!(
            "--let {}: Given input size: ({}x{}). Calculated output size: ({}x{}). Output size is too small",
            lets.join(","),
            self.channels,
            x(&self.n),
            self.channels,
            x(&out)
        )))
    }

    /// The spec's text around its derived claims.
    fn parts(&self, call: &str, sizes: &[(String, i64)]) -> Parts {
        let d = self.dims;
        let (ns, outs, taps) = (INPUT[d - 1], OUT[d - 1], TAP[d - 1]);
        let lets: Vec<String> = sizes.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let lets = if lets.is_empty() { String::new() } else { format!(" --let {}", lets.join(",")) };
        let mut out = format!("# written by `symconv new '{}'{lets}`: PyTorch's {}\n", call.trim(), self.s.name);
        let join = |v: &[String]| v.join(", ");
        let (lengths, formula, run, reach): (Vec<String>, String, String, Vec<i64>) = match &self.kind {
            Kind::AvgPool { kernel, stride, padding } => {
                let window = kernel.iter().map(i64::to_string).collect::<Vec<_>>().join("×");
                out += &format!(
                    "# each output the mean of a window of {window}, the padding's zeros counted (PyTorch's count_include_pad=True)\n"
                );
                let lengths = (0..d)
                    .map(|a| format!("({} + 2*{} - {}) div {} + 1", ns[a], padding[a], kernel[a], stride[a]))
                    .collect();
                let at: Vec<String> = (0..d)
                    .map(|a| {
                        let mut p = format!("{} + {}", super::times(stride[a], outs[a]), taps[a]);
                        if padding[a] != 0 {
                            p += &format!(" - {}", padding[a]);
                        }
                        p
                    })
                    .collect();
                let bounds: Vec<String> = (0..d).map(|a| format!("[0 ≤ {} ≤ {}]", taps[a], kernel[a] - 1)).collect();
                let size: i64 = kernel.iter().product();
                let factor = if size == 1 { String::new() } else { format!("1/{size} ") };
                let summed = match d {
                    1 => format!("Σ_{}", taps[0]),
                    _ => format!("Σ_<{}>", taps.join(", ")),
                };
                let formula = format!("{factor}{summed} x_<c, {}> {}", at.join(", "), bounds.join(" "));
                let mut args = vec!["x".to_string(), compact(kernel)];
                if stride != kernel {
                    args.push(format!("stride = {}", compact(stride)));
                }
                if padding.iter().any(|&p| p != 0) {
                    args.push(format!("padding = {}", compact(padding)));
                }
                let run = format!("avg_pool{d}d({})", args.join(", "));
                let reach = (0..d).map(|a| kernel[a] + stride[a]).collect();
                (lengths, formula, run, reach)
            }
            Kind::Upsample { scale, .. } => {
                let scale = scale.as_ref().expect("settled");
                let reads: Vec<String> = (0..d).map(|a| format!("{} div {}", outs[a], scale[a])).collect();
                let reads: Vec<String> =
                    (0..d).map(|a| if scale[a] == 1 { outs[a].to_string() } else { reads[a].clone() }).collect();
                let (o, r) = match d {
                    1 => (outs[0].to_string(), reads[0].clone()),
                    _ => (format!("({})", outs.join(", ")), format!("({})", join(&reads))),
                };
                out += &format!("# output {o} repeats input {r}\n");
                let lengths = (0..d).map(|a| super::times(scale[a], ns[a])).collect();
                let formula = format!("x_<c, {}>", join(&reads));
                let run = format!("upsample_nearest{d}d(x, scale_factor = {})", compact(scale));
                (lengths, formula, run, vec![2; d])
            }
        };
        out += &format!("input  x[C, {}]\n", ns.join(", "));
        out += &format!("output s[C, {}]\n", join(&lengths));
        let lets = std::iter::once(("C", self.channels)).chain(ns.iter().copied().zip(self.n.iter().copied()));
        out += &format!("let    {}\n", lets.map(|(s, v)| format!("{s} = {v}")).collect::<Vec<_>>().join(", "));
        out += &format!("s_<c, {}> = {formula}\n\n", outs.join(", "));
        out += match &self.kind {
            Kind::AvgPool { .. } => "# lengths: ⌊(n + 2·padding - kernel_size) / stride⌋ + 1 (ceil_mode=False), along each axis as in PyTorch's docs\n",
            Kind::Upsample { .. } => "# lengths: ⌊n·scale_factor⌋, along each axis as in PyTorch's docs\n",
        };
        for (a, length) in lengths.iter().enumerate() {
            let axis = if a + 1 == d { String::new() } else { format!(", {}", a + 1) };
            out += &format!("claim len(s{axis}) = {length}\n");
        }
        let at = match d {
            1 => "c2, j".to_string(),
            _ => "c2, u, v".to_string(),
        };
        let naming = format!("claim ∂s_<c, {}>/∂x_<{at}> = 0\n", outs.join(", "));
        let small = std::iter::once(("C".to_string(), self.channels.min(2)))
            .chain(ns.iter().zip(&self.n).zip(reach).map(|((s, &v), r)| (s.to_string(), v.min(r))))
            .collect();
        Parts { skeleton: out, naming, run: format!("run   {run}\n"), small, literal_channels: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(call: &str) -> Result<Option<Sampling>, CallError> {
        bind(&super::super::call::parse(call).expect("it parses"))
    }

    #[test]
    fn positional_arguments_and_defaults_follow_pytorchs_signatures() {
        // F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        let s = bound("torch.nn.functional.avg_pool2d(x, (3, 2), None, (1, 0), False, True, None)").unwrap().unwrap();
        let want = Kind::AvgPool { kernel: vec![3, 2], stride: vec![3, 2], padding: vec![1, 0] };
        assert_eq!((s.dims, s.kind), (Some(2), want));
        // nn.Upsample(size, scale_factor, mode, …): one factor leaves the axes to --let.
        let s = bound("nn.Upsample(None, 3, 'nearest')").unwrap().unwrap();
        assert_eq!((s.dims, s.kind), (None, Kind::Upsample { scale: None, every: 3 }));
        let s = bound("F.interpolate(x, scale_factor=(2, 3.0))").unwrap().unwrap();
        assert_eq!((s.dims, s.kind), (Some(2), Kind::Upsample { scale: Some(vec![2, 3]), every: 2 }));
        let s = bound("nn.UpsamplingNearest2d(scale_factor=2)").unwrap().unwrap();
        assert_eq!(s.kind, Kind::Upsample { scale: Some(vec![2, 2]), every: 2 });
    }

    #[test]
    fn other_callees_are_left_to_the_convolutions() {
        for call in ["nn.Conv2d(1, 1, 3)", "F.AvgPool1d(x, 3)", "nn.avg_pool1d(3)", "nn.MaxPool1d(3)"] {
            assert_eq!(bound(call), Ok(None), "{call}");
        }
    }
}
