//! The rules, in one table: each rule's name, what it does and how it rewrites are
//! written together. The legend of every proof is read from it, the e-graph's rule sets
//! are built from it in its order, and the rule soundness test goes through it. Steps that
//! symconv takes itself, outside the e-graph, are in the table too, marked as such.

use super::extract::best;
use super::lang::{bracket, DiffFree, EGraph, Leaf, Node, Rule, Shared};
use super::tree::Tree;
use crate::algebra::cond::{eq, Bound};
use crate::algebra::formula::fresh_name;
use crate::algebra::index::{div, modulo, var, IndexAtom};
use crate::algebra::{Cond, Element, Index, IndexExt};
use egg::{Applier, ENodeOrVar, Id, Language, Pattern, PatternAst, Rewrite, Subst, Symbol, Var};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// When a rule is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleSet {
    /// Differentiation and simplification: every derivation and every claim.
    Derivation,
    /// Only when a claim is compared with a closed form.
    Claims,
    /// Only when a length claim is compared with the derived length.
    Lengths,
}

/// How a rule rewrites.
#[derive(Clone, Copy)]
pub enum Applied {
    /// symconv takes the step itself, outside the e-graph.
    BySymconv,
    /// The e-graph rewrites a pattern (left) into a pattern (right).
    Pattern(RuleSet, &'static str, &'static str),
    /// The e-graph rewrites a pattern into a term computed from the match.
    Computed(RuleSet, &'static str, ComputedRhs),
    /// The e-graph rewrites a pattern into a term computed from the match and the
    /// derivation's facts about its free names.
    FromFacts(RuleSet, &'static str, FactsRhs),
}

/// A right-hand side computed from a match.
pub type ComputedRhs = fn(&EGraph, Id, &Subst) -> Option<Rewritten>;

/// A right-hand side computed from a match and the facts.
pub type FactsRhs = fn(&EGraph, Id, &Subst, &Implied) -> Option<Rewritten>;

/// One rule: its name in proofs, one line on what it does, and how it is applied.
#[derive(Clone, Copy)]
pub struct RuleDef {
    /// The name proof steps give.
    pub name: &'static str,
    /// What it does, for the legend.
    pub description: &'static str,
    /// Who applies it, when, and how.
    pub applied: Applied,
}

impl RuleDef {
    /// The set the e-graph runs it in; `None` for symconv's own steps.
    pub fn set(&self) -> Option<RuleSet> {
        match self.applied {
            Applied::BySymconv => None,
            Applied::Pattern(set, ..) | Applied::Computed(set, ..) | Applied::FromFacts(set, ..) => Some(set),
        }
    }

    /// The e-graph's rule, for a rule that does not read facts.
    fn rewrite(&self) -> Option<Rule> {
        let searcher = |lhs: &str| lhs.parse::<Pattern<Node>>().expect("rule patterns are written correctly");
        let rule = match self.applied {
            Applied::Pattern(_, lhs, rhs) => Rewrite::new(self.name, searcher(lhs), searcher(rhs)),
            Applied::Computed(_, lhs, rhs) => Rewrite::new(self.name, searcher(lhs), Computed(Box::new(rhs))),
            Applied::BySymconv | Applied::FromFacts(..) => return None,
        };
        Some(rule.expect("rules bind no new variables"))
    }

    /// The e-graph's rule for a rule that reads the facts.
    fn rewrite_with(&self, implied: &Arc<Implied>) -> Option<Rule> {
        let Applied::FromFacts(_, lhs, rhs) = self.applied else { return None };
        let searcher: Pattern<Node> = lhs.parse().expect("rule patterns are written correctly");
        let implied = implied.clone();
        let applier = Computed(Box::new(move |eg, id, s| rhs(eg, id, s, &implied)));
        Some(Rewrite::new(self.name, searcher, applier).expect("rules bind no new variables"))
    }
}

const fn own(name: &'static str, description: &'static str) -> RuleDef {
    RuleDef { name, description, applied: Applied::BySymconv }
}

const fn pattern(
    set: RuleSet,
    name: &'static str,
    lhs: &'static str,
    rhs: &'static str,
    description: &'static str,
) -> RuleDef {
    RuleDef { name, description, applied: Applied::Pattern(set, lhs, rhs) }
}

const fn computed(
    set: RuleSet,
    name: &'static str,
    lhs: &'static str,
    rhs: ComputedRhs,
    description: &'static str,
) -> RuleDef {
    RuleDef { name, description, applied: Applied::Computed(set, lhs, rhs) }
}

const fn from_facts(
    set: RuleSet,
    name: &'static str,
    lhs: &'static str,
    rhs: FactsRhs,
    description: &'static str,
) -> RuleDef {
    RuleDef { name, description, applied: Applied::FromFacts(set, lhs, rhs) }
}

use RuleSet::{Claims, Derivation, Lengths};

/// Every rule, in the order the e-graph runs them.
#[rustfmt::skip]
pub const RULES: &[RuleDef] = &[
    own("definition",          "the formula as written"),
    own("constant-factor",     "a constant factor comes out of ∂ and Σ: ∂(c f)/∂t = c ∂f/∂t; the steps after it rewrite f"),
    own("range-guard",         "a tensor reads 0 outside its shape: x_e = x_e [0 ≤ e ≤ n-1]"),
    own("equal-indices",       "indices that a bracket makes equal are written alike: w_<d> [c = d] = w_<c> [c = d]"),
    own("implied-in-product",  "a bracket implied by the domain and the other brackets of its product is 1; one they contradict makes the product 0"),
    own("like-terms",          "terms equal but for an integer factor add up: a - a = 0, a + a = 2 a"),
    own("jacobian",            "∂s_i/∂t_j as derived above, before its range guard (g is 0 outside the domain); Σ_i g_i (a + b) = Σ_i g_i a + Σ_i g_i b"),
    own("reindex",             "a sum over i is one over the weight's index m = e(i): Σ_i f = Σ_m Σ_i [m = e(i)] f"),
    own("index-normalisation", "both sides have the same canonical index form"),
    own("claim",               "the claim as written"),
    own("domain-length",       "the derived length: the number of output indices in the domain"),
    computed(Derivation, "d-sum",         "(d (sum ?v ?b) ?t)", d_sum, "∂ passes under Σ"),
    pattern(Derivation,  "d-add",         "(d (+ ?a ?b) ?t)", "(+ (d ?a ?t) (d ?b ?t))", "∂ of a sum is the sum of the ∂s"),
    computed(Derivation, "d-constant-factor", "(d (* ?a ?b) ?t)", d_constant_factor, "a factor that reads no tensor (a bracket, an index value) comes out of ∂: ∂(a [c])/∂t = (∂a/∂t) [c]"),
    pattern(Derivation,  "d-product",     "(d (* ?a ?b) ?t)", "(+ (* (d ?a ?t) ?b) (* ?a (d ?b ?t)))", "product rule: ∂(ab) = ∂a b + a ∂b"),
    computed(Derivation, "d-element",      "(d ?e ?t)", d_element, "the derivative of a tensor element is a δ: ∂x_e/∂x_j = [e = j]"),
    computed(Derivation, "d-other-tensor", "(d ?e ?t)", d_other_tensor, "elements of another tensor do not depend on this one"),
    computed(Derivation, "d-constant",     "(d ?e ?t)", d_constant, "index values and brackets do not depend on any tensor"),
    pattern(Derivation,  "zero-times",       "(* 0 ?a)", "0", "0 · a = 0"),
    pattern(Derivation,  "times-zero",       "(* ?a 0)", "0", "a · 0 = 0"),
    pattern(Derivation,  "one-times",        "(* 1 ?a)", "?a", "1 · a = a"),
    pattern(Derivation,  "times-one",        "(* ?a 1)", "?a", "a · 1 = a"),
    pattern(Derivation,  "zero-plus",        "(+ 0 ?a)", "?a", "0 + a = a"),
    pattern(Derivation,  "plus-zero",        "(+ ?a 0)", "?a", "a + 0 = a"),
    pattern(Derivation,  "sum-zero",         "(sum ?v 0)", "0", "Σ 0 = 0"),
    pattern(Derivation,  "sum-add",          "(sum ?v (+ ?a ?b))", "(+ (sum ?v ?a) (sum ?v ?b))", "Σ distributes over +"),
    pattern(Derivation,  "distribute-left",  "(* ?a (+ ?b ?c))", "(+ (* ?a ?b) (* ?a ?c))", "a (b + c) = a b + a c"),
    pattern(Derivation,  "distribute-right", "(* (+ ?a ?b) ?c)", "(+ (* ?a ?c) (* ?b ?c))", "(a + b) c = a c + b c"),
    pattern(Derivation,  "add-same",         "(+ ?a ?a)", "(* 2 ?a)", "a + a = 2 a"),
    computed(Derivation, "fold-values",        "(* ?a ?b)", fold_values, "the product of two index values is one value: 2 · 3 = 6"),
    computed(Derivation, "fold-values-nested", "(* ?a (* ?b ?c))", fold_values_nested, "a · (b · c) = (a b) · c for index values a, b"),
    computed(Derivation, "sigma-delta",        "(sum ?v ?b)", sigma_delta, "Σ-δ elimination: Σ_l [a·l + b = 0] f(l) = [a | b] f(-b/a)"),
    pattern(Claims,      "mul-comm",  "(* ?a ?b)", "(* ?b ?a)", "a b = b a"),
    pattern(Claims,      "mul-assoc", "(* ?a (* ?b ?c))", "(* (* ?a ?b) ?c)", "a (b c) = (a b) c"),
    pattern(Claims,      "add-comm",  "(+ ?a ?b)", "(+ ?b ?a)", "a + b = b + a"),
    pattern(Claims,      "add-assoc", "(+ ?a (+ ?b ?c))", "(+ (+ ?a ?b) ?c)", "a + (b + c) = (a + b) + c"),
    computed(Claims,     "bracket-idempotent", "(* ?a ?a)", bracket_idempotent, "[c] [c] = [c]"),
    from_facts(Derivation, "drop-implied", "(* ?a ?b)", drop_implied, "a bracket implied by the domain (output in range, index in shape) is 1"),
    from_facts(Claims,     "contradicted", "(* ?a ?b)", contradicted, "a product holding a bracket the domain contradicts is 0"),
    computed(Lengths,    "ceil-div", "?a", ceil_div_rule, "a ceiling is a floor: -(a div b) = (b - 1 - a) div b, for b ≥ 1"),
    computed(Lengths,    "div-div",  "?a", div_div_rule, "(a div b) div c = a div (b c), for b, c ≥ 1"),
    computed(Lengths,    "mod-div",  "?a", mod_div_rule, "a mod b = a - b (a div b)"),
];

/// What a rule does, from [`RULES`]; empty for an unknown name.
pub fn describe(rule: &str) -> &'static str {
    RULES.iter().find(|r| r.name == rule).map_or("", |r| r.description)
}

/// The e-graph's rule for each entry of [`RULES`] that reads no facts, made once per
/// process; `None` for the others.
fn fixed() -> &'static [Option<Rule>] {
    static FIXED: OnceLock<Vec<Option<Rule>>> = OnceLock::new();
    FIXED.get_or_init(|| RULES.iter().map(RuleDef::rewrite).collect())
}

