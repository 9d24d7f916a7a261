//! The gradients of layer run lines and of a bias, named as PyTorch calls: each call's
//! numbers on the engine against plain loops over PyTorch's definitions of the layers'
//! backward, and wrong calls (a wrong scale, a wrong division) not proved.

use symconv::algebra::IndexExt;
use symconv::check::{self, gradient_values, upstream_values, RunOptions, Values};
use symconv::derive::backward::layers::{layer_gradient, LayerCall};
use symconv::derive::{self, Derivation};
use symconv::engine::Array;
use symconv::model::Model;

fn spec(src: &str) -> (Model, Derivation) {
    let model = symconv::model::resolve(&symconv::syntax::parse(src).unwrap(), src, "test", &[]).unwrap();
    let derivation = derive::derive(&model, &symconv::limits::Limits::default()).unwrap();
    (model, derivation)
}

fn shipped(name: &str) -> (Model, Derivation) {
    spec(&std::fs::read_to_string(format!("specs/{name}.conv")).unwrap())
}

/// The tensors' values from the seed, with an upstream gradient of distinct integers.
fn data(model: &Model, derivation: &Derivation) -> Values {
    let sizes = &model.values;
    let mut values = check::values(model, sizes, RunOptions::default());
    let dims: Vec<usize> = derivation.lengths.iter().map(|l| l.eval(sizes).unwrap() as usize).collect();
    values.insert(model.upstream.clone(), upstream_values(&dims, 7));
    values
}

/// `∂L/∂wrt` by the gather form and by the named call on the engine.
fn gradient(model: &Model, derivation: &Derivation, data: &Values, wrt: &str) -> (Vec<f64>, Vec<f64>) {
    let (gather, call) = gradient_values(model, derivation, wrt, &model.values, data).unwrap();
    (gather, call.expect("a call is named"))
}

/// A shipped spec, its upstream gradient, and `∂L/∂wrt` by the gather form and the call.
fn shipped_gradient(name: &str, wrt: &str) -> (Model, Derivation, Array, Vec<f64>, Vec<f64>) {
    let (model, derivation) = shipped(name);
    let data = data(&model, &derivation);
    let (gather, call) = gradient(&model, &derivation, &data, wrt);
    (model, derivation, data["g"].clone(), gather, call)
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0))
}

#[test]
fn upsampling_gradient_sums_each_window_of_g() {
    let (model, derivation, g, gather, call) = shipped_gradient("upsample_nearest1d", "x");
    // PyTorch's upsample_nearest1d backward: input j gets outputs 2j and 2j + 1 (C = 2, n = 5).
    let mut expected = vec![0.0; 10];
    for c in 0..2 {
        for i in 0..10 {
            expected[c * 5 + i / 2] += g.data[c * 10 + i];
        }
    }
    assert_eq!(call, expected);
    assert_eq!(gather, expected);
    let named = layer_gradient(&model, &derivation, "x").unwrap();
    assert_eq!(
        named.torch(&model.values).unwrap(),
        "F.avg_pool2d(g.unsqueeze(-2), (1, 2), divisor_override=1).squeeze(-2)"
    );
}

#[test]
fn overlapping_average_pooling_gradient_is_a_transposed_convolution_of_ones() {
    let (model, derivation, g, gather, call) = shipped_gradient("avg_pool1d", "x");
    // avg_pool1d(x, 3, stride=2, padding=1) on n = 9: output i reads 2i - 1 + m, m < 3.
    let mut expected = vec![0.0; 18];
    for c in 0..2 {
        for i in 0..5 {
            for m in 0..3 {
                let j = (2 * i + m) as i64 - 1;
                if (0..9).contains(&j) {
                    expected[c * 9 + j as usize] += g.data[c * 5 + i] / 3.0;
                }
            }
        }
    }
    assert!(close(&call, &expected), "{call:?}\n{expected:?}");
    assert!(close(&gather, &expected));
    let named = layer_gradient(&model, &derivation, "x").unwrap();
    assert!(matches!(named.call, LayerCall::Transposed { .. }));
    assert_eq!(named.prove(&model, &derivation, "x"), Ok(()));
}

