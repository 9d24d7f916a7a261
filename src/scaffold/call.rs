//! The grammar of a PyTorch call (nom): `nn.Conv2d(3, 8, 3, stride=2)` to a [`Call`] with
//! byte spans, or a [`CallError`] saying what was expected where.

use crate::syntax::Span;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, multispace0, satisfy};
use nom::combinator::{opt, recognize};
use nom::multi::separated_list0;
use nom::sequence::{delimited, pair, preceded};
use nom::{IResult, Offset, Parser as _};

/// A mistake in the call: where, what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    /// The offending text in the call.
    pub span: Span,
    /// What is wrong, in PyTorch's words where PyTorch has them.
    pub message: String,
    /// What to write instead, when known.
    pub hint: Option<String>,
}

impl CallError {
    /// An error at `span`.
    pub fn at(span: Span, message: impl Into<String>) -> CallError {
        CallError { span, message: message.into(), hint: None }
    }

    /// The same error with a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> CallError {
        self.hint = Some(hint.into());
        self
    }
}

/// An argument's value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer, `-1` included.
    Int(i64),
    /// A number with a point or an exponent, as written.
    Float(String),
    /// A quoted string, without its quotes.
    Str(String),
    /// A parenthesised or bracketed list.
    Tuple(Vec<Spanned>),
    /// A dotted name: `True`, `None`, `torch.float64`, `x`.
    Name(String),
}

/// A value and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// The value.
    pub value: Value,
    /// Its text in the call.
    pub span: Span,
}

/// One argument: a keyword (with its span) or none, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// `stride` in `stride=2`, and where it stands.
    pub keyword: Option<(String, Span)>,
    /// The value.
    pub value: Spanned,
}

/// A parsed call: the callee's dotted name and the arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `nn.Conv2d`, `F.conv1d`, `torch.nn.functional.conv2d`, …
    pub callee: String,
    /// Where the callee stands.
    pub callee_span: Span,
    /// The arguments in order.
    pub args: Vec<Arg>,
}

type In<'a> = &'a str;

/// Parses a whole call; the text after its closing parenthesis must be blank.
pub fn parse(src: &str) -> Result<Call, CallError> {
    let span = |rest: &str, len: usize| {
        let at = src.offset(rest);
        Span::new(at, (at + len).min(src.len()))
    };
    let expected = |rest: &str, what: &str| {
        let token = rest.split(|c: char| c.is_whitespace() || ",()[]=".contains(c)).next().unwrap_or("");
        let found =
            if rest.trim().is_empty() { "the end of the call".to_string() } else { format!("`{}`", first(rest)) };
        CallError::at(span(rest, token.len().max(1)), format!("expected {what}, found {found}"))
    };
    let (rest, _) = ws(src).map_err(|_| expected(src, "a call"))?;
    let (rest, callee) = dotted(rest).map_err(|_| expected(rest, "a call such as `nn.Conv2d(3, 8, 3)`"))?;
    let callee_span = span(callee, callee.len());
    let (mut rest, _) = (ws, char('(')).parse(rest).map_err(|_: nom::Err<()>| expected(rest, "`(`"))?;
    let mut args = Vec::new();
    loop {
        let (r, _) = ws(rest).map_err(|_| expected(rest, "an argument"))?;
        if let Ok((r, _)) = char::<_, ()>(')')(r) {
            rest = r;
            break;
        }
        let (r, arg) = argument(src, r).map_err(|_| expected(r, "an argument (`name=value` or a value)"))?;
        args.push(arg);
        let (r, _) = ws(r).map_err(|_| expected(r, "`,` or `)`"))?;
        match (char::<_, ()>(',')(r), char::<_, ()>(')')(r)) {
            (Ok((r, _)), _) => rest = r,
            (_, Ok((r, _))) => {
                rest = r;
                break;
            }
            _ => return Err(expected(r, "`,` or `)`")),
        }
    }
    match rest.trim().is_empty() {
        true => Ok(Call { callee: callee.to_string(), callee_span, args }),
        false => Err(expected(rest.trim_start(), "the end of the call")),
    }
}

/// The first token of `rest`, for a message.
fn first(rest: &str) -> String {
    let rest = rest.trim_start();
    let token: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.').collect();
    match token.is_empty() {
        true => rest.chars().next().map(String::from).unwrap_or_default(),
        false => token,
    }
}

fn ws(i: In) -> IResult<In, In, ()> {
    multispace0(i)
}

fn identifier(i: In) -> IResult<In, In, ()> {
    recognize(pair(satisfy(|c| c.is_alphabetic() || c == '_'), take_while(|c: char| c.is_alphanumeric() || c == '_')))
        .parse(i)
}

/// `a.b.c`
fn dotted(i: In) -> IResult<In, In, ()> {
    recognize(pair(identifier, nom::multi::many0(preceded(char('.'), identifier)))).parse(i)
}

