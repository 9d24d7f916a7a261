//! Freivalds' check of a run too large to compare entry by entry: the closed forms'
//! `J·u` and `vᵀ·J` against the engine's for random integer vectors `u` and `v`. Where
//! `J` is wrong, each comparison misses it with probability at most `1/(2R+1)`; a
//! disagreement is pinned to one entry with unit vectors.

use super::common::{
    compare, compare_outputs, compiled_outputs, compiled_outputs_along, engine_shape, not_executed, number, setup,
    shapes_of, JacobianCheck, RunOptions, RunReport, Setup,
};
use crate::algebra::compiled::{Compiled, Shape};
use crate::algebra::formula::{Element, Term};
use crate::algebra::index::var;
use crate::algebra::{Env, Index};
use crate::check::brute::{element_at, lengths, tuple};
use crate::check::error::{eval_err, named, CheckError};
use crate::derive::{Derivation, Derivative};
use crate::engine::nd::ConvNd;
use crate::engine::{Array, Backward, Conv};
use crate::model::{Model, Run};
use std::collections::BTreeMap;

/// The random vectors' entries are uniform in `[-RANGE, RANGE]`, or in a smaller range
/// where the sums would pass 2⁵³.
pub const RANGE: i64 = 1000;

/// The largest integer up to which every f64 integer is exact.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// The name of the extra factor `u_<j>` or `v_<i>` in a closed form's terms: no tensor
/// of a spec can have it.
const VECTOR: &str = "·vector";

/// The name of the index that runs in place of the input's last index, less S times the
/// output's, in `J·u` along the outputs' last index: no spec can have it.
const SHIFT: &str = "·shift";

/// The engine's call as Freivalds' check uses it: linear in its input and in its weight.
trait Linear: Sync {
    /// The output, for an input and a weight in the engine's layout, and for calls that
    /// compose, the compositions that made it (see [`crate::engine::nd`]).
    fn forward(&self, x: &Array, w: &Array) -> Result<(Array, Option<Vec<&'static str>>), CheckError>;
    /// The output and `vᵀ·J` of both Jacobians by the engine's backward pass, or `None`
    /// where it has none for this call.
    fn backward(&self, x: &Array, w: &Array, v: &Array) -> Result<Option<Backward>, CheckError>;
    /// Why the check takes `J·u` twice rather than `J·u` and `vᵀ·J`, where it does.
    fn twice(&self) -> Option<&'static str>;
}

impl Linear for Conv {
    fn forward(&self, x: &Array, w: &Array) -> Result<(Array, Option<Vec<&'static str>>), CheckError> {
        Ok((Conv::forward(self, x, w)?, None))
    }

    fn backward(&self, x: &Array, w: &Array, v: &Array) -> Result<Option<Backward>, CheckError> {
        match self.transposed {
            true => Ok(None),
            false => Ok(Some(Conv::backward(self, x, w, v)?)),
        }
    }

    fn twice(&self) -> Option<&'static str> {
        self.transposed.then_some("candle has no backward for conv_transpose1d")
    }
}

/// The N-D calls take `J·u` twice: their Jacobians come from forward passes, since
/// candle's conv2d backward fails on some shapes. Its backward, where it runs, only pins
/// a disagreeing row to an entry.
impl Linear for ConvNd {
    fn forward(&self, x: &Array, w: &Array) -> Result<(Array, Option<Vec<&'static str>>), CheckError> {
        let (y, compositions) = ConvNd::forward(self, x, w)?;
        Ok((y, Some(compositions)))
    }

    fn backward(&self, x: &Array, w: &Array, v: &Array) -> Result<Option<Backward>, CheckError> {
        let Ok((gx, gw)) = self.autograd(x, w, v) else { return Ok(None) };
        Ok(Some(Backward { output: ConvNd::forward(self, x, w)?.0, x: gx, w: gw }))
    }

    fn twice(&self) -> Option<&'static str> {
        Some("the N-D Jacobians come from forward passes")
    }
}

/// Seeded integers, uniform in a range.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Integers uniform in `[-range, range]`, in the shape: rejection keeps them exactly
    /// uniform.
    fn vector(&mut self, shape: &[usize], range: i64) -> Array {
        let width = (2 * range + 1) as u64;
        let limit = (1u64 << 31) - (1u64 << 31) % width;
        let len = shape.iter().product();
        let data = (0..len)
            .map(|_| loop {
                let r = self.next();
                if r < limit {
                    break (r % width) as i64 - range;
                }
            } as f64)
            .collect();
        Array { shape: shape.to_vec(), data }
    }
}