/// The e-graph's rules of some sets, in the order of [`RULES`]: those that read no facts
/// (shared by every derivation) and those that read this derivation's facts.
pub struct Rules {
    sets: &'static [RuleSet],
    /// The rules that read the facts, each with its place in [`RULES`].
    with_facts: Vec<(usize, Rule)>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rules({:?}, {} reading facts)", self.sets, self.with_facts.len())
    }
}

impl Rules {
    /// The rules that differentiate and simplify; `facts` bound the free indices.
    pub fn derivation(facts: Vec<Bound>) -> Rules {
        Rules::of(&[Derivation], facts)
    }

    /// The derivation rules plus associativity, commutativity, idempotence and
    /// `contradicted`, for claims.
    pub fn claims(facts: Vec<Bound>) -> Rules {
        Rules::of(&[Derivation, Claims], facts)
    }

    /// The rules that compare lengths.
    pub fn lengths() -> Rules {
        Rules::of(&[Lengths], Vec::new())
    }

    /// The rules of `sets`, those that read facts reading `facts`.
    pub(crate) fn of(sets: &'static [RuleSet], facts: Vec<Bound>) -> Rules {
        let implied = Arc::new(Implied::new(facts));
        let with_facts = RULES
            .iter()
            .enumerate()
            .filter(|(_, r)| r.set().is_some_and(|s| sets.contains(&s)))
            .filter_map(|(k, r)| Some((k, r.rewrite_with(&implied)?)))
            .collect();
        Rules { sets, with_facts }
    }

