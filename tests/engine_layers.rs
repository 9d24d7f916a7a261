//! The engine's average pooling, nearest upsampling and bias (src/engine/layers.rs):
//! against plain loops over a sweep of small shapes, against PyTorch's own numbers
//! (tests/data/layers_reference.json, written by tests/data/layers_reference.py), and the
//! candle backward faults that make the engine compose these layers itself.

use candle_core::{Device, Tensor, Var};
use serde_json::Value;
use symconv::engine::layers::{add_bias, agrees, bias_jacobian, AvgPool, Layer, LayerError, UpsampleNearest};
use symconv::engine::{Array, Conv};

/// Distinct integers, `count` of them (389 is invertible modulo the prime 997).
fn distinct(count: usize) -> Vec<f64> {
    assert!(count <= 997);
    (0..count).map(|i| ((i * 389 + 11) % 997) as f64 - 498.0).collect()
}

fn input(shape: &[usize]) -> Array {
    Array { shape: shape.to_vec(), data: distinct(shape.iter().product()) }
}

/// Row-major strides of a shape.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        s[a] = s[a + 1] * shape[a + 1];
    }
    s
}

/// Every index of a shape, row-major.
fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let mut all = vec![vec![]];
    for &d in shape {
        all = all.into_iter().flat_map(|i| (0..d).map(move |j| [i.clone(), vec![j]].concat())).collect();
    }
    all
}

/// Average pooling by loops: per output, the input positions its window reads (padding
/// left out) and its exact integer sum.
fn pool_by_loops(pool: &AvgPool, x: &Array) -> (Vec<usize>, Vec<(Vec<usize>, i64)>) {
    let axes = pool.kernel.len();
    let n = &x.shape[2..];
    let out: Vec<usize> =
        (0..axes).map(|a| (n[a] + 2 * pool.padding[a] - pool.kernel[a]) / pool.stride[a] + 1).collect();
    let shape: Vec<usize> = [1, x.shape[1]].into_iter().chain(out.iter().copied()).collect();
    let xs = strides(&x.shape);
    let windows = indices(&shape)
        .into_iter()
        .map(|o| {
            let mut read = Vec::new();
            for m in indices(&pool.kernel) {
                let at: Vec<i64> =
                    (0..axes).map(|a| (o[a + 2] * pool.stride[a] + m[a]) as i64 - pool.padding[a] as i64).collect();
                if (0..axes).all(|a| (0..n[a] as i64).contains(&at[a])) {
                    read.push(o[1] * xs[1] + (0..axes).map(|a| at[a] as usize * xs[a + 2]).sum::<usize>());
                }
            }
            let sum = read.iter().map(|&i| x.data[i] as i64).sum();
            (read, sum)
        })
        .collect();
    (shape, windows)
}

fn check_pool(pool: &AvgPool, x: &Array) {
    let what = format!("{pool:?} on {:?}", x.shape);
    let (shape, windows) = pool_by_loops(pool, x);
    let size: usize = pool.kernel.iter().product();
    assert_eq!(pool.output_shape(&x.shape).unwrap(), shape, "{what}");
    let (y, used) = pool.forward(x).unwrap();
    assert_eq!(y.shape, shape, "{what}");
    assert_eq!(used, vec![symconv::engine::layers::WINDOW_SUMS]);
    let jac = pool.jacobian_x(x).unwrap();
    assert_eq!(jac.shape, vec![windows.len(), x.data.len()], "{what}");
    let rows = pool.jacobian_x_rows(x).unwrap();
    let read: Vec<Vec<usize>> = rows.iter().map(|row| row.iter().map(|&(c, _)| c).collect()).collect();
    let mut expected: Vec<Vec<usize>> = windows.iter().map(|(r, _)| r.clone()).collect();
    expected.iter_mut().for_each(|r| r.sort());
    assert_eq!(read, expected, "{what}: the rows' inputs");
    let one_over = 1.0 / size as f64;
    for (r, (read, sum)) in windows.iter().enumerate() {
        // The sum divided once, as PyTorch rounds it, and the exact rational.
        assert_eq!(y.data[r].to_bits(), (*sum as f64 / size as f64).to_bits(), "{what}: output {r}");
        assert!(agrees(y.data[r], *sum, size as u64), "{what}: output {r}");
        for (c, &v) in jac.data[r * x.data.len()..(r + 1) * x.data.len()].iter().enumerate() {
            let expected = if read.contains(&c) { one_over } else { 0.0 };
            assert_eq!(v.to_bits(), expected.to_bits(), "{what}: ∂y{r}/∂x{c}");
            assert!(agrees(v, read.contains(&c) as i64, size as u64), "{what}: ∂y{r}/∂x{c}");
        }
    }
}

