//! The spec language's grammar (nom): text to [`Spec`], or a [`ParseError`] with a span.

mod ast;
pub use ast::*;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while};
use nom::character::complete::{char, digit1, satisfy, space0, space1};
use nom::combinator::{opt, peek, recognize, value, verify};
use nom::multi::separated_list1;
use nom::sequence::{pair, preceded};
use nom::{Err, IResult, Offset, Parser as _};

/// A syntax error: where, what the parser expected there, and the fix when a habit from
/// elsewhere explains the mistake (`/` for `div`, `w_i-l` for `w_<i-l>`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expected {expected}")]
pub struct ParseError {
    /// The offending token, or an empty span at the end of the line.
    pub span: Span,
    /// What the parser expected there, as a short phrase.
    pub expected: String,
    /// What to write instead, when known.
    pub hint: Option<String>,
}

/// Parses a whole `.conv` source text: the spec, or the first line's error.
pub fn parse(src: &str) -> Result<Spec, ParseError> {
    let (spec, errors) = parse_recovering(src);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(spec),
    }
}

/// Parses every line of a `.conv` source text, as a compiler recovers at statement
/// boundaries: a line that does not parse gives its error (in source order) and is
/// skipped, its span kept in [`Spec::skipped`]; the other lines are parsed as usual.
pub fn parse_recovering(src: &str) -> (Spec, Vec<ParseError>) {
    let mut spec = Spec { statements: Vec::new(), skipped: Vec::new() };
    let mut errors = Vec::new();
    for line in src.split('\n') {
        let text = statement_text(line);
        if text.is_empty() {
            continue;
        }
        match parse_statement(src, text) {
            Ok(statement) => spec.statements.push(statement),
            Err(e) => {
                let start = src.offset(text);
                spec.skipped.push(Span::new(start, start + text.len()));
                errors.push(e);
            }
        }
    }
    (spec, errors)
}

/// Parses one statement, `text`, a slice of `src`. Deeply nested text recurses deeply,
/// more so in unoptimised builds: past a few levels it is parsed on a thread with room
/// for [`MAX_DEPTH`] levels, whatever the caller's stack.
fn parse_statement(src: &str, text: &str) -> Result<Statement, ParseError> {
    let run = || Parser::new(src).statement(text);
    if nesting_bound(text) <= SHALLOW {
        return run();
    }
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new().stack_size(DEEP_STACK);
        match worker.spawn_scoped(scope, run) {
            Ok(worker) => worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => run(),
        }
    })
}

/// At least the nesting depth of `text`: each level starts with one of these tokens.
fn nesting_bound(text: &str) -> usize {
    let openers = text.chars().filter(|c| matches!(c, '(' | '[' | '<' | '-' | 'Σ' | '¬'));
    openers.count() + text.matches("sum").count() + text.matches("not").count()
}

/// The deepest nesting the parser accepts: brackets, `Σ`, `-` and `¬` nest, and so does an
/// operator chain, one level per operator (`a + b + c` is `(a + b) + c`).
const MAX_DEPTH: usize = crate::limits::Limits::DEFAULT.nesting;
/// Nesting that any thread's stack holds, even unoptimised (up to 11 KiB a level).
const SHALLOW: usize = 16;
/// A stack for [`MAX_DEPTH`] levels with a wide margin (only the pages used are touched).
const DEEP_STACK: usize = 16 << 20;
const TOO_DEEP: &str = "at most 256 levels of nesting";
const STATEMENT: &str =
    "a statement (input, weight, pad, output, let, upstream, claim, run, or a definition `s_i = …`)";
const END: &str = "end of line";
const TOO_BIG: &str = "an integer that fits in 64 bits";
const EXPR: &str = "an index expression";
const INDEX_NAME: &str = "an index name";
const TENSOR_NAME: &str = "a tensor name";
const COMPARISON: &str = "a comparison (`<`, `≤`, `=`, `≠`, `≥` or `>`)";
const CLAIM: &str = "`len(…)`, `∂…/∂…` or `(∂L/∂…)_…` after `claim`";
const PARTIAL: &str = "`∂` or `d`";
const LOSS: &str = "the loss's name, `L`";
const GRADIENT_EQ: &str = "`=` and a call after `∂L/∂x` (one element of the gradient is written `(∂L/∂x)_j`)";
const SUBSCRIPTS: &str = "`_` or `[` and the index names";
const SLASH: &str = "an integer after `/` (a value is divided by an integer constant; indices use `div`)";
const FLOOR: &str = "an index expression, not `⌊`";
const DIV_HINT: &str =
    "write integer division as `div`: `(i - l) div 2` is ⌊(i - l) / 2⌋, rounded toward minus infinity";
const GLUED: &str = "`<…>` around an index with arithmetic";
const UNCLOSED_SINGLE: &str = "a closing `'`";
const UNCLOSED_DOUBLE: &str = "a closing `\"`";
/// Words that never name anything in an expression.
const KEYWORDS: [&str; 6] = ["sum", "div", "mod", "and", "or", "not"];

/// A line without its comment, its line end and its surrounding blanks.
fn statement_text(line: &str) -> &str {
    let code = line.split('#').next().unwrap_or_default();
    code.trim_matches([' ', '\t', '\r'])
}

/// Why a parser failed: the input left where it failed, and what it expected there.
#[derive(Debug, Clone, Copy)]
struct Fail<'a> {
    rest: &'a str,
    expected: &'static str,
}

impl<'a> nom::error::ParseError<&'a str> for Fail<'a> {
    fn from_error_kind(rest: &'a str, _: nom::error::ErrorKind) -> Self {
        Fail { rest, expected: "valid syntax" }
    }

    fn append(_: &'a str, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        self.further(other)
    }
}

impl Fail<'_> {
    /// The failure that got further into the statement (the first one on a tie).
    fn further(self, other: Self) -> Self {
        if other.rest.len() < self.rest.len() {
            other
        } else {
            self
        }
    }
}

type PResult<'a, T> = IResult<&'a str, T, Fail<'a>>;

/// A failure that no alternative can recover from (too deep, too big a number).
fn fatal<'a>(rest: &'a str, expected: &'static str) -> Err<Fail<'a>> {
    Err::Failure(Fail { rest, expected })
}

/// A rule of the grammar, as a method of [`Parser`].
type Rule<'a, T> = fn(&Parser<'a>, &'a str) -> PResult<'a, Box<T>>;

/// Skips blanks (spaces and tabs).
fn sp(i: &str) -> &str {
    i.trim_start_matches([' ', '\t'])
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() && c != 'Σ'
}

fn is_ident_char(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

/// An identifier: a letter, then letters and ASCII digits (no `_`, no `Σ`).
fn ident(i: &str) -> PResult<'_, &str> {
    recognize(pair(satisfy(is_ident_start), take_while(is_ident_char))).parse(i)
}

/// A `run` line's operation or keyword name: `[A-Za-z][A-Za-z0-9_]*`.
fn run_ident(i: &str) -> PResult<'_, &str> {
    let rest = take_while(|c: char| c.is_ascii_alphanumeric() || c == '_');
    recognize(pair(satisfy(|c| c.is_ascii_alphabetic()), rest)).parse(i)
}

/// The identifier `word` as a whole word.
fn keyword<'a>(word: &'static str) -> impl Fn(&'a str) -> PResult<'a, ()> {
    move |i| value((), verify(ident, |w: &str| w == word)).parse(i)
}

fn add_op(i: &str) -> PResult<'_, BinOp> {
    alt((value(BinOp::Add, char('+')), value(BinOp::Sub, char('-')))).parse(i)
}

/// `*`, `·`, `×`, `div` or `mod`; `/` fails for good, with the hint to write `div`.
fn mul_op(i: &str) -> PResult<'_, BinOp> {
    if i.starts_with('/') {
        return Err(fatal(i, SLASH));
    }
    let times = value(BinOp::Mul, alt((char('*'), char('·'), char('×'))));
    let div = value(BinOp::Div, keyword("div"));
    alt((times, div, value(BinOp::Mod, keyword("mod")))).parse(i)
}

/// `/` where an integer literal follows: a value divided by a constant. It binds tighter
/// than juxtaposition, so that `1/3 Σ_m …` is a third of the sum (any other reading of a
/// division by a constant has the same value). A `/` before anything else is left to
/// [`mul_op`], which explains it.
fn over_op(i: &str) -> PResult<'_, BinOp> {
    match i.strip_prefix('/') {
        Some(rest) if sp(rest).starts_with(|c: char| c.is_ascii_digit()) => Ok((sp(rest), BinOp::Over)),
        _ => Err(Err::Error(Fail { rest: i, expected: EXPR })),
    }
}

/// Juxtaposition: consumes nothing, but succeeds only where another factor starts.
fn jux_op(i: &str) -> PResult<'_, BinOp> {
    let starts = match i.chars().next() {
        Some(c) if c.is_ascii_digit() || matches!(c, '(' | '[' | 'Σ') => true,
        Some(c) if is_ident_start(c) => ident(i).is_ok_and(|(_, w)| w == "sum" || !KEYWORDS.contains(&w)),
        _ => false,
    };
    if starts {
        Ok((i, BinOp::Mul))
    } else {
        Err(Err::Error(Fail { rest: i, expected: EXPR }))
    }
}

fn cmp_op(i: &str) -> PResult<'_, CmpOp> {
    alt((
        value(CmpOp::Le, alt((tag("<="), tag("≤")))),
        value(CmpOp::Lt, tag("<")),
        value(CmpOp::Ne, alt((tag("!="), tag("≠")))),
        value(CmpOp::Eq, tag("=")),
        value(CmpOp::Ge, alt((tag(">="), tag("≥")))),
        value(CmpOp::Gt, tag(">")),
    ))
    .parse(i)
}

fn and_op(i: &str) -> PResult<'_, ()> {
    alt((value((), char('∧')), keyword("and"))).parse(i)
}

fn or_op(i: &str) -> PResult<'_, ()> {
    alt((value((), char('∨')), keyword("or"))).parse(i)
}

fn not_op(i: &str) -> PResult<'_, ()> {
    alt((value((), char('¬')), keyword("not"))).parse(i)
}

fn sum_op(i: &str) -> PResult<'_, ()> {
    alt((value((), char('Σ')), keyword("sum"))).parse(i)
}

