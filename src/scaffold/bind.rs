//! A parsed call bound to PyTorch's signature of its class or function: positional and
//! keyword arguments, PyTorch's defaults, and PyTorch's checks in PyTorch's words.

use super::call::{Arg, Call, CallError, Spanned, Value};
use crate::syntax::Span;

/// Where the channel counts and kernel sizes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `nn.Conv2d(…)`: from the call.
    Module,
    /// `F.conv2d(x, w, …)`: from `--let`.
    Functional,
}

/// The padding of a convolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Padding {
    /// One number per spatial axis, on both sides.
    Numbers(Vec<i64>),
    /// `'same'`: `dilation·(k - 1)` zeros, the odd one after.
    Same,
    /// `'valid'`: none.
    Valid,
}

/// What bias the call has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bias {
    /// None: `bias=False`, or a functional call without one.
    Without,
    /// PyTorch's module default, `bias=True` left out.
    Default,
    /// `bias=True`, or a functional call's bias tensor, as written.
    Written(String),
}

/// A convolution as PyTorch's call describes it; channels and kernel sizes `None` where a
/// functional call leaves them to `--let`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// As the user wrote the callee, e.g. `nn.Conv2d`.
    pub callee: String,
    /// PyTorch's class or function name without prefix, e.g. `Conv2d`.
    pub name: String,
    /// Module or functional.
    pub form: Form,
    /// The number of spatial axes: 1, 2 or 3.
    pub dims: usize,
    /// Whether it is a transposed convolution.
    pub transposed: bool,
    /// `in_channels` and `out_channels` (module form).
    pub channels: Option<(i64, i64)>,
    /// `kernel_size` per axis (module form).
    pub kernel: Option<Vec<i64>>,
    /// Per axis.
    pub stride: Vec<i64>,
    /// Per axis, or a string.
    pub padding: Padding,
    /// Per axis (transposed only; zeros otherwise).
    pub output_padding: Vec<i64>,
    /// Per axis.
    pub dilation: Vec<i64>,
    /// `groups`.
    pub groups: i64,
    /// Where `groups` was written, for errors that need the channels from `--let`.
    pub groups_span: Option<Span>,
    /// The bias.
    pub bias: Bias,
}

/// The parameters of each signature, in PyTorch's positional order.
fn signature(form: Form, transposed: bool) -> &'static [&'static str] {
    match (form, transposed) {
        (Form::Module, false) => &[
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "dilation",
            "groups",
            "bias",
            "padding_mode",
            "device",
            "dtype",
        ],
        (Form::Module, true) => &[
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "output_padding",
            "groups",
            "bias",
            "dilation",
            "padding_mode",
            "device",
            "dtype",
        ],
        (Form::Functional, false) => &["input", "weight", "bias", "stride", "padding", "dilation", "groups"],
        (Form::Functional, true) => {
            &["input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"]
        }
    }
}

/// The callees accepted, for the message about another.
pub const ACCEPTED: &str = "nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, \
nn.ConvTranspose3d, F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, \
nn.AvgPool1d, nn.AvgPool2d, F.avg_pool1d, F.avg_pool2d, nn.Upsample, nn.UpsamplingNearest2d, F.interpolate";

/// A callee's name without its prefix, and whether the prefix is a module's (`nn.`,
/// `torch.nn.`, none) and a function's (`F.`, `torch.`, `torch.nn.functional.`, none).
pub(super) fn split_callee(callee: &str) -> (&str, bool, bool) {
    let (prefix, name) = callee.rsplit_once('.').unwrap_or(("", callee));
    let module = ["", "nn", "torch.nn"].contains(&prefix);
    let functional = ["", "F", "torch", "torch.nn.functional", "nn.functional"].contains(&prefix);
    (name, module, functional)
}

/// The callee's form, name, spatial axes and whether it is transposed.
fn callee(call: &Call) -> Result<(Form, String, usize, bool), CallError> {
    let c = call.callee.as_str();
    let unknown = || {
        CallError::at(call.callee_span, format!("`{c}` is not a layer symconv writes specs for")).hint(format!(
            "write one of {ACCEPTED} (with or without the torch. / torch.nn. / torch.nn.functional. prefix)"
        ))
    };
    let (name, module, functional) = split_callee(c);
    let (form, rest, transposed) = if let Some(r) = name.strip_prefix("ConvTranspose").filter(|_| module) {
        (Form::Module, r, true)
    } else if let Some(r) = name.strip_prefix("Conv").filter(|_| module) {
        (Form::Module, r, false)
    } else if let Some(r) = name.strip_prefix("conv_transpose").filter(|_| functional) {
        (Form::Functional, r, true)
    } else if let Some(r) = name.strip_prefix("conv").filter(|_| functional) {
        (Form::Functional, r, false)
    } else {
        return Err(unknown());
    };
    let dims = match rest {
        "1d" => 1,
        "2d" => 2,
        "3d" => 3,
        _ => return Err(unknown()),
    };
    Ok((form, name.to_string(), dims, transposed))
}