/// `name = value` or `value`.
fn argument<'a>(src: &'a str, i: In<'a>) -> IResult<In<'a>, Arg, ()> {
    let keyword = |i: In<'a>| -> IResult<In<'a>, In<'a>, ()> {
        let (r, name) = identifier(i)?;
        let (r, _) = (ws, char('='), nom::combinator::not(char('='))).parse(r)?;
        Ok((r, name))
    };
    let (i, name) = opt(keyword).parse(i)?;
    let (i, _) = ws(i)?;
    let (i, value) = value(src, i)?;
    let keyword = name.map(|n| (n.to_string(), Span::new(src.offset(n), src.offset(n) + n.len())));
    Ok((i, Arg { keyword, value }))
}

/// An integer, a float, a string, a tuple or list, or a dotted name.
fn value<'a>(src: &'a str, i: In<'a>) -> IResult<In<'a>, Spanned, ()> {
    let start = src.offset(i);
    let spanned = |r: In<'a>, value: Value| Ok((r, Spanned { value, span: Span::new(start, src.offset(r)) }));
    if let Ok((r, items)) = tuple(src, i) {
        return spanned(r, Value::Tuple(items));
    }
    if let Ok((r, s)) = string(i) {
        return spanned(r, Value::Str(s.to_string()));
    }
    if let Ok((r, text)) = number(i) {
        return match text.parse::<i64>() {
            Ok(n) => spanned(r, Value::Int(n)),
            Err(_) => spanned(r, Value::Float(text.to_string())),
        };
    }
    let (r, name) = dotted(i)?;
    spanned(r, Value::Name(name.to_string()))
}

/// `(a, b)`, `[a, b]`, `(a,)` or `()`.
fn tuple<'a>(src: &'a str, i: In<'a>) -> IResult<In<'a>, Vec<Spanned>, ()> {
    let item = move |i: In<'a>| delimited(ws, move |i| value(src, i), ws).parse(i);
    let items = move |i: In<'a>| {
        let (r, items) = separated_list0(char(','), item).parse(i)?;
        let (r, _) = (ws, opt(char(',')), ws).parse(r)?;
        Ok((r, items))
    };
    alt((delimited(char('('), items, char(')')), delimited(char('['), items, char(']')))).parse(i)
}

/// `'same'` or `"same"`, the quotes dropped.
fn string(i: In) -> IResult<In, In, ()> {
    alt((
        delimited(char('\''), take_while(|c| c != '\''), char('\'')),
        delimited(char('"'), take_while(|c| c != '"'), char('"')),
    ))
    .parse(i)
}

/// `-12`, `2.5`, `1e3`, `0x10` as written (a non-decimal one does not parse as an integer).
fn number(i: In) -> IResult<In, In, ()> {
    recognize((
        opt(alt((char('-'), char('+')))),
        digit1,
        take_while(|c: char| c.is_alphanumeric() || c == '.' || c == '_'),
        opt(pair(alt((tag("e-"), tag("E-"))), take_while1(|c: char| c.is_ascii_digit()))),
    ))
    .parse(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_call_parses_with_spans() {
        let c = parse("nn.Conv2d(3, 8, (3, 2), stride=2, padding='same', bias=False)").unwrap();
        assert_eq!((c.callee.as_str(), c.callee_span), ("nn.Conv2d", Span::new(0, 9)));
        assert_eq!(c.args.len(), 6);
        assert_eq!(c.args[0].value.value, Value::Int(3));
        let Value::Tuple(items) = &c.args[2].value.value else { panic!("a tuple") };
        assert_eq!(items.iter().map(|s| s.value.clone()).collect::<Vec<_>>(), vec![Value::Int(3), Value::Int(2)]);
        assert_eq!(c.args[2].value.span, Span::new(16, 22));
        assert_eq!(c.args[3].keyword, Some(("stride".into(), Span::new(24, 30))));
        assert_eq!(c.args[4].value.value, Value::Str("same".into()));
        assert_eq!(c.args[5].value.value, Value::Name("False".into()));
    }

    #[test]
    fn functional_calls_and_numbers_parse() {
        let c = parse(" torch.nn.functional.conv1d(x, w, None, 2, padding = [1], dilation=-1) ").unwrap();
        assert_eq!(c.callee, "torch.nn.functional.conv1d");
        assert_eq!(c.args[2].value.value, Value::Name("None".into()));
        assert_eq!(c.args[5].value.value, Value::Int(-1));
        assert_eq!(parse("F.conv1d(x, w, stride=2.5)").unwrap().args[2].value.value, Value::Float("2.5".into()));
        assert_eq!(parse("F.conv1d(x, w,)").unwrap().args.len(), 2);
    }

    #[test]
    fn mistakes_say_what_was_expected_where() {
        let e = parse("nn.Conv2d(3, 8, 3").unwrap_err();
        assert_eq!((e.message.as_str(), e.span.start), ("expected `,` or `)`, found the end of the call", 17));
        let e = parse("nn.Conv2d(3, 8 3)").unwrap_err();
        assert_eq!((e.message.as_str(), e.span.start), ("expected `,` or `)`, found `3`", 15));
        let e = parse("nn.Conv2d(3, 8, 3) x").unwrap_err();
        assert_eq!(e.span.start, 19);
        assert!(parse("(3)").is_err());
        assert!(parse("nn.Conv2d(3, , 3)").is_err());
    }
}
