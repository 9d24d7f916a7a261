//! `symconv new`: a spec written from every accepted PyTorch call (each nn class, each
//! functional form, 'same', 'valid', groups, dilation, transposed with output_padding) is
//! checked through the library (every claim proved, every run and gradient agreeing) and
//! snapshotted into `snapshots/new/`; its lengths are compared with PyTorch's formulas
//! computed here; a call it cannot express is refused with PyTorch's words, its column,
//! exit 2 and nothing on stdout.

use std::path::Path;
use std::process::{Command, Output};
use symconv::check::{RunOptions, Verdict};
use symconv::cli::{analyse_model, load_bytes};

fn symconv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs")
}

/// One spatial axis as PyTorch's formula takes it: input size, kernel size, stride,
/// padding, dilation, output_padding.
type Axis = (i64, i64, i64, i64, i64, i64);

/// A call, its `--let`, and for some, each axis's numbers for PyTorch's length formula
/// (with whether it is transposed).
struct Case {
    name: &'static str,
    call: &'static str,
    lets: &'static str,
    torch: Option<(bool, Vec<Axis>)>,
    /// How many of `∂s/∂x` and `∂s/∂w` derive gives in closed form (a claim each); the
    /// others are written as comments.
    closed: usize,
    /// Whether the layer has a bias (PyTorch's modules by default).
    bias: bool,
}

fn case(name: &'static str, call: &'static str, lets: &'static str) -> Case {
    // PyTorch's modules have a bias unless told bias=False; a functional call when it passes one.
    let bias = call.contains("nn.Conv") && !call.contains("bias=False") || call.contains("bias=b");
    Case { name, call, lets, torch: None, closed: 2, bias }
}

