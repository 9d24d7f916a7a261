//! Resolution: names, shapes, sizes and `let` values checked, the formula put into the
//! index algebra. Errors carry the span of what the user wrote.

use crate::algebra::cond::{eq, le, lt, ne};
use crate::algebra::formula::fresh_name;
use crate::algebra::index::{self, var};
use crate::algebra::{Cond, Element, Env, Formula, Index, IndexExt, Term};
use crate::syntax::{self, BinOp, CmpOp, CondKind, ExprKind, Span, Statement, StatementKind, TensorRole};
use std::collections::{BTreeMap, BTreeSet};

mod layers;

pub use layers::{Layer, LayerOp, LayerRun};

/// A semantic error in a spec: what is wrong, where, and a hint where one helps.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ResolveError {
    /// Where the offending text stands.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when known.
    pub hint: Option<String>,
    /// The name the error is about when a line the parser skipped may explain it (an
    /// unknown tensor or size, a size without a value, a `let` nothing uses): such an
    /// error is not reported when a skipped line mentions the name.
    pub name: Option<String>,
}

fn error(span: Span, message: impl Into<String>) -> ResolveError {
    ResolveError { span, message: message.into(), hint: None, name: None }
}

fn fail<T>(span: Span, message: impl Into<String>) -> Result<T, ResolveError> {
    Err(error(span, message))
}

fn fail_hint<T>(span: Span, message: impl Into<String>, hint: impl Into<String>) -> Result<T, ResolveError> {
    Err(ResolveError { hint: Some(hint.into()), ..error(span, message) })
}

/// An error about `name`, which a line the parser skipped may explain.
fn fail_name<T>(name: &str, span: Span, message: String, hint: Option<String>) -> Result<T, ResolveError> {
    Err(ResolveError { span, message, hint, name: Some(name.to_string()) })
}

/// Whether a tensor is an input or a weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Declared with `input`.
    Input,
    /// Declared with `weight`.
    Weight,
}

/// An input or weight tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Its name.
    pub name: String,
    /// Input or weight.
    pub role: Role,
    /// One size expression per axis.
    pub shape: Vec<Index>,
    /// Zeros before and after each axis, as the valid rule sees them (`pad` lines pad
    /// the last axes; the others have none).
    pub pad: Vec<(Index, Index)>,
}

/// The output tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Its name.
    pub name: String,
    /// The definition's free index names, one per axis.
    pub indices: Vec<String>,
    /// The shape given by an `output` line, when there is one.
    pub shape: Option<Vec<Index>>,
}

/// What a claim asserts.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimKind {
    /// `len(s, axis) = value`.
    Length {
        /// The 0-based axis.
        axis: usize,
        /// The claimed length.
        value: Index,
        /// The claimed length as written.
        written: String,
    },
    /// `∂s_<out>/∂t_<wrt> = value`, in the claim's own index names.
    Derivative {
        /// The tensor differentiated against.
        wrt: String,
        /// The claim's names for the output's indices.
        out_indices: Vec<String>,
        /// The claim's names for the tensor's indices.
        wrt_indices: Vec<String>,
        /// The claimed derivative.
        value: Formula,
    },
    /// `(∂L/∂t)_<wrt> = value`: the gradient of a loss `L` with respect to `t` in gather
    /// form, in the claim's own index names; `value` holds the upstream gradient
    /// ([`Model::upstream`]) once in every term.
    Gradient {
        /// The tensor differentiated against.
        wrt: String,
        /// The claim's names for the tensor's indices.
        wrt_indices: Vec<String>,
        /// The claimed gradient.
        value: Formula,
    },
    /// `∂L/∂t = op(a, b, …)`: the gradient as one engine call on the spec's tensors and
    /// the upstream gradient.
    GradientCall {
        /// The tensor differentiated against.
        wrt: String,
        /// The call, resolved as a run line is (its `input` and `weight` may name the
        /// upstream gradient).
        call: Run,
    },
}

/// A claim with its source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The claim as written, without `claim`.
    pub text: String,
    /// Where it stands.
    pub span: Span,
    /// What it asserts.
    pub kind: ClaimKind,
}

/// The convolution operations a `run` line can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOp {
    /// `conv1d`
    Conv1d,
    /// `conv_transpose1d`
    ConvTranspose1d,
    /// `conv2d`
    Conv2d,
    /// `conv_transpose2d`
    ConvTranspose2d,
    /// `conv3d`
    Conv3d,
    /// `conv_transpose3d`
    ConvTranspose3d,
}

impl RunOp {
    /// Its name in PyTorch.
    pub fn name(self) -> &'static str {
        match self {
            RunOp::Conv1d => "conv1d",
            RunOp::ConvTranspose1d => "conv_transpose1d",
            RunOp::Conv2d => "conv2d",
            RunOp::ConvTranspose2d => "conv_transpose2d",
            RunOp::Conv3d => "conv3d",
            RunOp::ConvTranspose3d => "conv_transpose3d",
        }
    }

    /// How many spatial axes it convolves.
    pub fn spatial(self) -> usize {
        match self {
            RunOp::Conv1d | RunOp::ConvTranspose1d => 1,
            RunOp::Conv2d | RunOp::ConvTranspose2d => 2,
            RunOp::Conv3d | RunOp::ConvTranspose3d => 3,
        }
    }

    /// Whether it is a transposed convolution.
    pub fn transposed(self) -> bool {
        matches!(self, RunOp::ConvTranspose1d | RunOp::ConvTranspose2d | RunOp::ConvTranspose3d)
    }

    /// The convolution of as many spatial axes (`transposed`: its transpose).
    pub fn of(spatial: usize, transposed: bool) -> RunOp {
        match (spatial, transposed) {
            (1, false) => RunOp::Conv1d,
            (1, true) => RunOp::ConvTranspose1d,
            (2, false) => RunOp::Conv2d,
            (2, true) => RunOp::ConvTranspose2d,
            (_, false) => RunOp::Conv3d,
            (_, true) => RunOp::ConvTranspose3d,
        }
    }
}

/// A `run` line, resolved: the tensors and the parameters as index expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The line as written, without `run`.
    pub text: String,
    /// Where it stands.
    pub span: Span,
    /// Which operation.
    pub op: RunOp,
    /// The input tensor.
    pub input: String,
    /// The weight tensor.
    pub weight: String,
    /// Whether the weight is passed as `flip(w)`.
    pub flip: bool,
    /// The bias tensor `b[O]` added to every output of channel `o`, when one is passed.
    pub bias: Option<String>,
    /// Keyword parameters: name, one or more values, and where they stand. For a call of
    /// several spatial axes, one value per axis (`padding`: a pair per axis, before and
    /// after, flattened) and one for `groups`.
    pub params: Vec<(String, Vec<Index>, Span)>,
}

/// A resolved spec: everything later stages need, and nothing unchecked.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The spec's name (its file stem).
    pub name: String,
    /// Where the definition stands in the source, for messages about the output it defines.
    pub definition_span: Span,
    /// The whole source text, for messages that point into it.
    pub source: String,
    /// The size names, in order of first appearance.
    pub sizes: Vec<String>,
    /// Concrete values of the sizes (`let`, then overrides).
    pub values: Env,
    /// Inputs and weights, in declaration order.
    pub tensors: Vec<Tensor>,
    /// The output.
    pub output: Output,
    /// The definition's right-hand side.
    pub formula: Formula,
    /// The claims, in order.
    pub claims: Vec<Claim>,
    /// The runs of convolutions, in order.
    pub runs: Vec<Run>,
    /// The runs of other layers (pooling, upsampling), in order.
    pub layers: Vec<LayerRun>,
    /// The name of the upstream gradient `∂L/∂s`, a tensor shaped like the output, in
    /// backward formulas (`g` unless the spec renames it).
    pub upstream: String,
    /// Each size's least value (see [`Model::least`]).
    least: BTreeMap<String, i64>,
}

impl Model {
    /// The definition as written.
    pub fn definition_text(&self) -> &str {
        &self.source[self.definition_span.start..self.definition_span.end]
    }

    /// The input or weight tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The weight the valid rule goes by: the one weight, or of several (a kernel and a
    /// bias) the one weight that some term reads at a summed index (`w_<o,c,m>` in
    /// `Σ_m x_<c,i+m> w_<o,c,m> + b_o`); `None` when there is none, or several such.
    pub fn valid_rule_weight(&self) -> Option<&Tensor> {
        let weights: Vec<&Tensor> = self.tensors.iter().filter(|t| t.role == Role::Weight).collect();
        if let [one] = weights.as_slice() {
            return Some(one);
        }
        let convolved = |w: &&&Tensor| self.formula.reads_at_summed_index(&w.name);
        match weights.iter().filter(convolved).collect::<Vec<_>>().as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The concrete shape of a tensor at the given sizes.
    pub fn shape_at(&self, name: &str, sizes: &Env) -> Option<Vec<i64>> {
        self.tensor(name)?.shape.iter().map(|d| d.eval(sizes).ok()).collect()
    }

    /// The least value a size takes: 1 for a size in a shape and for one the formula
    /// multiplies an index by or divides by (a stride, a dilation), 0 for the others
    /// (pads).
    pub fn least(&self, size: &str) -> i64 {
        self.least.get(size).copied().unwrap_or(0)
    }
}

/// Every size's least value (see [`Model::least`]).
fn least_values(model: &Model) -> BTreeMap<String, i64> {
    let mut coefficients = BTreeSet::new();
    let mut visit = |p: &Index| coefficients_in(p, &model.sizes, &mut coefficients);
    for t in &model.formula.terms {
        visit(&t.coeff);
        t.elements.iter().flat_map(|e| &e.index).for_each(&mut visit);
        t.brackets.iter().flat_map(|c| c.indices()).for_each(&mut visit);
    }
    let in_shape = |n: &str| model.tensors.iter().flat_map(|t| &t.shape).any(|d| d.mentions(n));
    model.sizes.iter().map(|n| (n.clone(), i64::from(in_shape(n) || coefficients.contains(n)))).collect()
}

/// Adds to `out` the sizes that multiply a name that is no size in `p`, or divide.
fn coefficients_in(p: &Index, sizes: &[String], out: &mut BTreeSet<String>) {
    for (m, _) in p.terms() {
        let is_size = |a: &index::IndexAtom| matches!(a, index::IndexAtom::Var(v) if sizes.iter().any(|s| **s == **v));
        let scales_an_index = m.iter().any(|a| matches!(a, index::IndexAtom::Var(_)) && !is_size(a));
        for a in m {
            match a {
                index::IndexAtom::Var(v) if scales_an_index && sizes.iter().any(|s| **s == **v) => {
                    out.insert(v.to_string());
                }
                index::IndexAtom::Var(_) => {}
                index::IndexAtom::Div(x, d) | index::IndexAtom::Mod(x, d) => {
                    out.extend(d.names().into_iter().filter(|n| sizes.contains(n)));
                    coefficients_in(x, sizes, out);
                }
            }
        }
    }
}

/// Resolves a parsed spec. `overrides` replace or add `let` values (`--let n=64`).
/// Every statement is resolved: the errors come back together, in source order, except
/// those that a line the parser skipped may explain (an unknown name that line mentions,
/// a spec without a definition or a weight): with skipped lines, the list may be empty.
pub fn resolve(
    spec: &syntax::Spec,
    src: &str,
    name: &str,
    overrides: &[(String, i64)],
) -> Result<Model, Vec<ResolveError>> {
    Resolver::new(spec, src).finish(name, overrides)
}

/// The size names of a parsed spec, in order of first appearance: every name in a shape,
/// a pad, a `let`, or a parameter of a `run` or of a gradient claim's call.
pub fn size_names(spec: &syntax::Spec) -> Vec<String> {
    size_spans(spec).into_iter().map(|n| n.text).collect()
}

/// Each size name's first appearance (see [`size_names`]).
fn size_spans(spec: &syntax::Spec) -> Vec<syntax::Name> {
    let mut names = Vec::new();
    for st in &spec.statements {
        match &st.kind {
            StatementKind::Tensor { shape, .. } => shape.iter().for_each(|e| expr_names(e, &mut names)),
            StatementKind::Pad { pairs, .. } => pairs.iter().for_each(|(before, after)| {
                expr_names(before, &mut names);
                expr_names(after, &mut names);
            }),
            StatementKind::Let(pairs) => names.extend(pairs.iter().map(|(n, _, _)| n.clone())),
            StatementKind::Run { args, op }
            | StatementKind::Claim(syntax::ClaimKind::GradientCall { args, op, .. }) => {
                // The tensors are positional (a layer's other arguments may be too); a
                // bias is a tensor, and a layer's flags are Python's constants.
                let layer = LayerOp::named(&op.text).is_some();
                let sized = |(at, a): &(usize, &syntax::RunArg)| match &a.keyword {
                    // A layer's positional sizes: kernel_size, stride, padding (or scale_factor).
                    None => layer && (1..=3).contains(at),
                    Some(k) => {
                        !matches!(k.text.as_str(), "bias" | "ceil_mode" | "count_include_pad" | "divisor_override")
                    }
                };
                for (_, a) in args.iter().enumerate().filter(sized) {
                    run_value_names(&a.value, &mut names);
                }
            }
            _ => {}
        }
    }
    let mut first: Vec<syntax::Name> = Vec::new();
    for n in names {
        if !first.iter().any(|f| f.text == n.text) {
            first.push(n);
        }
    }
    first
}

/// The names in a run argument's value (sizes, when the argument has a keyword).
fn run_value_names(v: &syntax::RunValue, out: &mut Vec<syntax::Name>) {
    match v {
        syntax::RunValue::Expr(e) => expr_names(e, out),
        syntax::RunValue::Tuple(es, _) => es.iter().for_each(|e| expr_names(e, out)),
        syntax::RunValue::Pairs(ps, _) => ps.iter().for_each(|(a, b)| {
            expr_names(a, out);
            expr_names(b, out);
        }),
        syntax::RunValue::Flip(..) | syntax::RunValue::Str(..) => {}
    }
}

/// Every word on the lines the parser skipped: the names those lines may have declared
/// or used. A glued `d` (`ds_i`) may start a word, so the word without it counts too.
fn skipped_names(spec: &syntax::Spec, src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for span in &spec.skipped {
        let words = src[span.start..span.end].split(|c: char| !(c.is_alphanumeric() && c != 'Σ'));
        for w in words.filter(|w| !w.is_empty()) {
            out.extend(w.strip_prefix('d').map(str::to_string));
            out.insert(w.to_string());
        }
    }
    out
}

struct Resolver<'a> {
    spec: &'a syntax::Spec,
    src: &'a str,
    sizes: Vec<String>,
    size_spans: Vec<Span>,
    tensors: Vec<Tensor>,
    output_decl: Option<(String, Vec<Index>, Span)>,
    /// Each pad's two amounts with where they stand, checked once the sizes are known.
    pads: Vec<(Index, Span)>,
    /// The tensors a `pad` line names so far.
    padded: BTreeSet<String>,
    /// The `padding='same'` arguments, with their runs' lines: PyTorch refuses them with
    /// a stride other than 1, checked once the sizes are known.
    same: Vec<(Span, Span)>,
    arity: BTreeMap<String, usize>,
    /// The errors so far, in the order found.
    errors: Vec<ResolveError>,
}

