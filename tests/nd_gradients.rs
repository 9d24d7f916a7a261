//! The backward pass of every N-D family: for conv2d, conv3d and their transposes, with
//! strides, dilations, asymmetric padding, groups and flipped kernels, symconv names one
//! engine call per gradient (or says why there is none), proves it, and runs it on the
//! engine, where it equals brute force's `Jᵀg` from the definition at every entry.

use symconv::check::{report, RunOptions};
use symconv::derive::backward::gradient_call;
use symconv::engine::nd::ConvNd;
use symconv::engine::Array;

/// One spatial axis of a call: stride, padding before and after, output_padding, dilation.
type AxisP = (usize, usize, usize, usize, usize);

/// One call of several spatial axes, as a spec is written from it.
struct Case {
    transposed: bool,
    /// Input channels, output channels, groups (0 channels: a tensor of spatial axes only).
    channels: (usize, usize, usize),
    /// The input's and the kernel's lengths, per axis.
    n: Vec<usize>,
    k: Vec<usize>,
    axes: Vec<AxisP>,
    flip: bool,
    /// Whether the e-graph proves both calls (else each is checked on the engine only).
    proves: bool,
}

const INPUT: [&str; 3] = ["Z", "H", "V"];
const KERNEL: [&str; 3] = ["R", "P", "Q"];
const OUT: [&str; 3] = ["i", "j", "l"];
const TAP: [&str; 3] = ["a", "b", "e"];
const AT: [&str; 3] = ["u", "v", "z"];