    /// The same rules without those only claims use.
    pub fn without_claim_rules(&self) -> RulesView<'_> {
        RulesView { rules: self, sets: &[Derivation] }
    }

    /// All the rules.
    pub fn all(&self) -> RulesView<'_> {
        RulesView { rules: self, sets: self.sets }
    }
}

/// A selection of [`Rules`] for one run.
#[derive(Clone, Copy)]
pub struct RulesView<'r> {
    rules: &'r Rules,
    sets: &'static [RuleSet],
}

impl<'r> RulesView<'r> {
    /// The rules selected, in the order of [`RULES`].
    pub(crate) fn iter(self) -> impl Iterator<Item = &'r Rule> {
        let fixed = fixed();
        let mut with_facts = self.rules.with_facts.iter().peekable();
        RULES.iter().enumerate().filter_map(move |(k, def)| {
            let facts_rule = with_facts.next_if(|(at, _)| *at == k).map(|(_, r)| r);
            let rule = facts_rule.or(fixed[k].as_ref())?;
            def.set().filter(|s| self.sets.contains(s)).map(|_| rule)
        })
    }
}

/// The facts of a derivation, the names they mention, and what they were found to
/// imply so far.
pub struct Implied {
    facts: Vec<Bound>,
    mentioned: BTreeSet<String>,
    /// Per condition, what the facts were found to say of it.
    known: Mutex<HashMap<Cond, Decided>>,
}