impl<'a> Resolver<'a> {
    fn new(spec: &'a syntax::Spec, src: &'a str) -> Self {
        let (sizes, size_spans) = size_spans(spec).into_iter().map(|n| (n.text, n.span)).unzip();
        let mut r = Resolver {
            spec,
            src,
            sizes,
            size_spans,
            tensors: Vec::new(),
            output_decl: None,
            pads: Vec::new(),
            padded: BTreeSet::new(),
            same: Vec::new(),
            arity: BTreeMap::new(),
            errors: Vec::new(),
        };
        r.declare_tensors();
        r
    }

    /// The value of a statement's resolution; its error is kept and the statement skipped.
    fn keep<T>(&mut self, result: Result<T, ResolveError>) -> Option<T> {
        result.map_err(|e| self.errors.push(e)).ok()
    }

    /// An error about the spec as a whole, unless a skipped line may explain it.
    fn whole(&mut self, message: &str) {
        if self.spec.skipped.is_empty() {
            self.errors.push(error(Span::new(0, 0), message));
        }
    }

    fn is_size(&self, n: &str) -> bool {
        self.sizes.iter().any(|s| s == n)
    }

    fn declare_tensors(&mut self) {
        let spec = self.spec;
        for st in &spec.statements {
            if let StatementKind::Tensor { role, name, shape } = &st.kind {
                let declared = self.declare(*role, name, shape);
                self.keep(declared);
            }
        }
        for st in &spec.statements {
            if let StatementKind::Pad { tensor, pairs } = &st.kind {
                let padded = self.pad(tensor, pairs);
                self.keep(padded);
            }
        }
    }

    /// One `input`, `weight` or `output` line. A shape in error still declares the
    /// tensor, so that its uses are not called unknown.
    fn declare(&mut self, role: TensorRole, name: &syntax::Name, shape: &[syntax::Expr]) -> Result<(), ResolveError> {
        if self.arity.contains_key(&name.text) {
            return fail(name.span, format!("tensor `{}` is declared twice", name.text));
        }
        // A tensor named like a size is declared all the same, so that its uses are not
        // called unknown: the one error names both places.
        let collision = match self.sizes.iter().position(|s| *s == name.text).map(|k| self.size_spans[k]) {
            None => Ok(()),
            Some(at) => {
                let (line, column) = syntax::line_col(self.src, at.start);
                fail_hint(
                    name.span,
                    format!("`{}` is a size (at line {line}, column {column}) and cannot also be a tensor", name.text),
                    "a size and a tensor need names of their own: rename one of them",
                )
            }
        };
        let dims = shape.iter().map(|e| self.size_expr(e)).collect::<Result<Vec<_>, _>>();
        let placeholder = || vec![Index::constant(1); shape.len()];
        self.arity.insert(name.text.clone(), shape.len());
        let role = match role {
            TensorRole::Input => Role::Input,
            TensorRole::Weight => Role::Weight,
            TensorRole::Output => {
                self.output_decl = Some((name.text.clone(), dims.clone().unwrap_or_else(|_| placeholder()), name.span));
                return collision.and(dims.map(drop));
            }
        };
        let shape = dims.clone().unwrap_or_else(|_| placeholder());
        let pad = vec![(Index::zero(), Index::zero()); shape.len()];
        self.tensors.push(Tensor { name: name.text.clone(), role, shape, pad });
        collision.and(dims.map(drop))
    }

    /// One `pad` line: its pairs pad the tensor's last axes, in order.
    fn pad(&mut self, tensor: &syntax::Name, pairs: &[(syntax::Expr, syntax::Expr)]) -> Result<(), ResolveError> {
        let amounts = (pairs.iter())
            .map(|(before, after)| Ok((self.size_expr(before)?, self.size_expr(after)?)))
            .collect::<Result<Vec<_>, ResolveError>>()?;
        let Some(t) = self.tensors.iter_mut().find(|t| t.name == tensor.text) else {
            return fail_name(
                &tensor.text,
                tensor.span,
                format!("`pad` names `{}`, which is no input or weight", tensor.text),
                Some(self.known_tensors()),
            );
        };
        if let Some((extra, _)) = pairs.get(t.shape.len()) {
            let axes = match t.shape.len() {
                1 => "1 axis".to_string(),
                n => format!("{n} axes"),
            };
            let message =
                format!("`pad {}` gives {} pairs of widths, but `{}` has {axes}", t.name, pairs.len(), t.name);
            return fail(extra.span, message);
        }
        if !self.padded.insert(t.name.clone()) {
            return fail(
                tensor.span,
                format!("`{}` is padded twice: give one pair per axis in one `pad` line", t.name),
            );
        }
        let first = t.shape.len() - amounts.len();
        for (axis, ((a, b), (before, after))) in amounts.into_iter().zip(pairs).enumerate() {
            t.pad[first + axis] = (a.clone(), b.clone());
            self.pads.extend([(a, before.span), (b, after.span)]);
        }
        Ok(())
    }

    fn known_tensors(&self) -> String {
        let names: Vec<String> = self.tensors.iter().map(|t| format!("`{}`", t.name)).collect();
        format!("the declared inputs and weights are {}", names.join(", "))
    }

    /// An expression in sizes only (a shape, a pad, a run parameter).
    fn size_expr(&self, e: &syntax::Expr) -> Result<Index, ResolveError> {
        self.index(e, &[])
    }

    fn finish(mut self, name: &str, overrides: &[(String, i64)]) -> Result<Model, Vec<ResolveError>> {
        let spec = self.spec;
        let defs: Vec<&Statement> =
            spec.statements.iter().filter(|s| matches!(s.kind, StatementKind::Definition { .. })).collect();
        if spec.statements.is_empty() {
            self.whole("the spec is empty: it has no statements");
            return Err(self.errors);
        }
        match defs.as_slice() {
            [] => self.whole("the spec has no definition `s_i = …`"),
            [_, more @ ..] => {
                for d in more {
                    self.errors.push(error(d.span, "a second definition: a spec defines exactly one output"));
                }
            }
        }
        let (output, formula) = match defs.first().map(|d| &d.kind) {
            Some(StatementKind::Definition { output, body }) => self.definition(output, body),
            _ => (None, None),
        };
        self.valid_rule_or_output_line(defs.first().map(|d| d.span), formula.as_ref());
        let upstream = self.upstream(defs.first().map(|d| &d.kind));
        let claims = output.as_ref().map(|o| self.claims(o, upstream.as_deref())).unwrap_or_default();
        let (runs, layers) = self.runs();
        let values = self.values(overrides);
        if let Some(values) = values.as_ref().filter(|_| self.errors.is_empty()) {
            let calls: Vec<&Run> = claims
                .iter()
                .filter_map(|c| match &c.kind {
                    ClaimKind::GradientCall { call, .. } => Some(call),
                    _ => None,
                })
                .collect();
            self.check_at_sizes(&runs, &calls, values);
            for run in &layers {
                let input = self.tensors.iter().find(|t| t.name == run.input).map(|t| &t.shape);
                let shape = input.map(|s| s.iter().map(|d| d.eval(values)).collect::<Result<Vec<_>, _>>());
                if let Some(Ok(shape)) = shape {
                    let checked = layers::check_layer(run, &shape, values);
                    self.keep(checked);
                }
            }
        }
        let (Some(def), Some(output), Some(formula), Some(values), Some(upstream), true) =
            (defs.first(), output, formula, values, upstream, self.errors.is_empty())
        else {
            let skipped = skipped_names(spec, self.src);
            self.errors.retain(|e| e.name.as_ref().is_none_or(|n| !skipped.contains(n)));
            self.errors.sort_by_key(|e| e.span.start);
            return Err(self.errors);
        };
        // Every claimed derivative's divisor divides the formula's: claims then compare
        // with the derivation term by term (`Formula::with_divisor`).
        let divisor = claims.iter().fold(formula.divisor, |d, c| match &c.kind {
            ClaimKind::Derivative { value, .. } | ClaimKind::Gradient { value, .. } => {
                lcm(d, value.divisor).unwrap_or(d)
            }
            ClaimKind::Length { .. } | ClaimKind::GradientCall { .. } => d,
        });
        let formula = formula.with_divisor(divisor).unwrap_or(formula);
        let mut model = Model {
            name: name.to_string(),
            definition_span: def.span,
            source: self.src.to_string(),
            sizes: self.sizes,
            values,
            tensors: self.tensors,
            output,
            formula,
            claims,
            runs,
            layers,
            upstream,
            least: BTreeMap::new(),
        };
        model.least = least_values(&model);
        Ok(model)
    }

    /// Without an `output` line the valid rule gives the output's shape, and it goes by one
    /// weight: the only one, or of several (a kernel and a bias) the one the formula reads at
    /// a summed index. A spec with no weight (pooling, upsampling), or with several and not
    /// one such, states the shape itself.
    fn valid_rule_or_output_line(&mut self, definition: Option<Span>, formula: Option<&Formula>) {
        let spec = self.spec;
        let mut output_line = false;
        let mut weights = Vec::new();
        for st in &spec.statements {
            match &st.kind {
                StatementKind::Tensor { role: TensorRole::Output, .. } => output_line = true,
                StatementKind::Tensor { role: TensorRole::Weight, name, .. } => weights.push(name),
                _ => {}
            }
        }
        if weights.is_empty() && !spec.skipped.is_empty() {
            // A line that did not parse may have declared the weight.
            return;
        }
        let hint = "state the output's shape with an `output` line, e.g. `output s[L]`";
        match (output_line, weights.as_slice(), definition) {
            (true, ..) | (false, [_], _) => {}
            (false, [], Some(at)) => self.errors.push(ResolveError {
                hint: Some(hint.into()),
                ..error(at, "the spec declares no `weight`, so the valid rule cannot give the output's shape")
            }),
            (false, [], None) => {}
            (false, [first, second, ..], _) => {
                let Some(formula) = formula else { return };
                let convolved = |w: &&&syntax::Name| formula.reads_at_summed_index(&w.text);
                let read: Vec<String> = weights.iter().filter(convolved).map(|w| format!("`{}`", w.text)).collect();
                if read.len() == 1 {
                    return;
                }
                let (line, column) = syntax::line_col(self.src, first.span.start);
                let which = match read.as_slice() {
                    [] => "the formula reads none at a summed index".to_string(),
                    _ => format!("the formula reads {} at summed indices", read.join(" and ")),
                };
                let message = format!(
                    "a second weight `{}`: the valid rule goes by the one weight that the formula reads at a \
                     summed index, beside `{}` (at line {line}, column {column}), and {which}",
                    second.text, first.text
                );
                self.errors.push(ResolveError { hint: Some(hint.into()), ..error(second.span, message) });
            }
        }
    }

    /// The upstream gradient's name: the `upstream` line's, or `g` (primed when a size, a
    /// tensor or a name of the definition takes it); `None` when the `upstream` line is
    /// in error, so that the gradient claims, which use the name, are not resolved.
    fn upstream(&mut self, definition: Option<&StatementKind>) -> Option<String> {
        let spec = self.spec;
        let mut lines = spec.statements.iter().filter_map(|st| match &st.kind {
            StatementKind::Upstream(name) => Some((st.span, name)),
            _ => None,
        });
        let first = lines.next();
        for (span, _) in lines {
            self.errors.push(error(span, "a second `upstream` line: the upstream gradient has one name"));
        }
        let defined = match definition {
            Some(StatementKind::Definition { output, body }) => Some((output, body)),
            _ => None,
        };
        if let Some((_, name)) = first {
            let output = defined.map(|(lhs, _)| &lhs.tensor.text).or(self.output_decl.as_ref().map(|(n, _, _)| n));
            let clash = if output == Some(&name.text) {
                Some("the output")
            } else if self.arity.contains_key(&name.text) {
                Some("a tensor")
            } else {
                self.is_size(&name.text).then_some("a size")
            };
            return match clash {
                Some(what) => {
                    self.errors.push(error(name.span, format!("`{}` names {what} already", name.text)));
                    None
                }
                None => Some(name.text.clone()),
            };
        }
        let mut taken: BTreeSet<String> = self.sizes.iter().chain(self.arity.keys()).cloned().collect();
        if let Some((lhs, body)) = defined {
            taken.insert(lhs.tensor.text.clone());
            taken.extend(lhs.indices.iter().map(|n| n.text.clone()));
            taken.extend(expr_name_set(body));
        }
        Some(if taken.contains("g") { fresh_name("g", &taken) } else { "g".to_string() })
    }