/// insta's settings for `snapshots/new/`.
fn snapshots_in_new() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots/new");
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// What `symconv new CALL --let LETS` writes, which must succeed without a word on
/// standard error.
fn written(call: &str, lets: &str) -> String {
    let o = symconv(&["new", call, "--let", lets]);
    let (spec, err) = (String::from_utf8(o.stdout).unwrap(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert_eq!(o.status.code(), Some(0), "{call}: {err}");
    assert!(err.is_empty(), "{call}: {err}");
    spec
}

/// The report's one run, or, where it was not run (a layer's or a bias's run is compared
/// on the engine only at sizes with tables), the same spec's run at [`small_sizes`].
fn run_or_small(path: &Path, spec: &str, lets: &str, report: &symconv::check::Report) -> symconv::check::RunReport {
    if report.runs[0].holds.is_some() {
        return report.runs[0].clone();
    }
    let small = symconv::cli::Sizes(small_sizes(lets));
    let model = load_bytes(path, spec.as_bytes().to_vec(), Some(&small)).expect("it loads");
    analyse_model(path, model, false, RunOptions::default()).expect("it checks").runs.remove(0)
}

/// The sizes of `lets` (`H=32,V=32`) cut to at most 5: small enough for tables.
fn small_sizes(lets: &str) -> Vec<(String, i64)> {
    let pair = |p: &str| p.split_once('=').map(|(n, v)| (n.to_string(), v.parse::<i64>().expect("a size").min(5)));
    lets.split(',').map(|p| pair(p).expect("n=v")).collect()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "conv1d_module",
            call: "nn.Conv1d(2, 3, 3, stride=2, padding=1)",
            lets: "n=9",
            closed: 2,
            bias: true,
            torch: Some((false, vec![(9, 3, 2, 1, 1, 0)])),
        },
        case("conv1d_one_channel", "torch.nn.Conv1d(1, 1, 3, bias=False)", "n=10"),
        Case {
            name: "conv2d_readme",
            call: "nn.Conv2d(3, 8, 3, stride=2, padding=1)",
            lets: "H=32,V=32",
            closed: 2,
            bias: true,
            torch: Some((false, vec![(32, 3, 2, 1, 1, 0), (32, 3, 2, 1, 1, 0)])),
        },
        Case {
            name: "conv3d_module",
            call: "nn.Conv3d(2, 2, (2, 3, 2), stride=(1, 2, 2), padding=(1, 0, 1))",
            lets: "Z=3,H=5,V=4",
            closed: 2,
            bias: true,
            torch: Some((false, vec![(3, 2, 1, 1, 1, 0), (5, 3, 2, 0, 1, 0), (4, 2, 2, 1, 1, 0)])),
        },
        Case {
            name: "conv_transpose1d_module",
            call: "nn.ConvTranspose1d(2, 3, 3, stride=2, padding=1, output_padding=1)",
            lets: "n=4",
            closed: 2,
            bias: true,
            torch: Some((true, vec![(4, 3, 2, 1, 1, 1)])),
        },
        Case {
            name: "conv_transpose2d_module_grouped",
            call: "nn.ConvTranspose2d(4, 4, (3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2)",
            lets: "H=3,V=3",
            closed: 2,
            bias: true,
            torch: Some((true, vec![(3, 3, 2, 1, 1, 1), (3, 2, 1, 0, 1, 0)])),
        },
        Case {
            name: "conv_transpose3d_module",
            call: "nn.ConvTranspose3d(1, 1, 2, stride=2, bias=True)",
            lets: "Z=2,H=2,V=2",
            closed: 2,
            bias: true,
            torch: Some((true, vec![(2, 2, 2, 0, 1, 0); 3])),
        },
        case("conv1d_functional_dilated", "F.conv1d(x, w, stride=2, dilation=2)", "n=10,k=3"),
        case("conv1d_functional_grouped", "F.conv1d(x, w, groups=2)", "n=6,k=2,C=4,O=2"),
        case("conv_transpose1d_positional", "torch.nn.functional.conv_transpose1d(x, w, None, 2, 1, 1)", "n=5,k=3"),
        case("conv2d_valid", "conv2d(x, w, padding='valid')", "H=5,V=6,P=2,Q=3"),
        case("conv2d_same_dilated", "torch.conv2d(x, w, padding=\"same\", dilation=(1, 2))", "H=5,V=6,P=2,Q=3,C=2,O=2"),
        case("conv2d_same_even", "nn.Conv2d(1, 2, (4, 3), padding='same')", "H=5,V=5"),
        case("conv2d_grouped", "nn.Conv2d(4, 6, 2, groups=2)", "H=4,V=4"),
        case("conv2d_dilated", "nn.Conv2d(2, 2, 2, dilation=(1, 2), padding_mode='zeros')", "H=4,V=6"),
        case("conv1d_depthwise_same", "nn.Conv1d(3, 3, 4, padding='same', groups=3)", "n=9"),
        case(
            "conv_transpose2d_functional",
            "F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, dilation=1)",
            "H=3,V=3,P=3,Q=3",
        ),
        // Both closed forms (∂s/∂w's since d-constant-factor takes the brackets out of
        // ∂ before Σ-δ elimination); the call of ∂L/∂x is a comment: the e-graph does not
        // prove it.
        Case {
            name: "conv_transpose2d_depthwise_dilated",
            call: "nn.ConvTranspose2d(2, 2, 2, stride=(1, 2), padding=(0, 1), output_padding=(0, 1), groups=2, dilation=(2, 1))",
            lets: "H=3,V=3",
            torch: None,
            closed: 2,
            bias: true,
        },
        // The same for ∂s/∂w of a transposed call dilated along one axis: its Σ would sum
        // over an index that no shape bounds.
        Case {
            name: "conv_transpose2d_functional_dilated",
            call: "F.conv_transpose2d(x, w, dilation=(1, 2))",
            lets: "H=4,V=5,P=1,Q=2",
            torch: None,
            closed: 1,
            bias: false,
        },
        case("conv3d_functional", "F.conv3d(x, w, padding=1)", "Z=3,H=3,V=3,R=2,P=2,Q=2"),
        case("conv1d_functional_bias", "F.conv1d(x, w, bias=b, stride=2)", "n=9,k=3,C=2,O=3"),
        // Past the sizes with tables: the run with its bias is compared at smaller ones.
        Case {
            name: "conv_transpose2d_module_large",
            call: "nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1)",
            lets: "H=32,V=32",
            torch: Some((true, vec![(32, 3, 2, 1, 1, 0); 2])),
            closed: 2,
            bias: true,
        },
        Case {
            name: "conv2d_functional_bias_positional",
            call: "F.conv2d(x, w, b, padding=1)",
            lets: "H=4,V=5,P=3,Q=2,O=2",
            torch: None,
            closed: 2,
            bias: true,
        },
        case("conv_transpose3d_functional", "F.conv_transpose3d(x, w, stride=(2, 1, 1))", "Z=2,H=2,V=2,R=2,P=2,Q=2"),
    ]
}