#[test]
fn tiling_average_pooling_gradient_is_g_upsampled_padded_and_divided() {
    let src = "input x[C, H, V]\noutput s[C, H div 2, V div 3]\nlet C = 2, H = 5, V = 7\n\
               s_<c,i,j> = 1/6 Σ_<a,b> x_<c, 2i+a, 3j+b> [0 ≤ a ≤ 1] [0 ≤ b ≤ 2]\nrun avg_pool2d(x, (2, 3))\n";
    let (model, derivation) = spec(src);
    let data = data(&model, &derivation);
    let (_, call) = gradient(&model, &derivation, &data, "x");
    // Row 4 and column 6 are in no window.
    let g = &data["g"];
    let mut expected = vec![0.0; 2 * 5 * 7];
    for c in 0..2 {
        for u in 0..4 {
            for v in 0..6 {
                expected[(c * 5 + u) * 7 + v] = g.data[(c * 2 + u / 2) * 2 + v / 3] / 6.0;
            }
        }
    }
    assert!(close(&call, &expected), "{call:?}\n{expected:?}");
    let named = layer_gradient(&model, &derivation, "x").unwrap();
    assert_eq!(named.torch(&model.values).unwrap(), "F.pad(F.interpolate(g, scale_factor=(2, 3)), (0, 1, 0, 1)) / 6");
    let report = check::report(model, derivation, true, RunOptions::default()).unwrap();
    assert_eq!(report.backward[0].holds, Some(true), "{:?}", report.backward[0].findings);
}

#[test]
fn bias_gradient_is_g_summed_over_positions_and_proved() {
    let (model, derivation, g, gather, call) = shipped_gradient("conv1d_bias", "b");
    let expected: Vec<f64> = (0..3).map(|o| g.data[o * 5..(o + 1) * 5].iter().sum()).collect();
    assert_eq!(call, expected);
    assert_eq!(gather, expected);
    let named = layer_gradient(&model, &derivation, "b").unwrap();
    assert_eq!(named.torch(&model.values).unwrap(), "g.sum((0, 2))");
    assert_eq!(named.prove(&model, &derivation, "b"), Ok(()));
    // The input and the weight are the convolution's, named as before.
    assert!(layer_gradient(&model, &derivation, "x").is_err());
    let src = "input x[C, H, V]\nweight w[O, C, P, Q]\nweight b[O]\noutput s[O, H - P + 1, V - Q + 1]\n\
               let C = 2, O = 3, H = 4, V = 5, P = 2, Q = 2\n\
               s_<o,i,j> = Σ_<c,a,d> x_<c, i+a, j+d> w_<o,c,a,d> + b_o\nrun conv2d(x, w, bias = b)\n";
    let (model, derivation) = spec(src);
    let data = data(&model, &derivation);
    let (_, call) = gradient(&model, &derivation, &data, "b");
    let g = &data["g"];
    let expected: Vec<f64> = (0..3).map(|o| g.data[o * 12..(o + 1) * 12].iter().sum()).collect();
    assert_eq!(call, expected);
    let named = layer_gradient(&model, &derivation, "b").unwrap();
    assert_eq!(named.torch(&model.values).unwrap(), "g.sum((0, 2, 3))");
    assert_eq!(named.prove(&model, &derivation, "b"), Ok(()));
}

#[test]
fn wrong_calls_are_not_proved() {
    let (model, derivation) = shipped("avg_pool1d");
    let mut named = layer_gradient(&model, &derivation, "x").unwrap();
    // Dividing by 1 (a sum) or by 2: not the average over 3.
    named.divisor = 1;
    let why = named.prove(&model, &derivation, "x").unwrap_err();
    assert!(why.contains("did not meet"), "{why}");
    named.divisor = 2;
    let why = named.prove(&model, &derivation, "x").unwrap_err();
    assert!(why.contains("does not divide the formula's 3"), "{why}");
    let (model, derivation) = shipped("upsample_nearest1d");
    let mut named = layer_gradient(&model, &derivation, "x").unwrap();
    named.call = LayerCall::SumPool { scale: vec![symconv::algebra::Index::constant(3)] };
    let why = named.prove(&model, &derivation, "x").unwrap_err();
    assert!(why.contains("length"), "{why}");
}