/// A sweep's input lengths and kernel lengths for which PyTorch refuses the call (output
/// length below 1) are checked to be refused with its words; the rest against loops.
fn pool_or_refusal(pool: &AvgPool, x: &Array) -> bool {
    let axes = pool.kernel.len();
    let too_small = (0..axes).any(|a| x.shape[a + 2] + 2 * pool.padding[a] < pool.kernel[a]);
    if too_small {
        let Err(LayerError::Refused(m)) = pool.forward(x) else { panic!("{pool:?} on {:?} runs", x.shape) };
        assert!(m.starts_with("Given input size: (") && m.ends_with("Output size is too small"), "{m}");
        return false;
    }
    check_pool(pool, x);
    true
}

#[test]
fn avg_pool1d_agrees_with_loops_over_a_sweep() {
    let mut checked = 0;
    for (c, n, k, s) in
        (1..=3).flat_map(|c| (1..=9).flat_map(move |n| (1..=4).flat_map(move |k| (1..=3).map(move |s| (c, n, k, s)))))
    {
        for p in 0..=k / 2 {
            let pool = AvgPool { kernel: vec![k], stride: vec![s], padding: vec![p] };
            checked += pool_or_refusal(&pool, &input(&[1, c, n])) as usize;
        }
    }
    assert!(checked > 500, "{checked}");
}

#[test]
fn avg_pool2d_agrees_with_loops_over_a_sweep() {
    let mut checked = 0;
    for (h, kh, sh) in (1..=9).flat_map(|h| (1..=4).flat_map(move |k| (1..=3).map(move |s| (h, k, s)))) {
        // The other axis varies with this one, to keep the sweep small.
        let (w, kw, sw, c) = ((h * 5) % 9 + 1, 5 - kh, 4 - sh, h % 3 + 1);
        for (ph, pw) in (0..=kh / 2).flat_map(|a| (0..=kw / 2).map(move |b| (a, b))) {
            let pool = AvgPool { kernel: vec![kh, kw], stride: vec![sh, sw], padding: vec![ph, pw] };
            checked += pool_or_refusal(&pool, &input(&[1, c, h, w])) as usize;
        }
    }
    assert!(checked > 100, "{checked}");
}

fn check_upsample(up: &UpsampleNearest, x: &Array) {
    let what = format!("{up:?} on {:?}", x.shape);
    let shape: Vec<usize> =
        [1, x.shape[1]].into_iter().chain(x.shape[2..].iter().zip(&up.scale).map(|(n, s)| n * s)).collect();
    assert_eq!(up.output_shape(&x.shape).unwrap(), shape, "{what}");
    let (y, used) = up.forward(x).unwrap();
    assert_eq!((&y.shape, used), (&shape, vec![symconv::engine::layers::REPEATED_ROWS]), "{what}");
    let jac = up.jacobian_x(x).unwrap();
    let rows = up.jacobian_x_rows(x).unwrap();
    let xs = strides(&x.shape);
    for (r, o) in indices(&shape).into_iter().enumerate() {
        let read = o[1] * xs[1] + (0..up.scale.len()).map(|a| o[a + 2] / up.scale[a] * xs[a + 2]).sum::<usize>();
        assert_eq!(y.data[r], x.data[read], "{what}: output {r}");
        let row = &jac.data[r * x.data.len()..(r + 1) * x.data.len()];
        let expected: Vec<f64> = (0..x.data.len()).map(|c| (c == read) as u8 as f64).collect();
        assert_eq!(row, expected, "{what}: row {r}");
        assert_eq!(rows[r], vec![(read, 1.0)], "{what}: sparse row {r}");
    }
}