    /// The definition: its output (when its left side resolves) and its formula (when
    /// its right side does too).
    fn definition(&mut self, lhs: &syntax::Indexed, body: &syntax::Expr) -> (Option<Output>, Option<Formula>) {
        let output = self.output(lhs);
        let Some(output) = self.keep(output) else { return (None, None) };
        let formula = self.formula(body, &output.indices, &output.name, None);
        let formula = self.keep(formula);
        (Some(output), formula)
    }

    /// The definition's left side, checked against an `output` line.
    fn output(&self, lhs: &syntax::Indexed) -> Result<Output, ResolveError> {
        let indices = self.lhs_indices(lhs)?;
        let shape = match &self.output_decl {
            Some((n, _, span)) if *n != lhs.tensor.text => {
                return fail(
                    *span,
                    format!("`output {n}` is declared, but the definition defines `{}`", lhs.tensor.text),
                );
            }
            Some((_, dims, _)) if dims.len() != indices.len() => {
                return fail(
                    lhs.span,
                    format!("`{}` has {} axes but {} indices here", lhs.tensor.text, dims.len(), indices.len()),
                );
            }
            Some((_, dims, _)) => Some(dims.clone()),
            None => None,
        };
        if self.tensors.iter().any(|t| t.name == lhs.tensor.text) {
            return fail(
                lhs.tensor.span,
                format!("`{}` is an input or weight; the definition needs a new name", lhs.tensor.text),
            );
        }
        Ok(Output { name: lhs.tensor.text.clone(), indices, shape })
    }

    /// The checks that need the sizes' values: PyTorch's checks of each run, its check of
    /// `padding='same'` in the gradient claims' calls (whose shapes involve the upstream
    /// gradient, which has none declared), and pads that are not negative.
    fn check_at_sizes(&mut self, runs: &[Run], calls: &[&Run], values: &Env) {
        for run in runs {
            let checked = self.check_same(run, values).and_then(|()| check_run(run, &self.tensors, values));
            self.keep(checked);
        }
        for call in calls {
            let checked = self.check_same(call, values).and_then(|()| check_arguments(call, values).map(|_| ()));
            self.keep(checked);
        }
        let pads: Vec<Result<(), ResolveError>> = (self.pads.iter())
            .map(|(amount, span)| match amount.eval(values) {
                Ok(v) if v < 0 => {
                    fail(*span, format!("this pad is {v} zeros at the let sizes: pads cannot be negative"))
                }
                Ok(_) => Ok(()),
                Err(e) => fail(*span, e.to_string()),
            })
            .collect();
        for checked in pads {
            self.keep(checked);
        }
    }

    /// PyTorch's check of a run's or call's `padding='same'`, if it says that.
    fn check_same(&self, run: &Run, values: &Env) -> Result<(), ResolveError> {
        let same = self.same.iter().find(|(_, line)| *line == run.span).map(|(at, _)| *at);
        check_same(run, same, values)
    }

    fn lhs_indices(&self, ix: &syntax::Indexed) -> Result<Vec<String>, ResolveError> {
        let mut out: Vec<String> = Vec::new();
        for n in &ix.indices {
            if out.contains(&n.text) {
                return fail(n.span, format!("the index `{}` is repeated", n.text));
            }
            if self.is_size(&n.text) {
                return fail(n.span, format!("`{}` is a size, not an index", n.text));
            }
            if self.arity.contains_key(&n.text) {
                return fail(n.span, format!("`{}` is a tensor, not an index", n.text));
            }
            out.push(n.text.clone());
        }
        Ok(out)
    }

    /// A formula in the `free` index names; `upstream`, the upstream gradient's name and
    /// rank, when it may use that tensor (in a gradient claim).
    fn formula(
        &self,
        body: &syntax::Expr,
        free: &[String],
        output: &str,
        upstream: Option<(&str, usize)>,
    ) -> Result<Formula, ResolveError> {
        let mut scope = Scope { r: self, free: free.to_vec(), bound: Vec::new(), output, upstream };
        let value = scope.value(body)?;
        for t in &value.terms {
            for v in &t.bound {
                if !t.elements.iter().any(|e| e.index.iter().any(|p| p.mentions(v))) {
                    return fail_hint(
                        body.span,
                        format!("the sum over `{v}` is unbounded: no tensor element uses `{v}`"),
                        "every summed index must index a tensor, whose shape bounds it",
                    );
                }
            }
        }
        Ok(Formula::over(value.terms, value.divisor))
    }

    /// Every claim that resolves; the others' errors are kept. Without the upstream
    /// gradient's name (`upstream` is `None`), the gradient claims are left out.
    fn claims(&mut self, output: &Output, upstream: Option<&str>) -> Vec<Claim> {
        let spec = self.spec;
        let mut claims = Vec::new();
        for st in &spec.statements {
            let StatementKind::Claim(c) = &st.kind else { continue };
            let claim = match (c, upstream) {
                (syntax::ClaimKind::Gradient { .. } | syntax::ClaimKind::GradientCall { .. }, None) => continue,
                (_, upstream) => self.claim(st, c, output, upstream.unwrap_or_default()),
            };
            if let Some((claim, same)) = self.keep(claim) {
                self.same.extend(same);
                claims.push(claim);
            }
        }
        claims
    }

    /// One claim; when its call says `padding='same'`, where, and where the call stands.
    fn claim(
        &self,
        st: &Statement,
        c: &syntax::ClaimKind,
        output: &Output,
        upstream: &str,
    ) -> Result<(Claim, Option<(Span, Span)>), ResolveError> {
        let mut same = None;
        let text = self.src[st.span.start..st.span.end].trim_start_matches("claim").trim().to_string();
        let kind = match c {
            syntax::ClaimKind::Length { tensor, axis, value } => {
                self.expect_output(tensor, output)?;
                let rank = output.indices.len();
                let axis = match axis {
                    None => rank - 1,
                    Some(e) => match self.size_expr(e)?.as_constant() {
                        Some(a) if a >= 0 && (a as usize) < rank => a as usize,
                        _ => return fail(e.span, format!("the axis must be an integer from 0 to {}", rank - 1)),
                    },
                };
                let written = self.src[value.span.start..value.span.end].trim().to_string();
                ClaimKind::Length { axis, value: self.size_expr(value)?, written }
            }
            syntax::ClaimKind::Derivative { output: out, wrt, value } => {
                self.derivative_claim(out, wrt, value, output)?
            }
            syntax::ClaimKind::Gradient { loss, wrt, value } => {
                self.gradient_claim(st.span, loss, wrt, value, output, upstream)?
            }
            syntax::ClaimKind::GradientCall { loss, wrt, op, args, call } => {
                self.loss(loss, wrt)?;
                let wrt = self.differentiated(wrt)?.name.clone();
                let text = self.src[call.start..call.end].to_string();
                let (call, at) = self.call(*call, text, op, args, Some(upstream))?;
                same = at.map(|at| (at, call.span));
                ClaimKind::GradientCall { wrt, call }
            }
        };
        Ok((Claim { text, span: st.span, kind }, same))
    }

    /// `∂out/∂wrt = value`, resolved.
    fn derivative_claim(
        &self,
        out: &syntax::Indexed,
        wrt: &syntax::Indexed,
        value: &syntax::Expr,
        output: &Output,
    ) -> Result<ClaimKind, ResolveError> {
        self.expect_output(&out.tensor, output)?;
        if out.indices.len() != output.indices.len() {
            return fail(out.span, format!("`{}` has {} indices in the definition", output.name, output.indices.len()));
        }
        let t = self.wrt_tensor(wrt)?;
        let out_indices = self.lhs_indices(out)?;
        let wrt_indices = self.lhs_indices(wrt)?;
        if let Some(n) = wrt.indices.iter().find(|n| out_indices.contains(&n.text)) {
            return fail(n.span, format!("`{}` names an output index already", n.text));
        }
        let free: Vec<String> = out_indices.iter().chain(&wrt_indices).cloned().collect();
        let value = self.formula(value, &free, &output.name, None)?;
        Ok(ClaimKind::Derivative { wrt: t.name.clone(), out_indices, wrt_indices, value })
    }

    /// The input or weight that a claim differentiates against, with as many indices as
    /// it has axes.
    fn wrt_tensor(&self, wrt: &syntax::Indexed) -> Result<&Tensor, ResolveError> {
        let t = self.differentiated(&wrt.tensor)?;
        if wrt.indices.len() != t.shape.len() {
            return fail(
                wrt.span,
                format!("`{}` has {} axes but {} indices here", t.name, t.shape.len(), wrt.indices.len()),
            );
        }
        Ok(t)
    }

    /// The input or weight called `n`, which a claim differentiates against.
    fn differentiated(&self, n: &syntax::Name) -> Result<&Tensor, ResolveError> {
        match self.tensors.iter().find(|t| t.name == n.text) {
            Some(t) => Ok(t),
            None => {
                let hint = self.glued_d(n, |n| self.tensors.iter().any(|t| t.name == n));
                fail_name(
                    &n.text,
                    n.span,
                    format!("unknown tensor `{}`", n.text),
                    Some(hint.unwrap_or_else(|| self.known_tensors())),
                )
            }
        }
    }

    /// Checks that a gradient claim (`∂loss/∂wrt`) writes the loss `L`.
    fn loss(&self, loss: &syntax::Name, wrt: &syntax::Name) -> Result<(), ResolveError> {
        if loss.text == "L" {
            return Ok(());
        }
        fail_hint(
            loss.span,
            format!("`{}` is no loss: a gradient claim differentiates the loss `L`", loss.text),
            format!("the loss is written L: ∂L/∂{}", wrt.text),
        )
    }

    /// `(∂L/∂wrt)_<indices> = value` (the claim at `span`), resolved: `value` may use the
    /// upstream gradient, once in every term.
    fn gradient_claim(
        &self,
        span: Span,
        loss: &syntax::Name,
        wrt: &syntax::Indexed,
        value: &syntax::Expr,
        output: &Output,
        upstream: &str,
    ) -> Result<ClaimKind, ResolveError> {
        self.loss(loss, &wrt.tensor)?;
        let t = self.wrt_tensor(wrt)?;
        let wrt_indices = self.lhs_indices(wrt)?;
        if let Some(n) = wrt.indices.iter().find(|n| n.text == upstream) {
            return fail(n.span, format!("`{upstream}` is the upstream gradient, not an index"));
        }
        let value = self.formula(value, &wrt_indices, &output.name, Some((upstream, output.indices.len())))?;
        if value.terms.iter().any(|term| term.elements.iter().filter(|e| e.tensor == upstream).count() != 1) {
            let (s, x) = (&output.name, &t.name);
            return fail_hint(
                span,
                format!("a gradient is linear in {upstream}: every term must hold exactly one element of `{upstream}`"),
                format!("(∂L/∂{x})_j = Σ_i {upstream}_i ∂{s}_i/∂{x}_j: each term is one element of `{upstream}` times a term of the derivative"),
            );
        }
        Ok(ClaimKind::Gradient { wrt: t.name.clone(), wrt_indices, value })
    }

    /// When `n` follows a glued `d` (`ds_i`) and `d` with `n` names what `known` accepts,
    /// the hint to write the `d` apart.
    fn glued_d(&self, n: &syntax::Name, known: impl Fn(&str) -> bool) -> Option<String> {
        let before = &self.src[..n.span.start];
        let glued = before.strip_suffix('d').is_some_and(|b| !b.ends_with(|c: char| c.is_alphanumeric()));
        let whole = format!("d{}", n.text);
        (glued && known(&whole)).then(|| {
            format!(
                "a `d` glued to a name is the derivative's: `d{0}` reads as `d {0}`; write `d {whole}` or `∂{whole}`",
                n.text
            )
        })
    }

    fn expect_output(&self, n: &syntax::Name, output: &Output) -> Result<(), ResolveError> {
        if n.text != output.name {
            let hint = self.glued_d(n, |whole| whole == output.name);
            return fail_name(
                &n.text,
                n.span,
                format!("`{}` is not the output", n.text),
                Some(hint.unwrap_or_else(|| format!("the definition defines `{}`", output.name))),
            );
        }
        Ok(())
    }

    /// Every run that resolves; the others' errors are kept.
    fn runs(&mut self) -> (Vec<Run>, Vec<LayerRun>) {
        let spec = self.spec;
        let (mut runs, mut layers) = (Vec::new(), Vec::new());
        for st in &spec.statements {
            if let StatementKind::Run { op, args } = &st.kind {
                if let Some(layer) = LayerOp::named(&op.text) {
                    let text = self.src[st.span.start..st.span.end].trim_start_matches("run").trim().to_string();
                    let run = self.layer_run(st.span, text, layer, op, args);
                    layers.extend(self.keep(run));
                    continue;
                }
                let run = self.run(st, op, args);
                if let Some((run, same)) = self.keep(run) {
                    self.same.extend(same.map(|at| (at, run.span)));
                    runs.push(run);
                }
            }
        }
        (runs, layers)
    }

    /// One run line, with where it says `padding='same'`, if it does.
    fn run(
        &self,
        st: &Statement,
        op: &syntax::Name,
        args: &[syntax::RunArg],
    ) -> Result<(Run, Option<Span>), ResolveError> {
        let text = self.src[st.span.start..st.span.end].trim_start_matches("run").trim().to_string();
        self.call(st.span, text, op, args, None)
    }