/// `∂` with the blanks after it; `d` and at least one blank; or `d` glued to the tensor's
/// name (`ds_i/dx_j`): after `d` and no blank, the name is the rest of the word.
fn partial(i: &str) -> PResult<'_, ()> {
    let glued = pair(char('d'), peek(satisfy(is_ident_start)));
    alt((value((), pair(char('∂'), space0)), value((), pair(keyword("d"), space1)), value((), glued))).parse(i)
}

/// A run's operation name, with any dotted prefix: `conv1d`, `F.conv1d`,
/// `torch.nn.functional.conv1d`.
fn dotted(i: &str) -> PResult<'_, &str> {
    recognize(separated_list1(char('.'), run_ident)).parse(i)
}

/// The length of a subscript's single name or number at the start of `i`.
fn single_index_len(i: &str) -> usize {
    let first_not = |ok: fn(char) -> bool| i.find(|c: char| !ok(c)).unwrap_or(i.len());
    match i.chars().next() {
        Some(c) if c.is_ascii_digit() => first_not(|c| c.is_ascii_digit()),
        _ => first_not(is_ident_char),
    }
}

/// The length of the arithmetic glued to a single subscript (`-l` after `w_i` in
/// `w_i-l`): `+` or `-` with no blank around it and a name or number that is no element.
fn glued_len(i: &str) -> usize {
    let word = |s: &str| s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    let mut end = 0;
    while let Some(after) = i[end..].strip_prefix(['+', '-']) {
        let n = word(after);
        if n == 0 || after[n..].starts_with(['_', '[', '(']) {
            break;
        }
        end += 1 + n;
    }
    end
}

/// `,` with blanks around it.
fn comma(i: &str) -> PResult<'_, char> {
    preceded(space0, char(',')).parse(i).map(|(rest, c)| (sp(rest), c))
}

/// What to call a missing closing bracket.
fn closer(close: char) -> &'static str {
    match close {
        ']' => "`,` or `]`",
        '>' => "`,` or `>`",
        _ => "`,` or `)`",
    }
}

/// How many bytes of `rest` an error there should cover: a word, a number or one character.
fn token_len(rest: &str) -> usize {
    let word = match rest.chars().next() {
        Some(c) if c.is_ascii_digit() => rest.find(|c: char| !c.is_ascii_digit()),
        Some(c) if is_ident_start(c) => rest.find(|c: char| !is_ident_char(c)),
        Some(c) => Some(c.len_utf8()),
        None => Some(0),
    };
    word.unwrap_or(rest.len())
}

fn binary(op: BinOp, a: Box<Expr>, b: Box<Expr>, span: Span) -> Expr {
    let kind = ExprKind::Binary(op, a, b);
    Expr { kind, span }
}

fn var(name: Name) -> Expr {
    let span = name.span;
    Expr { kind: ExprKind::Var(name), span }
}

/// A syntax tree whose height the parser bounds.
trait Tree {
    /// The number of nodes on the longest path from the root down.
    fn height(&self) -> usize;
}

impl Tree for Expr {
    fn height(&self) -> usize {
        1 + match &self.kind {
            ExprKind::Int(_) | ExprKind::Var(_) => 0,
            ExprKind::Element { indices, .. } => indices.iter().map(Tree::height).max().unwrap_or(0),
            ExprKind::Neg(e) | ExprKind::Sum { body: e, .. } => e.height(),
            ExprKind::Binary(_, a, b) => a.height().max(b.height()),
            ExprKind::Iverson(c) => c.height(),
        }
    }
}

impl Tree for Cond {
    fn height(&self) -> usize {
        1 + match &self.kind {
            CondKind::Chain { operands, .. } => operands.iter().map(Tree::height).max().unwrap_or(0),
            CondKind::And(a, b) | CondKind::Or(a, b) => a.height().max(b.height()),
            CondKind::Not(c) => c.height(),
        }
    }
}

/// One level of nesting, entered by [`Parser::enter`] and left when dropped.
struct Level<'p>(&'p Cell<usize>);

