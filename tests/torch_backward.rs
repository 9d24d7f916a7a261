//! Every shipped spec's gradients against real PyTorch, from test data: the numbers
//! `tests/data/torch_backward.py` found with PyTorch's autograd and with symconv's `torch`
//! expressions (see its header for how to make them again). The tests need no PyTorch:
//! symconv's expressions must still be the ones PyTorch ran, PyTorch must have found each
//! equal to autograd, and symconv's own gradients (the gather form evaluated exactly, and
//! the named call on candle) must equal autograd at the same tensors.

mod common;

use serde_json::Value;
use symconv::check::{gradient_values, Values};
use symconv::derive::backward::layers::layer_gradient;
use symconv::derive::backward::{gradient_call, prove_run};
use symconv::engine::Array;

fn data() -> Value {
    let text = std::fs::read_to_string("tests/data/torch_backward.json").expect("the PyTorch test data");
    serde_json::from_str(&text).expect("JSON")
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().expect("a list").iter().map(|x| x.as_f64().expect("a number")).collect()
}

#[test]
fn every_gradient_matches_pytorch_autograd() {
    let data = data();
    let specs = common::shipped_specs();
    assert!(!specs.is_empty());
    for path in specs {
        let src = std::fs::read_to_string(&path).expect("a shipped spec");
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let entry = &data[&name];
        assert!(entry.is_object(), "{name}: no PyTorch data; run tests/data/torch_backward.py");
        let model = symconv::model::resolve(&symconv::syntax::parse(&src).unwrap(), &src, &name, &[]).unwrap();
        let derivation = symconv::derive::derive(&model, &symconv::limits::Limits::default()).unwrap();
        let run_text = model.runs.first().map(|r| &r.text).or(model.layers.first().map(|r| &r.text));
        assert_eq!(entry["run"], run_text.expect("a run line").as_str(), "{name}: the data is for another run line");
        let sizes = &model.values;
        let shape = |t: &str| -> Vec<usize> { model.shape_at(t, sizes).unwrap().iter().map(|&d| d as usize).collect() };
        let lengths: Vec<usize> = derivation
            .lengths
            .iter()
            .map(|l| {
                use symconv::algebra::IndexExt;
                l.eval(sizes).unwrap() as usize
            })
            .collect();
        let mut values = Values::new();
        for t in &model.tensors {
            values.insert(t.name.clone(), Array { shape: shape(&t.name), data: numbers(&entry[&t.name]) });
        }
        values.insert(model.upstream.clone(), Array { shape: lengths, data: numbers(&entry["g"]) });
        let run = model.runs.first();
        // A layer's run line computes the formula: its outputs are compared with it in
        // `tests/snapshots.rs`.
        let forward_is_the_formula = run.is_none_or(|run| prove_run(&model, &derivation, run).is_ok());
        for t in model.tensors.iter().map(|t| t.name.as_str()) {
            let record = &entry["gradients"][t];
            let autograd = numbers(&record["autograd"]);
            let (gather, call) = gradient_values(&model, &derivation, t, sizes, &values).unwrap();
            // A formula with fractions (pooling) is PyTorch's up to its rounding: PyTorch
            // adds each window's g / k rounded, symconv divides exact sums once.
            let rational = model.formula.divisor != 1;
            let close = |a: f64, b: f64| a == b || (rational && (a - b).abs() <= 1e-12 * a.abs().max(b.abs()));
            let agree = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| close(*x, *y));
            // A layer's gradient, or a bias's, is named by `layer_gradient`; a convolution's
            // input's and weight's by `gradient_call`.
            let named = match layer_gradient(&model, &derivation, t) {
                Ok(named) => Some(named.torch(sizes).unwrap()),
                Err(_) => {
                    run.and_then(|run| gradient_call(&model, &derivation, run, t).ok()).map(|c| c.torch(sizes).unwrap())
                }
            };
            match named {
                Some(text) => {
                    assert_eq!(record["torch"], text.as_str(), "{name}: ∂L/∂{t}'s expression changed");
                    let found = record["equal"] == true || (rational && record["close"] == true);
                    assert!(found, "{name}: PyTorch found ∂L/∂{t}'s expression wrong");
                    let by_call = call.expect("a named call runs");
                    assert!(
                        agree(&by_call, &autograd),
                        "{name}: ∂L/∂{t} by the call on candle: {by_call:?}, autograd {autograd:?}"
                    );
                }
                None => assert!(record["torch"].is_null() && call.is_none(), "{name}: ∂L/∂{t} has no call now"),
            }
            // The gather form is the formula's gradient: PyTorch's where the run line
            // computes the formula, and not where it does not (the seed's true convolution).
            let same = agree(&gather, &autograd);
            assert_eq!(same, forward_is_the_formula, "{name}: ∂L/∂{t}'s gather form against autograd");
        }
    }
}

#[test]
fn the_data_came_from_pytorch() {
    let data = data();
    let version = data["torch_version"].as_str().expect("the PyTorch version");
    assert!(version.starts_with('2'), "{version}");
}