/// Whether the facts imply a condition, and whether they imply its negation, each worked
/// out when first asked.
#[derive(Default)]
struct Decided {
    implied: Option<bool>,
    refuted: Option<bool>,
}

impl Implied {
    fn new(facts: Vec<Bound>) -> Implied {
        let mentioned = facts
            .iter()
            .flat_map(|b| {
                let ends = b.lo.iter().chain(&b.hi).flat_map(|p| p.names());
                std::iter::once(b.var.clone()).chain(ends)
            })
            .collect();
        Implied { facts, mentioned, known: Mutex::new(HashMap::new()) }
    }

    /// Whether the facts imply `c` (`wanted`) or its negation (not `wanted`) wherever `c`
    /// occurs in `eg`. The facts are about free names; where a Σ of the e-graph binds
    /// a name of `c` that they mention, that name may be the bound one in some
    /// occurrence, and nothing is concluded. (The e-graph shares a term between every
    /// place it occurs, so this is checked over the whole e-graph, not where the rule
    /// happens to match.)
    fn decides(&self, c: &Cond, eg: &EGraph, wanted: bool) -> bool {
        let decided = {
            let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let decided = known.entry(c.clone()).or_default();
            match wanted {
                true => *decided.implied.get_or_insert_with(|| c.implied_by(&self.facts)),
                false => *decided.refuted.get_or_insert_with(|| c.refuted_by(&self.facts)),
            }
        };
        decided && !c.names().iter().any(|n| self.mentioned.contains(n) && bound_somewhere(eg, n))
    }
}

/// `a · b` of two index values is one value.
fn fold_values(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    let (a, b) = (value(eg, s[vars().a])?, value(eg, s[vars().b])?);
    Some(ground(&Tree::Leaf(Leaf::Value(a.mul(b)))).into())
}

