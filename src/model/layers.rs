//! Run lines of PyTorch's layers that are no convolution: average pooling and nearest
//! upsampling, resolved and checked as PyTorch checks their arguments.

use super::{error, fail, fail_hint, ResolveError, Resolver, Role};
use crate::algebra::{Env, Index, IndexExt};
use crate::syntax::{self, ExprKind, Span};

/// A layer a run line can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerOp {
    /// `avg_pool1d(input, kernel_size, stride=None, padding=0)`
    AvgPool1d,
    /// `avg_pool2d(input, kernel_size, stride=None, padding=0)`
    AvgPool2d,
    /// `upsample_nearest1d(input, scale_factor)`
    UpsampleNearest1d,
    /// `upsample_nearest2d(input, scale_factor)`
    UpsampleNearest2d,
}

impl LayerOp {
    const ALL: [LayerOp; 4] =
        [LayerOp::AvgPool1d, LayerOp::AvgPool2d, LayerOp::UpsampleNearest1d, LayerOp::UpsampleNearest2d];

    /// Its name in PyTorch.
    pub fn name(self) -> &'static str {
        match self {
            LayerOp::AvgPool1d => "avg_pool1d",
            LayerOp::AvgPool2d => "avg_pool2d",
            LayerOp::UpsampleNearest1d => "upsample_nearest1d",
            LayerOp::UpsampleNearest2d => "upsample_nearest2d",
        }
    }

    /// How many spatial axes it works along.
    pub fn spatial(self) -> usize {
        match self {
            LayerOp::AvgPool1d | LayerOp::UpsampleNearest1d => 1,
            LayerOp::AvgPool2d | LayerOp::UpsampleNearest2d => 2,
        }
    }

    /// Its arguments after the input, in PyTorch's order.
    fn arguments(self) -> &'static [&'static str] {
        match self {
            LayerOp::AvgPool1d => &["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"],
            LayerOp::AvgPool2d => {
                &["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"]
            }
            LayerOp::UpsampleNearest1d | LayerOp::UpsampleNearest2d => &["scale_factor"],
        }
    }

    /// The layer a run line names (with or without `F.` or `torch.nn.functional.`).
    pub fn named(text: &str) -> Option<LayerOp> {
        LayerOp::ALL.into_iter().find(|o| o.name() == super::bare_op(text))
    }
}

/// What the layer does, one value per spatial axis.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// Average pooling with PyTorch's `count_include_pad=True` and `ceil_mode=False`: the
    /// sum over each window of the zero-padded input, divided by the window's size.
    AvgPool {
        /// The window's length.
        kernel_size: Vec<Index>,
        /// The step between windows (PyTorch's default: the kernel size).
        stride: Vec<Index>,
        /// Zeros before and after the input.
        padding: Vec<Index>,
    },
    /// Nearest upsampling by an integer factor: output `i` reads input `i div s`.
    UpsampleNearest {
        /// The factor.
        scale_factor: Vec<Index>,
    },
}

/// A run line of a layer, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRun {
    /// The line as written, without `run`.
    pub text: String,
    /// Where it stands.
    pub span: Span,
    /// Which layer.
    pub op: LayerOp,
    /// The input tensor.
    pub input: String,
    /// The layer's parameters.
    pub layer: Layer,
}

impl Resolver<'_> {
    /// A run line naming a layer.
    pub(super) fn layer_run(
        &self,
        span: Span,
        text: String,
        op: LayerOp,
        name: &syntax::Name,
        args: &[syntax::RunArg],
    ) -> Result<LayerRun, ResolveError> {
        let allowed = op.arguments();
        let mut args = args.iter();
        let input = match args.next() {
            Some(a) if a.keyword.is_none() => self.run_tensor(a, Role::Input)?,
            _ => return fail(span, format!("{}() takes the input first", op.name())),
        };
        let mut given: Vec<(&'static str, &syntax::RunArg)> = Vec::new();
        for (k, a) in args.enumerate() {
            let keyword = match &a.keyword {
                None if given.iter().any(|(_, g)| g.keyword.is_some()) => {
                    return fail(a.span, "positional argument follows keyword argument");
                }
                None => *allowed.get(k).ok_or_else(|| {
                    error(a.span, format!("{}() takes at most {} arguments", op.name(), allowed.len() + 1))
                })?,
                Some(kw) => *allowed.iter().find(|n| **n == kw.text).ok_or_else(|| ResolveError {
                    hint: Some(format!("its arguments are {}", allowed.join(", "))),
                    ..error(kw.span, format!("`{}` takes no argument `{}`", name.text, kw.text))
                })?,
            };
            if given.iter().any(|(n, _)| *n == keyword) {
                return fail(a.span, format!("{}() got multiple values for argument '{keyword}'", op.name()));
            }
            given.push((keyword, a));
        }
        let value = |n: &str| given.iter().find(|(k, _)| *k == n).map(|(_, a)| *a);
        // The options whose other values PyTorch takes but an index formula cannot state.
        for (option, default) in [("ceil_mode", "False"), ("count_include_pad", "True"), ("divisor_override", "None")] {
            if let Some(a) = value(option) {
                self.default_only(a, option, default)?;
            }
        }
        let per_axis = |n: &str| value(n).map(|a| self.per_axis_values(op, n, a)).transpose();
        let layer = match op {
            LayerOp::AvgPool1d | LayerOp::AvgPool2d => {
                let Some(kernel_size) = per_axis("kernel_size")? else {
                    return fail(span, format!("{}() missing required argument 'kernel_size'", op.name()));
                };
                let stride = per_axis("stride")?.unwrap_or_else(|| kernel_size.clone());
                let padding = per_axis("padding")?.unwrap_or_else(|| vec![Index::zero(); op.spatial()]);
                Layer::AvgPool { kernel_size, stride, padding }
            }
            LayerOp::UpsampleNearest1d | LayerOp::UpsampleNearest2d => {
                let Some(scale_factor) = per_axis("scale_factor")? else {
                    return fail(span, format!("{}() needs a scale_factor", op.name()));
                };
                Layer::UpsampleNearest { scale_factor }
            }
        };
        Ok(LayerRun { text, span, op, input, layer })
    }

    /// Refuses an option of PyTorch's other than its default, naming it.
    fn default_only(&self, a: &syntax::RunArg, option: &str, default: &str) -> Result<(), ResolveError> {
        let written = match &a.value {
            syntax::RunValue::Expr(syntax::Expr { kind: ExprKind::Var(n), .. }) => n.text.as_str(),
            _ => &self.src[a.span.start..a.span.end],
        };
        if written == default {
            return Ok(());
        }
        fail_hint(
            a.span,
            format!("{option}={written} is not supported: with it the formula would depend on the position in ways an index formula cannot state"),
            format!("leave {option} at PyTorch's default, {option}={default}"),
        )
    }

    /// An argument's values, one per spatial axis (a single value stands for every axis).
    fn per_axis_values(&self, op: LayerOp, keyword: &str, a: &syntax::RunArg) -> Result<Vec<Index>, ResolveError> {
        let d = op.spatial();
        let values = match &a.value {
            syntax::RunValue::Expr(e) => vec![self.size_expr(e)?],
            syntax::RunValue::Tuple(es, _) => es.iter().map(|e| self.size_expr(e)).collect::<Result<_, _>>()?,
            _ => {
                return fail(
                    a.span,
                    format!("{}(): argument '{keyword}' must be an integer or a tuple of {d}", op.name()),
                )
            }
        };
        match values.len() {
            1 => Ok(vec![values[0].clone(); d]),
            n if n == d => Ok(values),
            n => fail(a.span, format!("{}(): argument '{keyword}' takes 1 or {d} values, not {n}", op.name())),
        }
    }
}