/// PyTorch's output length of one axis, from its documented formulas.
fn torch_length(transposed: bool, (n, k, s, p, d, op): Axis) -> i64 {
    match transposed {
        false => (n + 2 * p - d * (k - 1) - 1).div_euclid(s) + 1,
        true => (n - 1) * s - 2 * p + d * (k - 1) + op + 1,
    }
}

#[test]
fn every_form_writes_a_spec_that_is_proved_and_agrees() {
    let _guard = snapshots_in_new().bind_to_scope();
    for c in cases() {
        let spec = written(c.call, c.lets);
        let path = Path::new("new.conv");
        let model = load_bytes(path, spec.clone().into_bytes(), None).unwrap_or_else(|e| panic!("{}: {e}", c.call));
        let report = analyse_model(path, model, false, RunOptions::default()).expect("it checks");
        // The lengths (one per spatial axis, and the channels), and each closed form and
        // its gradient, at least; a form not closed is a comment.
        let dims = report.model.output.indices.len();
        let least = dims + 2 * c.closed;
        assert!(report.claims.len() >= least, "{}: {} claims", c.call, report.claims.len());
        // ∂s/∂x and ∂s/∂w; ∂s/∂bias where the call has a bias (PyTorch's modules by default).
        let of_bias = |l: &&str| l.contains("/∂bias");
        let stated = spec.lines().filter(|l| l.starts_with("claim ∂s") && !of_bias(l)).count();
        let commented = spec.lines().filter(|l| l.starts_with("# ∂s") && !of_bias(l)).count();
        assert_eq!((stated, commented), (c.closed, 2 - c.closed), "{}", c.call);
        let biased = spec.contains("\nweight bias[");
        assert_eq!(biased, c.bias, "{}: the bias", c.call);
        let bias_lines = spec.lines().filter(|l| (l.starts_with("claim ∂s") || l.starts_with("# ∂s")) && of_bias(l));
        assert_eq!(bias_lines.count(), usize::from(biased), "{}: ∂s/∂bias", c.call);
        if biased {
            assert!(
                spec.contains(" + bias_") && spec.contains(", bias = bias)\n"),
                "{}: the bias is added and run",
                c.call
            );
        }
        for claim in &report.claims {
            assert_eq!(claim.verdict, Verdict::Proved, "{}: `{}`: {}", c.call, claim.text, claim.grounds);
        }
        assert_eq!(report.runs.len(), 1, "{}", c.call);
        // A run with a bias is compared on the engine only at sizes with tables: past them,
        // at smaller input sizes.
        assert!(biased || report.runs[0].holds.is_some(), "{}: {}", c.call, report.runs[0].detail());
        let run = run_or_small(path, &spec, c.lets, &report);
        assert_eq!(run.holds, Some(true), "{}: {}", c.call, run.detail());
        assert_eq!(report.backward.len(), 2 + usize::from(biased));
        for b in &report.backward {
            assert_ne!(b.holds, Some(false), "{}: {}", c.call, b.detail());
        }
        assert!(report.holds());
        if let Some((transposed, axes)) = &c.torch {
            let want: Vec<i64> = axes.iter().map(|a| torch_length(*transposed, *a)).collect();
            let got = &report.length_values[report.length_values.len() - axes.len()..];
            assert_eq!(got, want.as_slice(), "{}: lengths against PyTorch's formula", c.call);
        }
        if c.name == "conv2d_readme" {
            let readme = std::fs::read_to_string("README.md").expect("the README");
            assert!(readme.contains(&spec), "the README's example of `symconv new` is not what it writes:\n{spec}");
        }
        insta::assert_snapshot!(c.name, spec);
    }
}