/// The call bound to its signature and checked as PyTorch checks it.
pub fn bind(call: &Call) -> Result<Conv, CallError> {
    let (form, name, dims, transposed) = callee(call)?;
    let params = signature(form, transposed);
    let owner = match form {
        Form::Module => format!("{name}.__init__()"),
        Form::Functional => format!("{name}()"),
    };
    let bound = arguments(call, params, &owner)?;
    let get = |p: &str| params.iter().position(|q| *q == p).and_then(|i| bound[i]).map(|a| &a.value);
    let required = match form {
        Form::Module => &["in_channels", "out_channels", "kernel_size"][..],
        Form::Functional => &["input", "weight"][..],
    };
    if let Some(missing) = required.iter().find(|p| get(p).is_none()) {
        return Err(CallError::at(call.callee_span, format!("{owner} missing required argument: '{missing}'")));
    }
    let per_axis = |p: &str, default: i64| match get(p) {
        None => Ok(vec![default; dims]),
        Some(v) => ints(v, p, dims),
    };
    let stride = per_axis("stride", 1)?;
    let dilation = per_axis("dilation", 1)?;
    let output_padding = per_axis("output_padding", 0)?;
    let groups = match get("groups") {
        None => 1,
        Some(v) => int(v, "groups")?,
    };
    positive(get("stride"), &stride, "non-positive stride is not supported")?;
    positive(get("dilation"), &dilation, "dilation should be greater than zero")?;
    if groups < 1 {
        return Err(CallError::at(get("groups").expect("written").span, "groups must be a positive integer"));
    }
    let padding = padding(get("padding"), &name, dims, transposed, &stride)?;
    if let (Some(v), true) = (get("output_padding"), transposed) {
        if output_padding.iter().any(|&p| p < 0) {
            return Err(CallError::at(v.span, "negative output_padding is not supported"));
        }
        let too_big = (0..dims).any(|a| output_padding[a] >= stride[a].max(dilation[a]));
        if too_big {
            return Err(CallError::at(v.span, "output padding must be smaller than either stride or dilation"));
        }
    }
    padding_mode(get("padding_mode"), &name, transposed)?;
    let bias = bias(get("bias"), form)?;
    let (channels, kernel) = match form {
        Form::Functional => (None, None),
        Form::Module => {
            let (inputs, outputs) = (get("in_channels").expect("required"), get("out_channels").expect("required"));
            let (c, o) = (int(inputs, "in_channels")?, int(outputs, "out_channels")?);
            for (v, n, what) in [(inputs, c, "in_channels"), (outputs, o, "out_channels")] {
                if n < 1 {
                    return Err(CallError::at(v.span, format!("{what} must be a positive integer, got {n}")));
                }
                if n % groups != 0 {
                    return Err(CallError::at(v.span, format!("{what} must be divisible by groups")));
                }
            }
            let k = get("kernel_size").expect("required");
            let kernel = ints(k, "kernel_size", dims)?;
            positive(Some(k), &kernel, "kernel_size must be positive")?;
            (Some((c, o)), Some(kernel))
        }
    };
    Ok(Conv {
        callee: call.callee.clone(),
        name,
        form,
        dims,
        transposed,
        channels,
        kernel,
        stride,
        padding,
        output_padding,
        dilation,
        groups,
        groups_span: get("groups").map(|v| v.span),
        bias,
    })
}

/// The call's arguments in the slots of `params` (PyTorch's positional order), as Python
/// binds them; `owner` names the callee in errors (`Conv2d.__init__()`).
pub(super) fn arguments<'a>(call: &'a Call, params: &[&str], owner: &str) -> Result<Vec<Option<&'a Arg>>, CallError> {
    let mut bound: Vec<Option<&Arg>> = vec![None; params.len()];
    let mut keywords_seen = false;
    for (at, arg) in call.args.iter().enumerate() {
        let slot = match &arg.keyword {
            None if keywords_seen => {
                return Err(CallError::at(arg.value.span, "positional argument follows keyword argument"))
            }
            None if at >= params.len() => {
                return Err(CallError::at(
                    arg.value.span,
                    format!("{owner} takes at most {} arguments but {} were given", params.len(), call.args.len()),
                ))
            }
            None => at,
            Some((k, span)) => {
                keywords_seen = true;
                params.iter().position(|p| p == k).ok_or_else(|| {
                    CallError::at(*span, format!("{owner} got an unexpected keyword argument '{k}'"))
                        .hint(format!("its arguments are {}", params.join(", ")))
                })?
            }
        };
        if bound[slot].is_some() {
            let span = arg.keyword.as_ref().map_or(arg.value.span, |k| k.1);
            return Err(CallError::at(span, format!("{owner} got multiple values for argument '{}'", params[slot])));
        }
        bound[slot] = Some(arg);
    }
    Ok(bound)
}