/// `a · (b · c) = (a b) · c` for index values `a`, `b`.
fn fold_values_nested(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    // Where ?c is a value itself (0 above all, whose class absorbs every product),
    // folding would only feed a cycle: fold-values does the work there.
    if value(eg, s[vars().c]).is_some() {
        return None;
    }
    let (a, b) = (value(eg, s[vars().a])?, value(eg, s[vars().b])?);
    Some(scaled(a.mul(b), vars().c).into())
}

/// `[c] [c] = [c]`.
fn bracket_idempotent(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    matches!(leaf(eg, s[vars().a]), Some(Leaf::Bracket(_))).then(|| var_pattern(vars().a).into())
}

/// A product holding a bracket the facts refute is 0.
fn contradicted(eg: &EGraph, _: Id, s: &Subst, implied: &Implied) -> Option<Rewritten> {
    let refuted = |x: Var| matches!(leaf(eg, s[x]), Some(Leaf::Bracket(c)) if implied.decides(c, eg, false));
    (refuted(vars().a) || refuted(vars().b)).then(|| ground(&Tree::value(0)).into())
}

/// The rules that compare lengths are identities of floor division by a positive
/// divisor: a positive constant or a positive sum of products of sizes (sizes are never
/// negative, and a division by 0 has no value, so such a divisor is at least 1 wherever
/// the length is defined). They hold for sizes, not for indices, which may be negative.
fn ceil_div_rule(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    rewritten_value(eg, s, ceil_div)
}

/// `(a div b) div c = a div (b c)` on a length (see [`ceil_div_rule`]).
fn div_div_rule(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    rewritten_value(eg, s, div_div)
}

/// `a mod b = a - b (a div b)` on a length.
fn mod_div_rule(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    rewritten_value(eg, s, mod_div)
}

/// The value leaf of `?a` rewritten by `f`, at the top or inside a `div` or `mod`, when
/// it changes.
fn rewritten_value(eg: &EGraph, s: &Subst, f: fn(&Index) -> Option<Index>) -> Option<Rewritten> {
    let p = value(eg, s[vars().a])?;
    let q = anywhere(p, f).filter(|q| q != p)?;
    Some(ground(&Tree::Leaf(Leaf::Value(q))).into())
}

/// `p` rewritten by `f` where it first applies: `p` itself, else the operands of its
/// `div` and `mod` atoms, outermost first.
fn anywhere(p: &Index, f: fn(&Index) -> Option<Index>) -> Option<Index> {
    if let Some(q) = f(p).filter(|q| q != p) {
        return Some(q);
    }
    for (m, c) in p.terms() {
        for (at, atom) in m.iter().enumerate() {
            let (IndexAtom::Div(a, b) | IndexAtom::Mod(a, b)) = atom else { continue };
            let rebuilt = |a: &Index, b: &Index| match atom {
                IndexAtom::Div(..) => div(a, b),
                _ => modulo(a, b),
            };
            let new = match (anywhere(a, f), anywhere(b, f)) {
                (Some(a2), _) => rebuilt(&a2, b),
                (None, Some(b2)) => rebuilt(a, &b2),
                (None, None) => continue,
            };
            let rest: Vec<IndexAtom> = m.iter().enumerate().filter(|(k, _)| *k != at).map(|(_, x)| x.clone()).collect();
            let term = Index::monomial(c, m.clone());
            return Some(p.sub(&term).add(&new.mul(&Index::monomial(c, rest))));
        }
    }
    None
}

/// Whether `b` is a positive divisor (see [`ceil_div_rule`]).
fn positive_divisor(b: &Index) -> bool {
    !b.is_zero() && b.terms().all(|(m, c)| c > 0 && m.iter().all(|a| matches!(a, IndexAtom::Var(_))))
}