/// Standard error of a `new` that must exit 2 without writing to standard output.
fn refused(call: &str, lets: &str) -> String {
    let o = symconv(&["new", call, "--let", lets]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{call}: {err}");
    assert!(o.stdout.is_empty(), "{call} wrote to stdout");
    err
}

/// Asserts that `call` is refused with `message`, pointed at the first `at` in the call.
fn refused_at(call: &str, lets: &str, message: &str, at: &str) {
    let err = refused(call, lets);
    let column = call.find(at).unwrap_or_else(|| panic!("`{at}` is in `{call}`")) + 1;
    assert!(err.contains(message), "{call}: want `{message}`:\n{err}");
    assert!(err.contains(&format!(" (call:1:{column})")), "{call}: want column {column}:\n{err}");
    assert!(err.contains(call), "{call}: the diagnostic shows the call:\n{err}");
}

#[test]
fn calls_it_cannot_express_are_refused_with_pytorchs_words_at_their_column() {
    let l = "H=8,V=8";
    // The call, its --let, the message (PyTorch's where PyTorch has one), the text it points at.
    let cases = [
        (
            "nn.Conv2d(3, 8, 3, padding_mode='reflect')",
            l,
            "padding_mode='reflect' is not expressible: a spec's tensors read as 0 outside their shape",
            "'reflect'",
        ),
        (
            "nn.ConvTranspose2d(3, 8, 3, padding_mode='circular')",
            l,
            "Only \"zeros\" padding mode is supported for ConvTranspose2d",
            "'circular'",
        ),
        ("nn.Conv2d(3, 8, 3, foo=1)", l, "Conv2d.__init__() got an unexpected keyword argument 'foo'", "foo"),
        ("nn.Conv2d(3, 8, 3, output_padding=1)", l, "got an unexpected keyword argument 'output_padding'", "output"),
        ("nn.Conv2d(3, 8, 2.5)", l, "kernel_size must be an integer, not the float 2.5", "2.5"),
        ("nn.Conv2d(3, 8, (2, 3, 4))", l, "kernel_size must be an integer or a tuple of 2 integers", "(2,"),
        ("nn.Conv2d(4, 6, 3, groups=4)", l, "out_channels must be divisible by groups", "6"),
        ("nn.Conv2d(3, 8, 3, groups=2)", l, "in_channels must be divisible by groups", "3"),
        (
            "nn.Conv2d(3, 8, 3, stride=2, padding='same')",
            l,
            "padding='same' is not supported for strided convolutions",
            "'same'",
        ),
        (
            "F.conv_transpose2d(x, w, padding='same')",
            "H=4,V=4,P=2,Q=2",
            "conv_transpose2d(): argument 'padding' must be tuple of ints, not str",
            "'same'",
        ),
        ("nn.Conv2d(3, 8, 3, padding='full')", l, "Invalid padding string 'full'", "'full'"),
        (
            "nn.ConvTranspose2d(3, 8, 3, stride=2, output_padding=2)",
            l,
            "output padding must be smaller than either stride or dilation",
            "2)",
        ),
        ("nn.Conv2d(3, 8, 3, stride=0)", l, "non-positive stride is not supported", "0"),
        ("nn.Conv1d(3, 8, 3, stride=1, 0)", "n=8", "positional argument follows keyword argument", "0)"),
        ("nn.Conv1d(3, 8, 3, kernel_size=3)", "n=8", "got multiple values for argument 'kernel_size'", "kernel"),
        ("nn.Conv2d(3, 8)", l, "Conv2d.__init__() missing required argument: 'kernel_size'", "nn.Conv2d"),
        ("nn.Linear(3, 8)", l, "`nn.Linear` is not a layer symconv writes specs for", "nn.Linear"),
    ];
    for (call, lets, message, at) in cases {
        refused_at(call, lets, message, at);
    }
    let err = refused("nn.Conv2d(3, 8, 3", l);
    assert!(err.contains("expected `,` or `)`, found the end of the call (call:1:18)"), "{err}");
    refused_at("F.conv1d(x, w, groups=2)", "n=5,k=2,C=3,O=2", "in_channels must be divisible by groups", "2)");
}

#[test]
fn sizes_missing_or_unknown_are_named() {
    let err = refused("nn.Conv2d(3, 8, 3)", "");
    assert!(err.contains("needs --let H=…,V=…: the sizes H, V are missing"), "{err}");
    let err = refused("F.conv2d(x, w)", "H=5,V=5");
    assert!(err.contains("needs --let P=…,Q=…: the sizes P, Q are missing"), "{err}");
    let err = refused("nn.Conv2d(3, 8, 3)", "H=5,V=5,P=3");
    assert!(err.contains("--let P: nn.Conv2d(…) has no size `P` (the kernel's sizes come from the call's kernel_size)"));
    let err = refused("nn.Conv1d(3, 8, 3)", "H=5");
    assert!(err.contains("has no size `H` (its sizes are n)"), "{err}");
    let err = refused("nn.Conv2d(3, 8, 5)", "H=2,V=2");
    assert!(err.contains("output size is too small"), "{err}");
    // Channels are numbers in the spec, so the proofs' check by numbers cannot shrink them.
    let err = refused("nn.Conv2d(32, 64, 3, padding=1)", "H=8,V=8");
    assert!(err.contains("cannot be checked: no sizes are small enough to check the proofs"), "{err}");
    assert!(err.contains("write the same layer with fewer channels"), "{err}");
}

/// A pooling or upsampling call, its `--let`, the shipped spec of the same layer at the
/// same sizes (its tables must be the written spec's), and the output's spatial lengths
/// by PyTorch's formulas.
struct LayerCase {
    name: &'static str,
    call: &'static str,
    lets: &'static str,
    shipped: Option<&'static str>,
    lengths: Vec<i64>,
}

/// PyTorch's avg_pool length of one axis (ceil_mode=False): ⌊(n + 2p - k) / s⌋ + 1.
fn pool_length(n: i64, k: i64, s: i64, p: i64) -> i64 {
    (n + 2 * p - k).div_euclid(s) + 1
}

/// `symconv table FILE --wrt T --format json --let LETS`'s entries.
fn table_entries(file: &Path, wrt: &str, lets: &str) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_symconv"))
        .args(["table", file.to_str().expect("a path"), "--wrt", wrt, "--format", "json", "--let", lets])
        .output()
        .expect("symconv runs");
    assert!(o.status.success(), "{}: {}", file.display(), String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice::<serde_json::Value>(&o.stdout).expect("JSON")["entries"].clone()
}

#[test]
fn pooling_and_upsampling_write_specs_that_are_proved_and_agree_with_the_shipped_ones() {
    let _guard = snapshots_in_new().bind_to_scope();
    let cases = [
        LayerCase {
            name: "avg_pool1d_module",
            call: "nn.AvgPool1d(3, stride=2, padding=1)",
            lets: "C=2,n=9",
            shipped: Some("avg_pool1d"),
            lengths: vec![pool_length(9, 3, 2, 1)],
        },
        LayerCase {
            name: "avg_pool2d_functional",
            call: "F.avg_pool2d(x, (3, 2), stride=2, padding=(1, 0))",
            lets: "C=2,H=5,V=6",
            shipped: Some("avg_pool2d"),
            lengths: vec![pool_length(5, 3, 2, 1), pool_length(6, 2, 2, 0)],
        },
        // PyTorch's default stride is the kernel size; sizes past the tables run smaller.
        LayerCase {
            name: "avg_pool2d_default_stride",
            call: "torch.nn.AvgPool2d(2)",
            lets: "H=32,V=32",
            shipped: None,
            lengths: vec![16, 16],
        },
        LayerCase {
            name: "avg_pool1d_positional",
            call: "torch.nn.functional.avg_pool1d(x, 4, 3, 2, False, True)",
            lets: "n=10",
            shipped: None,
            lengths: vec![pool_length(10, 4, 3, 2)],
        },
        LayerCase {
            name: "upsample_nearest1d_module",
            call: "nn.Upsample(scale_factor=2, mode='nearest')",
            lets: "C=2,n=5",
            shipped: Some("upsample_nearest1d"),
            lengths: vec![10],
        },
        LayerCase {
            name: "upsample_nearest2d_interpolate",
            call: "F.interpolate(x, scale_factor=(2, 3), mode='nearest')",
            lets: "C=2,H=4,V=3",
            shipped: Some("upsample_nearest2d"),
            lengths: vec![8, 9],
        },
        LayerCase {
            name: "upsample_nearest2d_module_float",
            call: "nn.UpsamplingNearest2d(scale_factor=2.0)",
            lets: "H=3,V=4",
            shipped: None,
            lengths: vec![6, 8],
        },
    ];
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for c in cases {
        let spec = written(c.call, c.lets);
        assert!(!spec.contains("\nweight "), "{}: no weight", c.call);
        let path = dir.join(format!("{}.conv", c.name));
        std::fs::write(&path, &spec).expect("written");
        let model = load_bytes(&path, spec.clone().into_bytes(), None).unwrap_or_else(|e| panic!("{}: {e}", c.call));
        let report = analyse_model(&path, model, false, RunOptions::default()).expect("it checks");
        // A length claim per spatial axis, ∂s/∂x and its gradient, all proved.
        assert_eq!(report.claims.len(), c.lengths.len() + 2, "{}:\n{spec}", c.call);
        for claim in &report.claims {
            assert_eq!(claim.verdict, Verdict::Proved, "{}: `{}`: {}", c.call, claim.text, claim.grounds);
        }
        let got = &report.length_values[report.length_values.len() - c.lengths.len()..];
        assert_eq!(got, c.lengths.as_slice(), "{}: lengths against PyTorch's formula", c.call);
        // A layer's run is compared on the engine only at sizes with tables.
        let run = run_or_small(&path, &spec, c.lets, &report);
        assert_eq!((report.runs.len(), run.holds), (1, Some(true)), "{}: {}", c.call, run.detail());
        if let Some(shipped) = c.shipped {
            let shipped = Path::new("specs").join(format!("{shipped}.conv"));
            assert_eq!(
                table_entries(&path, "x", c.lets),
                table_entries(&shipped, "x", c.lets),
                "{}: ∂s/∂x against {}",
                c.call,
                shipped.display()
            );
        }
        insta::assert_snapshot!(c.name, spec);
    }
}

#[test]
fn a_bias_is_written_as_the_shipped_conv1d_bias_states_it() {
    let lets = "n=7,k=3,C=2,O=3";
    let o = symconv(&["new", "F.conv1d(x, w, bias=b)", "--let", lets]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conv1d_bias_new.conv");
    std::fs::write(&path, &o.stdout).expect("written");
    let shipped = Path::new("specs/conv1d_bias.conv");
    for (ours, theirs) in [("x", "x"), ("w", "w"), ("bias", "b")] {
        let lets = "n=7,k=3";
        assert_eq!(table_entries(&path, ours, lets), table_entries(shipped, theirs, lets), "∂s/∂{ours}");
    }
}

#[test]
fn pooling_and_upsampling_it_cannot_express_are_refused_at_their_argument() {
    let cases = [
        (
            "nn.AvgPool1d(3, ceil_mode=True)",
            "n=8",
            "ceil_mode=True is not supported: with it the formula would depend on the position",
            "True",
        ),
        ("F.avg_pool1d(x, 3, count_include_pad=False)", "n=8", "count_include_pad=False is not supported", "False"),
        ("nn.AvgPool2d(2, divisor_override=3)", "H=4,V=4", "divisor_override=3 is not supported", "3)"),
        ("nn.AvgPool2d(3, padding=2)", "H=5,V=5", "pad should be at most half of effective kernel size", "2)"),
        ("nn.AvgPool2d(stride=2)", "H=5,V=5", "AvgPool2d.__init__() missing required argument: 'kernel_size'", "nn"),
        ("nn.AvgPool1d(3, stride=0)", "n=5", "stride must be greater than zero, but got 0", "0)"),
        ("nn.Upsample(scale_factor=1.5)", "n=4", "scale_factor=1.5 is not an integer", "1.5"),
        ("nn.Upsample(scale_factor=2, mode='bilinear')", "H=4,V=4", "mode='bilinear' is not supported", "'bilinear'"),
        ("F.interpolate(x, size=8)", "n=4", "size is not supported", "8"),
        ("F.interpolate(x, size=8, scale_factor=2)", "n=4", "only one of size or scale_factor should be defined", "8"),
        ("nn.Upsample(scale_factor=2, align_corners=True)", "n=4", "align_corners option can only be set", "True"),
        (
            "F.interpolate(x, scale_factor=(2, 2, 2))",
            "H=4,V=4",
            "scale_factor must be a number or a tuple",
            "(2, 2, 2)",
        ),
        ("nn.AvgPool3d(2)", "n=4", "`nn.AvgPool3d` is not a layer symconv writes specs for", "nn"),
    ];
    for (call, lets, message, at) in cases {
        refused_at(call, lets, message, at);
    }
    let err = refused("nn.AvgPool1d(5)", "n=3");
    assert!(err.contains("Given input size: (1x3). Calculated output size: (1x0). Output size is too small"), "{err}");
    let err = refused("nn.Upsample(scale_factor=2)", "C=2");
    assert!(err.contains("needs --let n=… (one spatial axis) or --let H=…,V=… (two)"), "{err}");
    let err = refused("nn.AvgPool1d(3)", "n=8,k=3");
    assert!(err.contains("--let k: nn.AvgPool1d(…) has no size `k` (its sizes are C, n)"), "{err}");
}