    /// A call as a run line (`upstream` is `None`) or a gradient claim writes it, at
    /// `span`, with where it says `padding='same'`, if it does. A gradient claim's call
    /// may pass the upstream gradient, the input or the weight as either tensor.
    fn call(
        &self,
        span: Span,
        text: String,
        op: &syntax::Name,
        args: &[syntax::RunArg],
        upstream: Option<&str>,
    ) -> Result<(Run, Option<Span>), ResolveError> {
        let (kind, allowed) = run_op(op)?;
        let positional: Vec<&syntax::RunArg> = args.iter().filter(|a| a.keyword.is_none()).collect();
        let bias_keyword = args.iter().find(|a| a.keyword.as_ref().is_some_and(|k| k.text == "bias"));
        let (positional, bias) = match (positional.as_slice(), bias_keyword, upstream) {
            ([x, w, b], None, None) => (vec![*x, *w], self.bias(b)?),
            ([_, _, third], Some(_), None) => {
                return fail(third.span, format!("{}() got multiple values for argument 'bias'", kind.name()));
            }
            (_, Some(b), None) => (positional.clone(), self.bias(b)?),
            (_, Some(b), Some(_)) => return fail(b.span, "a gradient's call takes no bias"),
            _ => (positional.clone(), None),
        };
        let [x, w] = positional.as_slice() else {
            return fail(span, match upstream {
                None => "a run takes two tensors: the input, then the weight (or flip(weight)), and may take a bias".to_string(),
                Some(u) => format!("a gradient's call takes two tensors, as a run does: each `{u}`, an input or a weight, the second possibly flipped"),
            });
        };
        let (input, (weight, flip)) = match upstream {
            None => {
                let input = self.run_tensor(x, Role::Input)?;
                let weight = match &w.value {
                    syntax::RunValue::Flip(n, _) => (self.run_tensor_name(n, Role::Weight)?, true),
                    _ => (self.run_tensor(w, Role::Weight)?, false),
                };
                (input, weight)
            }
            Some(u) => (self.gradient_tensor(x, u, false)?.0, self.gradient_tensor(w, u, true)?),
        };
        let mut params: Vec<(String, Vec<Index>, Span)> = Vec::new();
        let mut same = None;
        for a in args {
            let Some(k) = &a.keyword else { continue };
            if k.text == "bias" {
                continue;
            }
            if !allowed.contains(&k.text.as_str()) {
                return fail_hint(
                    k.span,
                    format!("`{}` takes no argument `{}`", op.text, k.text),
                    format!("its arguments are {}", allowed.join(", ")),
                );
            }
            if params.iter().any(|(n, _, _)| *n == k.text) || (k.text == "padding" && same.is_some()) {
                return fail(k.span, format!("the argument `{}` is given twice", k.text));
            }
            let values = match &a.value {
                syntax::RunValue::Expr(e) => vec![self.size_expr(e)?],
                syntax::RunValue::Tuple(es, _) => es.iter().map(|e| self.size_expr(e)).collect::<Result<_, _>>()?,
                syntax::RunValue::Pairs(ps, _) => (ps.iter())
                    .flat_map(|(before, after)| [before, after])
                    .map(|e| self.size_expr(e))
                    .collect::<Result<_, _>>()?,
                syntax::RunValue::Flip(_, span) => return fail(*span, "flip(…) is for the weight argument"),
                syntax::RunValue::Str(text, span) => match string_padding(kind, &k.text, text, *span)? {
                    Padding::Same if upstream == Some(weight.as_str()) => {
                        return fail_hint(
                            *span,
                            format!("padding='same' needs the kernel's length, and `{weight}`, the upstream gradient, has no declared shape"),
                            "give the padding as numbers, padding = (before, after)",
                        );
                    }
                    Padding::Same => {
                        same = Some(a.span);
                        continue;
                    }
                    Padding::Valid => vec![Index::zero(); 2 * kind.spatial()],
                },
            };
            let values = per_axis(kind, &k.text, &a.value, values)?;
            params.push((k.text.clone(), values, a.span));
        }
        if let Some(at) = same {
            params.push(("padding".into(), self.same_padding(&weight, &params, kind.spatial()), at));
        }
        Ok((Run { text, span, op: kind, input, weight, flip, bias, params }, same))
    }

    /// A run's `bias` argument: a weight `b[O]`, or `None`.
    fn bias(&self, a: &syntax::RunArg) -> Result<Option<String>, ResolveError> {
        match &a.value {
            syntax::RunValue::Expr(syntax::Expr { kind: ExprKind::Var(n), .. }) if n.text == "None" => Ok(None),
            _ => self.run_tensor(a, Role::Weight).map(Some),
        }
    }

    /// A gradient claim's call's tensor argument (`weight`: the second), with whether it
    /// is flipped: the upstream gradient `upstream`, an input or a weight. Only the second
    /// may be flipped, as a run's weight.
    fn gradient_tensor(
        &self,
        a: &syntax::RunArg,
        upstream: &str,
        weight: bool,
    ) -> Result<(String, bool), ResolveError> {
        let (n, flip) = match &a.value {
            syntax::RunValue::Expr(syntax::Expr { kind: ExprKind::Var(n), .. }) => (n, false),
            syntax::RunValue::Flip(n, _) if weight => (n, true),
            syntax::RunValue::Flip(_, span) => {
                return fail_hint(*span, "flip(…) is for the weight argument", "only the second tensor can be flipped");
            }
            _ => return fail(a.span, format!("expected the name of a tensor: `{upstream}`, an input or a weight")),
        };
        if n.text != upstream && !self.tensors.iter().any(|t| t.name == n.text) {
            let hint = format!("{}, and the upstream gradient is `{upstream}`", self.known_tensors());
            return fail_name(&n.text, n.span, format!("unknown tensor `{}`", n.text), Some(hint));
        }
        Ok((n.text.clone(), flip))
    }

    /// `padding='same'` as PyTorch computes it along each of the `spatial` axes:
    /// `dilation·(k - 1)` zeros in all, half before the input, the odd one after, in the
    /// sizes' terms; a pair per axis.
    fn same_padding(&self, weight: &str, params: &[(String, Vec<Index>, Span)], spatial: usize) -> Vec<Index> {
        let one = Index::constant(1);
        let dilations = params.iter().find(|(n, _, _)| n == "dilation").map(|(_, vs, _)| vs.as_slice());
        let shape = self.tensors.iter().find(|t| t.name == weight).map_or(&[][..], |t| t.shape.as_slice());
        (0..spatial)
            .flat_map(|a| {
                let dilation = dilations.and_then(|vs| vs.get(a).or(vs.first())).unwrap_or(&one);
                let k = shape.len().checked_sub(spatial - a).and_then(|at| shape.get(at)).unwrap_or(&one);
                let total = dilation.mul(&k.sub(&one));
                let before = index::div(&total, &Index::constant(2));
                [before.clone(), total.sub(&before)]
            })
            .collect()
    }

    fn run_tensor(&self, a: &syntax::RunArg, role: Role) -> Result<String, ResolveError> {
        match &a.value {
            syntax::RunValue::Expr(syntax::Expr { kind: ExprKind::Var(n), .. }) => self.run_tensor_name(n, role),
            _ => fail(
                a.span,
                format!("expected the name of the {}", if role == Role::Input { "input" } else { "weight" }),
            ),
        }
    }

    fn run_tensor_name(&self, n: &syntax::Name, role: Role) -> Result<String, ResolveError> {
        match self.tensors.iter().find(|t| t.name == n.text) {
            Some(t) if t.role == role => Ok(t.name.clone()),
            Some(_) => fail(
                n.span,
                format!("`{}` is not {}", n.text, if role == Role::Input { "an input" } else { "a weight" }),
            ),
            None => fail_name(&n.text, n.span, format!("unknown tensor `{}`", n.text), Some(self.known_tensors())),
        }
    }

    /// The sizes' values, when every `let` is right and every size has one.
    fn values(&mut self, overrides: &[(String, i64)]) -> Option<Env> {
        let before = self.errors.len();
        let mut values = Env::new();
        let (spec, used) = (self.spec, self.used());
        for (n, v, span) in spec.statements.iter().flat_map(|st| match &st.kind {
            StatementKind::Let(pairs) => pairs.as_slice(),
            _ => &[],
        }) {
            if values.insert(n.text.clone(), *v).is_some() {
                self.errors.push(error(*span, format!("`{}` is given a value twice", n.text)));
            } else if *v < 0 {
                self.errors.push(error(*span, format!("`{}` = {v}: sizes cannot be negative", n.text)));
            } else if !used.contains(&n.text) {
                let message =
                    format!("`let` gives a value to `{}`, which no shape, pad, formula, claim or run uses", n.text);
                self.errors.push(ResolveError { span: *span, message, hint: None, name: Some(n.text.clone()) });
            }
        }
        for (n, v) in overrides {
            if !self.is_size(n) {
                let hint = format!("its sizes are {}", self.sizes.join(", "));
                let message = format!("--let names `{n}`, which is no size of this spec");
                self.errors.push(ResolveError { span: Span::new(0, 0), message, hint: Some(hint), name: None });
            }
            values.insert(n.clone(), *v);
        }
        let missing = self.sizes.iter().zip(&self.size_spans).filter(|(n, _)| !values.contains_key(*n));
        let missing: Vec<ResolveError> = missing
            .map(|(n, span)| {
                let hint = format!("add it to `let` (let {n} = …) or pass --let {n}=…");
                ResolveError {
                    span: *span,
                    message: format!("the size `{n}` has no value"),
                    hint: Some(hint),
                    name: Some(n.clone()),
                }
            })
            .collect();
        self.errors.extend(missing);
        (self.errors.len() == before).then_some(values)
    }

    /// Every name that a shape, pad, formula, claim or run uses.
    fn used(&self) -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        for st in &self.spec.statements {
            match &st.kind {
                StatementKind::Let(_) | StatementKind::Upstream(_) => {}
                StatementKind::Tensor { shape, .. } => shape.iter().for_each(|e| used.extend(expr_name_set(e))),
                StatementKind::Pad { pairs, .. } => pairs.iter().for_each(|(before, after)| {
                    used.extend(expr_name_set(before));
                    used.extend(expr_name_set(after));
                }),
                StatementKind::Run { args, .. }
                | StatementKind::Claim(syntax::ClaimKind::GradientCall { args, .. }) => {
                    let mut names = Vec::new();
                    args.iter().for_each(|a| run_value_names(&a.value, &mut names));
                    used.extend(names.into_iter().map(|n| n.text));
                }
                StatementKind::Definition { body, .. } => used.extend(expr_name_set(body)),
                StatementKind::Claim(syntax::ClaimKind::Length { value, .. }) => used.extend(expr_name_set(value)),
                StatementKind::Claim(
                    syntax::ClaimKind::Derivative { value, .. } | syntax::ClaimKind::Gradient { value, .. },
                ) => used.extend(expr_name_set(value)),
            }
        }
        used
    }

    /// A pure index expression: sizes, free indices and summed indices, no tensors.
    fn index(&self, e: &syntax::Expr, names: &[String]) -> Result<Index, ResolveError> {
        let p = self.index_unchecked(e, names)?;
        // Coefficient arithmetic saturates: a coefficient at the end of the range overflowed.
        if p.terms().any(|(_, c)| c == i64::MAX || c == i64::MIN) {
            return fail(e.span, "arithmetic overflow: a coefficient leaves the 64-bit integers");
        }
        Ok(p)
    }

    fn index_unchecked(&self, e: &syntax::Expr, names: &[String]) -> Result<Index, ResolveError> {
        Ok(match &e.kind {
            ExprKind::Int(c) => Index::constant(*c),
            ExprKind::Var(n) => {
                if self.is_size(&n.text) || names.contains(&n.text) {
                    var(&n.text)
                } else if self.arity.contains_key(&n.text) {
                    return fail(n.span, format!("the tensor `{}` cannot be used in index arithmetic", n.text));
                } else if names.is_empty() {
                    let hint = "sizes are the names in shapes, pads and `let`".to_string();
                    return fail_name(&n.text, n.span, format!("unknown size `{}`", n.text), Some(hint));
                } else {
                    let message = format!("unknown name `{}`: it is no output index, size or summed index", n.text);
                    let hint = format!(
                        "sum over it (Σ_{0} …), add it to the left-hand side, or give it a value in `let`",
                        n.text
                    );
                    return fail_name(&n.text, n.span, message, Some(hint));
                }
            }
            ExprKind::Neg(a) => self.index(a, names)?.neg(),
            ExprKind::Binary(BinOp::Over, ..) => {
                return fail_hint(
                    e.span,
                    "`/` divides a value by a constant, not an index",
                    "write integer division as `div`: `(i - l) div 2` is ⌊(i - l) / 2⌋, rounded toward minus infinity",
                );
            }
            ExprKind::Binary(op, a, b) => {
                let (x, y) = (self.index(a, names)?, self.index(b, names)?);
                match op {
                    BinOp::Add => x.add(&y),
                    BinOp::Sub => x.sub(&y),
                    BinOp::Mul => x.mul(&y),
                    BinOp::Div | BinOp::Mod if y.is_zero() => return fail(b.span, "division by zero"),
                    BinOp::Div => index::div(&x, &y),
                    BinOp::Mod => index::modulo(&x, &y),
                    BinOp::Over => unreachable!("`/` is refused above"),
                }
            }
            ExprKind::Element { tensor, .. } => {
                return fail(tensor.span, format!("a tensor element (`{}`) cannot be an index", tensor.text));
            }
            ExprKind::Sum { .. } => return fail(e.span, "a sum cannot be an index"),
            ExprKind::Iverson(_) => return fail(e.span, "an Iverson bracket cannot be an index"),
        })
    }

    fn cond(&self, c: &syntax::Cond, names: &[String]) -> Result<Vec<Cond>, ResolveError> {
        Ok(match &c.kind {
            CondKind::Chain { operands, ops } => {
                let xs = operands.iter().map(|e| self.index(e, names)).collect::<Result<Vec<_>, _>>()?;
                ops.iter()
                    .zip(xs.windows(2))
                    .map(|(op, w)| match op {
                        CmpOp::Le => le(&w[0], &w[1]),
                        CmpOp::Lt => lt(&w[0], &w[1]),
                        CmpOp::Ge => le(&w[1], &w[0]),
                        CmpOp::Gt => lt(&w[1], &w[0]),
                        CmpOp::Eq => eq(&w[0], &w[1]),
                        CmpOp::Ne => ne(&w[0], &w[1]),
                    })
                    .collect()
            }
            CondKind::And(a, b) => [self.cond(a, names)?, self.cond(b, names)?].concat(),
            CondKind::Or(a, b) => vec![Cond::Or(vec![conj(self.cond(a, names)?), conj(self.cond(b, names)?)])],
            CondKind::Not(a) => vec![Cond::Not(Box::new(conj(self.cond(a, names)?)))],
        })
    }
}