#[test]
fn upsample_nearest_agrees_with_loops_over_a_sweep() {
    for (c, n, s) in (1..=3).flat_map(|c| (1..=9).flat_map(move |n| (1..=3).map(move |s| (c, n, s)))) {
        check_upsample(&UpsampleNearest { scale: vec![s] }, &input(&[1, c, n]));
    }
    for (h, w, sh, sw) in
        (1..=5).flat_map(|h| (1..=5).flat_map(move |w| (1..=3).flat_map(move |a| (1..=3).map(move |b| (h, w, a, b)))))
    {
        check_upsample(&UpsampleNearest { scale: vec![sh, sw] }, &input(&[1, (h + w) % 2 + 1, h, w]));
    }
}

#[test]
fn a_bias_is_added_per_channel_and_its_jacobian_picks_the_channel() {
    for spatial in [vec![1], vec![4], vec![2, 3], vec![3, 1]] {
        for o in 1..=3 {
            let shape: Vec<usize> = [1, o].into_iter().chain(spatial.iter().copied()).collect();
            let y = input(&shape);
            let b = Array { shape: vec![o], data: (0..o).map(|i| 1000.0 * (i as f64 + 1.0)).collect() };
            let per: usize = spatial.iter().product();
            let out = add_bias(&y, &b).unwrap();
            let jac = bias_jacobian(&y, &b).unwrap();
            assert_eq!((&out.shape, &jac.shape), (&shape, &vec![o * per, o]));
            for r in 0..o * per {
                assert_eq!(out.data[r], y.data[r] + b.data[r / per], "{shape:?}: output {r}");
                let expected: Vec<f64> = (0..o).map(|c| (c == r / per) as u8 as f64).collect();
                assert_eq!(jac.data[r * o..(r + 1) * o], expected, "{shape:?}: row {r}");
            }
        }
    }
    let y = input(&[1, 2, 3]);
    let Err(LayerError::Refused(m)) = add_bias(&y, &Array { shape: vec![3], data: vec![0.0; 3] }) else {
        panic!("a bias of 3 for 2 channels is added")
    };
    assert_eq!(m, "a bias is shaped [O] for an output [1, O, ...], not [3] for [1, 2, 3]");
}

fn reference() -> Value {
    let text = std::fs::read_to_string("tests/data/layers_reference.json").expect("the PyTorch reference");
    serde_json::from_str(&text).expect("JSON")
}

fn sizes(v: &Value) -> Vec<usize> {
    v.as_array().expect("a list").iter().map(|d| d.as_u64().expect("a size") as usize).collect()
}

/// A saved tensor, from its exact bits.
fn saved(v: &Value) -> Array {
    let data = v["bits"].as_array().expect("bits").iter().map(|b| f64::from_bits(b.as_u64().expect("u64"))).collect();
    Array { shape: sizes(&v["shape"]), data }
}

/// Bit for bit.
fn same(engine: &Array, torch: &Array, what: &str) {
    let (e, t): (Vec<u64>, Vec<u64>) =
        (engine.data.iter().map(|v| v.to_bits()).collect(), torch.data.iter().map(|v| v.to_bits()).collect());
    assert_eq!(e, t, "{what}: {:?} against PyTorch's {:?}", engine.data, torch.data);
}

fn case(name: &str) -> Value {
    reference()["cases"][name].clone()
}

fn pool_of(params: &Value) -> AvgPool {
    AvgPool { kernel: sizes(&params["kernel"]), stride: sizes(&params["stride"]), padding: sizes(&params["padding"]) }
}