/// What symconv computes for Freivalds' check: the closed forms' products, with the
/// spec's input and weight at the sizes.
struct ClosedFormSide<'a> {
    model: &'a Model,
    sizes: &'a Env,
    /// The output domain's ranges.
    rows: Vec<(i64, i64)>,
    /// The spec's input and weight, as the compiled terms address them.
    shapes: Vec<Shape>,
    data: [&'a [f64]; 2],
    /// Whether the sums run along their last free index innermost (N-D runs; see
    /// [`Compiled::sums_along`]).
    along: bool,
    /// The input's name and the stride along the last axis, for a convolution's `J·u`
    /// along the outputs' last index (see [`ClosedFormSide::sums`]).
    shift: Option<(String, i64)>,
}

impl ClosedFormSide<'_> {
    /// `J·u` at every output, and the largest sum of absolute values.
    fn times(&self, d: &Derivative, u: &Array) -> Result<(Vec<f64>, f64), CheckError> {
        let index: Vec<Index> = d.wrt_indices.iter().map(|n| var(n)).collect();
        let dims = self.dims(&d.wrt);
        let enumerated = d.wrt_indices.iter().zip(&dims).map(|(n, &len)| (n.clone(), Some((0, len - 1)))).collect();
        self.sums(d, (index, dims), enumerated, &self.model.output.indices, &self.rows, u)
    }

    /// `vᵀ·J` at every entry of the tensor, and the largest sum of absolute values.
    fn transposed_times(&self, d: &Derivative, v: &Array) -> Result<(Vec<f64>, f64), CheckError> {
        // v is indexed from 0 over the domain, which may start elsewhere.
        let out = &self.model.output.indices;
        let index: Vec<Index> =
            out.iter().zip(&self.rows).map(|(n, &(lo, _))| var(n).sub(&Index::constant(lo))).collect();
        let dims = lengths(&self.rows);
        let enumerated = out.iter().zip(&self.rows).map(|(n, &r)| (n.clone(), Some(r))).collect();
        let columns: Vec<(i64, i64)> = self.dims(&d.wrt).iter().map(|&len| (0, len - 1)).collect();
        self.sums(d, (index, dims), enumerated, &d.wrt_indices, &columns, v)
    }

    /// `Σ closed form · vector_<index>` over the `enumerated` names, at every tuple of the
    /// box `over` of the `free` names; the vector has the shape `dims`.
    fn sums(
        &self,
        d: &Derivative,
        (index, dims): (Vec<Index>, Vec<i64>),
        enumerated: Vec<(String, Option<(i64, i64)>)>,
        free: &[String],
        over: &[(i64, i64)],
        vector: &Array,
    ) -> Result<(Vec<f64>, f64), CheckError> {
        let err = eval_err(self.model, self.sizes);
        let mut shapes = self.shapes.clone();
        shapes.push(Shape { name: VECTOR.into(), dims });
        let data = [self.data[0], self.data[1], &vector.data];
        let with_vector = |t: &Term| {
            let mut t: Term = t.clone();
            t.elements.push(Element { tensor: VECTOR.into(), index: index.clone() });
            t
        };
        let (Some((last, outer)), true) = (free.split_last(), self.along) else {
            let compile = |t| Compiled::new(&with_vector(t), free, &enumerated, self.sizes, &shapes);
            let terms = d.closed_form.terms.iter().map(compile).collect::<Result<Vec<_>, _>>().map_err(&err)?;
            return Compiled::sums(&terms, over, &data).map_err(err);
        };
        let inner = over[over.len() - 1];
        // J·u of the input of a convolution of stride S along its last axis: that axis's
        // index l runs as S·j + β, β over the kernel's positions and the like, so that
        // the innermost loop along j is long (a bijection of l for each j; the vector's
        // element keeps l in its range).
        let mut enumerated = enumerated;
        let shifted = match (&self.shift, enumerated.pop()) {
            (Some((tensor, stride)), Some((l, Some((lo, hi)))))
                if *tensor == d.wrt && free == self.model.output.indices =>
            {
                let by = var(last).scale(*stride).add(&var(SHIFT));
                enumerated.push((SHIFT.to_string(), Some((lo - stride * inner.1, hi - stride * inner.0))));
                Some((l, by))
            }
            (_, Some(e)) => {
                enumerated.push(e);
                None
            }
            (_, None) => None,
        };
        let enumerated: Vec<_> = [(last.clone(), Some(inner))].into_iter().chain(enumerated).collect();
        let with_vector = |t| {
            let t = with_vector(t);
            match &shifted {
                Some((l, by)) => t.substitute(l, by),
                None => t,
            }
        };
        let compile = |t| Compiled::new(&with_vector(t), outer, &enumerated, self.sizes, &shapes);
        let terms = d.closed_form.terms.iter().map(compile).collect::<Result<Vec<_>, _>>().map_err(&err)?;
        Compiled::sums_along(&terms, &over[..over.len() - 1], inner, &data).map_err(err)
    }

    fn dims(&self, tensor: &str) -> Vec<i64> {
        self.shapes.iter().find(|s| s.name == tensor).map(|s| s.dims.clone()).unwrap_or_default()
    }
}