/// An operation's name without PyTorch's module prefix (`F.`, `torch.nn.functional.`).
fn bare_op(text: &str) -> &str {
    text.strip_prefix("torch.nn.functional.").or_else(|| text.strip_prefix("F.")).unwrap_or(text)
}

/// The operation a run names, with the keyword arguments it takes. PyTorch's prefixes
/// `F.` and `torch.nn.functional.` are accepted, so that a call can be pasted.
fn run_op(op: &syntax::Name) -> Result<(RunOp, &'static [&'static str]), ResolveError> {
    let text = op.text.as_str();
    let bare = bare_op(text);
    let conv: &'static [&'static str] = &["stride", "padding", "dilation", "groups"];
    let transposed: &'static [&'static str] = &["stride", "padding", "output_padding", "dilation", "groups"];
    let ops = [
        RunOp::Conv1d,
        RunOp::ConvTranspose1d,
        RunOp::Conv2d,
        RunOp::ConvTranspose2d,
        RunOp::Conv3d,
        RunOp::ConvTranspose3d,
    ];
    match ops.into_iter().find(|o| o.name() == bare) {
        Some(o) => Ok((o, if o.transposed() { transposed } else { conv })),
        None => fail_hint(
            op.span,
            format!("unknown operation `{text}`"),
            "use conv1d, conv2d or conv3d, conv_transpose1d, conv_transpose2d or conv_transpose3d, \
             avg_pool1d or avg_pool2d, or upsample_nearest1d or upsample_nearest2d",
        ),
    }
}

/// A keyword argument's values as a run of several spatial axes keeps them: one per
/// axis (a single value stands for every axis, as in PyTorch), a pair per axis for
/// `padding` (one value or one per axis: the same before and after), one for `groups`;
/// a call of one axis keeps them as written. `values` are `value`'s, flattened.
fn per_axis(
    op: RunOp,
    keyword: &str,
    value: &syntax::RunValue,
    values: Vec<Index>,
) -> Result<Vec<Index>, ResolveError> {
    let d = op.spatial();
    let span = match value {
        syntax::RunValue::Expr(e) => e.span,
        syntax::RunValue::Tuple(_, span) | syntax::RunValue::Pairs(_, span) => *span,
        syntax::RunValue::Flip(_, span) | syntax::RunValue::Str(_, span) => *span,
    };
    let pairs = matches!(value, syntax::RunValue::Pairs(..));
    let name = op.name();
    if d == 1 {
        return match (pairs, keyword) {
            (true, "padding") => fail(span, "padding takes one value or a pair (before, after)"),
            (true, _) => {
                fail(span, format!("{name}(): argument '{keyword}' must be tuple of ints, not tuple of tuples"))
            }
            (false, _) => Ok(values),
        };
    }
    let shown = || values.iter().map(Index::to_string).collect::<Vec<_>>().join(", ");
    match (keyword, value) {
        ("groups", syntax::RunValue::Expr(_)) => Ok(values),
        ("groups", _) => fail(span, format!("{name}(): argument 'groups' must be int, not tuple")),
        ("padding", syntax::RunValue::Str(..)) => Ok(values),
        ("padding", syntax::RunValue::Pairs(..)) if op.transposed() => fail_hint(
            span,
            format!("{name} takes one padding per axis, applied to both ends"),
            format!("write padding = ({}) with one value per axis", vec!["p"; d].join(", ")),
        ),
        ("padding", syntax::RunValue::Pairs(..)) if values.len() == 2 * d => Ok(values),
        ("padding", syntax::RunValue::Pairs(..)) => fail(
            span,
            format!("padding = ((before, after), …) takes one pair per spatial axis: {name} has {d}"),
        ),
        ("padding", _) if values.len() == 1 || values.len() == d => {
            Ok((0..d).flat_map(|a| [values[a % values.len()].clone(), values[a % values.len()].clone()]).collect())
        }
        (_, syntax::RunValue::Pairs(..)) => {
            fail(span, format!("{name}(): argument '{keyword}' must be tuple of ints, not tuple of tuples"))
        }
        (_, _) if values.len() == 1 => Ok(vec![values[0].clone(); d]),
        (_, _) if values.len() == d => Ok(values),
        _ => fail(
            span,
            format!("expected {keyword} to be a single integer value or a list of {d} values to match the convolution dimensions, but got {keyword}=[{}]", shown()),
        ),
    }
}

/// A string padding PyTorch accepts.
enum Padding {
    /// `padding='same'`: the output as long as the input.
    Same,
    /// `padding='valid'`: no padding.
    Valid,
}

/// A string argument (`padding='same'`), or the error PyTorch gives for it.
fn string_padding(op: RunOp, keyword: &str, text: &str, span: Span) -> Result<Padding, ResolveError> {
    let name = op.name();
    match (op.transposed(), keyword, text) {
        (false, "padding", "same") => Ok(Padding::Same),
        (false, "padding", "valid") => Ok(Padding::Valid),
        (false, "padding", _) => fail_hint(
            span,
            format!("Invalid padding string: '{text}'"),
            "PyTorch's padding strings are 'same' and 'valid'",
        ),
        (true, "padding", _) => fail_hint(
            span,
            format!("{name}(): argument 'padding' must be tuple of ints, not str"),
            format!("{name} takes no padding string: give its padding as a number (padding = 1)"),
        ),
        (_, "groups", _) => fail(span, format!("{name}(): argument 'groups' must be int, not str")),
        _ => fail(span, format!("{name}(): argument '{keyword}' must be tuple of ints, not str")),
    }
}

/// PyTorch's check of `padding='same'` (written at `same`), at the `let` sizes: a
/// strided convolution cannot have it.
fn check_same(run: &Run, same: Option<Span>, values: &Env) -> Result<(), ResolveError> {
    let Some(at) = same else { return Ok(()) };
    match (RunArgs { run, values }).param("stride", 1)?.as_slice() {
        stride if stride.iter().all(|s| *s == 1) => Ok(()),
        stride => {
            let (stride, numbers) = match run.op.spatial() {
                1 => (stride.iter().map(i64::to_string).collect::<Vec<_>>().join(", "), "padding = (before, after)"),
                _ => (tuple(stride), "a pair per axis, padding = ((top, bottom), (left, right))"),
            };
            let hint = format!(
                "stride = {stride} here: PyTorch pads 'same' only at stride 1; give the padding as numbers, {numbers}"
            );
            fail_hint(at, "padding='same' is not supported for strided convolutions", hint)
        }
    }
}

/// A call's arguments at the `let` sizes, per spatial axis (`padding`: as written in 1-D,
/// a pair per axis otherwise).
struct Arguments {
    stride: Vec<i64>,
    dilation: Vec<i64>,
    groups: i64,
    padding: Vec<i64>,
    output_padding: Vec<i64>,
}

/// PyTorch's checks of a call's arguments that need no shapes, at the `let` sizes: a
/// run's first checks, and all that a gradient claim's call gets (its shapes involve the
/// upstream gradient, which has none declared).
fn check_arguments(run: &Run, values: &Env) -> Result<Arguments, ResolveError> {
    let (args, d) = (RunArgs { run, values }, run.op.spatial());
    if d == 1 {
        let transposed = run.op == RunOp::ConvTranspose1d;
        let (stride, dilation, groups) =
            (args.single("stride", 1, 1)?, args.single("dilation", 1, 1)?, args.single("groups", 1, 1)?);
        let padding = args.param("padding", 0)?;
        match (transposed, padding.as_slice()) {
            (_, [p]) | (false, [p, _]) if *p < 0 => return fail(args.at("padding"), "PyTorch needs padding ≥ 0"),
            (false, [_, b]) if *b < 0 => return fail(args.at("padding"), "PyTorch needs padding ≥ 0"),
            (false, [_] | [_, _]) | (true, [_]) => {}
            (false, _) => return fail(args.at("padding"), "padding takes one value or a pair (before, after)"),
            (true, _) => return fail(args.at("padding"), "conv_transpose1d takes one padding, applied to both ends"),
        }
        let output_padding = if transposed { args.single("output_padding", 0, 0)? } else { 0 };
        if transposed && output_padding >= stride && output_padding >= dilation {
            return fail(
                args.at("output_padding"),
                format!("output_padding = {output_padding}: PyTorch needs it smaller than the stride ({stride}) or the dilation ({dilation})"),
            );
        }
        let (stride, dilation, output_padding) = (vec![stride], vec![dilation], vec![output_padding]);
        return Ok(Arguments { stride, dilation, groups, padding, output_padding });
    }
    let per_axis = |keyword: &str, default: i64, least: i64, count: usize| -> Result<Vec<i64>, ResolveError> {
        let vs = args.param(keyword, default)?;
        let vs = if vs.len() == 1 { vec![vs[0]; count] } else { vs };
        match vs.iter().all(|v| *v >= least) {
            true => Ok(vs),
            false => fail(
                args.at(keyword),
                format!("{keyword} = {}: PyTorch needs {keyword} ≥ {least} on every axis", tuple(&vs)),
            ),
        }
    };
    let (stride, dilation) = (per_axis("stride", 1, 1, d)?, per_axis("dilation", 1, 1, d)?);
    let padding = per_axis("padding", 0, 0, 2 * d)?;
    let groups = args.single("groups", 1, 1)?;
    let output_padding = if run.op.transposed() { per_axis("output_padding", 0, 0, d)? } else { vec![0; d] };
    if (0..d).any(|a| output_padding[a] >= stride[a] && output_padding[a] >= dilation[a]) {
        return fail(
            args.at("output_padding"),
            format!(
                "output_padding = {}: PyTorch needs each smaller than the stride {} or the dilation {}",
                tuple(&output_padding),
                tuple(&stride),
                tuple(&dilation)
            ),
        );
    }
    Ok(Arguments { stride, dilation, groups, padding, output_padding })
}

/// The checks PyTorch makes of a run's arguments, at the `let` sizes: what it would
/// reject is an error here.
fn check_run(run: &Run, tensors: &[Tensor], values: &Env) -> Result<(), ResolveError> {
    if run.op.spatial() > 1 {
        return check_run_nd(run, tensors, values);
    }
    let args = RunArgs { run, values };
    let transposed = run.op == RunOp::ConvTranspose1d;
    let Arguments { stride, dilation, groups, padding, output_padding } = check_arguments(run, values)?;
    let (stride, dilation, output_padding) = (stride[0], dilation[0], output_padding[0]);
    let shape = |name: &str| -> Result<Vec<i64>, ResolveError> {
        let t = tensors.iter().find(|t| t.name == name).expect("runs name declared tensors");
        t.shape.iter().map(|d| d.eval(values).map_err(|e| error(run.span, e.to_string()))).collect()
    };
    let (x, w) = (shape(&run.input)?, shape(&run.weight)?);
    let w = check_channels(&args, transposed, groups, &x, w, 1)?;
    check_bias(run, &w, groups, run.bias.as_deref().map(shape).transpose()?)?;
    // PyTorch refuses a convolution without outputs: a padded input shorter than the
    // dilated kernel, or a transposed one whose padding crops everything away.
    let (n, k) = (x[x.len() - 1], w[2]);
    let sizes: Vec<String> = values.iter().map(|(name, v)| format!("{name} = {v}")).collect();
    let sizes = sizes.join(", ");
    let span = dilation.saturating_mul(k - 1).saturating_add(1);
    let length = if transposed {
        n.saturating_sub(1)
            .saturating_mul(stride)
            .saturating_add(span)
            .saturating_add(output_padding)
            .saturating_sub(padding[0].saturating_mul(2))
    } else {
        let padded = n.saturating_add(padding[0]).saturating_add(*padding.last().unwrap_or(&0));
        if padded < span {
            return fail(
                run.span,
                format!("at {sizes} the padded input ({padded}) is shorter than the dilated kernel ({span}): PyTorch rejects this run"),
            );
        }
        1
    };
    if length < 1 {
        return fail(run.span, format!("at {sizes} the output would have length {length}: PyTorch rejects this run"));
    }
    Ok(())
}

/// [`check_run`] for a call of several spatial axes, whose arguments hold one value per
/// axis (a pair for `padding`; see [`per_axis`]).
fn check_run_nd(run: &Run, tensors: &[Tensor], values: &Env) -> Result<(), ResolveError> {
    let (args, d, name) = (RunArgs { run, values }, run.op.spatial(), run.op.name());
    let Arguments { stride, dilation, groups, padding, output_padding } = check_arguments(run, values)?;
    let shape = |name: &str| -> Result<Vec<i64>, ResolveError> {
        let t = tensors.iter().find(|t| t.name == name).expect("runs name declared tensors");
        t.shape.iter().map(|e| e.eval(values).map_err(|e| error(run.span, e.to_string()))).collect()
    };
    let (x, w) = (shape(&run.input)?, shape(&run.weight)?);
    let w = check_channels(&args, run.op.transposed(), groups, &x, w, d)?;
    check_bias(run, &w, groups, run.bias.as_deref().map(shape).transpose()?)?;
    let (n, k) = (&x[x.len() - d..], &w[2..]);
    let sizes: Vec<String> = values.iter().map(|(name, v)| format!("{name} = {v}")).collect();
    let sizes = sizes.join(", ");
    for a in 0..d {
        let span = dilation[a].saturating_mul(k[a] - 1).saturating_add(1);
        if run.op.transposed() {
            let length = (n[a].saturating_sub(1).saturating_mul(stride[a]))
                .saturating_add(span)
                .saturating_add(output_padding[a])
                .saturating_sub(padding[2 * a].saturating_mul(2));
            if length < 1 {
                return fail(run.span, format!("at {sizes} the output would have length {length} along spatial axis {a}: PyTorch rejects this {name}"));
            }
        } else {
            let padded = n[a].saturating_add(padding[2 * a]).saturating_add(padding[2 * a + 1]);
            if padded < span {
                return fail(
                    run.span,
                    format!("at {sizes} the padded input ({padded}) is shorter than the dilated kernel ({span}) along spatial axis {a}: PyTorch rejects this {name}"),
                );
            }
        }
    }
    Ok(())
}