/// A layer run's arguments checked at the sizes as PyTorch checks them, with PyTorch's
/// wording; `input` is the input's shape.
pub(super) fn check_layer(run: &LayerRun, input: &[i64], values: &Env) -> Result<(), ResolveError> {
    let at = |v: &[Index]| v.iter().map(|p| p.eval(values)).collect::<Result<Vec<i64>, _>>();
    let err = |e: crate::algebra::EvalError| error(run.span, e.to_string());
    let d = run.op.spatial();
    if input.len() < d || input.len() > d + 1 {
        let (wanted, name) = (if d == 1 { "2D or 3D" } else { "3D or 4D" }, run.op.name());
        return fail_hint(
            run.span,
            format!("{name}(): the input has {} axes; PyTorch takes a {wanted} input with its batch", input.len()),
            format!("declare the input with {d} spatial axes, and a channel axis before them if it has channels"),
        );
    }
    let spatial = &input[input.len() - d..];
    match &run.layer {
        Layer::AvgPool { kernel_size, stride, padding } => {
            let (k, s, p) = (at(kernel_size).map_err(err)?, at(stride).map_err(err)?, at(padding).map_err(err)?);
            if k.iter().any(|&k| k <= 0) {
                return fail(run.span, format!("kernel_size must be greater than zero, but got {}", shown(&k)));
            }
            if s.iter().any(|&s| s <= 0) {
                return fail(run.span, format!("stride must be greater than zero, but got {}", shown(&s)));
            }
            if p.iter().zip(&k).any(|(&p, &k)| p < 0 || p > k / 2) {
                return fail(
                    run.span,
                    format!("pad should be at most half of effective kernel size, but got pad={}, kernel_size={} and dilation=1", shown(&p), shown(&k)),
                );
            }
            // In i128: the sizes may be as large as i64 holds (a limit refuses them later).
            let length = |a: usize| {
                let (n, p, k, s) = (spatial[a] as i128, p[a] as i128, k[a] as i128, s[a] as i128);
                ((n + 2 * p - k).div_euclid(s) + 1).clamp(i64::MIN.into(), i64::MAX.into()) as i64
            };
            let out: Vec<i64> = (0..d).map(length).collect();
            if out.iter().any(|&l| l < 1) {
                return fail(
                    run.span,
                    format!(
                        "Given input size: ({}). Calculated output size: ({}). Output size is too small",
                        sizes_x(input),
                        sizes_x(&[&input[..input.len() - d], &out].concat())
                    ),
                );
            }
        }
        Layer::UpsampleNearest { scale_factor } => {
            let s = at(scale_factor).map_err(err)?;
            if s.iter().any(|&s| s <= 0) {
                return fail_hint(
                    run.span,
                    format!("scale_factor must be a positive integer here, but got {}", shown(&s)),
                    "nearest upsampling by an integer factor s reads input i div s at output i",
                );
            }
        }
    }
    Ok(())
}

/// Values as PyTorch prints one or several: `3`, `(2, 3)`.
fn shown(vs: &[i64]) -> String {
    match vs {
        [v] => v.to_string(),
        _ => format!("({})", vs.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// A shape as PyTorch's pooling errors print it: `1x7`.
fn sizes_x(vs: &[i64]) -> String {
    vs.iter().map(i64::to_string).collect::<Vec<_>>().join("x")
}
