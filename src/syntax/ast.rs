//! The abstract syntax of a `.conv` file: plain data with byte spans into the source.

/// A byte range `start..end` into the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte of the spanned text.
    pub start: usize,
    /// One past the last byte of the spanned text.
    pub end: usize,
}

impl Span {
    /// The span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut at = offset.min(src.len());
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The name's text.
    pub text: String,
    /// Where it stands in the source.
    pub span: Span,
}

/// An expression: index arithmetic, tensor elements, sums, products and Iverson brackets.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What kind of expression this is.
    pub kind: ExprKind,
    /// Where it stands in the source.
    pub span: Span,
}

/// The kinds of [`Expr`].
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// An integer literal (non-negative as written; `-3` is `Neg(3)`).
    Int(i64),
    /// A bare name: an index or a size (`i`, `k`).
    Var(Name),
    /// A tensor element `x_l`, `w_<o, c, m>`, `x[l]`.
    Element {
        /// The tensor's name.
        tensor: Name,
        /// One index expression per axis.
        indices: Vec<Expr>,
    },
    /// `-e`.
    Neg(Box<Expr>),
    /// `a + b`, `a - b`, `a * b` (and juxtaposition), `a div b`, `a mod b`, `a / 3`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `Σ e`, `Σ_l e`, `Σ_<l, m> e`: `indices` is empty when none are named.
    Sum {
        /// The explicitly named summation indices, if any.
        indices: Vec<Name>,
        /// The summand.
        body: Box<Expr>,
    },
    /// `[c]`: 1 where `c` holds, 0 elsewhere.
    Iverson(Box<Cond>),
}

/// Binary arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`, `·`, `×` or juxtaposition
    Mul,
    /// `div`, rounding toward minus infinity
    Div,
    /// `mod`, the remainder of `div` (same sign as the divisor)
    Mod,
    /// `/` followed by an integer literal: a value divided by a constant (`1/3`,
    /// `(x_<2i> + x_<2i+1>) / 2`); in an index it is an error that points to `div`
    Over,
}

/// A condition, as found inside an Iverson bracket.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    /// What kind of condition this is.
    pub kind: CondKind,
    /// Where it stands in the source.
    pub span: Span,
}

/// The kinds of [`Cond`].
#[derive(Debug, Clone, PartialEq)]
pub enum CondKind {
    /// A comparison chain `e0 op1 e1 op2 e2 …` (at least one operator),
    /// meaning `e0 op1 e1 ∧ e1 op2 e2 ∧ …`.
    Chain {
        /// The operands, one more than the operators.
        operands: Vec<Expr>,
        /// The operators between consecutive operands.
        ops: Vec<CmpOp>,
    },
    /// `c ∧ d`, `c and d`.
    And(Box<Cond>, Box<Cond>),
    /// `c ∨ d`, `c or d`.
    Or(Box<Cond>, Box<Cond>),
    /// `¬c`, `not c`.
    Not(Box<Cond>),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `≤`, `<=`
    Le,
    /// `=`
    Eq,
    /// `≠`, `!=`
    Ne,
    /// `≥`, `>=`
    Ge,
    /// `>`
    Gt,
}

/// A tensor reference with its index names, as on the left of a definition or in `∂s_i/∂x_j`.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    /// The tensor's name.
    pub tensor: Name,
    /// The index names, one per axis (`s_i`, `s_<o, i>`, `s[i]`).
    pub indices: Vec<Name>,
    /// Where the whole reference stands.
    pub span: Span,
}

/// What a declaration declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    /// `input x[n]`
    Input,
    /// `weight w[k]`
    Weight,
    /// `output s[L]`
    Output,
}

/// A `run` line's argument value.
#[derive(Debug, Clone, PartialEq)]
pub enum RunValue {
    /// A single expression (`2`, `k - 1`, `x`).
    Expr(Expr),
    /// A parenthesised tuple `(a, b)`.
    Tuple(Vec<Expr>, Span),
    /// A tuple of pairs, `((t, b), (l, r))`: a padding per axis, before and after.
    Pairs(Vec<(Expr, Expr)>, Span),
    /// `flip(t)`: the tensor `t` reversed along its last axis.
    Flip(Name, Span),
    /// A string, in single or double quotes, as PyTorch takes `padding='same'`: the text
    /// between the quotes, and where the whole literal stands.
    Str(String, Span),
}