/// The engine's side: its output, `J·u` for each `u` (of the input, then of the weight),
/// and `vᵀ·J` (both) where it has a backward pass.
/// Where one product of the closed forms and the engine's first differ.
#[derive(Debug, Clone, Copy)]
struct Differs {
    /// Which `u` (0 or 1); 0 for `vᵀ·J`.
    round: usize,
    /// The first entry that differs, and how many do.
    at: usize,
    count: usize,
    /// Both values there.
    closed: f64,
    engine: f64,
}

/// One product of the engine, sent to the side that compares as soon as it is made: the
/// array, and for the output, the compositions that made it (N-D calls).
type EngineProduct = Result<(Array, Option<Vec<&'static str>>), CheckError>;

/// A unit vector of the given shape.
fn unit(shape: &[usize], at: usize) -> Array {
    let mut data = vec![0.0; shape.iter().product()];
    data[at] = 1.0;
    Array { shape: shape.to_vec(), data }
}

/// Runs one `run` line with Freivalds' check of both Jacobians: the outputs are compared
/// one by one (the formula compiled), the Jacobians through random products.
pub(super) fn run(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
) -> Result<RunReport, CheckError> {
    run_exact_below(model, derivation, run, sizes, options, EXACT)
}

/// [`run`], with sums trusted below `exact` only.
fn run_exact_below(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
    exact: f64,
) -> Result<RunReport, CheckError> {
    if let Some(report) = not_executed(model, run) {
        return Ok(report);
    }
    let Setup { at, conv, data, xl, wl, ranges: rows } = setup(model, derivation, run, sizes, options)?;
    let (x, w) = (&data[&run.input], &data[&run.weight]);
    let shapes = shapes_of(run, x, w);
    let slices = [x.data.as_slice(), w.data.as_slice()];
    let report = |holds, findings: Vec<String>| Ok(RunReport { text: run.text.clone(), holds, findings });
    let [o, l] = conv.output_shape(&xl, &wl);
    if engine_shape(lengths(&rows)) != [o as i64, l as i64] {
        let (formula, _) = compiled_outputs(model, sizes, &rows, &shapes, &slices)?;
        let output = conv.forward(&xl, &wl)?;
        let outputs = compare_outputs(model, sizes, run, &conv, &rows, &data, &formula, &output)?;
        return report(Some(false), [vec![at], outputs.findings].concat());
    }
    let closed = ClosedFormSide {
        model,
        sizes,
        rows: rows.clone(),
        shapes,
        data: [&x.data, &w.data],
        along: false,
        shift: None,
    };
    let out_shape = [o, l];
    let sides =
        Sides { closed: &closed, engine: &conv, x: &xl, w: &wl, out: &out_shape, ds: derivatives(derivation, run) };
    let check = Check { run, data: &data, sides };
    let compare_outputs = |formula: &[f64], output: &Array| {
        compare_outputs(model, sizes, run, &conv, &rows, &data, formula, output).map(|o| (o.holds, o.findings))
    };
    let (holds, findings) = check.judge(options, exact, compare_outputs)?;
    report(holds, [vec![at], findings].concat())
}

/// Runs one `run` line of several spatial axes with Freivalds' check of both Jacobians:
/// the outputs are compared one by one (the formula compiled), the Jacobians through
/// `J·u` for two random integer `u` each, the engine on `u`.
pub(super) fn run_nd(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
    conv: &ConvNd,
) -> Result<RunReport, CheckError> {
    let super::nd::NdRun { at, d, data, xl, wl, ranges: rows } =
        super::nd::NdRun::new(model, derivation, run, sizes, options, conv)?;
    let (x, w) = (&data[&run.input], &data[&run.weight]);
    let report = |holds, findings: Vec<String>| Ok(RunReport { text: run.text.clone(), holds, findings });
    let out_shape = conv.output_shape(&xl.shape, &wl.shape);
    let ours = super::nd::laid_out_shape(&lengths(&rows), d, 1);
    let compare_outputs = |formula: Option<&[f64]>, output: &Array| {
        super::nd::compare_outputs_nd(model, sizes, run, d, &rows, &data, (formula, output))
    };
    let composition = |compositions: &[&str]| super::nd::composition_finding(run, compositions);
    if ours != out_shape {
        let (output, compositions) = conv.forward(&xl, &wl)?;
        let outputs = compare_outputs(None, &output)?;
        return report(Some(false), [vec![at, composition(&compositions)], outputs.findings].concat());
    }
    let shapes = shapes_of(run, x, w);
    let shift = (!conv.transposed).then(|| (run.input.clone(), conv.stride[d - 1] as i64));
    let closed =
        ClosedFormSide { model, sizes, rows: rows.clone(), shapes, data: [&x.data, &w.data], along: true, shift };
    let sides =
        Sides { closed: &closed, engine: conv, x: &xl, w: &wl, out: &out_shape, ds: derivatives(derivation, run) };
    let check = Check { run, data: &data, sides };
    let (holds, findings) = check.judge(options, EXACT, |formula: &[f64], output: &Array| {
        compare_outputs(Some(formula), output).map(|o| (o.holds, o.findings))
    })?;
    report(holds, [vec![at], findings].concat())
}

/// One run's Freivalds' check: the closed forms' side, the engine's, and where both read.
struct Check<'a> {
    run: &'a Run,
    data: &'a BTreeMap<String, Array>,
    sides: Sides<'a>,
}