/// An error at `v` unless every value is at least 1.
pub(super) fn positive(v: Option<&Spanned>, values: &[i64], message: &str) -> Result<(), CallError> {
    match (v, values.iter().any(|&x| x < 1)) {
        (Some(v), true) => Err(CallError::at(v.span, message)),
        _ => Ok(()),
    }
}

/// The largest number a call may hold: past it no run fits symconv's limits (the most
/// values a run holds, [`crate::limits::Limits::run_values`]), and spec arithmetic stays
/// far from overflow.
pub const LARGEST: i64 = 1 << 24;

/// One integer, at most [`LARGEST`].
pub(super) fn int(v: &Spanned, param: &str) -> Result<i64, CallError> {
    match &v.value {
        Value::Int(n) if *n > LARGEST => Err(CallError::at(
            v.span,
            format!("{param}={n} is too large: symconv takes numbers up to {LARGEST} (no run of more values fits its limits)"),
        )),
        Value::Int(n) => Ok(*n),
        Value::Float(f) if f.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '+') => {
            Err(CallError::at(v.span, format!("{param}={f} is too large: symconv takes numbers up to {LARGEST}")))
        }
        Value::Float(f) => Err(CallError::at(v.span, format!("{param} must be an integer, not the float {f}"))),
        _ => Err(CallError::at(v.span, format!("{param} must be an integer"))),
    }
}

/// One integer for every axis, or a tuple of `dims` integers.
pub(super) fn ints(v: &Spanned, param: &str, dims: usize) -> Result<Vec<i64>, CallError> {
    let wrong = || {
        let what = if dims == 1 {
            "an integer or a tuple of 1 integer".into()
        } else {
            format!("an integer or a tuple of {dims} integers")
        };
        CallError::at(v.span, format!("{param} must be {what}"))
    };
    match &v.value {
        Value::Tuple(items) if items.len() == dims => items.iter().map(|i| int(i, param)).collect(),
        Value::Tuple(_) => Err(wrong()),
        Value::Int(_) | Value::Float(_) => Ok(vec![int(v, param)?; dims]),
        _ => Err(wrong()),
    }
}

/// The padding: numbers, or PyTorch's strings where the call takes them.
fn padding(
    v: Option<&Spanned>,
    name: &str,
    dims: usize,
    transposed: bool,
    stride: &[i64],
) -> Result<Padding, CallError> {
    let Some(v) = v else { return Ok(Padding::Numbers(vec![0; dims])) };
    let Value::Str(s) = &v.value else {
        let p = ints(v, "padding", dims)?;
        if p.iter().any(|&x| x < 0) {
            return Err(CallError::at(v.span, "negative padding is not supported"));
        }
        return Ok(Padding::Numbers(p));
    };
    if transposed {
        let f = name.replace("ConvTranspose", "conv_transpose");
        return Err(CallError::at(v.span, format!("{f}(): argument 'padding' must be tuple of ints, not str")));
    }
    match s.as_str() {
        "valid" => Ok(Padding::Valid),
        "same" if stride.iter().any(|&s| s != 1) => {
            Err(CallError::at(v.span, "padding='same' is not supported for strided convolutions"))
        }
        "same" => Ok(Padding::Same),
        _ => Err(CallError::at(v.span, format!("Invalid padding string '{s}', should be one of {{'valid', 'same'}}"))),
    }
}