/// The first term `c·(a div b)` of `p` with `c < 0` and a positive `b`.
fn negative_division(p: &Index) -> Option<(i64, Index, Index)> {
    p.terms().find_map(|(m, c)| match m.as_slice() {
        [IndexAtom::Div(a, b)] if c < 0 && positive_divisor(b) => Some((c, (**a).clone(), (**b).clone())),
        _ => None,
    })
}

/// `-(a div b) = (b - 1 - a) div b`: a ceiling is a floor.
fn ceil_div(p: &Index) -> Option<Index> {
    let (c, a, b) = negative_division(p)?;
    let atom = div(&a, &b);
    let ceiling = div(&b.sub(&Index::constant(1)).sub(&a), &b);
    Some(p.sub(&atom.scale(c)).add(&ceiling.scale(-c)))
}

/// `(a div b) div c = a div (b·c)`.
fn div_div(p: &Index) -> Option<Index> {
    p.terms().find_map(|(m, k)| {
        let [IndexAtom::Div(inner, c)] = m.as_slice() else { return None };
        let [(im, 1)] = inner.terms().collect::<Vec<_>>()[..] else { return None };
        let [IndexAtom::Div(a, b)] = im.as_slice() else { return None };
        if !positive_divisor(b) || !positive_divisor(c) {
            return None;
        }
        let atom = Index::monomial(k, m.clone());
        Some(p.sub(&atom).add(&div(a, &b.mul(c)).scale(k)))
    })
}

/// `a mod b = a - b·(a div b)`.
fn mod_div(p: &Index) -> Option<Index> {
    p.terms().find_map(|(m, k)| {
        let [IndexAtom::Mod(a, b)] = m.as_slice() else { return None };
        if b.is_zero() {
            return None;
        }
        let atom = Index::monomial(k, m.clone());
        Some(p.sub(&atom).add(&a.sub(&b.mul(&div(a, b))).scale(k)))
    })
}

/// A computed rewrite: the term it rewrites, when more specific than the rule's pattern
/// (so that explanations show it), and the term it gives.
pub struct Rewritten {
    from: Option<PatternAst<Node>>,
    to: PatternAst<Node>,
}

impl From<PatternAst<Node>> for Rewritten {
    fn from(to: PatternAst<Node>) -> Rewritten {
        Rewritten { from: None, to }
    }
}

/// A right-hand side computed from a match.
type ComputedSide = dyn Fn(&EGraph, Id, &Subst) -> Option<Rewritten> + Send + Sync;

/// An applier whose right-hand side is computed from the match.
struct Computed(Box<ComputedSide>);

impl Applier<Node, DiffFree> for Computed {
    fn apply_one(
        &self,
        egraph: &mut EGraph,
        eclass: Id,
        subst: &Subst,
        ast: Option<&PatternAst<Node>>,
        rule: Symbol,
    ) -> Vec<Id> {
        let Some(Rewritten { from, to: rhs }) = (self.0)(egraph, eclass, subst) else { return Vec::new() };
        if lookup(egraph, &rhs, subst).is_some_and(|id| egraph.find(id) == egraph.find(eclass)) {
            // Applied before: adding it again would only grow the explanations.
            return Vec::new();
        }
        let changed = match from.as_ref().or(ast) {
            Some(ast) => egraph.union_instantiations(ast, &rhs, subst, rule).1,
            None => {
                let id = egraph.add_instantiation(&rhs, subst);
                egraph.union(eclass, id)
            }
        };
        if changed {
            vec![eclass]
        } else {
            Vec::new()
        }
    }
}

/// The e-class of a pattern's instance, when every node of it is in the e-graph already.
fn lookup(egraph: &EGraph, pattern: &PatternAst<Node>, subst: &Subst) -> Option<Id> {
    let mut ids: Vec<Id> = Vec::with_capacity(pattern.as_ref().len());
    for node in pattern.as_ref() {
        let id = match node {
            ENodeOrVar::Var(v) => *subst.get(*v)?,
            ENodeOrVar::ENode(n) => egraph.lookup(n.clone().map_children(|c| ids[usize::from(c)]))?,
        };
        ids.push(id);
    }
    ids.last().copied()
}