/// A run's bias (shaped `bias`, where it has one) against its weight `w` laid out as
/// PyTorch takes it: one element per output channel, in PyTorch's words.
fn check_bias(run: &Run, w: &[i64], groups: i64, bias: Option<Vec<i64>>) -> Result<(), ResolveError> {
    let Some(bias) = bias else { return Ok(()) };
    let channels = match run.op.transposed() {
        true => w.get(1).copied().unwrap_or(0).saturating_mul(groups),
        false => w.first().copied().unwrap_or(0),
    };
    if bias == [channels] {
        return Ok(());
    }
    let list = |v: &[i64]| format!("[{}]", v.iter().map(i64::to_string).collect::<Vec<_>>().join(", "));
    let transposed = if run.op.transposed() { "transposed=1, " } else { "" };
    fail(
        run.span,
        format!(
            "Given {transposed}weight of size {}, expected bias to be 1-dimensional with {channels} elements, but got bias of size {} instead",
            list(w),
            list(&bias)
        ),
    )
}

/// Values as a tuple, `(2, 1)`.
fn tuple(vs: &[i64]) -> String {
    let shown: Vec<String> = vs.iter().map(i64::to_string).collect();
    format!("({})", shown.join(", "))
}

/// A run's keyword arguments at the `let` sizes.
struct RunArgs<'r> {
    run: &'r Run,
    values: &'r Env,
}

impl RunArgs<'_> {
    /// Where an argument is written, or the run's line when it is not.
    fn at(&self, name: &str) -> Span {
        self.run.params.iter().find(|(n, _, _)| n == name).map_or(self.run.span, |(_, _, span)| *span)
    }

    /// An argument's values, or `default` when it is not written.
    fn param(&self, name: &str, default: i64) -> Result<Vec<i64>, ResolveError> {
        match self.run.params.iter().find(|(n, _, _)| n == name) {
            None => Ok(vec![default]),
            Some((_, vs, span)) => {
                vs.iter().map(|v| v.eval(self.values).map_err(|e| error(*span, e.to_string()))).collect()
            }
        }
    }

    /// An argument of one value, at least `least`, as PyTorch needs it.
    fn single(&self, name: &str, default: i64, least: i64) -> Result<i64, ResolveError> {
        match self.param(name, default)?.as_slice() {
            [v] if *v >= least => Ok(*v),
            [v] => fail(self.at(name), format!("{name} = {v}: PyTorch needs {name} ≥ {least}")),
            _ => fail(self.at(name), format!("{name} takes one value")),
        }
    }
}

/// The input's and weight's channels as PyTorch lays them out for the run's groups, for
/// `d` spatial axes; the weight as `[O, C, *k]` (a kernel of spatial axes only, `[*k]`,
/// is `[1, 1, *k]`).
fn check_channels(
    args: &RunArgs,
    transposed: bool,
    groups: i64,
    x: &[i64],
    w: Vec<i64>,
    d: usize,
) -> Result<Vec<i64>, ResolveError> {
    let span = args.run.span;
    let channels = match x.len() {
        r if r == d => 1,
        r if r == d + 1 => x[0],
        _ if d == 1 => {
            return fail(span, format!("the engine takes an input of one or two axes ([n] or [C, n]), not {}", x.len()))
        }
        r => {
            let name = args.run.op.name();
            return fail(
                span,
                format!("{name} takes an input of {d} or {} axes ([*spatial] or [C, *spatial]), not {r}", d + 1),
            );
        }
    };
    let w = if w.len() == d { [vec![1, 1], w].concat() } else { w };
    let (w0, w1) = match w.as_slice() {
        [w0, w1, kernel @ ..] if kernel.len() == d => (w0, w1),
        _ if d == 1 => {
            return fail(
                span,
                format!("the engine takes a weight of one or three axes ([k] or [O, C, k]), not {}", w.len()),
            );
        }
        _ => {
            let name = args.run.op.name();
            return fail(
                span,
                format!(
                    "{name} takes a weight of {d} or {} axes ([*kernel] or [O, C, *kernel]), not {}",
                    d + 2,
                    w.len()
                ),
            );
        }
    };
    let (in_per_group, out_channels) = if transposed { (*w0, w1 * groups) } else { (*w1, *w0) };
    let expected_in = if transposed { channels } else { in_per_group * groups };
    if channels % groups != 0 || out_channels % groups != 0 {
        return fail(
            args.at("groups"),
            format!("groups = {groups} must divide the {channels} input and {out_channels} output channels"),
        );
    }
    if expected_in != channels || (transposed && in_per_group != channels) {
        return fail(
            span,
            format!("the weight's shape {w:?} does not fit {channels} input channels with groups = {groups}, as PyTorch lays it out"),
        );
    }
    Ok(w)
}

/// The least common multiple of two divisors, when it fits.
fn lcm(a: i64, b: i64) -> Option<i64> {
    (a / crate::algebra::poly::gcd(a, b)).checked_mul(b)
}

/// The error for constants whose common divisor leaves the 64-bit integers.
fn too_large(span: Span) -> ResolveError {
    error(span, "arithmetic overflow: the divisors' product leaves the 64-bit integers")
}

fn conj(mut cs: Vec<Cond>) -> Cond {
    if cs.len() == 1 {
        cs.remove(0)
    } else {
        Cond::And(cs)
    }
}

/// Names used in an expression, in order of appearance (tensor names excluded).
fn expr_names(e: &syntax::Expr, out: &mut Vec<syntax::Name>) {
    match &e.kind {
        ExprKind::Int(_) => {}
        ExprKind::Var(n) => out.push(n.clone()),
        ExprKind::Element { indices, .. } => indices.iter().for_each(|i| expr_names(i, out)),
        ExprKind::Neg(a) => expr_names(a, out),
        ExprKind::Binary(_, a, b) => {
            expr_names(a, out);
            expr_names(b, out);
        }
        ExprKind::Sum { indices, body } => {
            out.extend(indices.iter().cloned());
            expr_names(body, out);
        }
        ExprKind::Iverson(c) => cond_names(c, out),
    }
}

fn cond_names(c: &syntax::Cond, out: &mut Vec<syntax::Name>) {
    match &c.kind {
        CondKind::Chain { operands, .. } => operands.iter().for_each(|e| expr_names(e, out)),
        CondKind::And(a, b) | CondKind::Or(a, b) => {
            cond_names(a, out);
            cond_names(b, out);
        }
        CondKind::Not(a) => cond_names(a, out),
    }
}

fn expr_name_set(e: &syntax::Expr) -> BTreeSet<String> {
    let mut v = Vec::new();
    expr_names(e, &mut v);
    v.into_iter().map(|n| n.text).collect()
}

/// The names visible while resolving one formula.
struct Scope<'r, 'a> {
    r: &'r Resolver<'a>,
    free: Vec<String>,
    bound: Vec<String>,
    output: &'r str,
    /// The upstream gradient's name and rank, in a gradient claim.
    upstream: Option<(&'r str, usize)>,
}

impl Scope<'_, '_> {
    fn names(&self) -> Vec<String> {
        self.free.iter().chain(&self.bound).cloned().collect()
    }

    /// Whether `n` names a tensor here (an input, a weight, the output or the upstream
    /// gradient).
    fn is_tensor(&self, n: &str) -> bool {
        n == self.output || self.r.arity.contains_key(n) || self.is_upstream(n)
    }

    fn is_upstream(&self, n: &str) -> bool {
        self.upstream.is_some_and(|(u, _)| u == n)
    }