/// `∂s/∂x` and `∂s/∂w` of a run's input and weight.
fn derivatives<'a>(derivation: &'a Derivation, run: &Run) -> [&'a Derivative; 2] {
    let derivative = |t: &String| derivation.derivative(t).expect("runs name declared tensors");
    [derivative(&run.input), derivative(&run.weight)]
}

impl Check<'_> {
    /// Draws the vectors, compares the outputs (by `compare_outputs`, given the formula's
    /// and the engine's) and both Jacobians' products: whether all agree (`None` where
    /// the sums pass `exact`), and the findings.
    fn judge(
        &self,
        options: RunOptions,
        exact: f64,
        compare_outputs: impl Fn(&[f64], &Array) -> Result<(bool, Vec<String>), CheckError>,
    ) -> Result<(Option<bool>, Vec<String>), CheckError> {
        let (data, run, sides) = (self.data, self.run, &self.sides);
        let products = sides.random_products(options.seed, exact, &compare_outputs)?;
        let why = if options.jacobians == JacobianCheck::Freivalds {
            "as asked".to_string()
        } else {
            let entries = |t: &String| data[t].data.len() * products.outputs_count;
            format!(
                "the Jacobians have {} and {} entries, too many to compare one by one",
                entries(&run.input),
                entries(&run.weight)
            )
        };
        let mut findings = vec![format!("Freivalds' check of the Jacobians ({why})")];
        let range = products.range;
        if products.largest >= exact {
            findings.push(format!(
                "not decided: the sums reach {:e}, beyond 2⁵³, where f64 stops being exact (with u, v in \
                 [-{range}, {range}]); use smaller sizes",
                products.largest
            ));
            return Ok((None, findings));
        }
        let (mut holds, outputs) = products.outputs.clone();
        findings.extend(outputs);
        if let Some(compositions) = &products.compositions {
            findings.push(super::nd::composition_finding(self.run, compositions));
        }
        for (which, &d) in sides.ds.iter().enumerate() {
            let first = FirstDisagreement { sides, tensor: &data[&d.wrt], is_x: which == 0, d };
            let (agrees, finding) = first.judge(&products, which)?;
            holds &= agrees;
            findings.push(finding);
        }
        Ok((Some(holds), findings))
    }
}

/// What both sides' products showed in Freivalds' check, and the range their vectors
/// were drawn from.
struct Products {
    /// Whether the outputs agree, and the findings that say so or how they differ.
    outputs: (bool, Vec<String>),
    /// How many outputs there are.
    outputs_count: usize,
    /// The compositions that made the engine's output (N-D calls).
    compositions: Option<Vec<&'static str>>,
    /// Per tensor (input, then weight): where `J·u` first differs, for the first `u`
    /// where it does.
    times: [Option<Differs>; 2],
    /// Per tensor, where `vᵀ·J` differs, where the engine has a backward pass.
    transposed_times: Option<[Option<Differs>; 2]>,
    /// The largest sum of absolute values in any of them.
    largest: f64,
    /// The vectors' entries are in `[-range, range]`.
    range: i64,
}

/// Both sides of one run's Freivalds' check.
struct Sides<'a> {
    closed: &'a ClosedFormSide<'a>,
    engine: &'a dyn Linear,
    /// The input and the weight in the engine's layout, and its output's shape.
    x: &'a Array,
    w: &'a Array,
    out: &'a [usize],
    /// `∂s/∂x` and `∂s/∂w`.
    ds: [&'a Derivative; 2],
}