/// The pattern variables that computed rules read, parsed once.
struct Vars {
    a: Var,
    b: Var,
    c: Var,
    e: Var,
    t: Var,
    v: Var,
}

fn vars() -> &'static Vars {
    static VARS: OnceLock<Vars> = OnceLock::new();
    VARS.get_or_init(|| {
        let v = |name: &str| name.parse().expect("variable names start with ?");
        Vars { a: v("?a"), b: v("?b"), c: v("?c"), e: v("?e"), t: v("?t"), v: v("?v") }
    })
}

fn var_pattern(var: Var) -> PatternAst<Node> {
    let mut p = PatternAst::default();
    p.add(ENodeOrVar::Var(var));
    p
}

fn ground(t: &Tree) -> PatternAst<Node> {
    let mut p = PatternAst::default();
    for node in t.to_expr().as_ref() {
        p.add(ENodeOrVar::ENode(node.clone()));
    }
    p
}

fn leaf(eg: &EGraph, id: Id) -> Option<&Leaf> {
    eg[id].nodes.iter().find_map(|n| match n {
        Node::Leaf(l) => Some(&**l),
        _ => None,
    })
}

/// The pattern `(* c ?var)`.
fn scaled(c: Index, var: Var) -> PatternAst<Node> {
    let mut p = PatternAst::default();
    let c = p.add(ENodeOrVar::ENode(Node::Leaf(Shared::new(Leaf::Value(c)))));
    let x = p.add(ENodeOrVar::Var(var));
    p.add(ENodeOrVar::ENode(Node::Mul([c, x])));
    p
}

fn value(eg: &EGraph, id: Id) -> Option<&Index> {
    match leaf(eg, id)? {
        Leaf::Value(p) => Some(p),
        _ => None,
    }
}

fn target(eg: &EGraph, s: &Subst) -> Option<Element> {
    match leaf(eg, s[vars().t])? {
        Leaf::Element(e) => Some(e.clone()),
        _ => None,
    }
}

/// Whether some Σ of the e-graph binds the name `n` (Σ's names are its only `Name` nodes).
fn bound_somewhere(eg: &EGraph, n: &str) -> bool {
    eg.lookup(Node::Name(Symbol::from(n))).is_some()
}

/// `∂x_e/∂x_t = [e = t]` holds for a target inside its tensor's shape, which the facts
/// say of the derivative's free target index: the rule does not fire where a Σ of the
/// e-graph binds a name of the target, which may then lie anywhere.
fn d_element(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    let t = target(eg, s)?;
    let Leaf::Element(e) = leaf(eg, s[vars().e])? else { return None };
    if e.tensor != t.tensor || Leaf::Element(t.clone()).names().iter().any(|n| bound_somewhere(eg, n)) {
        return None;
    }
    let deltas = e.index.iter().zip(&t.index).map(|(a, b)| Tree::Leaf(bracket(eq(a, b)))).collect();
    Some(ground(&Tree::product(deltas)).into())
}

fn d_other_tensor(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    let t = target(eg, s)?;
    let Leaf::Element(e) = leaf(eg, s[vars().e])? else { return None };
    (e.tensor != t.tensor).then(|| ground(&Tree::value(0)).into())
}

fn d_constant(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    target(eg, s)?;
    matches!(leaf(eg, s[vars().e])?, Leaf::Value(_) | Leaf::Bracket(_)).then(|| ground(&Tree::value(0)).into())
}

/// `∂(a b)/∂t` where one factor reads no tensor: that factor times the other's ∂.
fn d_constant_factor(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    target(eg, s)?;
    let reads_no_tensor =
        |id: Id| best(eg, id).to_formula().is_some_and(|f| f.terms.iter().all(|t| t.elements.is_empty()));
    let (varying, constant) = match (reads_no_tensor(s[vars().a]), reads_no_tensor(s[vars().b])) {
        (_, true) => (vars().a, vars().b),
        (true, false) => (vars().b, vars().a),
        (false, false) => return None,
    };
    let mut p = PatternAst::default();
    let (v, t) = (p.add(ENodeOrVar::Var(varying)), p.add(ENodeOrVar::Var(vars().t)));
    let d = p.add(ENodeOrVar::ENode(Node::Diff([v, t])));
    let c = p.add(ENodeOrVar::Var(constant));
    p.add(ENodeOrVar::ENode(match constant == vars().b {
        true => Node::Mul([d, c]),
        false => Node::Mul([c, d]),
    }));
    Some(p.into())
}

