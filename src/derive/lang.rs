//! The e-graph's language: sums, products, Σ and ∂ over canonical leaves, and the
//! analysis that marks ∂-free e-classes.
//!
//! Index arithmetic never enters the e-graph as operators: every index expression,
//! element and bracket is a leaf in the algebra's canonical form, so hash-consing merges
//! equal ones and no associativity/commutativity rule ever touches an index.

use crate::algebra::{Cond, Element, Index, IndexExt};
use egg::{define_language, Analysis, DidMerge, Id, Language, Rewrite, Symbol};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A leaf of the e-graph: an index-valued factor, a tensor element or an Iverson bracket.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Leaf {
    /// An integer or index-valued factor.
    Value(Index),
    /// A tensor element.
    Element(Element),
    /// An Iverson bracket of an undecided condition.
    Bracket(Cond),
}

impl FromStr for Leaf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<i64>().map(|c| Leaf::Value(Index::constant(c))).map_err(|e| e.to_string())
    }
}

impl fmt::Display for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Leaf::Value(p) => write!(f, "{p}"),
            Leaf::Element(e) => write!(f, "{e}"),
            Leaf::Bracket(c) => write!(f, "[{c}]"),
        }
    }
}

/// The bracket `[c]` as a leaf: decided conditions become 0 or 1.
pub fn bracket(c: Cond) -> Leaf {
    match c.decided() {
        Some(b) => Leaf::Value(Index::constant(b.into())),
        None => Leaf::Bracket(c),
    }
}

impl Leaf {
    /// Every name the leaf uses.
    pub fn names(&self) -> BTreeSet<String> {
        match self {
            Leaf::Value(p) => p.names(),
            Leaf::Element(e) => e.index.iter().flat_map(|p| p.names()).collect(),
            Leaf::Bracket(c) => c.names(),
        }
    }

    /// The leaf with the name `v` replaced by `by` (a leaf binds no names).
    pub(crate) fn substitute(&self, v: &str, by: &Index) -> Leaf {
        match self {
            Leaf::Value(p) => Leaf::Value(p.substitute(v, by)),
            Leaf::Element(e) => Leaf::Element(e.substitute(v, by)),
            Leaf::Bracket(c) => bracket(c.substitute(v, by)),
        }
    }
}

/// A leaf as the e-graph holds it: shared, so that copying a node (which egg does often)
/// copies no index expression, and hashed once, so that looking one up does not walk it.
#[derive(Clone, Debug)]
pub struct Shared {
    hash: u64,
    leaf: Arc<Leaf>,
}

impl Shared {
    /// The leaf, shared, its hash computed once.
    pub(crate) fn new(leaf: Leaf) -> Shared {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        leaf.hash(&mut h);
        Shared { hash: h.finish(), leaf: Arc::new(leaf) }
    }
}

impl PartialEq for Shared {
    fn eq(&self, other: &Shared) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.leaf, &other.leaf) || self.leaf == other.leaf)
    }
}

impl Eq for Shared {}

impl std::hash::Hash for Shared {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for Shared {
    fn partial_cmp(&self, other: &Shared) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Shared {
    fn cmp(&self, other: &Shared) -> std::cmp::Ordering {
        self.leaf.cmp(&other.leaf)
    }
}

impl std::ops::Deref for Shared {
    type Target = Leaf;
    fn deref(&self) -> &Leaf {
        &self.leaf
    }
}

impl FromStr for Shared {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse().map(Shared::new)
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.leaf.fmt(f)
    }
}

define_language! {
    /// The e-graph's language: sums, products, Σ and ∂ over canonical leaves.
    pub enum Node {
        "+" = Add([Id; 2]),
        "*" = Mul([Id; 2]),
        "sum" = Sum([Id; 2]),
        "d" = Diff([Id; 2]),
        Leaf(Shared),
        Name(Symbol),
    }
}

/// The e-graph type used throughout.
pub type EGraph = egg::EGraph<Node, DiffFree>;

/// The rewrite type used throughout.
pub type Rule = Rewrite<Node, DiffFree>;

/// An e-class analysis: whether the class holds a term without ∂, so that Σ-δ
/// elimination only extracts bodies that are fully differentiated.
#[derive(Default)]
pub struct DiffFree;

impl Analysis<Node> for DiffFree {
    type Data = bool;

    fn make(egraph: &mut EGraph, enode: &Node, _id: Id) -> bool {
        !matches!(enode, Node::Diff(_)) && enode.children().iter().all(|c| egraph[*c].data)
    }

    fn merge(&mut self, a: &mut bool, b: bool) -> DidMerge {
        let before = *a;
        *a |= b;
        DidMerge(!before && b, before && !b)
    }
}