impl Drop for Level<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// The parser of one statement: the whole source (for spans), and the state that
/// bounds nesting, keeps backtracking linear and remembers the furthest failure.
struct Parser<'a> {
    src: &'a str,
    depth: Cell<usize>,
    furthest: Cell<Option<Fail<'a>>>,
    exprs: RefCell<HashMap<usize, PResult<'a, Box<Expr>>>>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        let (depth, furthest, exprs) = (Cell::new(0), Cell::new(None), RefCell::default());
        Parser { src, depth, furthest, exprs }
    }

    // ---- plumbing -------------------------------------------------------------------

    fn span(&self, from: &'a str, to: &'a str) -> Span {
        Span::new(self.src.offset(from), self.src.offset(to))
    }

    /// The name written from `from` up to `to`.
    fn word(&self, from: &'a str, to: &'a str) -> Name {
        let text = from[..from.len() - to.len()].to_string();
        Name { text, span: self.span(from, to) }
    }

    /// A boxed expression spanning `from` up to `to`.
    fn node(&self, kind: ExprKind, from: &'a str, to: &'a str) -> Box<Expr> {
        Box::new(Expr { kind, span: self.span(from, to) })
    }

    /// Fails at `rest`, expecting `expected`; remembers the failure if it is the furthest.
    fn fail<T>(&self, rest: &'a str, expected: &'static str) -> PResult<'a, T> {
        let fail = Fail { rest, expected };
        let furthest = self.furthest.get().map_or(fail, |f| f.further(fail));
        self.furthest.set(Some(furthest));
        Err(Err::Error(fail))
    }

    /// Runs a token parser, failing with `expected` where it does not match.
    fn expect<O>(
        &self,
        i: &'a str,
        expected: &'static str,
        mut token: impl nom::Parser<&'a str, Output = O, Error = Fail<'a>>,
    ) -> PResult<'a, O> {
        match token.parse(i) {
            Err(Err::Error(_)) => self.fail(i, expected),
            result => result,
        }
    }

    /// Enters one more nesting level at `at` (until the [`Level`] drops), failing for
    /// good past [`MAX_DEPTH`].
    fn enter(&self, at: &'a str) -> Result<Level<'_>, Err<Fail<'a>>> {
        let depth = self.depth.get();
        if depth >= MAX_DEPTH {
            return Err(fatal(at, TOO_DEEP));
        }
        self.depth.set(depth + 1);
        Ok(Level(&self.depth))
    }

    /// `operand (op operand)*`, folded to the left; the tree may not grow too tall.
    fn fold<T: Tree, O>(
        &self,
        i: &'a str,
        operand: Rule<'a, T>,
        op: fn(&'a str) -> PResult<'a, O>,
        join: fn(O, Box<T>, Box<T>, Span) -> T,
    ) -> PResult<'a, Box<T>> {
        let (mut rest, mut acc) = operand(self, i)?;
        let mut height = acc.height();
        loop {
            let (after, o) = match op(sp(rest)) {
                Ok(found) => found,
                Err(Err::Failure(fail)) => return Err(Err::Failure(fail)),
                Err(_) => break,
            };
            let (after, rhs) = operand(self, sp(after))?;
            height = height.max(rhs.height()) + 1;
            if height > MAX_DEPTH {
                return Err(fatal(sp(rest), TOO_DEEP));
            }
            acc = Box::new(join(o, acc, rhs, self.span(i, after)));
            rest = after;
        }
        Ok((rest, acc))
    }

    /// `open item (',' item)* close`, one level deeper; `i` starts with `open`.
    fn list<T>(
        &self,
        i: &'a str,
        (open, close): (char, char),
        item: impl Fn(&'a str) -> PResult<'a, T>,
    ) -> PResult<'a, Vec<T>> {
        let _level = self.enter(i)?;
        let (mut rest, mut items) = (self.opening(i, open)?, Vec::new());
        loop {
            let (after, item) = item(sp(rest))?;
            items.push(item);
            match comma(after) {
                Ok((after, _)) => rest = after,
                Err(_) => break self.closing(after, close, closer(close), items),
            }
        }
    }

    /// `open inner close`, one level deeper, with the span from `open` to `close`.
    fn enclosed<T>(
        &self,
        i: &'a str,
        (open, close, missing): (char, char, &'static str),
        inner: Rule<'a, T>,
    ) -> PResult<'a, (Box<T>, Span)> {
        let _level = self.enter(i)?;
        let (rest, inner) = inner(self, sp(self.opening(i, open)?))?;
        let (rest, inner) = self.closing(rest, close, missing, inner)?;
        Ok((rest, (inner, self.span(i, rest))))
    }

    /// The input after `open`, which `i` starts with.
    fn opening(&self, i: &'a str, open: char) -> Result<&'a str, Err<Fail<'a>>> {
        match i.strip_prefix(open) {
            Some(rest) => Ok(rest),
            None => self.fail(i, "an opening bracket").map(|(rest, ())| rest),
        }
    }

    /// `close` (after blanks), returning `t` after it, or failing with `missing`.
    fn closing<T>(&self, i: &'a str, close: char, missing: &'static str, t: T) -> PResult<'a, T> {
        match sp(i).strip_prefix(close) {
            Some(rest) => Ok((rest, t)),
            None => self.fail(sp(i), missing),
        }
    }

    /// A name that is not a keyword.
    fn name(&self, i: &'a str, expected: &'static str) -> PResult<'a, Name> {
        let word = verify(ident, |w: &str| !KEYWORDS.contains(&w));
        let (rest, _) = self.expect(i, expected, word)?;
        Ok((rest, self.word(i, rest)))
    }

    /// A non-negative integer literal that fits in an `i64`.
    fn integer(&self, i: &'a str) -> PResult<'a, Expr> {
        let (rest, digits) = self.expect(i, EXPR, digit1)?;
        match digits.parse() {
            Ok(n) => Ok((rest, *self.node(ExprKind::Int(n), i, rest))),
            Err(_) => Err(fatal(i, TOO_BIG)),
        }
    }

    // ---- statements -----------------------------------------------------------------

    /// One statement: `text` is its line without comment and surrounding blanks.
    fn statement(&self, text: &'a str) -> Result<Statement, ParseError> {
        let fail = match self.statement_kind(text) {
            Ok((rest, kind)) if sp(rest).is_empty() => {
                let span = self.span(text, &text[text.len()..]);
                return Ok(Statement { kind, span });
            }
            Ok((rest, StatementKind::Let(_))) => Fail { rest, expected: "`,` or end of line" },
            Ok((rest, _)) => Fail { rest, expected: END },
            Err(Err::Failure(fail)) => return Err(self.error(fail)),
            Err(Err::Error(fail)) => fail,
            Err(Err::Incomplete(_)) => Fail { rest: text, expected: STATEMENT },
        };
        // The failure that got furthest is the one that tells what went wrong.
        Err(self.error(self.furthest.get().map_or(fail, |f| f.further(fail))))
    }

    /// Turns a failure into the public error, with a span over the offending token.
    fn error(&self, fail: Fail<'a>) -> ParseError {
        let rest = sp(fail.rest);
        let start = self.src.offset(rest);
        if fail.expected == GLUED {
            return self.glued_error(rest);
        }
        let span = Span::new(start, start + token_len(rest));
        let expected = match rest.chars().next() {
            Some(c @ (')' | ']' | '>')) if fail.expected == END => format!("{END}, not `{c}`, which closes no bracket"),
            Some(c) if fail.expected == END && c.is_ascii_punctuation() => {
                format!("{END}, not `{c}`, which is no operator (they are `+`, `-`, `*`, `/` before an integer, `div` and `mod`)")
            }
            _ => fail.expected.to_string(),
        };
        let division = matches!(fail.expected, SLASH | FLOOR) || rest.starts_with('⌋');
        ParseError { span, expected, hint: division.then(|| DIV_HINT.to_string()) }
    }

    /// The error for arithmetic glued to a single subscript: `rest` starts at the
    /// element (`w_i-l`), which the span covers and the hint rewrites (`w_<i-l>`).
    fn glued_error(&self, rest: &'a str) -> ParseError {
        let (tensor, index) = rest.split_once('_').unwrap_or((rest, ""));
        let single = single_index_len(index);
        let index = &index[..single + glued_len(&index[single..])];
        let start = self.src.offset(rest);
        let span = Span::new(start, start + tensor.len() + 1 + index.len());
        let hint = format!("write `{tensor}_<{index}>`: `_` takes one name or number");
        ParseError { span, expected: GLUED.to_string(), hint: Some(hint) }
    }

    /// Dispatches on the first word; anything that is no statement keyword is a definition.
    fn statement_kind(&self, i: &'a str) -> PResult<'a, StatementKind> {
        let Ok((rest, word)) = ident(i) else {
            return self.fail(i, STATEMENT);
        };
        if rest.starts_with(['_', '[']) {
            return self.definition(i);
        }
        let rest = sp(rest);
        match word {
            "input" => self.tensor(rest, TensorRole::Input),
            "weight" => self.tensor(rest, TensorRole::Weight),
            "output" => self.tensor(rest, TensorRole::Output),
            "pad" => self.pad(rest),
            "let" => self.let_(rest),
            "upstream" => self.upstream(rest),
            "claim" => self.claim(rest),
            "run" => self.run(rest),
            _ => self.definition(i),
        }
    }

    /// `input x[n]`, `weight w[o, c, k]`, `output s[L]` (after the keyword).
    fn tensor(&self, i: &'a str, role: TensorRole) -> PResult<'a, StatementKind> {
        let (rest, name) = self.name(i, TENSOR_NAME)?;
        let rest = sp(rest);
        if !rest.starts_with('[') {
            return self.fail(rest, "`[` and the tensor's shape");
        }
        let (rest, shape) = self.list(rest, ('[', ']'), |i| self.item(i))?;
        Ok((rest, StatementKind::Tensor { role, name, shape }))
    }

    /// `pad x (before, after)`, or one pair per axis, `pad x (t, b), (l, r)` (after the
    /// keyword).
    fn pad(&self, i: &'a str) -> PResult<'a, StatementKind> {
        let (mut rest, tensor) = self.name(i, TENSOR_NAME)?;
        let mut pairs = Vec::new();
        loop {
            let (after_pair, pair) = self.pad_pair(rest)?;
            pairs.push(pair);
            match comma(after_pair) {
                Ok((next, _)) => rest = next,
                Err(_) => break Ok((after_pair, StatementKind::Pad { tensor, pairs })),
            }
        }
    }

    /// One axis's `(before, after)` of a `pad` line.
    fn pad_pair(&self, i: &'a str) -> PResult<'a, (Expr, Expr)> {
        let (rest, _) = self.expect(sp(i), "`(` and the pad widths", char('('))?;
        let (rest, before) = self.item(sp(rest))?;
        let (rest, _) = self.expect(sp(rest), "`,`", char(','))?;
        let (rest, after) = self.item(sp(rest))?;
        let (rest, _) = self.expect(sp(rest), "`)`", char(')'))?;
        Ok((rest, (before, after)))
    }

    /// `let n = 10, k = 3` (after the keyword).
    fn let_(&self, i: &'a str) -> PResult<'a, StatementKind> {
        let (rest, bindings) = separated_list1(comma, |i| self.binding(i)).parse(i)?;
        Ok((rest, StatementKind::Let(bindings)))
    }

    /// `n = 10`, or `n = -1` (which later stages reject).
    fn binding(&self, i: &'a str) -> PResult<'a, (Name, i64, Span)> {
        let (rest, name) = self.name(i, "a size name")?;
        let (rest, _) = self.expect(sp(rest), "`=`", char('='))?;
        let literal = sp(rest);
        let (rest, text) = self.expect(literal, "an integer", recognize((opt(char('-')), digit1)))?;
        let Ok(value) = text.parse() else {
            return Err(fatal(literal, TOO_BIG));
        };
        Ok((rest, (name, value, self.span(i, rest))))
    }

    /// `upstream dy` (after the keyword).
    fn upstream(&self, i: &'a str) -> PResult<'a, StatementKind> {
        let (rest, name) = self.name(i, TENSOR_NAME)?;
        Ok((rest, StatementKind::Upstream(name)))
    }

    /// `s_i = body`, `s_<o, i> = body`, `s[i] = body`.
    fn definition(&self, i: &'a str) -> PResult<'a, StatementKind> {
        let (rest, _) = ident(i)?;
        if !sp(rest).starts_with(['_', '[']) {
            return self.fail(i, STATEMENT);
        }
        let (rest, output) = self.indexed(i)?;
        let (rest, _) = self.expect(sp(rest), "`=` after the defined tensor", char('='))?;
        let (rest, body) = self.item(sp(rest))?;
        Ok((rest, StatementKind::Definition { output, body }))
    }

    /// `claim len(s) = e`, `claim ∂s_i/∂x_j = e`, `claim (∂L/∂x)_j = e` or
    /// `claim ∂L/∂x = op(…)` (after the keyword).
    fn claim(&self, i: &'a str) -> PResult<'a, StatementKind> {
        let (rest, kind) = match ident(i) {
            Ok((rest, "len")) => self.length(sp(rest))?,
            _ if i.starts_with('(') => self.gradient(i)?,
            _ => self.derivative(i)?,
        };
        Ok((rest, StatementKind::Claim(kind)))
    }

    /// `(s) = e` or `(s, axis) = e`, after `len`.
    fn length(&self, i: &'a str) -> PResult<'a, ClaimKind> {
        let (rest, _) = self.expect(i, "`(`", char('('))?;
        let (rest, tensor) = self.name(sp(rest), TENSOR_NAME)?;
        let (rest, axis) = match comma(rest) {
            Ok((rest, _)) => self.item(rest).map(|(rest, e)| (rest, Some(e)))?,
            Err(_) => (rest, None),
        };
        let missing = if axis.is_some() { "`)`" } else { "`,` or `)`" };
        let (rest, _) = self.expect(sp(rest), missing, char(')'))?;
        let (rest, _) = self.expect(sp(rest), "`=`", char('='))?;
        let (rest, value) = self.item(sp(rest))?;
        Ok((rest, ClaimKind::Length { tensor, axis, value }))
    }

    /// `∂s_i/∂x_j = e`, also spelled `d s_i / d x_j = e`; or, when the first name has
    /// no indices, `∂L/∂x = op(…)`.
    fn derivative(&self, i: &'a str) -> PResult<'a, ClaimKind> {
        let (rest, _) = self.expect(i, CLAIM, partial)?;
        if ident(rest).is_ok_and(|(after, _)| sp(after).starts_with('/')) {
            return self.gradient_call(rest);
        }
        let (rest, output) = self.indexed(rest)?;
        let (rest, _) = self.expect(sp(rest), "`/`", char('/'))?;
        let (rest, _) = self.expect(sp(rest), PARTIAL, partial)?;
        let (rest, wrt) = self.indexed(rest)?;
        let (rest, _) = self.expect(sp(rest), "`=`", char('='))?;
        let (rest, value) = self.item(sp(rest))?;
        Ok((rest, ClaimKind::Derivative { output, wrt, value }))
    }

    /// `(∂L/∂x)_j = e`, also `(dL/dx)_<c, j> = e` or `(d L / d x)[c, j] = e`; `i`
    /// starts with the `(`.
    fn gradient(&self, i: &'a str) -> PResult<'a, ClaimKind> {
        let (rest, _) = self.expect(sp(&i[1..]), PARTIAL, partial)?;
        let (rest, loss) = self.name(rest, LOSS)?;
        let (rest, _) = self.expect(sp(rest), "`/`", char('/'))?;
        let (rest, _) = self.expect(sp(rest), PARTIAL, partial)?;
        let (rest, tensor) = self.name(rest, TENSOR_NAME)?;
        let (rest, _) = self.expect(sp(rest), "`)`", char(')'))?;
        let (rest, indices) = self.subscripts(rest)?;
        let wrt = Indexed { tensor, indices, span: self.span(i, rest) };
        let (rest, _) = self.expect(sp(rest), "`=`", char('='))?;
        let (rest, value) = self.item(sp(rest))?;
        Ok((rest, ClaimKind::Gradient { loss, wrt, value }))
    }

    /// `L/∂x = op(…)`, after the first `∂`: the whole gradient as one call.
    fn gradient_call(&self, i: &'a str) -> PResult<'a, ClaimKind> {
        let (rest, loss) = self.name(i, LOSS)?;
        let (rest, _) = self.expect(sp(rest), "`/`", char('/'))?;
        let (rest, _) = self.expect(sp(rest), PARTIAL, partial)?;
        let (rest, wrt) = self.name(rest, TENSOR_NAME)?;
        let (rest, _) = self.expect(sp(rest), GRADIENT_EQ, char('='))?;
        let start = sp(rest);
        let (rest, (op, args)) = self.call(start)?;
        Ok((rest, ClaimKind::GradientCall { loss, wrt, op, args, call: self.span(start, rest) }))
    }

    /// `run op(arg, …)` (after the keyword).
    fn run(&self, i: &'a str) -> PResult<'a, StatementKind> {
        let (rest, (op, args)) = self.call(i)?;
        Ok((rest, StatementKind::Run { op, args }))
    }

    /// `op(arg, …)`, as a run line or a gradient claim writes it; `op` may be dotted
    /// (`F.conv1d`).
    fn call(&self, i: &'a str) -> PResult<'a, (Name, Vec<RunArg>)> {
        let (rest, _) = self.expect(i, "an operation name", dotted)?;
        let op = self.word(i, rest);
        let (rest, _) = self.expect(sp(rest), "`(` and the arguments", char('('))?;
        let (rest, args) = match char::<_, Fail>(')').parse(sp(rest)) {
            Ok(_) => (sp(rest), Vec::new()),
            Err(_) => separated_list1(comma, |i| self.run_arg(i)).parse(sp(rest))?,
        };
        let (rest, _) = self.expect(sp(rest), "`,` or `)`", char(')'))?;
        Ok((rest, (op, args)))
    }

    /// A positional argument or `name = value`.
    fn run_arg(&self, i: &'a str) -> PResult<'a, RunArg> {
        let (rest, keyword) = match (run_ident, space0, char('=')).parse(i) {
            Ok((rest, (word, _, _))) => (sp(rest), Some(self.word(i, &i[word.len()..]))),
            Err(_) => (i, None),
        };
        let (rest, value) = self.run_value(rest)?;
        let span = self.span(i, rest);
        Ok((rest, RunArg { keyword, value, span }))
    }

    /// `flip(t)`, a tuple `(a, b, …)`, a tuple of pairs `((t, b), (l, r))`, a string, or
    /// an expression.
    fn run_value(&self, i: &'a str) -> PResult<'a, RunValue> {
        if let Some(quote @ ('\'' | '"')) = i.chars().next() {
            return self.string(i, quote);
        }
        if let Ok((rest, _)) = (keyword("flip"), space0, char('(')).parse(i) {
            let (rest, tensor) = self.name(sp(rest), TENSOR_NAME)?;
            let (rest, _) = self.expect(sp(rest), "`)`", char(')'))?;
            return Ok((rest, RunValue::Flip(tensor, self.span(i, rest))));
        }
        if i.starts_with('(') && sp(&i[1..]).starts_with('(') {
            if let (rest, Some(pairs)) = opt(|i| self.list(i, ('(', ')'), |i| self.pad_pair(i))).parse(i)? {
                return Ok((rest, RunValue::Pairs(pairs, self.span(i, rest))));
            }
        }
        if i.starts_with('(') {
            if let (rest, Some(items)) = opt(|i| self.list(i, ('(', ')'), |i| self.item(i))).parse(i)? {
                if items.len() >= 2 {
                    return Ok((rest, RunValue::Tuple(items, self.span(i, rest))));
                }
            }
        }
        let (rest, e) = self.item(i)?;
        Ok((rest, RunValue::Expr(e)))
    }

    /// `'text'` or `"text"`; `i` starts with the quote.
    fn string(&self, i: &'a str, quote: char) -> PResult<'a, RunValue> {
        let body = &i[1..];
        let Some(end) = body.find(quote) else {
            let missing = if quote == '"' { UNCLOSED_DOUBLE } else { UNCLOSED_SINGLE };
            return self.fail(&i[i.len()..], missing);
        };
        let rest = &body[end + 1..];
        Ok((rest, RunValue::Str(body[..end].to_string(), self.span(i, rest))))
    }

    /// A tensor name with index names: `s_i`, `s_<o, i>` or `s[o, i]`.
    fn indexed(&self, i: &'a str) -> PResult<'a, Indexed> {
        let (rest, tensor) = self.name(i, TENSOR_NAME)?;
        let (rest, indices) = self.subscripts(rest)?;
        let span = self.span(i, rest);
        Ok((rest, Indexed { tensor, indices, span }))
    }

    /// The index names after a tensor's name or `(∂L/∂x)`: `_i`, `_<o, i>` or `[o, i]`.
    fn subscripts(&self, i: &'a str) -> PResult<'a, Vec<Name>> {
        match char::<_, Fail>('_').parse(i) {
            Ok((rest, _)) => self.index_names(rest),
            Err(_) if sp(i).starts_with('[') => self.list(sp(i), ('[', ']'), |i| self.name(i, INDEX_NAME)),
            Err(_) => self.fail(sp(i), SUBSCRIPTS),
        }
    }

    /// After `_`: one index name, or `<n1, n2, …>`.
    fn index_names(&self, i: &'a str) -> PResult<'a, Vec<Name>> {
        if i.starts_with('<') {
            return self.list(i, ('<', '>'), |i| self.name(i, INDEX_NAME));
        }
        let (rest, name) = self.name(i, "an index name or `<`")?;
        Ok((rest, vec![name]))
    }

    // ---- expressions ----------------------------------------------------------------
    // (Rules return boxes: small results keep the recursion's stack frames small.)

    /// An expression by value, as lists, claims and statements hold them.
    fn item(&self, i: &'a str) -> PResult<'a, Expr> {
        self.expr(i).map(|(rest, e)| (rest, *e))
    }

    /// `expr := term (('+' | '-') term)*`. Backtracking (a chain or a parenthesised
    /// condition, indices or an Iverson bracket, a tuple or an expression) parses the
    /// expression right after a `(` or `[` twice: those are remembered by position, so
    /// that nested brackets cost linear, not exponential, time.
    fn expr(&self, i: &'a str) -> PResult<'a, Box<Expr>> {
        let at = self.src.offset(i);
        let opened = self.src[..at].trim_end_matches([' ', '\t']).ends_with(['(', '[']);
        if !opened {
            return self.fold(i, Self::term, add_op, binary);
        }
        if let Some(done) = self.exprs.borrow().get(&at) {
            return done.clone();
        }
        let result = self.fold(i, Self::term, add_op, binary);
        self.exprs.borrow_mut().insert(at, result.clone());
        result
    }

    /// `term := jux (('*' | '·' | '×' | 'div' | 'mod') jux)*`
    fn term(&self, i: &'a str) -> PResult<'a, Box<Expr>> {
        self.fold(i, Self::jux, mul_op, binary)
    }

    /// `jux := quotient quotient*`: juxtaposition multiplies, tighter than `*`.
    fn jux(&self, i: &'a str) -> PResult<'a, Box<Expr>> {
        self.fold(i, Self::quotient, jux_op, binary)
    }

    /// `quotient := unary ('/' integer)*`: a value divided by constants.
    fn quotient(&self, i: &'a str) -> PResult<'a, Box<Expr>> {
        self.fold(i, Self::unary, over_op, binary)
    }

    /// `unary := '-' unary | sum | atom`
    fn unary(&self, i: &'a str) -> PResult<'a, Box<Expr>> {
        if let Ok((rest, _)) = char::<_, Fail>('-').parse(i) {
            return self.minus(i, rest);
        }
        match sum_op(i) {
            Ok((rest, ())) => self.sum(i, rest),
            Err(_) => self.atom(i),
        }
    }

    /// `'-' unary`; `rest` follows the `-`.
    fn minus(&self, i: &'a str, rest: &'a str) -> PResult<'a, Box<Expr>> {
        let _level = self.enter(i)?;
        let (rest, e) = self.unary(sp(rest))?;
        Ok((rest, self.node(ExprKind::Neg(e), i, rest)))
    }

    /// `sum := ('Σ' | 'sum') binders? term`; `rest` follows the `Σ`.
    fn sum(&self, i: &'a str, rest: &'a str) -> PResult<'a, Box<Expr>> {
        let _level = self.enter(i)?;
        let (rest, indices) = match rest.strip_prefix('_') {
            Some(rest) => self.index_names(rest)?,
            None => (rest, Vec::new()),
        };
        let (rest, body) = self.term(sp(rest))?;
        Ok((rest, self.node(ExprKind::Sum { indices, body }, i, rest)))
    }

    /// `atom := integer | element | name | '(' expr ')' | '[' cond ']'`
    fn atom(&self, i: &'a str) -> PResult<'a, Box<Expr>> {
        match i.chars().next() {
            Some(c) if c.is_ascii_digit() => self.integer(i).map(|(rest, e)| (rest, Box::new(e))),
            Some(c) if is_ident_start(c) => self.element(i),
            Some('(') => self.paren(i),
            Some('[') => self.iverson(i),
            Some('⌊') => Err(fatal(i, FLOOR)),
            _ => self.fail(i, EXPR),
        }
    }

    /// `'(' expr ')'`: the expression, spanning the parentheses too.
    fn paren(&self, i: &'a str) -> PResult<'a, Box<Expr>> {
        let (rest, (mut e, span)) = self.enclosed(i, ('(', ')', "`)`"), Self::expr)?;
        e.span = span;
        Ok((rest, e))
    }

    /// `'[' cond ']'`: an Iverson bracket.
    fn iverson(&self, i: &'a str) -> PResult<'a, Box<Expr>> {
        let (rest, (c, span)) = self.enclosed(i, ('[', ']', "`]`"), Self::cond)?;
        let iverson = Expr { kind: ExprKind::Iverson(c), span };
        Ok((rest, Box::new(iverson)))
    }

    /// A name, or an element `x_l`, `x_2`, `x_<e, …>`, or `x[e, …]` with the `[` right
    /// after the name (else the bracket is an Iverson bracket, multiplied).
    fn element(&self, i: &'a str) -> PResult<'a, Box<Expr>> {
        let (rest, tensor) = self.name(i, EXPR)?;
        let (rest, indices) = match rest.strip_prefix('_') {
            Some(rest) => self.subscript(i, rest).map(|(rest, ix)| (rest, Some(ix)))?,
            None if rest.starts_with('[') => opt(|i| self.list(i, ('[', ']'), |i| self.item(i))).parse(rest)?,
            None => (rest, None),
        };
        let Some(indices) = indices else {
            return Ok((rest, Box::new(var(tensor))));
        };
        let kind = ExprKind::Element { tensor, indices };
        Ok((rest, Box::new(Expr { kind, span: self.span(i, rest) })))
    }

    /// What follows `_` in the element starting at `element`: a name, an integer, or
    /// `<e, …>`. Arithmetic glued to a name or integer (`w_i-l`) fails for good: `_` takes
    /// one name or number, and the error says to write `w_<i-l>`.
    fn subscript(&self, element: &'a str, i: &'a str) -> PResult<'a, Vec<Expr>> {
        let (rest, index) = match i.chars().next() {
            Some('<') => return self.list(i, ('<', '>'), |i| self.item(i)),
            Some(c) if c.is_ascii_digit() => self.integer(i)?,
            _ => self.name(i, "an index (a name, an integer or `<…>`)").map(|(r, n)| (r, var(n)))?,
        };
        if glued_len(rest) > 0 {
            return Err(fatal(element, GLUED));
        }
        Ok((rest, vec![index]))
    }

    // ---- conditions -----------------------------------------------------------------

    /// `cond := conj (('∨' | 'or') conj)*`
    fn cond(&self, i: &'a str) -> PResult<'a, Box<Cond>> {
        self.fold(i, Self::conj, or_op, |(), a, b, span| Cond { kind: CondKind::Or(a, b), span })
    }

    /// `conj := neg (('∧' | 'and') neg)*`
    fn conj(&self, i: &'a str) -> PResult<'a, Box<Cond>> {
        self.fold(i, Self::neg, and_op, |(), a, b, span| Cond { kind: CondKind::And(a, b), span })
    }

    /// `neg := ('¬' | 'not') neg | catom`
    fn neg(&self, i: &'a str) -> PResult<'a, Box<Cond>> {
        let Ok((rest, ())) = not_op(i) else {
            return self.catom(i);
        };
        let _level = self.enter(i)?;
        let (rest, c) = self.neg(sp(rest))?;
        Ok((rest, Box::new(Cond { kind: CondKind::Not(c), span: self.span(i, rest) })))
    }

    /// `catom := chain | '(' cond ')'`, trying the chain first.
    fn catom(&self, i: &'a str) -> PResult<'a, Box<Cond>> {
        match self.chain(i) {
            Err(Err::Error(_)) if i.starts_with('(') => {
                let (rest, (mut c, span)) = self.enclosed(i, ('(', ')', "`)`"), Self::cond)?;
                c.span = span;
                Ok((rest, c))
            }
            result => result,
        }
    }

    /// `chain := expr op expr (op expr)*`
    fn chain(&self, i: &'a str) -> PResult<'a, Box<Cond>> {
        let (mut rest, first) = self.item(i)?;
        let (mut operands, mut ops) = (vec![first], Vec::new());
        while let Ok((after, op)) = cmp_op(sp(rest)) {
            let (after, e) = self.item(sp(after))?;
            ops.push(op);
            operands.push(e);
            rest = after;
        }
        if ops.is_empty() {
            return self.fail(sp(rest), COMPARISON);
        }
        let kind = CondKind::Chain { operands, ops };
        Ok((rest, Box::new(Cond { kind, span: self.span(i, rest) })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- printing the tree back, fully parenthesised ------------------------------------

    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(n) => n.to_string(),
            ExprKind::Var(name) => name.text.clone(),
            ExprKind::Element { tensor, indices } => {
                let indices: Vec<_> = indices.iter().map(show).collect();
                format!("{}_<{}>", tensor.text, indices.join(", "))
            }
            ExprKind::Neg(e) => format!("(-{})", show(e)),
            ExprKind::Binary(op, a, b) => {
                let op = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    BinOp::Mul => "*",
                    BinOp::Div => "div",
                    BinOp::Mod => "mod",
                    BinOp::Over => "/",
                };
                format!("({} {op} {})", show(a), show(b))
            }
            ExprKind::Sum { indices, body } => {
                let indices: Vec<_> = indices.iter().map(|n| n.text.as_str()).collect();
                format!("(Σ_<{}> {})", indices.join(", "), show(body))
            }
            ExprKind::Iverson(c) => format!("[{}]", show_cond(c)),
        }
    }

    fn show_cond(c: &Cond) -> String {
        match &c.kind {
            CondKind::Chain { operands, ops } => {
                let mut out = format!("({}", show(&operands[0]));
                for (op, e) in ops.iter().zip(&operands[1..]) {
                    let op = match op {
                        CmpOp::Lt => "<",
                        CmpOp::Le => "≤",
                        CmpOp::Eq => "=",
                        CmpOp::Ne => "≠",
                        CmpOp::Ge => "≥",
                        CmpOp::Gt => ">",
                    };
                    out += &format!(" {op} {}", show(e));
                }
                out + ")"
            }
            CondKind::And(a, b) => format!("({} ∧ {})", show_cond(a), show_cond(b)),
            CondKind::Or(a, b) => format!("({} ∨ {})", show_cond(a), show_cond(b)),
            CondKind::Not(c) => format!("¬{}", show_cond(c)),
        }
    }

    fn show_indexed(ix: &Indexed) -> String {
        let indices: Vec<_> = ix.indices.iter().map(|n| n.text.as_str()).collect();
        format!("{}_<{}>", ix.tensor.text, indices.join(", "))
    }

    fn show_list(es: &[Expr]) -> String {
        es.iter().map(show).collect::<Vec<_>>().join(", ")
    }

    fn show_statement(s: &Statement) -> String {
        match &s.kind {
            StatementKind::Tensor { role, name, shape } => {
                format!("{role:?} {}[{}]", name.text, show_list(shape))
            }
            StatementKind::Pad { tensor, pairs } => {
                let shown: Vec<String> = pairs.iter().map(|(a, b)| format!("({}, {})", show(a), show(b))).collect();
                format!("pad {} {}", tensor.text, shown.join(", "))
            }
            StatementKind::Let(bindings) => {
                let b: Vec<_> = bindings.iter().map(|(n, v, _)| format!("{}={v}", n.text)).collect();
                format!("let {}", b.join(" "))
            }
            StatementKind::Definition { output, body } => {
                format!("{} = {}", show_indexed(output), show(body))
            }
            StatementKind::Claim(ClaimKind::Length { tensor, axis, value }) => {
                let axis = axis.as_ref().map(|a| format!(", {}", show(a))).unwrap_or_default();
                format!("claim len({}{axis}) = {}", tensor.text, show(value))
            }
            StatementKind::Claim(ClaimKind::Derivative { output, wrt, value }) => {
                let (o, w) = (show_indexed(output), show_indexed(wrt));
                format!("claim ∂{o}/∂{w} = {}", show(value))
            }
            StatementKind::Run { op, args } => format!("run {}", show_call(op, args)),
            StatementKind::Upstream(name) => format!("upstream {}", name.text),
            StatementKind::Claim(ClaimKind::Gradient { loss, wrt, value }) => {
                let indices: Vec<_> = wrt.indices.iter().map(|n| n.text.as_str()).collect();
                format!("claim (∂{}/∂{})_<{}> = {}", loss.text, wrt.tensor.text, indices.join(", "), show(value))
            }
            StatementKind::Claim(ClaimKind::GradientCall { loss, wrt, op, args, .. }) => {
                format!("claim ∂{}/∂{} = {}", loss.text, wrt.text, show_call(op, args))
            }
        }
    }

    fn show_call(op: &Name, args: &[RunArg]) -> String {
        let args: Vec<_> = args.iter().map(show_arg).collect();
        format!("{}({})", op.text, args.join(", "))
    }

    fn show_arg(arg: &RunArg) -> String {
        let kw = arg.keyword.as_ref().map(|k| format!("{}=", k.text)).unwrap_or_default();
        let value = match &arg.value {
            RunValue::Expr(e) => show(e),
            RunValue::Tuple(es, _) => format!("({})", show_list(es)),
            RunValue::Pairs(ps, _) => {
                let shown: Vec<String> = ps.iter().map(|(a, b)| format!("({}, {})", show(a), show(b))).collect();
                format!("({})", shown.join(", "))
            }
            RunValue::Flip(t, _) => format!("flip({})", t.text),
            RunValue::Str(text, _) => format!("'{text}'"),
        };
        kw + &value
    }

    /// One statement, printed back.
    fn stmt(src: &str) -> String {
        let spec = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e} at {:?}", e.span));
        assert_eq!(spec.statements.len(), 1, "{src:?}");
        show_statement(&spec.statements[0])
    }

    /// The body of `s_i = src`, printed back.
    fn body(src: &str) -> String {
        stmt(&format!("s_i = {src}"))["s_<i> = ".len()..].to_string()
    }

    /// The expectation and the spanned text of the error in `src`.
    fn error(src: &str) -> (String, &str) {
        let e = parse(src).expect_err(src);
        (e.expected, &src[e.span.start..e.span.end])
    }

    fn at(src: &str, span: Span) -> &str {
        &src[span.start..span.end]
    }

    // ---- statements -----------------------------------------------------------------

    #[test]
    fn tensor_declarations() {
        assert_eq!(stmt("input x[n]"), "Input x[n]");
        assert_eq!(stmt("input x[c, n]"), "Input x[c, n]");
        assert_eq!(stmt("weight w[k]"), "Weight w[k]");
        assert_eq!(stmt("weight w[o, c, k]"), "Weight w[o, c, k]");
        assert_eq!(stmt("output s[L]"), "Output s[L]");
        assert_eq!(stmt("input\tx [n]"), "Input x[n]");
        assert_eq!(
            stmt("output s[(n-1)*2 - 2 + (k-1) + 1 + 1]"),
            "Output s[((((((n - 1) * 2) - 2) + (k - 1)) + 1) + 1)]"
        );
    }

    #[test]
    fn pad_and_let() {
        assert_eq!(stmt("pad x (a, b)"), "pad x (a, b)");
        assert_eq!(stmt("pad x(k - 1, 0)"), "pad x ((k - 1), 0)");
        assert_eq!(stmt("let n = 10, k = 3"), "let n=10 k=3");
        assert_eq!(stmt("let n = -4"), "let n=-4");
        let src = "let  n = 10 ,k=3  # sizes";
        let StatementKind::Let(b) = &parse(src).unwrap().statements[0].kind else { panic!() };
        assert_eq!((at(src, b[0].2), at(src, b[1].2)), ("n = 10", "k=3"));
        assert_eq!((at(src, b[0].0.span), b[1].1), ("n", 3));
    }

    #[test]
    fn claims() {
        assert_eq!(stmt("claim len(s) = e"), "claim len(s) = e");
        assert_eq!(stmt("claim len(s, 1) = e"), "claim len(s, 1) = e");
        assert_eq!(stmt("claim len( s , 1 ) = n - k + 1"), "claim len(s, 1) = ((n - k) + 1)");
        assert_eq!(stmt("claim ∂s_i/∂x_j = e"), "claim ∂s_<i>/∂x_<j> = e");
        assert_eq!(stmt("claim ∂s_<o,i>/∂w_<o2,c,m> = e"), "claim ∂s_<o, i>/∂w_<o2, c, m> = e");
        assert_eq!(stmt("claim d s_i / d x_j = e"), "claim ∂s_<i>/∂x_<j> = e");
        assert_eq!(stmt("claim ∂ s_i / ∂ x_j = e"), "claim ∂s_<i>/∂x_<j> = e");
        assert_eq!(stmt("claim d s[i]/d x[j] = 1"), "claim ∂s_<i>/∂x_<j> = 1");
    }

    /// `d` glued to a name is the derivative's `d`; after `∂`, or `d` and a blank, the
    /// whole word is the name, so tensors named `d…` keep working.
    #[test]
    fn glued_ascii_partials() {
        assert_eq!(stmt("claim ds_i/dx_j = e"), "claim ∂s_<i>/∂x_<j> = e");
        assert_eq!(stmt("claim d s_i/d x_j = e"), "claim ∂s_<i>/∂x_<j> = e");
        assert_eq!(stmt("claim ds_i / d x_j = e"), "claim ∂s_<i>/∂x_<j> = e");
        assert_eq!(stmt("claim ds_<o,i>/dw_<o2,c,m> = e"), "claim ∂s_<o, i>/∂w_<o2, c, m> = e");
        assert_eq!(stmt("claim ds[i]/dx[j] = e"), "claim ∂s_<i>/∂x_<j> = e");
        assert_eq!(stmt("claim ∂dx_i/∂d_j = e"), "claim ∂dx_<i>/∂d_<j> = e");
        assert_eq!(stmt("claim d dx_i / d d_j = e"), "claim ∂dx_<i>/∂d_<j> = e");
        assert_eq!(stmt("claim ddx_i/dd_j = e"), "claim ∂dx_<i>/∂d_<j> = e");
        assert_eq!(stmt("claim len(d) = e"), "claim len(d) = e");
        assert_eq!(stmt("d_i = dx_i"), "d_<i> = dx_<i>");
    }

    #[test]
    fn upstream_names_the_upstream_gradient() {
        assert_eq!(stmt("upstream dy"), "upstream dy");
        assert_eq!(stmt("upstream\tg2   # the name of ∂L/∂s"), "upstream g2");
        assert_eq!(stmt("upstream_i = 1"), "upstream_<i> = 1");
        let src = "  upstream  dy  ";
        let StatementKind::Upstream(name) = &parse(src).unwrap().statements[0].kind else { panic!() };
        assert_eq!(at(src, name.span), "dy");
    }

    #[test]
    fn gradient_claims_in_gather_form() {
        let want = "claim (∂L/∂x)_<j> = (g_<(j + 1)> * w_<1>)";
        for src in [
            "claim (∂L/∂x)_j = g_<j+1> w_1",
            "claim (dL/dx)_j = g_<j+1> w_1",
            "claim (d L / d x)_j = g[j+1] * w[1]",
            "claim ( ∂ L/∂ x )[j] = g_<j+1> w_1",
        ] {
            assert_eq!(stmt(src), want, "{src}");
        }
        assert_eq!(stmt("claim (∂L/∂w)_<o,c,m> = g_<o, m>"), "claim (∂L/∂w)_<o, c, m> = g_<o, m>");
        assert_eq!(stmt("claim (dL/ddx)_j = 1"), "claim (∂L/∂dx)_<j> = 1");
        let src = "claim (∂L/∂x)_<c, j> = 0";
        let StatementKind::Claim(ClaimKind::Gradient { loss, wrt, .. }) = &parse(src).unwrap().statements[0].kind
        else {
            panic!()
        };
        assert_eq!((at(src, loss.span), at(src, wrt.span), at(src, wrt.tensor.span)), ("L", "(∂L/∂x)_<c, j>", "x"));
    }

    #[test]
    fn gradient_claims_as_calls() {
        assert_eq!(
            stmt("claim ∂L/∂x = conv_transpose1d(g, w, stride = 2, padding = 1, output_padding = 1)"),
            "claim ∂L/∂x = conv_transpose1d(g, w, stride=2, padding=1, output_padding=1)"
        );
        let want = "claim ∂L/∂w = conv1d(x, g, stride=1, dilation=2)";
        for src in [
            "claim ∂L/∂w = conv1d(x, g, stride = 1, dilation = 2)",
            "claim dL/dw = conv1d(x, g, stride = 1, dilation = 2)",
            "claim d L / d w = conv1d(x,g,stride=1,dilation=2)",
            "claim ∂ L / ∂ w = conv1d(x, g, stride = 1, dilation = 2)  # a comment",
        ] {
            assert_eq!(stmt(src), want, "{src}");
        }
        assert_eq!(
            stmt("claim ∂L/∂x = F.conv_transpose1d(g, flip(w), padding = (k - 1, 0))"),
            "claim ∂L/∂x = F.conv_transpose1d(g, flip(w), padding=((k - 1), 0))"
        );
        let src = "claim dL/dx = torch.nn.functional.conv1d(g, w, padding='same')  # same";
        let StatementKind::Claim(ClaimKind::GradientCall { loss, wrt, op, call, .. }) =
            &parse(src).unwrap().statements[0].kind
        else {
            panic!()
        };
        let call_text = "torch.nn.functional.conv1d(g, w, padding='same')";
        assert_eq!((at(src, loss.span), at(src, wrt.span), at(src, *call)), ("L", "x", call_text));
        assert_eq!(op.text, "torch.nn.functional.conv1d");
    }

    #[test]
    fn gradient_claim_errors() {
        assert_eq!(error("claim (∂L/∂x) = 1"), (SUBSCRIPTS.into(), "="));
        assert_eq!(error("claim (∂L/∂x)_j"), ("`=`".into(), ""));
        assert_eq!(error("claim (∂L/x)_j = 1"), (PARTIAL.into(), "x"));
        assert_eq!(error("claim (∂L/∂x_j = 1"), ("`)`".into(), "_"));
        assert_eq!(error("claim (∂/∂x)_j = 1"), (LOSS.into(), "/"));
        assert_eq!(error("claim (L/∂x)_j = 1"), (PARTIAL.into(), "L"));
        assert_eq!(error("claim ∂L/∂x_j = 1"), (GRADIENT_EQ.into(), "_"));
        assert_eq!(error("claim ∂L/∂x = "), ("an operation name".into(), ""));
        assert_eq!(error("claim ∂L/∂x = conv1d(g, w"), ("`,` or `)`".into(), ""));
        assert_eq!(error("claim ∂L/∂x = conv1d g"), ("`(` and the arguments".into(), "g"));
        assert_eq!(error("upstream"), (TENSOR_NAME.into(), ""));
        assert_eq!(error("upstream dy dz"), (END.into(), "dz"));
        assert_eq!(error("upstream 2"), (TENSOR_NAME.into(), "2"));
    }

    #[test]
    fn runs() {
        assert_eq!(
            stmt("run conv1d(x, flip(w), padding = (k - 1, 0))"),
            "run conv1d(x, flip(w), padding=((k - 1), 0))"
        );
        assert_eq!(
            stmt("run conv_transpose1d(x, w, stride = 2, padding = 1, output_padding = 1)"),
            "run conv_transpose1d(x, w, stride=2, padding=1, output_padding=1)"
        );
        assert_eq!(stmt("run f()"), "run f()");
        assert_eq!(stmt("run F.conv1d(x, w, padding='same')"), "run F.conv1d(x, w, padding='same')");
        assert_eq!(
            stmt("run torch.nn.functional.conv1d(x, w, padding = \"valid\")"),
            "run torch.nn.functional.conv1d(x, w, padding='valid')"
        );
        assert_eq!(stmt("run f((k) + 1, flip (w))"), "run f((k + 1), flip(w))");
        let src = "run f(x, pad_ = (1, 2))";
        let StatementKind::Run { args, .. } = &parse(src).unwrap().statements[0].kind else { panic!() };
        assert_eq!(at(src, args[1].span), "pad_ = (1, 2)");
        let RunValue::Tuple(_, span) = &args[1].value else { panic!() };
        assert_eq!(at(src, *span), "(1, 2)");
    }

    #[test]
    fn definitions() {
        assert_eq!(stmt("s_i = x_i"), "s_<i> = x_<i>");
        assert_eq!(stmt("s_<o,i> = 1"), "s_<o, i> = 1");
        assert_eq!(stmt("s[o, i] = 1"), "s_<o, i> = 1");
        assert_eq!(stmt("input_i = 1"), "input_<i> = 1");
        assert_eq!(
            stmt("s_o = Σ x_i w_m [o = 2i + m - 1]"),
            "s_<o> = (Σ_<> ((x_<i> * w_<m>) * [(o = (((2 * i) + m) - 1))]))"
        );
        assert_eq!(
            stmt("s_<o,i> = Σ_<c,m> x_<c, i+m> w_<o,c,m>"),
            "s_<o, i> = (Σ_<c, m> (x_<c, (i + m)> * w_<o, c, m>))"
        );
    }

    // ---- expressions ------------------------------------------------------------------

    #[test]
    fn precedence_and_juxtaposition() {
        assert_eq!(body("a + b - c"), "((a + b) - c)");
        assert_eq!(body("a div 2b"), "(a div (2 * b))");
        assert_eq!(body("2i"), "(2 * i)");
        assert_eq!(body("a mod b div c"), "((a mod b) div c)");
        assert_eq!(body("a · b × c * d"), "(((a * b) * c) * d)");
        assert_eq!(body("a b * c d"), "((a * b) * (c * d))");
        assert_eq!(body("-a b"), "((-a) * b)");
        assert_eq!(body("a - -b"), "(a - (-b))");
        assert_eq!(body("2(n - 1)"), "(2 * (n - 1))");
        assert_eq!(body("summary + dividend"), "(summary + dividend)");
    }

    #[test]
    fn elements() {
        assert_eq!(body("x_l2"), "x_<l2>");
        assert_eq!(body("x_12"), "x_<12>");
        assert_eq!(body("x_<i+k-l-1>"), "x_<(((i + k) - l) - 1)>");
        assert_eq!(body("x[i+1, j]"), "x_<(i + 1), j>");
        assert_eq!(body("x[0 ≤ i]"), "(x * [(0 ≤ i)])");
        assert_eq!(body("x [0 ≤ i]"), "(x * [(0 ≤ i)])");
        assert_eq!(body("x_l w_l"), "(x_<l> * w_<l>)");
        assert_eq!(body("xΣ x"), "(x * (Σ_<> x))");
    }

    #[test]
    fn sums() {
        assert_eq!(body("Σ x_l w_l + b"), "((Σ_<> (x_<l> * w_<l>)) + b)");
        assert_eq!(body("sum x[l] * w[i+k-l-1]"), "(Σ_<> (x_<l> * w_<(((i + k) - l) - 1)>))");
        assert_eq!(body("Σ_l x_l"), "(Σ_<l> x_<l>)");
        assert_eq!(body("sum_<c, m> x_c"), "(Σ_<c, m> x_<c>)");
        assert_eq!(body("Σx"), "(Σ_<> x)");
        assert_eq!(body("Σ x_i w_m [o = 2i + m - 1]"), "(Σ_<> ((x_<i> * w_<m>) * [(o = (((2 * i) + m) - 1))]))");
    }

    #[test]
    fn conditions() {
        assert_eq!(body("[(j - i) mod 2 = 0]"), "[(((j - i) mod 2) = 0)]");
        assert_eq!(body("[¬(i = j) ∨ i ≠ 0]"), "[(¬(i = j) ∨ (i ≠ 0))]");
        assert_eq!(body("[(a ≤ b) ∨ c = 0]"), "[((a ≤ b) ∨ (c = 0))]");
        assert_eq!(body("[0 ≤ i+k-j-1 ≤ k-1]"), "[(0 ≤ (((i + k) - j) - 1) ≤ (k - 1))]");
        assert_eq!(body("[a <= b]"), "[(a ≤ b)]");
        assert_eq!(body("[a<b]"), "[(a < b)]");
        assert_eq!(body("[a >= b > c != d = e]"), "[(a ≥ b > c ≠ d = e)]");
        assert_eq!(body("[a = b or not a = c and b < c]"), "[((a = b) ∨ (¬(a = c) ∧ (b < c)))]");
        assert_eq!(body("[a = b ∧ b = c ∧ c = d]"), "[(((a = b) ∧ (b = c)) ∧ (c = d))]");
        assert_eq!(body("[((a = b))]"), "[(a = b)]");
        assert_eq!(body("[[a < b] = 1]"), "[([(a < b)] = 1)]");
        assert_eq!(body("[x_<i> < 3]"), "[(x_<i> < 3)]");
    }

    #[test]
    fn spans() {
        let src = "\n  s_i = (a + b) c  # note\n";
        let st = &parse(src).unwrap().statements[0];
        assert_eq!(at(src, st.span), "s_i = (a + b) c");
        let StatementKind::Definition { output, body } = &st.kind else { panic!() };
        assert_eq!((at(src, output.span), at(src, body.span)), ("s_i", "(a + b) c"));
        let ExprKind::Binary(_, a, _) = &body.kind else { panic!() };
        assert_eq!(at(src, a.span), "(a + b)");
    }

    // ---- whole files ------------------------------------------------------------------

    const STANDARD: &str = "\
# specs/standard.conv: the valid 1-D convolution
input  x[n]                      # x_l exists for 0 <= l < n, and is 0 elsewhere
weight w[k]                      # the kernel; 'valid' outputs use every weight
let    n = 10, k = 3             # concrete sizes for tables and runs
s_i = Σ x_l w_<i+k-l-1>          # the index formula

claim len(s) = n - k + 1
claim ∂s_i/∂x_j = w_<i+k-j-1> [0 ≤ i+k-j-1 ≤ k-1]
run   conv1d(x, flip(w))
";

    const STANDARD_ASCII: &str = "\
input  x[n]
weight w[k]
let    n = 10, k = 3
s[i] = sum x[l] * w[i+k-l-1]
claim len(s) = n - k + 1
claim d s_i / d x_j = w[i+k-j-1] [0 <= i+k-j-1 and i+k-j-1 <= k-1]
run   conv1d(x, flip(w))
";

    const FULL: &str = "\
input  x[n]
weight w[k]
pad    x (k - 1, 0)
let    n = 10, k = 3
s_i = Σ x_l w_<i-l>
claim len(s) = n
claim ∂s_i/∂x_j = w_<i-j> [0 ≤ i-j ≤ k-1]
run   conv1d(x, flip(w), padding = (k - 1, 0))
";

    fn lines(src: &str) -> Vec<String> {
        parse(src).unwrap().statements.iter().map(show_statement).collect()
    }

    #[test]
    fn standard_file() {
        let want = [
            "Input x[n]",
            "Weight w[k]",
            "let n=10 k=3",
            "s_<i> = (Σ_<> (x_<l> * w_<(((i + k) - l) - 1)>))",
            "claim len(s) = ((n - k) + 1)",
            "claim ∂s_<i>/∂x_<j> = (w_<(((i + k) - j) - 1)> * [(0 ≤ (((i + k) - j) - 1) ≤ (k - 1))])",
            "run conv1d(x, flip(w))",
        ];
        assert_eq!(lines(STANDARD), want);
        let spec = parse(STANDARD).unwrap();
        assert_eq!(at(STANDARD, spec.statements[0].span), "input  x[n]");
    }

    #[test]
    fn ascii_twin() {
        let ascii = lines(STANDARD_ASCII);
        let standard = lines(STANDARD);
        assert_eq!(ascii[..5], standard[..5]);
        assert_eq!(
            ascii[5],
            "claim ∂s_<i>/∂x_<j> = (w_<(((i + k) - j) - 1)> * \
             [((0 ≤ (((i + k) - j) - 1)) ∧ ((((i + k) - j) - 1) ≤ (k - 1)))])"
        );
    }

    #[test]
    fn full_file() {
        let want = [
            "Input x[n]",
            "Weight w[k]",
            "pad x ((k - 1), 0)",
            "let n=10 k=3",
            "s_<i> = (Σ_<> (x_<l> * w_<(i - l)>))",
            "claim len(s) = n",
            "claim ∂s_<i>/∂x_<j> = (w_<(i - j)> * [(0 ≤ (i - j) ≤ (k - 1))])",
            "run conv1d(x, flip(w), padding=((k - 1), 0))",
        ];
        assert_eq!(lines(FULL), want);
        assert_eq!(lines(&FULL.replace('\n', "\r\n")), want);
        assert_eq!(parse("\n  # only a comment\n\t\n").unwrap().statements, []);
    }

    // ---- errors -----------------------------------------------------------------------

    #[test]
    fn error_expectations() {
        assert_eq!(error("s_i = x_l [0 ≤ i"), ("`]`".into(), ""));
        assert_eq!(error("s_i = x_l [0 ≤ i  # open"), ("`]`".into(), ""));
        assert_eq!(error("s_i = x_l +"), (EXPR.into(), ""));
        assert_eq!(error("s_i = x_l + )"), (EXPR.into(), ")"));
        assert_eq!(error("input x["), (EXPR.into(), ""));
        assert_eq!(error("input x[n"), ("`,` or `]`".into(), ""));
        assert_eq!(error("input x"), ("`[` and the tensor's shape".into(), ""));
        assert_eq!(error("foo bar"), (STATEMENT.into(), "foo"));
        assert_eq!(error("= 3"), (STATEMENT.into(), "="));
        assert_eq!(error("let n = "), ("an integer".into(), ""));
        assert_eq!(error("let n = 10 k = 3"), ("`,` or end of line".into(), "k"));
        assert_eq!(error("let n = 10, "), ("a size name".into(), ""));
        assert_eq!(error("s_i x"), ("`=` after the defined tensor".into(), "x"));
        assert_eq!(error("s_i = x_l )"), ("end of line, not `)`, which closes no bracket".into(), ")"));
        let no_operator = "end of line, not `^`, which is no operator (they are `+`, `-`, `*`, `/` before an integer, `div` and `mod`)";
        assert_eq!(error("s_i = x_l ^ w_l"), (no_operator.into(), "^"));
        assert_eq!(error("s_i = (a ≤ b)"), ("`)`".into(), "≤"));
        assert_eq!(error("s_i = x_"), ("an index (a name, an integer or `<…>`)".into(), ""));
        assert_eq!(error("s_i = x_<i, j"), ("`,` or `>`".into(), ""));
        assert_eq!(error("s_i = x[i, "), (EXPR.into(), ""));
        assert_eq!(error("s_i = [i]"), (COMPARISON.into(), "]"));
        assert_eq!(error("s_i = x [i]"), (COMPARISON.into(), "]"));
        assert_eq!(error("s_i = a div"), (EXPR.into(), ""));
        assert_eq!(error("s_i = div"), (EXPR.into(), "div"));
        assert_eq!(error("s_ = 1"), ("an index name or `<`".into(), "="));
        assert_eq!(error("claim foo"), (CLAIM.into(), "foo"));
        assert_eq!(error("claim d_i/dx_j = 1"), (CLAIM.into(), "d"));
        assert_eq!(error("run conv1d(x, w, padding='same)"), ("a closing `'`".into(), ""));
        assert_eq!(error("run conv1d(x, w, padding=\"same)"), ("a closing `\"`".into(), ""));
        assert_eq!(error("run F.(x)"), ("`(` and the arguments".into(), "."));
        assert_eq!(error("claim ∂s_i/x_j = 1"), (PARTIAL.into(), "x"));
        assert_eq!(error("claim len(s = 1"), ("`,` or `)`".into(), "="));
        assert_eq!(error("run conv1d(x, "), (EXPR.into(), ""));
        assert_eq!(error("run conv1d(x"), ("`,` or `)`".into(), ""));
        assert_eq!(error("run conv1d(x, flip(w"), ("`)`".into(), ""));
        assert_eq!(error("pad x (1)"), ("`,`".into(), ")"));
        assert_eq!(error("s_i = x\u{7}"), ("end of line".into(), "\u{7}"));
    }

    /// The error's expectation, spanned text and hint.
    fn hinted(src: &str) -> (String, &str, String) {
        let e = parse(src).expect_err(src);
        (e.expected, &src[e.span.start..e.span.end], e.hint.unwrap_or_default())
    }

    #[test]
    fn division_habits_get_div() {
        // `/` before anything but an integer literal: a parse error. (Before an integer it
        // divides a value, and the resolver refuses it in an index, with the same hint.)
        for (src, token) in [
            ("s_i = x_<i/k>", "/"),
            ("s_i = Σ x_l w_<(i - l) / s>", "/"),
            ("s_i = x_l [l = i/(2)]", "/"),
            ("claim ∂s_i/∂x_j = w_<i/k>", "/"),
            ("run conv1d(x, w, padding = k/m)", "/"),
        ] {
            assert_eq!(hinted(src), (SLASH.into(), token, DIV_HINT.into()), "{src}");
        }
        assert_eq!(body("x_<i/2>"), "x_<(i / 2)>");
        assert_eq!(body("1/3 Σ_m x_<i+m>"), "((1 / 3) * (Σ_<m> x_<(i + m)>))");
        assert_eq!(hinted("s_i = x_<⌊i / 2⌋>"), (FLOOR.into(), "⌊", DIV_HINT.into()));
        assert_eq!(hinted("s_i = x_<i div 2⌋>").2, DIV_HINT);
        assert_eq!(hinted("claim ∂s_i//∂x_j = 1").2, "");
    }

    #[test]
    fn arithmetic_glued_to_a_subscript_gets_brackets() {
        let glued = |src| {
            let (expected, at, hint) = hinted(src);
            assert_eq!(expected, GLUED);
            (at.to_string(), hint)
        };
        let hint = |t: &str| format!("write `{t}`: `_` takes one name or number");
        assert_eq!(glued("s_i = Σ x_l w_i-l"), ("w_i-l".into(), hint("w_<i-l>")));
        assert_eq!(glued("s_i = Σ x_l w_i+k-l-1 + 1"), ("w_i+k-l-1".into(), hint("w_<i+k-l-1>")));
        assert_eq!(glued("s_i = x_2-i"), ("x_2-i".into(), hint("x_<2-i>")));
        assert_eq!(glued("s_i = x_l-1+x_0"), ("x_l-1".into(), hint("x_<l-1>")));
        // With blanks, or before another element, it is arithmetic on the element.
        assert_eq!(body("x_i - l"), "(x_<i> - l)");
        assert_eq!(body("x_i-x_j"), "(x_<i> - x_<j>)");
        assert_eq!(body("x_i-w[j]"), "(x_<i> - w_<j>)");
        assert_eq!(body("x_<i>-1"), "(x_<i> - 1)");
    }

    #[test]
    fn every_line_is_parsed() {
        let src = "input x[n\nweight w[k]\n\nlet n = 10 k = 3  # two mistakes, one reported\ns_i = x_l\n";
        let (spec, errors) = parse_recovering(src);
        let lines: Vec<_> = spec.statements.iter().map(show_statement).collect();
        assert_eq!(lines, ["Weight w[k]", "s_<i> = x_<l>"]);
        let skipped: Vec<_> = spec.skipped.iter().map(|s| at(src, *s)).collect();
        assert_eq!(skipped, ["input x[n", "let n = 10 k = 3"]);
        let found: Vec<_> = errors.iter().map(|e| (e.expected.as_str(), at(src, e.span))).collect();
        assert_eq!(found, [("`,` or `]`", ""), ("`,` or end of line", "k")]);
        assert_eq!(parse(src).unwrap_err(), errors[0]);
    }

    #[test]
    fn error_offsets_are_in_the_whole_source() {
        let src = "input x[n]\n\nweight w[k]  \n  s_i = x_l w_l ]\n";
        let e = parse(src).unwrap_err();
        assert_eq!(e.expected, "end of line, not `]`, which closes no bracket");
        assert_eq!(e.span, Span::new(src.rfind(']').unwrap(), src.rfind(']').unwrap() + 1));
        assert_eq!(e.to_string(), "expected end of line, not `]`, which closes no bracket");
        let e = parse("input x[n]\ns_i = x_l +   # c").unwrap_err();
        assert_eq!(e.span, Span::new(22, 22));
    }

    #[test]
    fn integers_must_fit_in_64_bits() {
        let big = "s_i = x_99999999999999999999 + 1";
        assert_eq!(error(big), ("an integer that fits in 64 bits".into(), "99999999999999999999"));
        assert_eq!(error("let n = 9223372036854775808").1, "9223372036854775808");
        assert_eq!(stmt("let n = -9223372036854775808"), "let n=-9223372036854775808");
        assert_eq!(body("9223372036854775807"), "9223372036854775807");
    }

    // ---- limits -----------------------------------------------------------------------

    fn nest(depth: usize, open: &str, inner: &str, close: &str) -> String {
        format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
    }

    #[test]
    fn nesting_is_limited() {
        assert_eq!(TOO_DEEP, format!("at most {MAX_DEPTH} levels of nesting"));
        let too_deep = (TOO_DEEP.to_string(), "(");
        assert_eq!(error(&format!("s_i = {}", "(".repeat(20_000))), too_deep);
        assert_eq!(error(&format!("s_i = [{}", "(".repeat(20_000))), too_deep);
        assert_eq!(error(&format!("run f({}", "(".repeat(20_000))), too_deep);
        let cases = [
            // (open, innermost, close, levels per repetition)
            ("(", "x", ")", 1),
            ("[", "0 ≤ 1", " = 1]", 1),
            ("x_<", "0", ">", 1),
            ("x[", "0", "]", 1),
            ("-", "x", "", 1),
            ("Σ ", "x", "", 1),
            ("[¬", "0 = 1", " = 1]", 2),
        ];
        for (open, inner, close, per) in cases {
            let at = |n| format!("s_i = {}", nest(n, open, inner, close));
            let most = MAX_DEPTH / per;
            assert!(parse(&at(most)).is_ok(), "{open}");
            assert_eq!(parse(&at(most + 1)).unwrap_err().expected, TOO_DEEP, "{open}");
        }
        // Each `(` is tried as an expression, then as a condition: two levels with the `[`.
        let alternating = |n| format!("s_i = [{}]", nest(n, "([", "0 ≤ 1", "] = 1)"));
        assert!(parse(&alternating(127)).is_ok());
        assert_eq!(parse(&alternating(128)).unwrap_err().expected, TOO_DEEP);
    }

    #[test]
    fn deep_nesting_needs_no_big_caller_stack() {
        let caller = std::thread::Builder::new().stack_size(512 << 10);
        let worker = caller.spawn(|| {
            let deepest = format!("s_i = {}", nest(MAX_DEPTH, "[", "0 ≤ 1", " = 1]"));
            assert!(parse(&deepest).is_ok());
            let shallow = format!("s_i = {}", nest(SHALLOW, "x_<", "0", ">"));
            assert!(parse(&shallow).is_ok());
            parse(&format!("s_i = {}", "(".repeat(20_000))).unwrap_err().expected
        });
        assert_eq!(worker.unwrap().join().unwrap(), TOO_DEEP);
    }

    #[test]
    fn operator_chains_count_as_nesting() {
        let chain = |n| format!("s_i = x{}", " + x".repeat(n));
        assert!(parse(&chain(MAX_DEPTH - 1)).is_ok());
        let e = parse(&chain(MAX_DEPTH)).unwrap_err();
        assert_eq!((e.expected.as_str(), e.span.start), (TOO_DEEP, 7 + 4 * 255 + 1));
        assert!(parse(&format!("s_i = x{}", " x".repeat(MAX_DEPTH))).is_err());
        assert!(parse(&format!("s_i = [x = 1{}]", " ∧ x = 1".repeat(MAX_DEPTH))).is_err());
        assert!(parse(&format!("s_i = [x{}]", " < x".repeat(10_000))).is_ok());
    }

    /// Million-character lines parse in linear time (a quadratic parser would not finish
    /// here); speed itself is measured in the benchmark, not in tests.
    #[test]
    fn long_lines_are_handled() {
        let sum = parse(&format!("s_i = x{}", " + x".repeat(250_000)));
        assert_eq!(sum.unwrap_err().expected, TOO_DEEP);
        assert!(parse(&format!("s_i = {}", "x".repeat(1_000_000))).is_ok());
        assert!(parse(&format!("s_i = {}", "-".repeat(1_000_000))).is_err());
        assert!(parse(&format!("s_i = {}", "¬[".repeat(500_000))).is_err());
        assert!(parse(&format!("s_i = [x{}]", " < x".repeat(25_000))).is_ok());
        assert!(parse(&format!("input x[n{}]", ", n".repeat(25_000))).is_ok());
        assert!(parse(&format!("let n = 1{}", ", n = 1".repeat(25_000))).is_ok());
        assert!(parse(&format!("s_i = {}1", "(x) + ".repeat(200))).is_ok());
    }

    /// Backtracking stays linear: exponential backtracking would not finish here.
    #[test]
    fn backtracking_stays_linear() {
        // Every level is parsed both as an expression and as a condition.
        let alternating = format!("s_i = [{}", "([".repeat(120));
        assert!(parse(&alternating).is_err());
        let mut brackets = "a < b".to_string();
        for _ in 0..60 {
            brackets = format!("x[{brackets}] < c");
        }
        assert!(parse(&format!("s_i = [{brackets}]")).is_ok());
        let mut parens = "a = b".to_string();
        for _ in 0..60 {
            parens = format!("([{parens}] + (a)");
        }
        assert!(parse(&format!("s_i = [{parens}]")).is_err());
    }

    #[test]
    fn never_panics() {
        let pieces: Vec<_> = "s_i| = |x|_|<|>|[|]|(|)|,|Σ|sum|∂|d |/|≤|<=|¬|not| and |∨|2|-|+|·|div|\
            mod|#|\n|\t| |input |let |claim |run |pad |len|flip|=|é|\0|\u{301}|\r|_<|😀|!|≠|≥|\
            99999999999999999999|w_<i-l>|Σ_l|[0 ≤ i]|(a, b)|claim len(s) = |run f(|upstream |(∂L/∂x)_j|\
            claim dL/dx = |claim (dL/"
            .split('|')
            .collect();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        for _ in 0..20_000 {
            let src: String = (0..random(24)).map(|_| pieces[random(pieces.len())]).collect();
            if let Err(e) = parse(&src) {
                assert!(e.span.start <= e.span.end && e.span.end <= src.len(), "{src:?}");
                assert!(src.is_char_boundary(e.span.start) && src.is_char_boundary(e.span.end));
            }
        }
        for file in [STANDARD, STANDARD_ASCII, FULL] {
            for end in (0..=file.len()).filter(|&end| file.is_char_boundary(end)) {
                let _ = parse(&file[..end]);
            }
        }
    }
}