/// Compares the formula's outputs with the engine's: whether they agree, and the findings.
type CompareOutputs<'a> = dyn Fn(&[f64], &Array) -> Result<(bool, Vec<String>), CheckError> + 'a;

/// One attempt at the products with vectors in one range: done, or a sum past `exact`
/// (its sum of absolute values) that a smaller range may bring back.
enum Attempt {
    Done(Box<Products>),
    TooLarge(f64),
}

/// The vectors of one attempt: `u` for each tensor (two where the engine has no backward
/// pass or the check uses none, else one), and `v` for `vᵀ·J` where there is one.
struct Vectors {
    us: [Vec<Array>; 2],
    v: Option<Array>,
}

impl Sides<'_> {
    /// Draws the random vectors (seeded) and computes both sides' products, the engine on
    /// one core and the closed forms on the other, each product compared as soon as both
    /// sides have it, so that no more than a few are held at once; where the sums pass
    /// `exact`, again with a smaller range.
    fn random_products(&self, seed: u64, exact: f64, compare_outputs: &CompareOutputs) -> Result<Products, CheckError> {
        let mut range = RANGE;
        loop {
            let mut draw = Draw(seed ^ 0x5851_f42d_4c95_7f2d);
            let rounds = if self.engine.twice().is_some() { 2 } else { 1 };
            let us = [
                (0..rounds).map(|_| draw.vector(&self.x.shape, range)).collect(),
                (0..rounds).map(|_| draw.vector(&self.w.shape, range)).collect(),
            ];
            // Drawn after the u's, so that they do not depend on whether it is drawn.
            let v = self.engine.twice().is_none().then(|| draw.vector(self.out, range));
            let vectors = Vectors { us, v };
            let attempt = std::thread::scope(|scope| {
                let (send, receive) = std::sync::mpsc::sync_channel(0);
                let engine = scope.spawn(|| self.engine_side(&vectors, send));
                let compared = self.compare(&vectors, range, exact, receive, compare_outputs);
                let joined = engine.join().map_err(|_| CheckError::Bug("the engine's thread panicked".into()));
                joined.and(compared)
            })?;
            match attempt {
                Attempt::Done(products) => return Ok(*products),
                // The products' sums grow with the range: past 2⁵³, where f64 stops being
                // exact, a smaller range brings them back.
                Attempt::TooLarge(sum) => {
                    range = ((range as f64 * exact / sum).floor() as i64 - 1).clamp(1, range - 1);
                }
            }
        }
    }

    /// The engine's output, `J·u` for each `u` (of the input, then of the weight), and
    /// `vᵀ·J` of both where there is a `v`, each sent as soon as it is made; stops at an
    /// error (sent) or when the comparing side stops listening.
    fn engine_side(&self, vectors: &Vectors, send: std::sync::mpsc::SyncSender<EngineProduct>) {
        let step = |product: EngineProduct| {
            let failed = product.is_err();
            send.send(product).is_ok() && !failed
        };
        let products = std::iter::once((self.x, self.w))
            .chain(vectors.us[0].iter().map(|u| (u, self.w)))
            .chain(vectors.us[1].iter().map(|u| (self.x, u)));
        for (x, w) in products {
            if !step(self.engine.forward(x, w)) {
                return;
            }
        }
        let Some(v) = &vectors.v else { return };
        match self.engine.backward(self.x, self.w, v) {
            Ok(Some(back)) => {
                let _ = step(Ok((back.x, None))) && step(Ok((back.w, None)));
            }
            Ok(None) => {
                step(Err(CheckError::Bug("the engine lost its backward pass".into())));
            }
            Err(e) => {
                step(Err(e));
            }
        }
    }

    /// The closed forms' side, in the engine's order, each product compared with the
    /// engine's as it arrives: the outputs (by `compare_outputs`), then `J·u` for each
    /// `u`, then `vᵀ·J`.
    fn compare(
        &self,
        vectors: &Vectors,
        range: i64,
        exact: f64,
        receive: std::sync::mpsc::Receiver<EngineProduct>,
        compare_outputs: &CompareOutputs,
    ) -> Result<Attempt, CheckError> {
        let next = || receive.recv().unwrap_or_else(|_| Err(CheckError::Bug("the engine's thread stopped".into())));
        let closed = self.closed;
        let slices = [closed.data[0], closed.data[1]];
        let (formula, outputs_bound) = match closed.along {
            true => compiled_outputs_along(closed.model, closed.sizes, &closed.rows, &closed.shapes, &slices)?,
            false => compiled_outputs(closed.model, closed.sizes, &closed.rows, &closed.shapes, &slices)?,
        };
        let (output, compositions) = next()?;
        let mut products = Products {
            outputs: compare_outputs(&formula, &output)?,
            outputs_count: formula.len(),
            compositions,
            times: [None, None],
            transposed_times: None,
            largest: outputs_bound,
            range,
        };
        drop((formula, output));
        // Past 2⁵³ in the outputs, no range helps: not decided.
        if outputs_bound >= exact {
            return Ok(Attempt::Done(Box::new(products)));
        }
        // A product's sums past 2⁵³: a smaller range, unless there is none.
        let mut within = |(mine, bound): (Vec<f64>, f64)| match bound >= exact && range > 1 {
            true => Err(bound),
            false => {
                products.largest = products.largest.max(bound);
                Ok(mine)
            }
        };
        let mut times = [None, None];
        for (which, (d, us)) in self.ds.iter().zip(&vectors.us).enumerate() {
            for (round, u) in us.iter().enumerate() {
                let mine = match within(closed.times(d, u)?) {
                    Ok(mine) => mine,
                    Err(sum) => return Ok(Attempt::TooLarge(sum)),
                };
                let (theirs, _) = next()?;
                if times[which].is_none() {
                    times[which] = differs(&mine, &theirs, round);
                }
            }
        }
        let mut transposed_times = None;
        if let Some(v) = &vectors.v {
            let mut both = [None, None];
            for (which, d) in self.ds.iter().enumerate() {
                let mine = match within(closed.transposed_times(d, v)?) {
                    Ok(mine) => mine,
                    Err(sum) => return Ok(Attempt::TooLarge(sum)),
                };
                let (theirs, _) = next()?;
                both[which] = differs(&mine, &theirs, 0);
            }
            transposed_times = Some(both);
        }
        Ok(Attempt::Done(Box::new(Products { times, transposed_times, ..products })))
    }
}

