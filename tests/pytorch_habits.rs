//! PyTorch habits in a spec are accepted: `padding='same'` and `'valid'` with PyTorch's
//! padding (checked by running the engine against the formula), the `F.` and
//! `torch.nn.functional.` prefixes, and `ds_i/dx_j` without blanks.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Writes `src` to a spec file of its own and runs `symconv derive` on it.
fn derive(name: &str, src: &str) -> Output {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.conv"));
    std::fs::write(&path, src).expect("the spec is written");
    Command::new(env!("CARGO_BIN_EXE_symconv")).arg("derive").arg(&path).output().expect("symconv runs")
}

/// The report of a spec whose claims and runs must all hold.
fn holds(name: &str, src: &str) -> String {
    let o = derive(name, src);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{name}:\n{out}\n{err}");
    out.into_owned()
}

/// `same_even` and `same_odd` as PyTorch users write them, and the same with a dilation
/// and a symbolic one: the run agrees only if the padding is PyTorch's.
#[test]
fn padding_same_is_pytorchs() {
    let cases = [
        ("same_even", "n = 10, k = 4", "1", "F.conv1d(x, w, padding='same')"),
        ("same_odd", "n = 10, k = 5", "1", "torch.nn.functional.conv1d(x, w, padding=\"same\")"),
        ("same_dilated", "n = 12, k = 4, D = 3", "D", "conv1d(x, w, padding = 'same', dilation = D)"),
        ("same_dilated_odd", "n = 12, k = 3", "3", "F.conv1d(x, w, dilation = 3, padding='same')"),
    ];
    for (name, sizes, d, run) in cases {
        let src = format!(
            "input x[n]\nweight w[k]\npad x (({d}) (k - 1) div 2, ({d}) (k - 1) - ({d}) (k - 1) div 2)\nlet {sizes}\n\
             s_i = Σ x_<i + ({d}) m - ({d}) (k - 1) div 2> w_m\nclaim len(s) = n\nclaim ds_i/dw_m = x_<i + ({d}) m - ({d}) (k-1) div 2>\n\
             run {run}\n"
        );
        let out = holds(name, &src);
        assert!(out.contains(&format!("agrees    {run}")), "{name}:\n{out}");
        assert!(out.contains("proved   ds_i/dw_m"), "{name}:\n{out}");
    }
}

/// A wrong 'same' padding is caught: the formula with the extra zero on the left
/// disagrees with PyTorch's `padding='same'` for an even kernel.
#[test]
fn padding_same_puts_the_extra_zero_on_the_right() {
    let src = "input x[n]\nweight w[k]\npad x (k div 2, k - 1 - k div 2)\nlet n = 10, k = 4\n\
               s_i = Σ x_<i + m - k div 2> w_m\nrun F.conv1d(x, w, padding='same')\n";
    let o = derive("same_left", src);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn padding_valid_is_no_padding() {
    let src = "input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_<i + m> w_m\nclaim len(s) = n - k + 1\n\
               claim ds_i/dx_j = w_<j - i> [0 ≤ j - i ≤ k - 1]\nrun F.conv1d(x, w, padding='valid')\n";
    let out = holds("valid", src);
    assert!(out.contains("agrees    F.conv1d(x, w, padding='valid')"), "{out}");
}

/// `ds_i/dx_j`, `d s_i/d x_j` and the spaced form are one claim; a tensor named `dx`
/// keeps working after `∂`, after `d` and a blank, and after a glued `d`.
#[test]
fn ascii_partials_need_no_blanks() {
    let src = "input dx[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ dx_<i + m> w_m\n\
               claim ds_i/ddx_j = w_<j - i> [0 ≤ j - i ≤ k - 1]\n\
               claim d s_i/d dx_j = w_<j - i> [0 ≤ j - i ≤ k - 1]\n\
               claim ∂s_i/∂dx_j = w_<j - i> [0 ≤ j - i ≤ k - 1]\n\
               claim ds_i/dw_m = dx_<i + m>\nrun F.conv1d(dx, w)\n";
    let out = holds("partials", src);
    assert_eq!(out.matches("proved   ").count(), 4, "{out}");
}