/// One argument of a `run` line.
#[derive(Debug, Clone, PartialEq)]
pub struct RunArg {
    /// `Some(name)` for `name = value`, `None` for a positional argument.
    pub keyword: Option<Name>,
    /// The value.
    pub value: RunValue,
    /// Where the whole argument stands.
    pub span: Span,
}

/// The claims a spec can make.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimKind {
    /// `claim len(s) = e` or `claim len(s, axis) = e`.
    Length {
        /// The output tensor named.
        tensor: Name,
        /// The axis given, if any (default: the last).
        axis: Option<Expr>,
        /// The claimed length.
        value: Expr,
    },
    /// `claim ∂s_i/∂x_j = e` (or `d s_i / d x_j`).
    Derivative {
        /// The differentiated output with its index names.
        output: Indexed,
        /// The tensor differentiated against, with its index names.
        wrt: Indexed,
        /// The claimed derivative.
        value: Expr,
    },
    /// `claim (∂L/∂x)_j = e` (or `(dL/dx)_j`, `(d L / d x)[j]`): one element of the
    /// gradient of the loss, in gather form; `e` may use the upstream gradient.
    Gradient {
        /// The differentiated loss as written (it must be `L`).
        loss: Name,
        /// The tensor differentiated against, with the claim's index names; the span
        /// covers `(∂L/∂x)_j`.
        wrt: Indexed,
        /// The claimed element of the gradient.
        value: Expr,
    },
    /// `claim ∂L/∂x = conv_transpose1d(g, w, …)` (or `dL/dx = …`): the whole gradient as
    /// one call, written as a `run` line's.
    GradientCall {
        /// The differentiated loss as written (it must be `L`).
        loss: Name,
        /// The tensor differentiated against.
        wrt: Name,
        /// The operation's name as written, with any dotted prefix (`F.conv1d`).
        op: Name,
        /// Its arguments in order.
        args: Vec<RunArg>,
        /// Where the call stands, from the operation's name to its `)`.
        call: Span,
    },
}

/// One statement (one line) of a spec.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    /// `input x[n]`, `weight w[k]`, `output s[L]`.
    Tensor {
        /// Which keyword declared it.
        role: TensorRole,
        /// The tensor's name.
        name: Name,
        /// One size expression per axis.
        shape: Vec<Expr>,
    },
    /// `pad x (a, b)`, or `pad x (t, b), (l, r)` for the last axes in order.
    Pad {
        /// The padded tensor.
        tensor: Name,
        /// Per padded axis, the zeros before its first element and after its last.
        pairs: Vec<(Expr, Expr)>,
    },
    /// `let n = 10, k = 3`.
    Let(Vec<(Name, i64, Span)>),
    /// The definition `s_i = …`.
    Definition {
        /// The output with its free index names.
        output: Indexed,
        /// The right-hand side.
        body: Expr,
    },
    /// `upstream dy`: the name of the upstream gradient `∂L/∂s` in gradient claims.
    Upstream(Name),
    /// `claim …`.
    Claim(ClaimKind),
    /// `run conv1d(…)` or `run conv_transpose1d(…)`, also `F.conv1d(…)`.
    Run {
        /// The operation's name as written, with any dotted prefix (`F.conv1d`).
        op: Name,
        /// Its arguments in order.
        args: Vec<RunArg>,
    },
}

/// A statement with its span and its source text (for printing it back).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// What the statement says.
    pub kind: StatementKind,
    /// Where it stands (the line without its comment and surrounding blanks).
    pub span: Span,
}

/// A whole parsed spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The statements in source order.
    pub statements: Vec<Statement>,
    /// The lines that did not parse (their text without comment and surrounding blanks),
    /// skipped by [`parse_recovering`](super::parse_recovering): what they might have
    /// declared is unknown, so later stages must not call their names unknown.
    pub skipped: Vec<Span>,
}