/// Where the closed form's product first differs from the engine's.
fn differs(closed: &[f64], engine: &Array, round: usize) -> Option<Differs> {
    let (at, count) = compare(closed, &engine.data)?;
    Some(Differs { round, at, count, closed: closed[at], engine: engine.data[at] })
}

/// What locates the first disagreeing entry of one Jacobian, from a disagreement of
/// `J·u` or `vᵀ·J`.
struct FirstDisagreement<'a> {
    sides: &'a Sides<'a>,
    tensor: &'a Array,
    is_x: bool,
    d: &'a Derivative,
}

impl FirstDisagreement<'_> {
    /// Whether the Jacobian (`which`: 0 for the input's, 1 for the weight's) passes
    /// Freivalds' check, and the finding that says so or names its first wrong entry.
    fn judge(&self, products: &Products, which: usize) -> Result<(bool, String), CheckError> {
        let name = self.d.name(self.sides.closed.model);
        let mut wrong = None;
        if let Some(d) = products.times[which] {
            wrong = Some(self.row(d.at, d.count, d.round, d.closed, d.engine)?);
        }
        if let (None, Some(Some(d))) = (&wrong, products.transposed_times.map(|t| t[which])) {
            wrong = Some(self.column(d.at, d.count, d.closed, d.engine)?);
        }
        let range = products.range;
        let width = 2 * range + 1;
        let odds = format!("1/{width}² ≈ {:.1e}", 1.0 / (width * width) as f64);
        let how = if self.is_x { "the engine on u" } else { "the engine with u as the weights" };
        Ok(match wrong {
            Some(why) => (false, format!("{name} disagrees: {why}")),
            None if self.sides.engine.twice().is_some() => (
                true,
                format!(
                    "{name}: J·u agrees for two random integer u in [-{range}, {range}] (Freivalds; {how}, twice: \
                 {}): a wrong {name} passes with probability at most {odds}",
                    self.sides.engine.twice().unwrap_or_default()
                ),
            ),
            None => (
                true,
                format!(
                    "{name}: J·u and vᵀ·J agree for random integer u, v in [-{range}, {range}] (Freivalds; {how}, \
                 vᵀ·J by autograd): a wrong {name} passes both with probability at most {odds}"
                ),
            ),
        })
    }

    /// `(J·u)_r` disagrees: row `r` of `J` is wrong. `conv1d`'s row comes from one
    /// backward pass (`v` a unit vector); `conv_transpose1d` has none, so the row is named.
    fn row(&self, r: usize, count: usize, round: usize, closed: f64, engine: f64) -> Result<String, CheckError> {
        let what = format!(
            "J·u{} differs at {} ({}; {count} of {} outputs differ)",
            if round > 0 { " for the second u" } else { "" },
            self.place(Some(r), None),
            closed_form_and_engine(closed, engine),
            self.rows_count(),
        );
        let e = unit(self.sides.out, r);
        let Some(back) = self.sides.engine.backward(self.sides.x, self.sides.w, &e)? else {
            return Ok(format!("{what}, so that row of the Jacobian is wrong"));
        };
        let engine = if self.is_x { back.x } else { back.w };
        let (mine, _) = self.sides.closed.transposed_times(self.d, &e)?;
        let (c, _) = compare(&mine, &engine.data).ok_or_else(inconsistent)?;
        Ok(format!(
            "{what}; first at {}: {}",
            self.place(Some(r), Some(c)),
            closed_form_and_engine(mine[c], engine.data[c])
        ))
    }

    /// `(vᵀ·J)_c` disagrees: column `c` of `J` is wrong; the engine's column is its output
    /// on a unit input (or weight).
    fn column(&self, c: usize, count: usize, closed: f64, engine: f64) -> Result<String, CheckError> {
        let what = format!(
            "vᵀ·J differs at {} ({}; {count} of {} columns differ)",
            self.place(None, Some(c)),
            closed_form_and_engine(closed, engine),
            self.tensor.data.len()
        );
        let e = unit(if self.is_x { &self.sides.x.shape } else { &self.sides.w.shape }, c);
        let (engine, _) = if self.is_x {
            self.sides.engine.forward(&e, self.sides.w)?
        } else {
            self.sides.engine.forward(self.sides.x, &e)?
        };
        let (mine, _) = self.sides.closed.times(self.d, &e)?;
        let (r, _) = compare(&mine, &engine.data).ok_or_else(inconsistent)?;
        Ok(format!(
            "{what}; first at {}: {}",
            self.place(Some(r), Some(c)),
            closed_form_and_engine(mine[r], engine.data[r])
        ))
    }

    fn rows_count(&self) -> i64 {
        lengths(&self.sides.closed.rows).iter().product()
    }

    /// A row, a column or an entry by its indices' names: `i = 4, j = 2`.
    fn place(&self, row: Option<usize>, column: Option<usize>) -> String {
        let row = row.map(|r| tuple(r, &self.sides.closed.rows)).unwrap_or_default();
        let dims: Vec<i64> = self.tensor.shape.iter().map(|&d| d as i64).collect();
        let column = column.map(|c| element_at(c, &dims)).unwrap_or_default();
        named(self.sides.closed.model.output.indices.iter().zip(&row).chain(self.d.wrt_indices.iter().zip(&column)))
    }
}