/// Σ_v (… [c·v + r = 0] …) = [(-r) mod c = 0] (…)|_{v = (-r) div c}.
fn sigma_delta(eg: &EGraph, eclass: Id, s: &Subst) -> Option<Rewritten> {
    // Done already: the class holds the product that elimination gave.
    if eg[eclass].nodes.iter().any(|n| matches!(n, Node::Mul(_) | Node::Leaf(_))) {
        return None;
    }
    let name = binder(eg, s[vars().v])?;
    if !eg[s[vars().b]].data {
        return None;
    }
    let body = best(eg, s[vars().b]);
    if body.has_diff() {
        return None;
    }
    let factors = body.factors();
    let (at, value, extra) = factors.iter().enumerate().find_map(|(k, f)| {
        let Tree::Leaf(Leaf::Bracket(Cond::Eq0(p))) = f else { return None };
        let (c, r) = p.linear_in(&name)?;
        match c.as_constant() {
            Some(0) => None,
            Some(c @ (1 | -1)) => Some((k, r.scale(-c), None)),
            _ => Some((k, div(&r.neg(), &c), Some(bracket(eq(&modulo(&r.neg(), &c), &Index::zero()))))),
        }
    })?;
    let mut rest: Vec<Tree> = extra.into_iter().map(Tree::Leaf).collect();
    rest.extend(factors.iter().enumerate().filter(|(k, _)| *k != at).map(|(_, f)| f.substitute(&name, &value)));
    let from = Tree::Sum(name.clone(), Box::new(body.clone()));
    Some(Rewritten { from: Some(ground(&from)), to: ground(&Tree::product(rest)) })
}

/// `(∂ Σ_v b) / ∂t = Σ_v (∂b / ∂t)`, with `v` renamed apart first where the target
/// mentions it (else the Σ would capture the target's index).
fn d_sum(eg: &EGraph, _: Id, s: &Subst) -> Option<Rewritten> {
    let t = target(eg, s)?;
    let name = binder(eg, s[vars().v])?;
    let mut p = PatternAst::default();
    if !Leaf::Element(t.clone()).names().contains(&name) {
        let v = p.add(ENodeOrVar::Var(vars().v));
        let b = p.add(ENodeOrVar::Var(vars().b));
        let t = p.add(ENodeOrVar::Var(vars().t));
        let d = p.add(ENodeOrVar::ENode(Node::Diff([b, t])));
        p.add(ENodeOrVar::ENode(Node::Sum([v, d])));
        return Some(p.into());
    }
    let body = best(eg, s[vars().b]);
    let mut taken = body.names();
    taken.extend(Leaf::Element(t.clone()).names());
    let fresh = fresh_name(&name, &taken);
    let renamed = body.substitute(&name, &var(&fresh));
    Some(ground(&Tree::Sum(fresh, Box::new(Tree::Diff(Box::new(renamed), t)))).into())
}

/// The name of a Σ's binder class.
fn binder(eg: &EGraph, id: Id) -> Option<String> {
    eg[id].nodes.iter().find_map(|n| match n {
        Node::Name(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A bracket the facts imply is 1 in a product.
fn drop_implied(eg: &EGraph, _: Id, s: &Subst, implied: &Implied) -> Option<Rewritten> {
    let (a, b) = (vars().a, vars().b);
    for (x, y) in [(a, b), (b, a)] {
        if let Some(Leaf::Bracket(c)) = leaf(eg, s[x]) {
            if implied.decides(c, eg, true) {
                return Some(var_pattern(y).into());
            }
        }
    }
    None
}