/// `padding_mode`: `'zeros'` only.
fn padding_mode(v: Option<&Spanned>, name: &str, transposed: bool) -> Result<(), CallError> {
    let Some(v) = v else { return Ok(()) };
    let Value::Str(mode) = &v.value else {
        return Err(CallError::at(v.span, "padding_mode must be a string"));
    };
    match mode.as_str() {
        "zeros" => Ok(()),
        _ if transposed => Err(CallError::at(v.span, format!("Only \"zeros\" padding mode is supported for {name}"))),
        "reflect" | "replicate" | "circular" => Err(CallError::at(
            v.span,
            format!("padding_mode='{mode}' is not expressible: a spec's tensors read as 0 outside their shape"),
        )
        .hint("symconv writes padding_mode='zeros' only (PyTorch's default)")),
        _ => Err(CallError::at(
            v.span,
            format!(
                "padding_mode must be one of {{'zeros', 'reflect', 'replicate', 'circular'}}, but got padding_mode='{mode}'"
            ),
        )),
    }
}

/// The bias: `True`/`False` for a module, `None` or a tensor for a function.
fn bias(v: Option<&Spanned>, form: Form) -> Result<Bias, CallError> {
    match (v.map(|v| &v.value), form) {
        (None, Form::Module) => Ok(Bias::Default),
        (None, Form::Functional) => Ok(Bias::Without),
        (Some(Value::Name(n)), Form::Module) if n == "False" => Ok(Bias::Without),
        (Some(Value::Name(n)), Form::Module) if n == "True" => Ok(Bias::Written("bias=True".into())),
        (Some(Value::Name(n)), Form::Functional) if n == "None" => Ok(Bias::Without),
        (Some(Value::Name(n)), Form::Functional) => Ok(Bias::Written(format!("bias `{n}`"))),
        (Some(_), Form::Module) => Err(CallError::at(v.expect("some").span, "bias must be True or False")),
        (Some(_), Form::Functional) => Err(CallError::at(v.expect("some").span, "bias must be None or a tensor")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(call: &str) -> Result<Conv, CallError> {
        bind(&super::super::call::parse(call).expect("it parses"))
    }

    #[test]
    fn positional_arguments_follow_each_signature() {
        // nn.ConvTranspose2d: …, output_padding, groups, bias, dilation (PyTorch's order).
        let c = bound("nn.ConvTranspose2d(2, 4, 3, 2, 1, 1, 2, False, 3)").unwrap();
        let want = (vec![2, 2], Padding::Numbers(vec![1, 1]), vec![1, 1], 2, Bias::Without, vec![3, 3]);
        assert_eq!((c.stride, c.padding, c.output_padding, c.groups, c.bias, c.dilation), want);
        // nn.Conv2d: …, padding, dilation, groups.
        let c = bound("torch.nn.Conv2d(3, 6, (3, 2), 1, 0, 2, 3)").unwrap();
        assert_eq!((c.kernel, c.dilation, c.groups, c.bias), (Some(vec![3, 2]), vec![2, 2], 3, Bias::Default));
        // F.conv_transpose1d: input, weight, bias, stride, padding, output_padding, groups, dilation.
        let c = bound("F.conv_transpose1d(x, w, b, 2, 1, 1, 1, 2)").unwrap();
        assert_eq!(
            (c.form, c.groups, c.dilation, c.bias),
            (Form::Functional, 1, vec![2], Bias::Written("bias `b`".into()))
        );
        // F.conv3d: input, weight, bias, stride, padding, dilation, groups.
        let c = bound("conv3d(x, w, None, (1, 2, 1), 'valid', 1, 2)").unwrap();
        assert_eq!((c.dims, c.stride, c.padding, c.groups), (3, vec![1, 2, 1], Padding::Valid, 2));
    }

    #[test]
    fn callees_are_read_with_every_prefix_pytorch_allows() {
        for (call, transposed, form) in [
            ("nn.Conv1d(1, 1, 3)", false, Form::Module),
            ("torch.nn.ConvTranspose3d(1, 1, 3)", true, Form::Module),
            ("Conv2d(1, 1, 3)", false, Form::Module),
            ("torch.conv_transpose2d(x, w)", true, Form::Functional),
            ("torch.nn.functional.conv1d(x, w)", false, Form::Functional),
        ] {
            let c = bound(call).unwrap();
            assert_eq!((c.transposed, c.form), (transposed, form), "{call}");
        }
        for call in ["F.Conv2d(1, 1, 3)", "nn.conv2d(x, w)", "nn.Conv4d(1, 1, 3)", "F.conv2d_input(x, w)"] {
            assert!(bound(call).unwrap_err().message.contains("is not a layer"), "{call}");
        }
    }

    #[test]
    fn numbers_past_the_largest_are_refused_at_their_place() {
        let e = bound("nn.Conv1d(1, 1, 3, stride=16777217)").unwrap_err();
        assert_eq!((e.span.start, e.message.contains("too large")), (26, true));
        assert!(bound("nn.Conv1d(1, 1, 3, stride=16777216)").is_ok());
    }
}