/// Both values of one entry.
fn closed_form_and_engine(closed: f64, engine: f64) -> String {
    format!("the closed form gives {}, the engine {}", number(closed), number(engine))
}

/// The engine's products disagree with the closed form's, but not one of its entries
/// does: only inexact arithmetic could do that.
fn inconsistent() -> CheckError {
    CheckError::Bug("Freivalds' check disagreed, but no single entry does".into())
}

#[cfg(test)]
mod tests {
    use super::super::common::{conv_of, layout, values};
    use super::*;

    const SOURCE: &str = "input x[n]\nweight w[k]\nlet n = 9, k = 4\ns_i = Σ x_j w_<i+k-j-1>\nrun conv1d(x, flip(w))\n";

    /// The first row-major entry `(i, j)` where `∂s_i/∂x_j` reads `w_<j-i>` instead of
    /// the convolution's `w_<i+k-j-1>` (both under the convolution's bracket), by loops.
    fn first_wrong_entry(n: i64, k: i64, w: &[f64], in_column: Option<i64>) -> (i64, i64, f64, f64) {
        let at = |m: i64| if (0..k).contains(&m) { w[m as usize] } else { 0.0 };
        let entries = (0..n - k + 1).flat_map(|i| (0..n).map(move |j| (i, j)));
        entries
            .filter(|&(_, j)| in_column.is_none_or(|c| c == j))
            .filter(|&(i, j)| (0..k).contains(&(i + k - j - 1)))
            .map(|(i, j)| (i, j, at(j - i), at(i + k - j - 1)))
            .find(|&(_, _, wrong, right)| wrong != right)
            .expect("the two differ somewhere")
    }