    /// The value of `e` as terms over one divisor (1 unless `e` divides by constants).
    fn value(&mut self, e: &syntax::Expr) -> Result<Formula, ResolveError> {
        let one = || Index::constant(1);
        let integer = |terms| Ok(Formula::integer(terms));
        let negated = |f: Formula| Formula {
            terms: f.terms.into_iter().map(|t| Term { coeff: t.coeff.neg(), ..t }).collect(),
            ..f
        };
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Var(_) => {
                if let ExprKind::Var(n) = &e.kind {
                    if self.is_tensor(&n.text) {
                        return fail_hint(
                            n.span,
                            format!("the tensor `{}` needs indices", n.text),
                            format!("write `{}_i` or `{}[i]`", n.text, n.text),
                        );
                    }
                }
                integer(vec![Term::constant(self.r.index(e, &self.names())?)])
            }
            ExprKind::Element { tensor, indices } => integer(vec![self.element(e, tensor, indices)?]),
            ExprKind::Neg(a) => Ok(negated(self.value(a)?)),
            ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub), a, b) => {
                let (x, mut y) = (self.value(a)?, self.value(b)?);
                if *op == BinOp::Sub {
                    y = negated(y);
                }
                let common = lcm(x.divisor, y.divisor).ok_or_else(|| too_large(e.span))?;
                let (x, y) = (x.with_divisor(common), y.with_divisor(common));
                let (Some(x), Some(y)) = (x, y) else { return Err(too_large(e.span)) };
                Ok(Formula { terms: [x.terms, y.terms].concat(), divisor: common })
            }
            ExprKind::Binary(BinOp::Mul, a, b) => {
                let (xs, ys) = (self.value(a)?, self.value(b)?);
                let divisor = xs.divisor.checked_mul(ys.divisor).ok_or_else(|| too_large(e.span))?;
                let mut out = Vec::new();
                for x in &xs.terms {
                    for y in &ys.terms {
                        if let Some(v) = x.bound.iter().find(|v| y.bound.contains(v)) {
                            return fail(
                                e.span,
                                format!("both factors sum over `{v}`: name the indices apart (Σ_{v} … Σ_{v}2 …)"),
                            );
                        }
                        out.push(x.mul(y));
                    }
                }
                Ok(Formula { terms: out, divisor })
            }
            ExprKind::Binary(BinOp::Over, a, b) => {
                let ExprKind::Int(c) = b.kind else { unreachable!("the grammar puts an integer after `/`") };
                if c == 0 {
                    return fail(b.span, "division by zero");
                }
                let x = self.value(a)?;
                let divisor = x.divisor.checked_mul(c).ok_or_else(|| too_large(e.span))?;
                Ok(Formula { divisor, ..x })
            }
            ExprKind::Binary(BinOp::Div | BinOp::Mod, ..) => {
                integer(vec![Term::constant(self.r.index(e, &self.names())?)])
            }
            ExprKind::Sum { indices, body } => self.sum(e, indices, body),
            ExprKind::Iverson(c) => {
                integer(vec![Term { brackets: self.r.cond(c, &self.names())?, ..Term::constant(one()) }])
            }
        }
    }

    /// A tensor element `tensor_<indices>` of the formula, as a term.
    fn element(&self, e: &syntax::Expr, tensor: &syntax::Name, indices: &[syntax::Expr]) -> Result<Term, ResolveError> {
        if tensor.text == self.output {
            return fail(tensor.span, format!("the output `{}` cannot appear in its own definition", tensor.text));
        }
        let upstream = self.upstream.filter(|(u, _)| *u == tensor.text).map(|(_, rank)| rank);
        let declared = || {
            let arity = self.r.arity.get(&tensor.text).filter(|_| self.r.tensors.iter().any(|t| t.name == tensor.text));
            arity.copied()
        };
        let Some(arity) = upstream.or_else(declared) else {
            let message = format!("unknown tensor `{}`", tensor.text);
            let mut hint = self.r.known_tensors();
            if let Some((u, _)) = self.upstream {
                hint += &format!(", and the upstream gradient is `{u}`");
            }
            return fail_name(&tensor.text, tensor.span, message, Some(hint));
        };
        if indices.len() != arity {
            return fail(e.span, format!("`{}` has {arity} axes but {} indices here", tensor.text, indices.len()));
        }
        let names = self.names();
        let index = indices.iter().map(|i| self.r.index(i, &names)).collect::<Result<Vec<_>, _>>()?;
        let element = Element { tensor: tensor.text.clone(), index };
        Ok(Term { elements: vec![element], ..Term::constant(Index::constant(1)) })
    }

    /// `Σ_indices body` (the indices implicit when none are named), as terms.
    fn sum(
        &mut self,
        e: &syntax::Expr,
        indices: &[syntax::Name],
        body: &syntax::Expr,
    ) -> Result<Formula, ResolveError> {
        let binders = if indices.is_empty() {
            self.implicit_binders(body)
        } else {
            let mut out = Vec::new();
            for n in indices {
                if self.r.is_size(&n.text)
                    || self.names().contains(&n.text)
                    || out.contains(&n.text)
                    || self.r.arity.contains_key(&n.text)
                    || self.is_upstream(&n.text)
                {
                    return fail(n.span, format!("`{}` cannot be summed over: the name is taken", n.text));
                }
                out.push(n.text.clone());
            }
            out
        };
        if binders.is_empty() {
            // An index named like a tensor is taken for the tensor, and leaves no binder.
            let mut names = Vec::new();
            expr_names(body, &mut names);
            let spec = self.r.spec;
            let declared = |n: &syntax::Name| {
                spec.statements.iter().find_map(|st| match &st.kind {
                    StatementKind::Tensor { name, .. } if name.text == n.text => Some(name.span),
                    _ => None,
                })
            };
            if let Some((n, at)) = names.iter().find_map(|n| declared(n).map(|at| (n, at))) {
                let (line, column) = syntax::line_col(self.r.src, at.start);
                return fail_hint(
                    n.span,
                    format!("`{}` is a tensor (at line {line}, column {column}) and cannot also be an index", n.text),
                    "an index and a tensor need names of their own: rename the index",
                );
            }
            return fail_hint(
                e.span,
                "this Σ has no index to sum over",
                "name one (Σ_l …) or use an index that is not on the left-hand side",
            );
        }
        self.bound.extend(binders.iter().cloned());
        let value = self.value(body);
        self.bound.truncate(self.bound.len() - binders.len());
        let value = value?;
        let bind = |t: Term| Term { bound: binders.iter().chain(&t.bound).cloned().collect(), ..t };
        Ok(Formula { terms: value.terms.into_iter().map(bind).collect(), ..value })
    }

    /// The names in `body` that are no size, tensor, free or already summed index.
    fn implicit_binders(&self, body: &syntax::Expr) -> Vec<String> {
        let mut names = Vec::new();
        expr_names(body, &mut names);
        let mut out: Vec<String> = Vec::new();
        for n in names.into_iter().map(|n| n.text) {
            let taken = self.r.is_size(&n) || self.is_tensor(&n) || self.names().contains(&n);
            if !taken && !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;

    /// The spec with `body` after the standard declarations, resolved; its first error.
    fn resolve_src(body: &str) -> Result<Model, ResolveError> {
        let src = format!("input x[n]\nweight w[k]\nlet n = 10, k = 3\n{body}\n");
        resolve(&parse(&src).unwrap(), &src, "t", &[]).map_err(|mut e| e.remove(0))
    }

    /// The messages of every error of `src`, parsed with recovery, in source order.
    fn every_error(src: &str) -> Vec<String> {
        let (spec, _) = crate::syntax::parse_recovering(src);
        resolve(&spec, src, "t", &[]).err().unwrap_or_default().into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn implicit_sums_bind_every_free_index() {
        let m = resolve_src("s_i = Σ x_<l+m> w_m").unwrap();
        assert_eq!(m.formula.terms[0].bound, ["l", "m"]);
        let m = resolve_src("s_i = Σ_l x_l w_<i-l>").unwrap();
        assert_eq!(m.formula.terms[0].bound, ["l"]);
        assert_eq!(m.sizes, ["n", "k"]);
    }

    #[test]
    fn products_multiply_out_into_terms() {
        let m = resolve_src("s_i = Σ (x_l + 2 x_<l+1>) w_<i-l>").unwrap();
        let shown: Vec<String> = m.formula.terms.iter().map(|t| t.show(&m.sizes)).collect();
        assert_eq!(shown, ["Σ_l x_l w_<i-l>", "Σ_l 2 x_<l+1> w_<i-l>"]);
    }

    #[test]
    fn mistakes_point_at_what_was_written() {
        let src_of = |e: &ResolveError, body: &str| {
            let src = format!("input x[n]\nweight w[k]\nlet n = 10, k = 3\n{body}\n");
            src[e.span.start..e.span.end].to_string()
        };
        for (body, culprit, says) in [
            ("s_i = Σ x_l v_l", "v", "unknown tensor"),
            ("s_i = x_l w_l", "l", "unknown name"),
            ("s_i = Σ x_l w_<l, l>", "w_<l, l>", "has 1 axes but 2"),
            ("s_i = Σ x w_l", "x", "needs indices"),
            ("s_i = Σ x_l w_<l div 0>", "0", "division by zero"),
            ("s_i = Σ_n x_n w_n", "n", "cannot be summed"),
            ("s_i = Σ x_l w_l\nclaim len(s, 3) = n", "3", "axis"),
            ("s_i = Σ x_l w_<(i - l) / 2>", "(i - l) / 2", "`/` divides a value by a constant, not an index"),
            ("s_i = Σ x_l w_<i-l> / 0", "0", "division by zero"),
        ] {
            let e = resolve_src(body).unwrap_err();
            assert!(e.message.contains(says), "{body}: {}", e.message);
            assert_eq!(src_of(&e, body), culprit, "{body}");
        }
    }

    #[test]
    fn values_divide_by_constants_over_one_divisor_in_lowest_terms() {
        let divided = |body: &str| {
            let f = resolve_src(body).unwrap().formula;
            (f.show(&["n".into(), "k".into()]), f.divisor)
        };
        assert_eq!(divided("s_i = 1/3 Σ x_l w_<i-l>"), ("1/3 Σ_l x_l w_<i-l>".into(), 3));
        // (x/2 + w/3)/2 = (3x + 2w)/12, each term in lowest terms when shown.
        assert_eq!(divided("s_i = (x_i / 2 + w_i / 3) / 2"), ("1/4 x_i + 1/6 w_i".into(), 12));
        // 2 x / 4 = x / 2: the common factor is cancelled.
        assert_eq!(divided("s_i = 2 x_i w_i / 4"), ("1/2 x_i w_i".into(), 2));
        assert_eq!(divided("s_i = 6 x_i w_i / 3"), ("2 x_i w_i".into(), 1));
        assert_eq!(divided("s_i = -x_i w_i / 3"), ("-1/3 x_i w_i".into(), 3));
    }

    #[test]
    fn a_spec_without_one_weight_states_its_output_shape() {
        let errors = |src: &str| every_error(src);
        let no_weight = "input x[n]\nlet n = 4\ns_i = x_<i div 2>\n";
        assert_eq!(
            errors(no_weight),
            ["the spec declares no `weight`, so the valid rule cannot give the output's shape"]
        );
        let with_output = "input x[n]\noutput s[2n]\nlet n = 4\ns_i = x_<i div 2>\n";
        assert!(errors(with_output).is_empty());
        // A bias read at the output's index: the valid rule goes by the kernel.
        let bias = "input x[n]\nweight w[k]\nweight b[1]\nlet n = 4, k = 3\ns_i = Σ x_<i+l> w_l + b_0\n";
        assert!(errors(bias).is_empty());
        let two = "input x[n]\nweight w[k]\nweight v[k]\nlet n = 4, k = 3\ns_i = Σ x_<i+l> w_l v_l\n";
        assert_eq!(
            errors(two),
            ["a second weight `v`: the valid rule goes by the one weight that the formula reads at a summed index, \
              beside `w` (at line 2, column 8), and the formula reads `w` and `v` at summed indices"]
        );
    }

    #[test]
    fn sizes_need_values_and_values_need_sizes() {
        let src = "input x[n]\nweight w[k]\nlet n = 10\ns_i = Σ x_l w_<i-l>\n";
        let e = &resolve(&parse(src).unwrap(), src, "t", &[]).unwrap_err()[0];
        assert!(e.message.contains("`k` has no value"));
        let m = resolve(&parse(src).unwrap(), src, "t", &[("k".into(), 4)]).unwrap();
        assert_eq!(m.values["k"], 4);
        let e = &resolve(&parse(src).unwrap(), src, "t", &[("k".into(), 4), ("q".into(), 1)]).unwrap_err()[0];
        assert!(e.message.contains("`q`"));
    }

    #[test]
    fn every_statement_is_resolved() {
        let src = "input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_l v_<i-l>\n\
                   claim len(s) = q\nrun conv1d(x, u)\nrun conv4d(x, w)\n";
        let want = ["unknown tensor `v`", "unknown size `q`", "unknown tensor `u`", "unknown operation `conv4d`"];
        assert_eq!(every_error(src), want);
    }

    #[test]
    fn what_a_skipped_line_may_explain_is_not_reported() {
        // `weight w[k` does not parse: `w` and `k` are unknown, and the spec has no weight,
        // because of it; `v` is unknown on its own.
        let src = "input x[n]\nweight w[k\nlet n = 10, k = 3\ns_i = Σ x_l w_<i-l> v_l\n\
                   claim len(s) = n - k + 1\nclaim ∂s_i/∂w_m = x_<i-m>\nrun conv1d(x, flip(w))\nclaim len(t) = n\n";
        assert_eq!(every_error(src), ["`t` is not the output"]);
        // A broken definition: the claims about its output say nothing.
        let src = "input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_l w_<i-l\nclaim len(s) = n\n";
        assert_eq!(every_error(src), Vec::<String>::new());
        // A broken `let`: the sizes without values are its doing.
        let src = "input x[n]\nweight w[k]\nlet n = 10 k = 3\ns_i = Σ x_l w_<i-l>\n";
        assert_eq!(every_error(src), Vec::<String>::new());
    }

    #[test]
    fn string_padding_is_pytorchs() {
        let run = |line: &str| {
            let d = if line.contains("= D") { ", D = 3" } else { "" };
            let src = format!("input x[n]\nweight w[k]\nlet n = 10, k = 4{d}\ns_i = Σ x_l w_<i-l>\nrun {line}\n");
            resolve(&parse(&src).unwrap(), &src, "t", &[]).map(|m| m.runs.into_iter().next().unwrap())
        };
        let padding = |line: &str| {
            let r = run(line).unwrap();
            let p = &r.params.iter().find(|(n, _, _)| n == "padding").unwrap().1;
            let values = Env::from([("n".into(), 10), ("k".into(), 4), ("D".into(), 3)]);
            p.iter().map(|i| i.eval(&values).unwrap()).collect::<Vec<_>>()
        };
        // k = 4: 3 zeros, the odd one on the right; with dilation D = 3: 9 zeros, 4 and 5.
        assert_eq!(padding("F.conv1d(x, w, padding='same')"), [1, 2]);
        assert_eq!(padding("torch.nn.functional.conv1d(x, w, padding=\"same\", dilation = D)"), [4, 5]);
        assert_eq!(padding("conv1d(x, w, dilation = D, padding = 'same')"), [4, 5]);
        assert_eq!(padding("conv1d(x, flip(w), padding='valid')"), [0, 0]);
        let message = |line: &str| run(line).unwrap_err()[0].message.clone();
        assert_eq!(
            message("conv1d(x, w, padding='same', stride = 2)"),
            "padding='same' is not supported for strided convolutions"
        );
        assert_eq!(message("conv1d(x, w, padding='full')"), "Invalid padding string: 'full'");
        assert_eq!(
            message("F.conv_transpose1d(x, w, padding='same')"),
            "conv_transpose1d(): argument 'padding' must be tuple of ints, not str"
        );
        assert_eq!(message("conv1d(x, w, groups='same')"), "conv1d(): argument 'groups' must be int, not str");
        assert_eq!(message("conv1d(x, w, padding='same', padding=0)"), "the argument `padding` is given twice");
        assert_eq!(message("nn.conv1d(x, w)"), "unknown operation `nn.conv1d`");
    }

    /// The standard spec with `lines` after its definition, resolved; its first error.
    fn with_claims(lines: &str) -> Result<Model, ResolveError> {
        resolve_src(&format!("s_i = Σ x_l w_<i-l>\n{lines}"))
    }

    /// The first error of `with_claims(lines)`: its message, what it points at, its hint.
    fn claim_error(lines: &str) -> (String, String, String) {
        let e = with_claims(lines).unwrap_err();
        let src = format!("input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_l w_<i-l>\n{lines}\n");
        (e.message, src[e.span.start..e.span.end].to_string(), e.hint.unwrap_or_default())
    }

    #[test]
    fn the_upstream_gradient_is_g_unless_renamed() {
        assert_eq!(with_claims("").unwrap().upstream, "g");
        assert_eq!(with_claims("upstream dy   # the name of ∂L/∂s").unwrap().upstream, "dy");
        let upstream = |src: &str| resolve(&parse(src).unwrap(), src, "t", &[]).unwrap().upstream;
        // `g` taken by a summed index, a size, a tensor, the output, a free index.
        assert_eq!(upstream("input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_g w_<i-g>\n"), "g′");
        assert_eq!(upstream("input x[g]\nweight w[k]\nlet g = 10, k = 3\ns_i = Σ x_l w_<i-l>\n"), "g′");
        assert_eq!(upstream("input g[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ g_l w_<i-l>\n"), "g′");
        assert_eq!(upstream("input x[n]\nweight w[k]\nlet n = 10, k = 3\ng_i = Σ x_l w_<i-l>\n"), "g′");
        assert_eq!(upstream("input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_g = Σ x_l w_<g-l>\n"), "g′");
        let src =
            "input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_g w_<i-g>\nclaim (∂L/∂x)_j = Σ_i g′_i w_<i-j>\n";
        // `g′` cannot be written, so a spec that takes `g` renames the upstream to use it.
        assert!(parse(src).is_err());
    }

    #[test]
    fn upstream_names_must_be_new() {
        let upstream_error = |line: &str| {
            let (message, at, _) = claim_error(line);
            (message, at)
        };
        assert_eq!(upstream_error("upstream x"), ("`x` names a tensor already".into(), "x".into()));
        assert_eq!(upstream_error("upstream w"), ("`w` names a tensor already".into(), "w".into()));
        assert_eq!(upstream_error("upstream n"), ("`n` names a size already".into(), "n".into()));
        assert_eq!(upstream_error("upstream s"), ("`s` names the output already".into(), "s".into()));
        assert_eq!(
            upstream_error("upstream dy\nupstream dz"),
            ("a second `upstream` line: the upstream gradient has one name".into(), "upstream dz".into())
        );
        // A wrong `upstream` line says nothing of the gradient claims that use its name.
        let src = "input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_l w_<i-l>\nupstream x\n\
                   claim (∂L/∂x)_j = Σ_i x_i w_<i-j>\nclaim ∂L/∂x = conv_transpose1d(x, w)\nclaim len(s) = q\n";
        assert_eq!(every_error(src), ["`x` names a tensor already", "unknown size `q`"]);
        // Nor of those that use the name of an `upstream` line that did not parse.
        let src = "input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_l w_<i-l>\nupstream dy dz\n\
                   claim (∂L/∂x)_j = Σ_i dy_i w_<i-j>\n";
        assert_eq!(every_error(src), Vec::<String>::new());
    }

    #[test]
    fn gradient_claims_in_gather_form_resolve() {
        let gradient = |lines: &str| {
            let m = with_claims(lines).unwrap();
            let ClaimKind::Gradient { wrt, wrt_indices, value } = &m.claims[0].kind else { panic!("{lines}") };
            let terms: Vec<String> = value.terms.iter().map(|t| t.show(&m.sizes)).collect();
            (m.claims[0].text.clone(), wrt.clone(), wrt_indices.clone(), terms)
        };
        let (text, wrt, indices, terms) = gradient("claim (∂L/∂x)_j = Σ_i g_i w_<i-j>");
        assert_eq!((text.as_str(), wrt.as_str()), ("(∂L/∂x)_j = Σ_i g_i w_<i-j>", "x"));
        assert_eq!((indices, terms), (vec!["j".to_string()], vec!["Σ_i g_i w_<i-j>".to_string()]));
        let ascii = gradient("claim (dL/dx)[j] = sum_i g[i] * w[i-j]");
        assert_eq!(ascii.3, ["Σ_i g_i w_<i-j>"]);
        let (_, wrt, indices, terms) = gradient("claim (d L / d w)_m = Σ g_<l+m> x_l");
        assert_eq!((wrt.as_str(), indices, terms), ("w", vec!["m".to_string()], vec!["Σ_l g_<l+m> x_l".to_string()]));
        let renamed = gradient("upstream dy\nclaim (∂L/∂x)_j = Σ_i dy_i w_<i-j> + Σ_i dy_<i+1> w_<i-j> [i < 0]");
        assert_eq!(renamed.3.len(), 2);
        assert!(renamed.3[0].starts_with("Σ_i dy_i w_<i-j>"), "{:?}", renamed.3);
        // A size used only in a gradient claim is used.
        let src = "input x[n]\nweight w[k]\nlet n = 10, k = 3, D = 2\ns_i = Σ x_l w_<i-l>\n\
                   claim (∂L/∂x)_j = Σ_i g_i w_<i-j> [i ≤ D]\n";
        assert!(resolve(&parse(src).unwrap(), src, "t", &[]).is_ok());
    }

    #[test]
    fn gradient_claim_mistakes_point_at_what_was_written() {
        let linear = "a gradient is linear in g: every term must hold exactly one element of `g`";
        for (line, culprit, says) in [
            ("claim (∂L/∂y)_j = Σ_i g_i w_<i-j>", "y", "unknown tensor `y`"),
            ("claim (∂L/∂s)_j = Σ_i g_i w_<i-j>", "s", "unknown tensor `s`"),
            ("claim (∂L/∂x)_<c,j> = Σ_i g_i w_<i-j>", "(∂L/∂x)_<c,j>", "`x` has 1 axes but 2 indices here"),
            ("claim (∂L/∂x)_n = Σ_i g_i w_<i-n>", "n", "`n` is a size, not an index"),
            ("claim (∂L/∂x)_w = 1", "w", "`w` is a tensor, not an index"),
            ("claim (∂L/∂x)_g = Σ_i g_i w_<i-g>", "g", "`g` is the upstream gradient, not an index"),
            ("claim (∂L/∂x)_j = Σ_i g_<i, j> w_<i-j>", "g_<i, j>", "`g` has 1 axes but 2 indices here"),
            ("claim (∂L/∂x)_j = g_i w_<i-j>", "i", "unknown name `i`: it is no output index, size or summed index"),
            ("claim (∂L/∂x)_j = g w_j", "g", "the tensor `g` needs indices"),
            ("claim (∂L/∂x)_j = Σ_g g_g w_<g-j>", "g", "`g` cannot be summed over: the name is taken"),
            ("claim (∂L/∂x)_j = Σ_i w_<i-j>", "claim (∂L/∂x)_j = Σ_i w_<i-j>", linear),
            ("claim (∂L/∂x)_j = Σ_i g_i g_i w_<i-j>", "claim (∂L/∂x)_j = Σ_i g_i g_i w_<i-j>", linear),
            ("claim (∂L/∂x)_j = Σ_i g_i w_<i-j> + 1", "claim (∂L/∂x)_j = Σ_i g_i w_<i-j> + 1", linear),
            ("claim (∂L/∂x)_j = 0", "claim (∂L/∂x)_j = 0", linear),
            ("claim ∂s_i/∂x_j = g_i", "g", "unknown tensor `g`"),
        ] {
            let (message, at, _) = claim_error(line);
            assert_eq!((message.as_str(), at.as_str()), (says, culprit), "{line}");
        }
        let (message, at, hint) = claim_error("claim (∂s/∂x)_j = Σ_i g_i w_<i-j>");
        assert_eq!(message, "`s` is no loss: a gradient claim differentiates the loss `L`");
        assert_eq!((at.as_str(), hint.as_str()), ("s", "the loss is written L: ∂L/∂x"));
        let (_, _, hint) = claim_error("claim (dL/dy)_j = Σ_i g_i w_<i-j>");
        assert_eq!(hint, "the declared inputs and weights are `x`, `w`");
        let (message, _, hint) = claim_error("upstream dy\nclaim (∂L/∂x)_j = Σ_i g_i w_<i-j>");
        assert_eq!(message, "unknown tensor `g`");
        assert_eq!(hint, "the declared inputs and weights are `x`, `w`, and the upstream gradient is `dy`");
        let (message, _, hint) = claim_error("upstream dy\nclaim (∂L/∂x)_j = Σ_i w_<i-j>");
        assert_eq!(message, "a gradient is linear in dy: every term must hold exactly one element of `dy`");
        assert!(hint.contains("Σ_i dy_i ∂s_i/∂x_j"), "{hint}");
    }

    #[test]
    fn gradient_claims_as_calls_resolve() {
        let call = |lines: &str| {
            let m = with_claims(lines).unwrap_or_else(|e| panic!("{lines}: {e}"));
            let ClaimKind::GradientCall { wrt, call } = m.claims[0].kind.clone() else { panic!("{lines}") };
            (wrt, call, m.source)
        };
        let (wrt, run, src) = call("claim ∂L/∂x = conv_transpose1d(g, w, stride = 2, padding = 1, output_padding = 1)");
        assert_eq!(
            (wrt.as_str(), run.op, run.input.as_str(), run.weight.as_str(), run.flip),
            ("x", RunOp::ConvTranspose1d, "g", "w", false)
        );
        assert_eq!(run.text, "conv_transpose1d(g, w, stride = 2, padding = 1, output_padding = 1)");
        assert_eq!(&src[run.span.start..run.span.end], run.text);
        let params: Vec<&str> = run.params.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(params, ["stride", "padding", "output_padding"]);
        let (wrt, run, _) = call("claim dL/dw = F.conv1d(x, g, stride = 1, dilation = 2)");
        assert_eq!((wrt.as_str(), run.op, run.input.as_str(), run.weight.as_str()), ("w", RunOp::Conv1d, "x", "g"));
        let (_, run, _) =
            call("claim d L / d x = torch.nn.functional.conv_transpose1d(g, w, output_padding = 1, stride = 2)");
        assert_eq!(run.text, "torch.nn.functional.conv_transpose1d(g, w, output_padding = 1, stride = 2)");
        // PyTorch's checks of the arguments alone apply (those of the shapes cannot: `g`
        // has none declared).
        for (line, culprit, says) in [
            (
                "claim ∂L/∂x = F.conv_transpose1d(g, w, output_padding = 5)",
                "output_padding = 5",
                "output_padding = 5: PyTorch needs it smaller than the stride (1) or the dilation (1)",
            ),
            (
                "claim ∂L/∂x = conv_transpose2d(g, w, stride = (0, 1))",
                "stride = (0, 1)",
                "stride = (0, 1): PyTorch needs stride ≥ 1 on every axis",
            ),
        ] {
            let (message, at, _) = claim_error(line);
            assert_eq!((message.as_str(), at.as_str()), (says, culprit), "{line}");
        }
        let (_, run, _) = call("claim ∂L/∂w = conv1d(x, flip(g))");
        assert_eq!((run.weight.as_str(), run.flip), ("g", true));
        let (_, run, _) = call("claim ∂L/∂x = conv1d(g, flip(w), padding = 'same')");
        assert_eq!((run.weight.as_str(), run.flip, run.params[0].0.as_str()), ("w", true, "padding"));
        let (_, run, _) = call("upstream dy\nclaim ∂L/∂x = conv1d(dy, w, padding = 'valid')");
        assert_eq!(run.input, "dy");
        // A size that only a call's parameter uses is a size, and its `let` is used.
        let src = "input x[n]\nweight w[k]\nlet n = 10, k = 3, D = 2\ns_i = Σ x_l w_<i-l>\n\
                   claim ∂L/∂w = conv1d(x, g, dilation = D)\n";
        let spec = parse(src).unwrap();
        assert_eq!(size_names(&spec), ["n", "k", "D"]);
        assert!(resolve(&spec, src, "t", &[]).is_ok());
    }

    #[test]
    fn arguments_of_several_axes_are_kept_per_axis() {
        let run = |args: &str| {
            let src = format!(
                "input x[C, H, V]\nweight w[O, C, P, Q]\nlet H = 6, V = 7, P = 2, Q = 3, C = 1, O = 1\n\
                 s_<o,i,j> = Σ_<c,a,b> x_<c, 2i+a, j+b> w_<o,c,a,b>\nrun conv2d(x, w{args})\n"
            );
            let m = resolve(&parse(&src).unwrap(), &src, "t", &[]).map_err(|mut e| e.remove(0).message)?;
            // At the let sizes: 'same' is written in the sizes' terms.
            let shown = |(n, vs, _): &(String, Vec<Index>, Span)| {
                let at: Vec<String> = vs.iter().map(|v| v.eval(&m.values).unwrap().to_string()).collect();
                format!("{n}={}", at.join(","))
            };
            Ok::<_, String>(m.runs[0].params.iter().map(shown).collect::<Vec<_>>().join(" "))
        };
        assert_eq!(run(", stride = (2, 1), padding = 1").unwrap(), "stride=2,1 padding=1,1,1,1");
        assert_eq!(run(", padding = (1, 0), dilation = 2").unwrap(), "padding=1,1,0,0 dilation=2,2");
        assert_eq!(run(", padding = ((1, 0), (0, 2))").unwrap(), "padding=1,0,0,2");
        assert_eq!(run(", padding = 'valid', groups = 1").unwrap(), "padding=0,0,0,0 groups=1");
        assert_eq!(run(", padding = 'same'").unwrap(), "padding=0,1,1,1");
        assert_eq!(
            run(", padding = ((1, 0), (0, 2), (0, 0))").unwrap_err(),
            "padding = ((before, after), …) takes one pair per spatial axis: conv2d has 2"
        );
        assert_eq!(
            run(", dilation = ((1, 0), (0, 2))").unwrap_err(),
            "conv2d(): argument 'dilation' must be tuple of ints, not tuple of tuples"
        );
        let one_d = |args: &str| {
            let src =
                format!("input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_<i+m> w_m\nrun conv1d(x, w, {args})\n");
            resolve(&parse(&src).unwrap(), &src, "t", &[]).unwrap_err().remove(0).message
        };
        assert_eq!(one_d("padding = ((1, 0), (0, 2))"), "padding takes one value or a pair (before, after)");
        assert_eq!(
            one_d("stride = ((1, 0), (0, 2))"),
            "conv1d(): argument 'stride' must be tuple of ints, not tuple of tuples"
        );
    }

    #[test]
    fn gradient_call_mistakes_point_at_what_was_written() {
        for (line, culprit, says) in [
            (
                "claim ∂s/∂x = conv_transpose1d(g, w)",
                "s",
                "`s` is no loss: a gradient claim differentiates the loss `L`",
            ),
            ("claim ∂L/∂z = conv_transpose1d(g, w)", "z", "unknown tensor `z`"),
            ("claim ∂L/∂x = conv_transpose1d(g, y)", "y", "unknown tensor `y`"),
            ("claim ∂L/∂x = conv_transpose1d(flip(g), w)", "flip(g)", "flip(…) is for the weight argument"),
            ("claim ∂L/∂x = conv_transpose1d(g, 2)", "2", "expected the name of a tensor: `g`, an input or a weight"),
            ("claim ∂L/∂x = conv4d(g, w)", "conv4d", "unknown operation `conv4d`"),
            ("claim ∂L/∂x = conv1d(g, w, foo = 1)", "foo", "`conv1d` takes no argument `foo`"),
            ("claim ∂L/∂x = conv1d(g, w, stride = q)", "q", "the size `q` has no value"),
            ("claim ∂L/∂x = conv1d(g, w, padding = 'full')", "'full'", "Invalid padding string: 'full'"),
            (
                "claim ∂L/∂w = conv1d(x, g, padding = 'same')",
                "'same'",
                "padding='same' needs the kernel's length, and `g`, the upstream gradient, has no declared shape",
            ),
            (
                "claim ∂L/∂x = conv1d(g, w, padding = 'same', stride = 2)",
                "padding = 'same'",
                "padding='same' is not supported for strided convolutions",
            ),
        ] {
            let (message, at, _) = claim_error(line);
            assert_eq!((message.as_str(), at.as_str()), (says, culprit), "{line}");
        }
        let (message, at, _) = claim_error("claim ∂L/∂x = conv_transpose1d(g)");
        assert!(message.starts_with("a gradient's call takes two tensors"), "{message}");
        assert_eq!(at, "conv_transpose1d(g)");
        let (_, _, hint) = claim_error("upstream dy\nclaim ∂L/∂x = conv_transpose1d(g, w)");
        assert_eq!(hint, "the declared inputs and weights are `x`, `w`, and the upstream gradient is `dy`");
    }

    #[test]
    fn a_glued_d_that_hides_a_name_is_explained() {
        let src = "input x[n]\ninput dx[n]\nweight w[k]\nlet n = 10, k = 3\nds_i = Σ x_l dx_l w_<i-l>\n\
                   claim ds_i/dx_j = 1\n";
        let (spec, _) = crate::syntax::parse_recovering(src);
        let e = &resolve(&spec, src, "t", &[]).unwrap_err()[0];
        assert_eq!(e.message, "`s` is not the output");
        let hint = e.hint.as_deref().unwrap();
        assert!(hint.contains("`ds` reads as `d s`; write `d ds` or `∂ds`"), "{hint}");
    }
}