#[test]
fn every_layer_gives_pytorchs_own_numbers() {
    let data = reference();
    let cases = data["cases"].as_object().expect("cases");
    let mut seen = 0;
    for (name, c) in cases {
        let x = saved(&c["x"]);
        let (y, jac) = match c["op"].as_str().unwrap() {
            "avg_pool" => {
                let pool = pool_of(&c["params"]);
                (pool.forward(&x).unwrap().0, pool.jacobian_x(&x).unwrap())
            }
            "upsample_nearest" => {
                let up = UpsampleNearest { scale: sizes(&c["params"]["scale"]) };
                (up.forward(&x).unwrap().0, up.jacobian_x(&x).unwrap())
            }
            "conv1d_bias" => {
                let (w, b) = (saved(&c["w"]), saved(&c["b"]));
                let conv = Conv {
                    transposed: false,
                    stride: 1,
                    padding: (0, 0),
                    output_padding: 0,
                    dilation: 1,
                    groups: 1,
                    flip: false,
                };
                let x2 = Array { shape: x.shape[1..].to_vec(), data: x.data.clone() };
                let s = conv.forward(&x2, &w).unwrap();
                let s = Array { shape: [1].into_iter().chain(s.shape).collect(), data: s.data };
                same(&bias_jacobian(&s, &b).unwrap(), &saved(&c["jacobian_b"]), &format!("{name}: ∂/∂b"));
                (add_bias(&s, &b).unwrap(), conv.jacobian_x(&x2, &w).unwrap().0)
            }
            _ => continue,
        };
        same(&y, &saved(&c["output"]), name);
        same(&jac, &saved(&c["jacobian_x"]), &format!("{name}: ∂/∂x"));
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[test]
fn every_refusal_is_pytorchs_in_its_words() {
    let data = reference();
    let refusals = data["refusals"].as_array().expect("refusals");
    assert!(refusals.len() >= 20);
    for r in refusals {
        let shape = sizes(&r["shape"]);
        let x = Array { shape: shape.clone(), data: vec![0.0; shape.iter().product()] };
        let (out, forward, jacobian) = match r["op"].as_str().unwrap() {
            "avg_pool" => {
                let pool = pool_of(&r["params"]);
                (pool.output_shape(&shape), pool.forward(&x).map(|_| ()), pool.jacobian_x(&x).map(|_| ()))
            }
            _ => {
                let up = UpsampleNearest { scale: sizes(&r["params"]["scale"]) };
                (up.output_shape(&shape), up.forward(&x).map(|_| ()), up.jacobian_x(&x).map(|_| ()))
            }
        };
        let expected = LayerError::Refused(r["message"].as_str().unwrap().to_string());
        assert_eq!(out, Err(expected.clone()), "{r}");
        assert_eq!((forward, jacobian), (Err(expected.clone()), Err(expected)), "{r}");
    }
}

#[test]
fn footprints_count_every_intermediate_and_saturate() {
    // Input 2·7, padded 2·9, gathered taps 2·4·3, sums 2·4.
    let pool = AvgPool { kernel: vec![3], stride: vec![2], padding: vec![1] };
    assert_eq!(pool.footprint(&[1, 2, 7]), 14 + 18 + 24 + 8);
    // Input 2·2, then 4·2, then 4·6.
    assert_eq!(UpsampleNearest { scale: vec![2, 3] }.footprint(&[1, 1, 2, 2]), 4 + 8 + 24);
    let huge = usize::MAX;
    assert_eq!(UpsampleNearest { scale: vec![huge, huge] }.footprint(&[1, huge, huge, huge]), u64::MAX);
    let wide = AvgPool { kernel: vec![huge, 0], stride: vec![0, 0], padding: vec![huge, huge] };
    assert_eq!(wide.footprint(&[1, huge, huge, huge]), u64::MAX);
    assert_eq!(wide.footprint(&[1]), 1);
}

#[test]
fn no_size_panics() {
    let huge = usize::MAX;
    let pool = AvgPool { kernel: vec![huge, 1], stride: vec![1, huge], padding: vec![huge / 2, 0] };
    assert!(pool.output_shape(&[1, huge, huge, huge]).is_err());
    let pool = AvgPool { kernel: vec![2], stride: vec![1], padding: vec![1] };
    assert!(pool.output_shape(&[1, huge, huge]).is_err());
    assert!(pool.output_shape(&[2, 1, 3]).is_err() && pool.output_shape(&[1, 1]).is_err());
    assert!(AvgPool { kernel: vec![1; 3], stride: vec![1; 3], padding: vec![0; 3] }
        .output_shape(&[1, 1, 1, 1, 1])
        .is_err());
    let up = UpsampleNearest { scale: vec![huge, huge] };
    assert!(up.output_shape(&[1, 1, huge, 2]).is_err());
    assert!(UpsampleNearest { scale: vec![] }.output_shape(&[1, 1]).is_err());
    let extremes = [0, 1, 2, huge / 2, huge - 1, huge];
    for (k, st, p) in extremes.iter().flat_map(|&k| extremes.iter().flat_map(move |&s| extremes.map(|p| (k, s, p)))) {
        for (&n, &c) in extremes.iter().zip(extremes.iter().rev()) {
            for pool in [
                AvgPool { kernel: vec![k], stride: vec![st], padding: vec![p] },
                AvgPool { kernel: vec![k, st], stride: vec![st, p], padding: vec![p, k] },
            ] {
                let shape: Vec<usize> = [1, c].into_iter().chain(std::iter::repeat_n(n, pool.kernel.len())).collect();
                let _ = (pool.output_shape(&shape), pool.footprint(&shape), pool.candle("x", &shape));
            }
            let up = UpsampleNearest { scale: vec![k, st] };
            let _ = (up.output_shape(&[1, c, n, p]), up.footprint(&[1, c, n, p]), up.candle("x", &[1, c, n, p]));
        }
    }
    // A call PyTorch makes, past what the engine holds: refused, not allocated.
    let far = AvgPool { kernel: vec![1 << 30], stride: vec![1 << 30], padding: vec![1 << 29] };
    let x = input(&[1, 1, 5]);
    assert_eq!(far.output_shape(&x.shape).unwrap(), vec![1, 1, 1]);
    let refusal = Err(LayerError::Refused(format!(
        "the layer would hold {} values in the engine, more than 2147483648",
        far.footprint(&x.shape)
    )));
    assert_eq!((far.forward(&x).map(|_| ()), far.jacobian_x(&x).map(|_| ())), (refusal.clone(), refusal));
    // Values that do not fill their shape are refused, not read past.
    let short = Array { shape: vec![1, 1, 4], data: vec![1.0; 3] };
    assert!(matches!(pool.forward(&short), Err(LayerError::Refused(_))));
}

#[test]
fn the_candle_calls_are_the_composition_run() {
    let pool = AvgPool { kernel: vec![3], stride: vec![2], padding: vec![1] };
    assert_eq!(
        pool.candle("x", &[1, 2, 7]).unwrap(),
        "x.pad_with_zeros(2, 1, 1)?.index_select(&Tensor::from_iter((0..4u32).flat_map(|t| (0..3u32).map(move |m| t * 2 + m)), \
         &Device::Cpu)?, 2)?.reshape((1, 2, 4, 3))?.sum(3)?.broadcast_div(&Tensor::new(3f64, &Device::Cpu)?)?"
    );
    // The same calls, written out here, give the forward's values.
    let x = input(&[1, 2, 7]);
    let t = Tensor::from_vec(x.data.clone(), (1, 2, 7), &Device::Cpu).unwrap();
    let taps = Tensor::from_iter((0..4u32).flat_map(|t| (0..3u32).map(move |m| t * 2 + m)), &Device::Cpu).unwrap();
    let y = t.pad_with_zeros(2, 1, 1).unwrap().index_select(&taps, 2).unwrap().reshape((1, 2, 4, 3)).unwrap();
    let y = y.sum(3).unwrap().broadcast_div(&Tensor::new(3f64, &Device::Cpu).unwrap()).unwrap();
    assert_eq!(y.flatten_all().unwrap().to_vec1::<f64>().unwrap(), pool.forward(&x).unwrap().0.data);
    let up = UpsampleNearest { scale: vec![2, 3] };
    assert_eq!(
        up.candle("x", &[1, 1, 2, 2]).unwrap(),
        "x.index_select(&Tensor::from_iter((0..4u32).map(|i| i / 2), &Device::Cpu)?, 2)?\
         .index_select(&Tensor::from_iter((0..6u32).map(|i| i / 3), &Device::Cpu)?, 3)?"
    );
    assert!(matches!(up.candle("x", &[1, 0, 2, 2]), Err(LayerError::Refused(_))));
}

// Candle's own calls, whose faults the compositions avoid.

/// `∂f/∂x` by candle's autograd, one backward pass per output, `[outputs, inputs]`; or
/// candle's error.
fn candle_jacobian(x: &Array, f: impl Fn(&Tensor) -> candle_core::Result<Tensor>) -> candle_core::Result<Array> {
    let var = Var::from_vec(x.data.clone(), x.shape.as_slice(), &Device::Cpu)?;
    let outputs = f(var.as_tensor())?.elem_count();
    let mut data = Vec::new();
    for r in 0..outputs {
        let mut mask = vec![0.0; outputs];
        mask[r] = 1.0;
        let y = f(var.as_tensor())?;
        let mask = Tensor::from_vec(mask, y.shape(), &Device::Cpu)?;
        let grads = (y * mask)?.sum_all()?.backward()?;
        data.extend(grads.get(var.as_tensor()).expect("a gradient").flatten_all()?.to_vec1::<f64>()?);
    }
    Ok(Array { shape: vec![outputs, x.data.len()], data })
}

#[test]
fn candles_avg_pool2d_backward_gives_read_by_none_inputs_a_gradient() {
    let c = case("avg_pool2d_untiled_k2_s2");
    let (x, torch) = (saved(&c["x"]), saved(&c["jacobian_x"]));
    let candle = candle_jacobian(&x, |t| t.avg_pool2d_with_stride((2, 2), (2, 2))).unwrap();
    // Input (4, 4), the last, is in no window: PyTorch's column is 0, candle's is not.
    let last_column = |j: &Array| (0..4).map(|r| j.data[r * 25 + 24]).collect::<Vec<_>>();
    assert_eq!(last_column(&torch), vec![0.0; 4]);
    assert_ne!(last_column(&candle), vec![0.0; 4]);
    same(&pool_of(&c["params"]).jacobian_x(&x).unwrap(), &torch, "the composition");
}

#[test]
fn candles_avg_pool2d_backward_bails_where_kernel_and_stride_differ_and_its_forward_multiplies() {
    let c = case("avg_pool2d_k3_s1");
    let x = saved(&c["x"]);
    let error = candle_jacobian(&x, |t| t.avg_pool2d_with_stride((3, 3), (1, 1))).unwrap_err();
    assert!(error.to_string().contains("backward not supported for avgpool2d"), "{error}");
    // Candle's forward multiplies the sum by a rounded 1/9: off PyTorch's quotient by an ulp.
    let t = Tensor::from_vec(x.data.clone(), x.shape.as_slice(), &Device::Cpu).unwrap();
    let candle = t.avg_pool2d_with_stride((3, 3), (1, 1)).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let torch = saved(&c["output"]);
    assert_ne!(candle, torch.data);
    assert!(candle.iter().zip(&torch.data).all(|(a, b)| (a - b).abs() <= 2.0 * f64::EPSILON * b.abs()));
    same(&pool_of(&c["params"]).forward(&x).unwrap().0, &torch, "the composition");
}

#[test]
fn candles_upsample_backward_overwrites_the_inputs_other_gradients() {
    let c = case("upsample_nearest1d_s2_and_identity");
    let (x, torch) = (saved(&c["x"]), saved(&c["jacobian_x"]));
    let n = x.shape[2];
    // The upsampled input and the input itself, side by side, as the reference has them.
    let candle = candle_jacobian(&x, |t| Tensor::cat(&[t.upsample_nearest1d(2 * n)?, t.clone()], 2)).unwrap();
    assert_ne!(candle.data, torch.data);
    // Its rows for the input's own copy are all zeros: that gradient was overwritten.
    assert!(candle.data[2 * n * n..].iter().all(|&v| v == 0.0));
    // index_select's backward adds: the same function through it is PyTorch's.
    let rows = Tensor::new((0..2 * n as u32).map(|i| i / 2).collect::<Vec<_>>(), &Device::Cpu).unwrap();
    let composed = candle_jacobian(&x, |t| Tensor::cat(&[t.index_select(&rows, 2)?, t.clone()], 2)).unwrap();
    same(&composed, &torch, "index_select");
}

#[test]
fn candles_upsample_nearest2d_backward_bails_for_factors_that_differ() {
    let c = case("upsample_nearest2d_s2x3");
    let x = saved(&c["x"]);
    let (h, w) = (x.shape[2], x.shape[3]);
    let error = candle_jacobian(&x, |t| t.upsample_nearest2d(2 * h, 3 * w)).unwrap_err();
    assert!(error.to_string().contains("non uniform upscaling factors"), "{error}");
    let up = UpsampleNearest { scale: vec![2, 3] };
    same(&up.jacobian_x(&x).unwrap(), &saved(&c["jacobian_x"]), "the composition");
}