    #[test]
    fn a_wrong_jacobian_is_caught_and_pinned_to_an_entry() {
        let model = crate::model::resolve(&crate::syntax::parse(SOURCE).unwrap(), SOURCE, "t", &[]).unwrap();
        let mut derivation = crate::derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        let (sizes, line) = (model.values.clone(), &model.runs[0]);
        let options = RunOptions { jacobians: JacobianCheck::Freivalds, ..RunOptions::default() };
        assert_eq!(run(&model, &derivation, line, &sizes, options).unwrap().holds, Some(true));
        // The cross-correlation's kernel index in ∂s/∂x: J·u differs, and the first wrong
        // entry of its row is named with both values.
        derivation.derivatives[0].closed_form.terms[0].elements[0].index[0] = var("j").sub(&var("i"));
        let report = run(&model, &derivation, line, &sizes, options).unwrap();
        assert_eq!(report.holds, Some(false));
        let w = &values(&model, &sizes, options)["w"].data;
        let (i, j, wrong, right) = first_wrong_entry(9, 4, w, None);
        let found = report.findings.iter().find(|f| f.starts_with("∂s_i/∂x_j disagrees")).unwrap();
        let entry = format!("; first at i = {i}, j = {j}: the closed form gives {wrong}, the engine {right}");
        assert!(found.contains(&format!("J·u differs at i = {i} ")) && found.ends_with(&entry), "{found}");
        assert!(report.findings.iter().any(|f| f.starts_with("∂s_i/∂w_m: J·u and vᵀ·J agree")));
        // A column of vᵀ·J that differs is pinned through the engine on a unit input.
        let (x, wa) = (&values(&model, &sizes, options)["x"], &values(&model, &sizes, options)["w"]);
        let (xl, wl) = (layout(x, false), layout(wa, true));
        let rows = derivation.domain.at(&sizes).unwrap();
        let shapes = shapes_of(line, x, wa);
        let closed = ClosedFormSide {
            model: &model,
            sizes: &sizes,
            rows: rows.clone(),
            shapes,
            data: [&x.data, &wa.data],
            along: false,
            shift: None,
        };
        let conv = conv_of(&model, line, &sizes, &derivation.limits).unwrap();
        let d = &derivation.derivatives[0];
        let sides = Sides { closed: &closed, engine: &conv, x: &xl, w: &wl, out: &[1, 6], ds: [d, d] };
        let first = FirstDisagreement { sides: &sides, tensor: x, is_x: true, d };
        let (i, j, wrong, right) = first_wrong_entry(9, 4, w, Some(5));
        assert_eq!(j, 5);
        let found = first.column(5, 1, 0.0, 0.0).unwrap();
        assert!(
            found.ends_with(&format!("first at i = {i}, j = 5: the closed form gives {wrong}, the engine {right}")),
            "{found}"
        );
    }

    #[test]
    fn sums_past_exactness_shrink_the_range_or_leave_the_run_undecided() {
        let model = crate::model::resolve(&crate::syntax::parse(SOURCE).unwrap(), SOURCE, "t", &[]).unwrap();
        let derivation = crate::derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        let (sizes, line) = (model.values.clone(), &model.runs[0]);
        let options = RunOptions { jacobians: JacobianCheck::Freivalds, ..RunOptions::default() };
        let holds = |exact| run_exact_below(&model, &derivation, line, &sizes, options, exact).unwrap();
        // Values ±1 … ±13: vᵀ·J's sums reach up to 6 rows · 13 · 1000 = 78000 with R = 1000.
        let full = holds(EXACT);
        assert!(full.findings.iter().any(|f| f.contains("in [-1000, 1000]")), "{:?}", full.findings);
        let shrunk = holds(20_000.0);
        assert_eq!(shrunk.holds, Some(true));
        let range = shrunk.findings.iter().find_map(|f| f.split("in [-").nth(1)).unwrap();
        let range: i64 = range[..range.find(',').unwrap()].parse().unwrap();
        assert!((1..1000).contains(&range), "{range}");
        assert!(shrunk.findings.iter().any(|f| f.contains(&format!("1/{}²", 2 * range + 1))));
        // Outputs up to 4 · 13 · 13 = 676 cannot be brought under 100 by any range.
        let undecided = holds(100.0);
        assert_eq!(undecided.holds, None);
        assert!(undecided.findings.iter().any(|f| f.starts_with("not decided: the sums reach")));
    }

    #[test]
    fn random_vectors_cover_the_range_uniformly() {
        let v = Draw(7).vector(&[200_000], RANGE).data;
        assert!(v.iter().all(|&e| (-RANGE as f64..=RANGE as f64).contains(&e)));
        let count = |e: f64| v.iter().filter(|&&x| x == e).count();
        // 100 expected of each value: the ends and the middle all appear, none far too often.
        for e in [-RANGE as f64, 0.0, RANGE as f64] {
            assert!((40..200).contains(&count(e)), "{e} drawn {} times", count(e));
        }
    }
}