impl Case {
    /// The spec: PyTorch's definition as the index formula, and the run line.
    fn spec(&self) -> String {
        let d = self.n.len();
        let (c, o, g) = self.channels;
        let with_channels = c > 0;
        let names = |v: &[&'static str]| v[3 - d..].to_vec();
        let (ns, ks) = (names(&INPUT), names(&KERNEL));
        let (outs, taps, ats) = (&OUT[..d], &TAP[..d], &AT[..d]);
        let join = |v: Vec<String>| v.join(", ");
        let tap = |a: usize| match self.flip {
            true => format!("{} - 1 - {}", ks[a], taps[a]),
            false => taps[a].to_string(),
        };
        let kernel = join((0..d).map(tap).collect());
        let mut spec = String::new();
        let shape = |head: Vec<String>, axes: &[&str]| {
            join(head.into_iter().chain(axes.iter().map(|s| s.to_string())).collect())
        };
        let (x_head, w_head) = match (with_channels, self.transposed) {
            (false, _) => (vec![], vec![]),
            (true, false) => (vec![c.to_string()], vec![o.to_string(), (c / g).to_string()]),
            (true, true) => (vec![c.to_string()], vec![c.to_string(), (o / g).to_string()]),
        };
        spec += &format!("input  x[{}]\nweight w[{}]\n", shape(x_head, &ns), shape(w_head, &ks));
        let lets = (0..d).map(|a| format!("{} = {}, {} = {}", ns[a], self.n[a], ks[a], self.k[a]));
        spec += &format!("let    {}\n", join(lets.collect()));
        let param = |f: &dyn Fn(&AxisP) -> usize| {
            let v: Vec<String> = self.axes.iter().map(|a| f(a).to_string()).collect();
            format!("({})", v.join(", "))
        };
        let call = if self.transposed { format!("conv_transpose{d}d") } else { format!("conv{d}d") };
        let weight = if self.flip { "flip(w)" } else { "w" };
        let mut run = format!("{call}(x, {weight}, stride = {}, dilation = {}", param(&|a| a.0), param(&|a| a.4));
        if !self.transposed {
            let pads: Vec<String> = self.axes.iter().map(|a| format!("({}, {})", a.1, a.2)).collect();
            run += &format!(", padding = ({})", pads.join(", "));
            if self.axes.iter().any(|a| a.1 + a.2 > 0) {
                let pads: Vec<String> = self.axes.iter().map(|a| format!("({}, {})", a.1, a.2)).collect();
                spec += &format!("pad    x {}\n", pads.join(", "));
            }
            let pos = (0..d).map(|a| {
                let (s, before, _, _, dl) = self.axes[a];
                format!("{s}{} + {dl}{} - {before}", outs[a], taps[a]).replace(" - 0", "")
            });
            let pos = join(pos.collect());
            let (sum, x_at, w_at) = match with_channels {
                false => (join(taps.iter().map(|t| t.to_string()).collect()), pos, kernel),
                true => {
                    let (per_in, per_out) = (c / g, o / g);
                    let channel = match (g, per_in) {
                        (1, _) => "c".to_string(),
                        (_, 1) => format!("o div {per_out}"),
                        _ => format!("{per_in}(o div {per_out}) + c"),
                    };
                    let sum = if per_in == 1 { vec![] } else { vec!["c".to_string()] };
                    let sum = join(sum.into_iter().chain(taps.iter().map(|t| t.to_string())).collect());
                    let w_channel = if per_in == 1 { "0" } else { "c" };
                    (sum, format!("{channel}, {pos}"), format!("o, {w_channel}, {kernel}"))
                }
            };
            let s_at = if with_channels { format!("o, {}", outs.join(", ")) } else { outs.join(", ") };
            spec += &format!("s_<{s_at}> = Σ_<{sum}> x_<{x_at}> w_<{w_at}>\n");
        } else {
            run += &format!(", padding = {}, output_padding = {}", param(&|a| a.1), param(&|a| a.3));
            let lengths = (0..d).map(|a| {
                let (s, p, _, op, dl) = self.axes[a];
                format!("({} - 1)*{s} - {} + {dl}*({} - 1) + {op} + 1", ns[a], 2 * p, ks[a])
            });
            let mut lengths: Vec<String> = lengths.collect();
            if with_channels {
                lengths.insert(0, o.to_string());
            }
            spec += &format!("output s[{}]\n", join(lengths));
            let hits = (0..d).map(|a| {
                let (s, p, _, _, dl) = self.axes[a];
                format!("[{} = {s}{} + {dl}{} - {p}]", outs[a], ats[a], taps[a])
            });
            let hits: Vec<String> = hits.collect();
            let at = join(ats.iter().map(|t| t.to_string()).collect());
            let (sum, x_at, w_at, s_at) = match with_channels {
                false => (format!("{at}, {}", taps.join(", ")), at.clone(), kernel, outs.join(", ")),
                true => {
                    let (per_in, per_out) = (c / g, o / g);
                    let within = match (g, per_in, per_out) {
                        (1, _, _) => "o".to_string(),
                        (_, 1, 1) => "0".to_string(),
                        _ => format!("o - {per_out}(c div {per_in})"),
                    };
                    (
                        format!("c, {at}, {}", taps.join(", ")),
                        format!("c, {at}"),
                        format!("c, {within}, {kernel}"),
                        format!("o, {}", outs.join(", ")),
                    )
                }
            };
            let one_each = if g > 1 && c == g && o == g { " [o = c]" } else { "" };
            spec += &format!("s_<{s_at}> = Σ_<{sum}> x_<{x_at}> w_<{w_at}>{one_each} {}\n", hits.join(" "));
        }
        if g != 1 {
            run += &format!(", groups = {g}");
        }
        spec + &format!("run    {run})\n")
    }
}

/// The cases: every family, with what makes its gradients' calls differ from the plain one.
fn cases() -> Vec<(&'static str, Case)> {
    let plain = |n: usize| (1, 0, 0, 0, n);
    vec![
        (
            "conv2d, stride (2, 1), asymmetric padding, channels",
            Case {
                transposed: false,
                channels: (2, 3, 1),
                n: vec![5, 6],
                k: vec![3, 2],
                axes: vec![(2, 1, 1, 0, 1), (1, 0, 1, 0, 1)],
                flip: false,
                proves: true,
            },
        ),
        (
            "conv2d, dilation (1, 2), padding on one axis, flipped, no channels",
            Case {
                transposed: false,
                channels: (0, 0, 1),
                n: vec![5, 7],
                k: vec![2, 3],
                axes: vec![plain(1), (1, 2, 2, 0, 2)],
                flip: true,
                proves: true,
            },
        ),
        (
            "conv2d, depthwise, stride 2, non-square",
            Case {
                transposed: false,
                channels: (3, 3, 3),
                n: vec![6, 5],
                k: vec![3, 2],
                axes: vec![(2, 1, 1, 0, 1), (2, 0, 1, 0, 1)],
                flip: false,
                proves: true,
            },
        ),
        (
            "conv2d, 2 groups of 2 channels",
            Case {
                transposed: false,
                channels: (4, 4, 2),
                n: vec![4, 5],
                k: vec![2, 2],
                axes: vec![plain(1), plain(1)],
                flip: false,
                proves: true,
            },
        ),
        (
            "conv_transpose2d, stride (2, 1), padding (1, 0), output_padding (1, 0), channels",
            Case {
                transposed: true,
                channels: (2, 3, 1),
                n: vec![3, 4],
                k: vec![3, 2],
                axes: vec![(2, 1, 1, 1, 1), (1, 0, 0, 0, 1)],
                flip: false,
                proves: true,
            },
        ),
        (
            // The e-graph does not meet these within its limits: each call is checked on
            // the engine at the spec's sizes only, and says so.
            "conv_transpose2d, depthwise, dilation (2, 1), flipped",
            Case {
                transposed: true,
                channels: (2, 2, 2),
                n: vec![3, 3],
                k: vec![2, 2],
                axes: vec![(1, 0, 0, 0, 2), (2, 1, 1, 1, 1)],
                flip: true,
                proves: false,
            },
        ),
        (
            "conv3d, stride (1, 2, 1), asymmetric padding, channels",
            Case {
                transposed: false,
                channels: (2, 2, 1),
                n: vec![4, 5, 3],
                k: vec![2, 2, 2],
                axes: vec![(1, 1, 0, 0, 1), (2, 0, 0, 0, 1), (1, 1, 1, 0, 1)],
                flip: false,
                proves: true,
            },
        ),
        (
            "conv_transpose3d, stride (2, 1, 1), padding (0, 1, 0)",
            Case {
                transposed: true,
                channels: (0, 0, 1),
                n: vec![2, 3, 2],
                k: vec![2, 3, 2],
                axes: vec![(2, 0, 0, 1, 1), (1, 1, 1, 0, 1), plain(1)],
                flip: false,
                proves: true,
            },
        ),
    ]
}

#[test]
fn every_n_d_gradient_has_a_proved_call_that_equals_brute_force_on_the_engine() {
    for (name, case) in cases() {
        let src = case.spec();
        let model = symconv::model::resolve(&symconv::syntax::parse(&src).unwrap(), &src, name, &[])
            .unwrap_or_else(|e| panic!("{name}: {e:?}\n{src}"));
        let derivation = symconv::derive::derive(&model, &symconv::limits::Limits::default()).unwrap();
        let report = report(model, derivation, true, RunOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.runs.len(), 1, "{name}");
        assert_eq!(report.runs[0].holds, Some(true), "{name}: the run line\n{src}\n{:?}", report.runs[0]);
        let grouped = case.channels.2 > 1 && case.channels.0 != case.channels.2;
        for b in &report.backward {
            let detail = b.findings.join("; ");
            assert!(detail.contains("the gather form equals brute force's Jᵀg"), "{name}, ∂L/∂{}: {detail}", b.wrt);
            if grouped && b.wrt == "w" {
                let why = b.call.as_ref().expect_err("a grouped weight's gradient is no single call");
                assert!(why.contains("block diagonal of a conv2d"), "{name}: {why}");
                continue;
            }
            let call = b.call.as_ref().unwrap_or_else(|e| panic!("{name}, ∂L/∂{}: no call: {e}\n{src}", b.wrt));
            assert_eq!(
                call.proof.is_ok(),
                case.proves,
                "{name}, ∂L/∂{}: {}: {:?}\n{src}",
                b.wrt,
                call.symbolic,
                call.proof
            );
            assert!(
                detail.contains(&format!("the call {} on the engine", call.at_sizes))
                    && detail.contains("agrees at every entry"),
                "{name}, ∂L/∂{}: {detail}",
                b.wrt
            );
            assert_eq!(b.holds, Some(true), "{name}, ∂L/∂{}: {detail}", b.wrt);
        }
    }
}

/// The calls as PyTorch code. Each expression below was run in PyTorch 2.15 on the case's
/// tensors and equalled autograd's gradient exactly (as tests/data/torch_backward.py does
/// for the shipped specs); the test pins that symconv still writes them.
#[test]
fn gradient_calls_are_written_as_pytorch_takes_them() {
    let by_name = |wanted: &str| cases().into_iter().find(|(n, _)| n.starts_with(wanted)).expect("a case").1;
    let call = |case: &Case, t: &str| {
        let src = case.spec();
        let model = symconv::model::resolve(&symconv::syntax::parse(&src).unwrap(), &src, "t", &[]).unwrap();
        let derivation = symconv::derive::derive(&model, &symconv::limits::Limits::default()).unwrap();
        let call = gradient_call(&model, &derivation, &model.runs[0], t).unwrap();
        (call.symbolic(true), call.torch(&model.values).unwrap())
    };
    // Per axis: a symmetric padding is the transpose's, an asymmetric one is cropped from
    // the unpadded transpose; F.pad's pairs run from the last axis.
    let strided = by_name("conv2d, stride (2, 1)");
    assert_eq!(
        call(&strided, "x"),
        (
            "conv_transpose2d(g, w, stride = (2, 1), padding = (1, 0), output_padding = ((H - P) mod 2, 0))[:, : V]"
                .into(),
            "F.conv_transpose2d(g, w, stride=(2, 1), padding=(1, 0))[..., :, :6]".into()
        )
    );
    assert_eq!(
        call(&strided, "w").1,
        "F.conv2d(F.pad(x, (0, 1, 1, 1)).transpose(0, 1), g.transpose(0, 1), dilation=(2, 1)).transpose(0, 1)[..., :3, :]"
    );
    // A flipped kernel: the weight's gradient reversed along every spatial axis.
    let flipped = by_name("conv2d, dilation (1, 2)");
    assert_eq!(
        call(&flipped, "w").1,
        "F.conv2d(x.transpose(0, 1), g.transpose(0, 1), stride=(1, 2), padding=(0, 2)).transpose(0, 1).flip(-2, -1)"
    );
    let transposed = by_name("conv_transpose2d, stride (2, 1)");
    assert_eq!(call(&transposed, "x").1, "F.conv2d(g, w, stride=(2, 1), padding=(1, 0))");
    let volume = by_name("conv3d");
    assert_eq!(
        call(&volume, "x").1,
        "F.conv_transpose3d(g, w, stride=(1, 2, 1), padding=(0, 0, 1), output_padding=(0, 1, 0))[..., 1:5, :, :]"
    );
}

/// Checks a spec's claims: each claim's verdict and grounds, in order.
fn claims(src: &str) -> Vec<(symconv::check::Verdict, String)> {
    let model = symconv::model::resolve(&symconv::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
    let derivation = symconv::derive::derive(&model, &symconv::limits::Limits::default()).unwrap();
    let report = report(model, derivation, false, RunOptions::default()).unwrap_or_else(|e| panic!("{e}\n{src}"));
    report.claims.into_iter().map(|c| (c.verdict, c.grounds)).collect()
}

#[test]
fn claims_of_n_d_gradient_calls_are_proved_or_refuted() {
    use symconv::check::Verdict;
    let fixture = std::fs::read_to_string("tests/fixtures/gradient_call_nd.conv").unwrap();
    for (verdict, grounds) in claims(&fixture) {
        assert_eq!(verdict, Verdict::Proved, "{grounds}");
    }
    // PyTorch's conv2d is a cross-correlation: a flipped kernel is another gradient.
    let flipped = fixture.replace("claim ∂L/∂w = conv2d(x, g)\n", "").replace("(g, w)", "(g, flip(w))");
    let [(verdict, grounds)] = claims(&flipped).try_into().expect("one claim");
    assert_eq!(verdict, Verdict::Refuted);
    assert!(grounds.contains("the claim gives w[1,2], the definition gives w[0,0]"), "{grounds}");
    // A conv2d call in a 1-D spec does not fit its tensors: refuted, without a panic.
    let one_d = "input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_l w_<i-l>\nclaim ∂L/∂x = conv2d(g, w)\n";
    let [(verdict, grounds)] = claims(one_d).try_into().expect("one claim");
    assert_eq!((verdict, grounds.as_str()), (Verdict::Refuted, "the call's tensors have ranks that do not fit it"));
}

/// A gradient's call as a claim writes it: one PyTorch call on `g` and `w`.
#[derive(Clone, Debug)]
struct Call {
    transposed: bool,
    stride: Vec<usize>,
    padding: Vec<usize>,
    output_padding: Vec<usize>,
    dilation: Vec<usize>,
    groups: usize,
    flip: bool,
}

impl Call {
    /// `∂L/∂x` of a case whose call needs no crop: the transpose of its run, per axis.
    fn of_input_gradient(case: &Case) -> Call {
        let per_axis = |f: &dyn Fn(usize) -> usize| (0..case.n.len()).map(f).collect::<Vec<_>>();
        let output_padding = per_axis(&|a| {
            let (s, p, _, _, dl) = case.axes[a];
            match case.transposed {
                true => 0,
                false => (case.n[a] + 2 * p - dl * (case.k[a] - 1) - 1) % s,
            }
        });
        Call {
            transposed: !case.transposed,
            stride: per_axis(&|a| case.axes[a].0),
            padding: per_axis(&|a| case.axes[a].1),
            output_padding,
            dilation: per_axis(&|a| case.axes[a].4),
            groups: case.channels.2,
            flip: case.flip,
        }
    }

    fn text(&self) -> String {
        let tuple = |v: &[usize]| format!("({})", v.iter().map(usize::to_string).collect::<Vec<_>>().join(", "));
        let d = self.stride.len();
        let op = if self.transposed { format!("conv_transpose{d}d") } else { format!("conv{d}d") };
        let w = if self.flip { "flip(w)" } else { "w" };
        let mut text = format!("{op}(g, {w}, stride = {}, padding = {}", tuple(&self.stride), tuple(&self.padding));
        if self.transposed {
            text += &format!(", output_padding = {}", tuple(&self.output_padding));
        }
        text + &format!(", dilation = {}, groups = {})", tuple(&self.dilation), self.groups)
    }

    fn engine(&self) -> ConvNd {
        ConvNd {
            transposed: self.transposed,
            stride: self.stride.clone(),
            padding: self.padding.iter().map(|&p| (p, p)).collect(),
            output_padding: self.output_padding.clone(),
            dilation: self.dilation.clone(),
            groups: self.groups,
            flip: self.flip,
        }
    }

    /// Every call one change away: one axis's stride, padding, output_padding or dilation
    /// one more or one less, two axes' values swapped, the kernel flipped or not, other
    /// groups.
    fn mutants(&self) -> Vec<Call> {
        let mut out = Vec::new();
        let fields: [fn(&mut Call) -> &mut Vec<usize>; 4] =
            [|c| &mut c.stride, |c| &mut c.padding, |c| &mut c.output_padding, |c| &mut c.dilation];
        // A convolution has no output_padding: only a transposed call's changes.
        let fields = if self.transposed { &fields[..] } else { &[fields[0], fields[1], fields[3]][..] };
        for field in fields {
            for a in 0..self.stride.len() {
                for delta in [-1i64, 1] {
                    let mut m = self.clone();
                    let v = &mut field(&mut m)[a];
                    match usize::try_from(*v as i64 + delta) {
                        Ok(changed) => *v = changed,
                        Err(_) => continue,
                    }
                    out.push(m);
                }
                for b in a + 1..self.stride.len() {
                    let mut m = self.clone();
                    field(&mut m).swap(a, b);
                    out.push(m);
                }
            }
        }
        out.push(Call { flip: !self.flip, ..self.clone() });
        for groups in [1, 2 * self.groups] {
            if groups != self.groups {
                out.push(Call { groups, ..self.clone() });
            }
        }
        out
    }
}

/// Distinct integers, from `start` by 3.
fn distinct(shape: Vec<usize>, start: f64) -> Array {
    let len = shape.iter().product();
    Array { data: (0..len).map(|i| start + 3.0 * i as f64).collect(), shape }
}

/// Adversarial claims: every call one change away from a proved `∂L/∂x` call, claimed in
/// one spec. No claim may be proved or checked where the engine finds it false at the
/// spec's sizes: the truth is `Jᵀg` from the run line's Jacobian on the engine (unit
/// inputs), against the claimed call run on the engine.
#[test]
fn claimed_calls_one_change_away_get_no_false_verdict() {
    use symconv::check::Verdict;
    let mut refuted = 0;
    for (name, case) in cases() {
        let base = Call::of_input_gradient(&case);
        // Only calls a claim can state: no crop (asymmetric padding) and no channels moved.
        if !case.transposed && case.axes.iter().any(|a| a.1 != a.2) {
            continue;
        }
        let run = Call {
            transposed: case.transposed,
            output_padding: case.axes.iter().map(|a| a.3).collect(),
            ..base.clone()
        };
        let (c, _, _) = case.channels;
        let lead = |spatial: &[usize], head: &[usize]| [head, spatial].concat();
        let x = distinct(lead(&case.n, &[1, c.max(1)]), 1.0);
        let w_head = match (c, case.transposed) {
            (0, _) => vec![1, 1],
            (_, false) => vec![case.channels.1, c / case.channels.2],
            (_, true) => vec![c, case.channels.1 / case.channels.2],
        };
        let w = distinct(lead(&case.k, &w_head), 101.0);
        let conv = run.engine();
        let out_shape = conv.output_shape(&x.shape, &w.shape);
        let g = distinct(out_shape.clone(), -40.0);
        let jacobian = conv.jacobian_x(&x, &w).unwrap();
        let inputs = x.data.len();
        let truth: Vec<f64> =
            (0..inputs).map(|j| (0..g.data.len()).map(|r| jacobian.data[r * inputs + j] * g.data[r]).sum()).collect();
        let holds = |call: &Call| {
            let engine = call.engine();
            engine.output_shape(&g.shape, &w.shape) == x.shape
                && engine.forward(&g, &w).is_ok_and(|(y, _)| y.data == truth)
        };
        assert!(holds(&base), "{name}: the named call is not the truth on the engine");
        let mut spec = case.spec();
        let mut kept = vec![base.clone()];
        for m in base.mutants() {
            let line = format!("claim ∂L/∂x = {}\n", m.text());
            // A call PyTorch refuses (an output_padding past the stride, groups that do
            // not divide the channels) is an error of the spec: left out.
            let trial = spec.clone() + &line;
            if symconv::model::resolve(&symconv::syntax::parse(&trial).unwrap(), &trial, name, &[]).is_ok() {
                spec = trial;
                kept.push(m);
            }
        }
        let spec = spec.replacen("run ", "# run ", 1);
        let spec = spec + &format!("claim ∂L/∂x = {}\n", base.text());
        let reports = claims(&spec);
        let (own, mutants) = reports.split_last().expect("the named call's claim");
        let own_verdict = if case.proves { Verdict::Proved } else { Verdict::Checked };
        assert_eq!(own.0, own_verdict, "{name}: {}: {}", base.text(), own.1);
        for ((verdict, grounds), call) in mutants.iter().zip(&kept[1..]) {
            let truth = holds(call);
            assert!(
                truth || *verdict == Verdict::Refuted,
                "{name}: {} is false on the engine at the spec's sizes, but {verdict:?}: {grounds}",
                call.text()
            );
            refuted += usize::from(*verdict == Verdict::Refuted);
        }
    }
    assert!(refuted >= 20, "only {refuted} mutants refuted");
}

#[test]
fn a_claimed_call_whose_groups_do_not_fit_its_channels_is_refuted() {
    use symconv::check::Verdict;
    // One channel cannot be split in 2 groups: the index formula would not see the groups,
    // and this was once proved.
    let one_d = "input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_<i+m> w_m\n\
                 claim ∂L/∂x = conv_transpose1d(g, w, groups = 2)\nclaim ∂L/∂x = conv_transpose1d(g, w)\n";
    assert_eq!(
        claims(one_d),
        [
            (Verdict::Refuted, "PyTorch refuses it: in_channels (1) must be divisible by groups (2)".to_string()),
            (Verdict::Proved, claims(one_d)[1].1.clone()),
        ]
    );
    let grouped = "input x[4, H, V]\nweight w[4, 2, P, Q]\nlet H = 4, V = 5, P = 2, Q = 2\n\
                   s_<o, i, j> = Σ_<c, a, b> x_<2(o div 2) + c, i + a, j + b> w_<o, c, a, b>\n\
                   claim ∂L/∂x = conv_transpose2d(g, w, groups = 3)\n";
    let [(verdict, grounds)] = claims(grouped).try_into().expect("one claim");
    assert_eq!(verdict, Verdict::Refuted);
    assert_eq!(grounds, "PyTorch refuses it: in_channels (4) must be divisible by groups (3)");
    // Groups that PyTorch takes, but whose output has other channels than the tensor: the
    // coefficient is compared over the tensor's indices only, so the channels are compared
    // first.
    let more = grouped.replace("groups = 3", "groups = 4");
    let [(verdict, grounds)] = claims(&more).try_into().expect("one claim");
    assert_eq!((verdict, grounds.as_str()), (Verdict::Refuted, "the call's output has 8 channels, `x` has 4"));
}
