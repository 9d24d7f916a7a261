//! PyTorch's average pooling, nearest upsampling and bias on candle, batch 1, f64, as
//! exact compositions of candle calls whose forward and backward are both right.
//!
//! Candle 0.9.2 has `avg_pool2d` and `upsample_nearest1d/2d`, but not as PyTorch's calls:
//! - `avg_pool2d` has no padding and no 1-D form, multiplies the window's sum by a rounded
//!   `1/∏k` where PyTorch divides, and its backward bails where kernel ≠ stride; where they
//!   are equal it upsamples the gradient to the input's size by nearest interpolation,
//!   which is wrong when the windows do not tile the input (n = 5, k = s = 2: inputs 0 to
//!   2 get output 0's gradient and 3, 4 output 1's, where PyTorch gives 0, 1 output 0's,
//!   2, 3 output 1's and 4 none);
//! - the upsamplings' backward assigns its gradient (`*sum_grad = conv_sum`) rather than
//!   adding it, so an input also used elsewhere loses that gradient, and `upsample_nearest2d`'s
//!   bails for different factors per axis.
//!
//! Here average pooling is zero padding, then each window's `k` taps gathered along each
//! axis by one `index_select` and summed, then one division by `∏k` (PyTorch also sums,
//! then divides); nearest upsampling is one `index_select` per axis. `index_select`'s
//! backward is `index_add`, which adds, and a division's backward divides by the same
//! constant, so both Jacobians come from candle's autograd through these compositions.
//!
//! **Exactness.** On integer inputs every window sum is an exact integer `p`, so a pooling
//! output is `p / ∏k` rounded once to f64, as PyTorch's is, and a Jacobian entry is `1/∏k`
//! rounded once (not exact in f64 unless `∏k` is a power of 2). Upsampling and bias add or
//! copy integers: their outputs and Jacobians (0 and 1) are exact. [`agrees`] decides
//! whether such an f64 is a given exact rational.

use candle_core::{Device, Tensor, Var};

use super::nd::guarded;
use super::{array, tensor, Array, EngineError, SparseRows};

/// Average pooling's composition, as a run's detail states it.
pub const WINDOW_SUMS: &str = "average pooling as zero padding, each window's taps gathered by index_select \
     and summed, then one division by the window's size (candle's avg_pool2d has no padding, and its backward \
     is wrong where the windows do not tile the input)";
/// Nearest upsampling's composition, as a run's detail states it.
pub const REPEATED_ROWS: &str = "nearest upsampling as an index_select of input i div s along each axis \
     (candle's upsample_nearest backward overwrites the input's other gradients)";

/// The most values one backward pass of a Jacobian holds in its batch (2²²: 32 MB).
const PASS_VALUES: usize = 1 << 22;

/// The most values a layer may hold at once on one input (2³¹: 16 GB), whatever the
/// caller's limits: past it, a call PyTorch makes is refused rather than allocated.
pub const MOST_VALUES: u64 = 1 << 31;

/// Why a layer did not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayerError {
    /// The arguments are refused: in PyTorch's words where PyTorch refuses them.
    #[error("{0}")]
    Refused(String),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<candle_core::Error> for LayerError {
    /// Candle's message (see [`EngineError`]).
    fn from(e: candle_core::Error) -> LayerError {
        LayerError::Engine(e.into())
    }
}

/// A refusal in these words.
fn refused<T>(message: impl Into<String>) -> Result<T, LayerError> {
    Err(LayerError::Refused(message.into()))
}

/// PyTorch's `avg_pool1d` / `avg_pool2d` with `count_include_pad = True` and
/// `ceil_mode = False`, on an input `[1, C, *spatial]` (1 or 2 spatial axes): output
/// `[1, C, *out]` with `out = ⌊(n + 2p - k) / s⌋ + 1` per axis, each output the sum of its
/// window of the zero-padded input divided by `∏k`. PyTorch's default stride is the
/// kernel size; here every parameter is explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvgPool {
    /// The window's length per spatial axis.
    pub kernel: Vec<usize>,
    /// The stride per spatial axis.
    pub stride: Vec<usize>,
    /// Zeros before and after each spatial axis, counted in the average.
    pub padding: Vec<usize>,
}

impl AvgPool {
    /// The composition in candle-core's API, on a tensor named `x` shaped `shape`
    /// (`[1, C, *spatial]`), or the call's refusal.
    pub fn candle(&self, x: &str, shape: &[usize]) -> Result<String, LayerError> {
        let size = self.kernel.iter().map(|&k| k as u128).product::<u128>();
        Ok(format!("{}.broadcast_div(&Tensor::new({size}f64, &Device::Cpu)?)?", self.sums_candle(x, shape)?))
    }

    /// The window sums' composition in candle-core's API (see [`AvgPool::candle`]).
    fn sums_candle(&self, x: &str, shape: &[usize]) -> Result<String, LayerError> {
        let out = self.output_shape(shape)?;
        let mut code = x.to_string();
        let mut dims: Vec<usize> = shape.to_vec();
        for a in 0..self.kernel.len() {
            let (k, s, p, axis) = (self.kernel[a], self.stride[a], self.padding[a], a + 2);
            if p > 0 {
                code = format!("{code}.pad_with_zeros({axis}, {p}, {p})?");
            }
            let len = out[axis];
            let taps = format!(
                "Tensor::from_iter((0..{len}u32).flat_map(|t| (0..{k}u32).map(move |m| t * {s} + m)), &Device::Cpu)?"
            );
            dims[axis] = len;
            let mut split = dims.clone();
            split.insert(axis + 1, k);
            code = format!("{code}.index_select(&{taps}, {axis})?.reshape({})?.sum({})?", tuple(&split), axis + 1);
        }
        Ok(code)
    }

    /// Each window's sum of the zero-padded input, exact on integers.
    fn window_sums(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut y = x.clone();
        for a in 0..self.kernel.len() {
            let (k, s, p, axis) = (self.kernel[a], self.stride[a], self.padding[a], a + 2);
            if p > 0 {
                y = y.pad_with_zeros(axis, p, p)?;
            }
            // Output t's window is the padded input's t·s + m, m < k: all k taps of every
            // output gathered in a row, then summed (exactly, on integers).
            let len = (y.dim(axis)? - k) / s + 1;
            let taps: Vec<u32> = (0..len).flat_map(|t| (0..k).map(move |m| (t * s + m) as u32)).collect();
            let mut split = y.dims().to_vec();
            split[axis] = len;
            split.insert(axis + 1, k);
            y = y.index_select(&Tensor::new(taps, &Device::Cpu)?, axis)?.reshape(split)?.sum(axis + 1)?;
        }
        Ok(y)
    }
}

impl Layer for AvgPool {
    const COMPOSITIONS: &'static [&'static str] = &[WINDOW_SUMS];

    /// The output's shape `[1, C, *out]` for an input of shape `x`, or PyTorch's refusal
    /// in its words, checked in its order: per axis (H before W) a zero stride, then a
    /// padding past half the kernel; then a zero kernel length, an empty input, and an
    /// output length below 1. A 1-D call is PyTorch's 2-D call on `[1, C, 1, n]` with a
    /// kernel `(1, k)`, and its messages say so.
    fn output_shape(&self, x: &[usize]) -> Result<Vec<usize>, LayerError> {
        let axes = self.kernel.len();
        if !(1..=2).contains(&axes) || self.stride.len() != axes || self.padding.len() != axes {
            return refused(format!(
                "average pooling takes 1 or 2 kernel lengths, with a stride and a padding each, not {:?}, {:?}, {:?}",
                self.kernel, self.stride, self.padding
            ));
        }
        // PyTorch holds them as C++ ints.
        if [&self.kernel, &self.stride, &self.padding].iter().any(|v| v.iter().any(|&p| i32::try_from(p).is_err())) {
            return refused("value cannot be converted to type int without overflow");
        }
        let c = batch_of_one(x, axes)?;
        // PyTorch's (H, W) view: a 1-D call has H = 1, k = 1, s = 1, p = 0.
        let plane = |v: &[usize], one: usize| if axes == 1 { [one, v[0]] } else { [v[0], v[1]] };
        let (n, k) = (plane(&x[2..], 1), plane(&self.kernel, 1));
        let (s, p) = (plane(&self.stride, 1), plane(&self.padding, 0));
        let mut out = [0i128; 2];
        for a in 0..2 {
            if s[a] == 0 {
                return refused("stride should not be zero");
            }
            if p[a] > k[a] / 2 {
                return refused(format!(
                    "pad should be at most half of effective kernel size, but got pad={}, kernel_size={} and dilation=1",
                    p[a], k[a]
                ));
            }
            let room = n[a] as i128 + 2 * p[a] as i128 - k[a] as i128;
            out[a] = room.div_euclid(s[a] as i128) + 1;
        }
        if k.contains(&0) {
            return refused(format!("kernel size should be greater than zero, but got kH: {} kW: {}", k[0], k[1]));
        }
        if c == 0 || n.contains(&0) {
            return refused(format!(
                "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:[1, {c}, {}, {}]",
                n[0], n[1]
            ));
        }
        if out.iter().any(|&o| o < 1) {
            return refused(format!(
                "Given input size: ({c}x{}x{}). Calculated output size: ({c}x{}x{}). Output size is too small",
                n[0], n[1], out[0], out[1]
            ));
        }
        sized(c, out[2 - axes..].iter().map(|&o| o as u128))
    }

    /// How many values the composition holds at most on an input shaped `x`: the input,
    /// and after each axis its padded input, its gathered taps and its sums. Saturating,
    /// for any parameters.
    fn footprint(&self, x: &[usize]) -> u64 {
        let mut dims: Vec<u64> = x.iter().map(|&d| d as u64).collect();
        let mut held = volume(&dims);
        for (a, axis) in (0..self.kernel.len().min(dims.len().saturating_sub(2))).zip(2..) {
            let (k, s) = (self.kernel[a] as u64, self.stride.get(a).map_or(1, |&s| s.max(1) as u64));
            let padded = dims[axis].saturating_add(self.padding.get(a).map_or(0, |&p| (p as u64).saturating_mul(2)));
            let len = padded.checked_sub(k).map_or(0, |room| (room / s).saturating_add(1));
            for length in [padded, len.saturating_mul(k), len] {
                dims[axis] = length;
                held = held.saturating_add(volume(&dims));
            }
        }
        held
    }

    fn run(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        // A division, as PyTorch's: `/ f64` would multiply by a rounded 1/∏k.
        let size = self.kernel.iter().map(|&k| k as f64).product::<f64>();
        self.window_sums(x)?.broadcast_div(&Tensor::new(size, &Device::Cpu)?)
    }

    fn reads(&self, x: &[usize], o: &[usize]) -> Vec<usize> {
        // Per axis, the window's positions inside the input.
        let along: Vec<Vec<usize>> = (0..self.kernel.len())
            .map(|a| {
                let start = (o[a + 2] * self.stride[a]) as i64 - self.padding[a] as i64;
                (start..start + self.kernel[a] as i64)
                    .filter_map(|i| usize::try_from(i).ok())
                    .filter(|&i| i < x[a + 2])
                    .collect()
            })
            .collect();
        let mut read = vec![vec![0, o[1]]];
        for positions in along {
            read =
                read.into_iter().flat_map(|r| positions.iter().map(move |&i| [r.clone(), vec![i]].concat())).collect();
        }
        read.iter().map(|r| flatten(r, x)).collect()
    }

    fn color(&self, o: &[usize]) -> usize {
        // Windows ⌈k/s⌉ or more outputs apart along an axis do not meet.
        let spread: Vec<usize> = self.kernel.iter().zip(&self.stride).map(|(&k, &s)| k.div_ceil(s)).collect();
        let residues: Vec<usize> = o[2..].iter().zip(&spread).map(|(&t, &g)| t % g).collect();
        flatten(&residues, &spread)
    }
}

/// PyTorch's nearest upsampling by positive integer factors, `F.interpolate(x,
/// scale_factor = s, mode = 'nearest')` (`upsample_nearest1d` / `upsample_nearest2d`), on
/// an input `[1, C, *spatial]` (1 or 2 spatial axes): output `[1, C, *(n·s)]`, whose index
/// `i` along each axis reads the input's `i div s`.
///
/// PyTorch's CPU kernel finds that index as `floorf(i · (float)(1/s))` (except for
/// `s` = 1 and 2), which is `i div s` for every output length below 2²⁴ (checked with
/// torch 2.15 for `s` = 1 to 8) but drifts past it: for `s` = 5 and n = 5·10⁶, PyTorch's
/// output 20,971,524 reads input 4,194,305. The engine keeps `i div s` at every size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsampleNearest {
    /// The factor per spatial axis.
    pub scale: Vec<usize>,
}

impl UpsampleNearest {
    /// The composition in candle-core's API, on a tensor named `x` shaped `shape`
    /// (`[1, C, *spatial]`), or the call's refusal.
    pub fn candle(&self, x: &str, shape: &[usize]) -> Result<String, LayerError> {
        let out = self.output_shape(shape)?;
        let mut code = x.to_string();
        for (a, &s) in self.scale.iter().enumerate() {
            let rows = format!("Tensor::from_iter((0..{}u32).map(|i| i / {s}), &Device::Cpu)?", out[a + 2]);
            code = format!("{code}.index_select(&{rows}, {})?", a + 2);
        }
        Ok(code)
    }
}

impl Layer for UpsampleNearest {
    const COMPOSITIONS: &'static [&'static str] = &[REPEATED_ROWS];

    /// The output's shape `[1, C, *(n·s)]` for an input of shape `x`, or PyTorch's
    /// refusal in its words: an empty input length or output length (a factor 0) first,
    /// then no channels.
    fn output_shape(&self, x: &[usize]) -> Result<Vec<usize>, LayerError> {
        let axes = self.scale.len();
        if !(1..=2).contains(&axes) {
            return refused(format!("nearest upsampling takes 1 or 2 scale factors, not {:?}", self.scale));
        }
        let c = batch_of_one(x, axes)?;
        let n = &x[2..];
        let out: Vec<u128> = n.iter().zip(&self.scale).map(|(&n, &s)| n as u128 * s as u128).collect();
        if n.contains(&0) || out.contains(&0) {
            return refused(match axes {
                1 => format!(
                    "Input and output sizes should be greater than 0, but got input (W: {}) and output (W: {})",
                    n[0], out[0]
                ),
                _ => format!(
                    "Input and output sizes should be greater than 0, but got input (H: {}, W: {}) output (H: {}, W: {})",
                    n[0], n[1], out[0], out[1]
                ),
            });
        }
        if c == 0 {
            let sizes = x.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
            return refused(format!(
                "Non-empty {}D data tensor expected but got a tensor with sizes [{sizes}]",
                axes + 2
            ));
        }
        sized(c, out)
    }

    /// How many values the composition holds at most on an input shaped `x`: the input
    /// and its upsampling along each axis in turn. Saturating, for any factors.
    fn footprint(&self, x: &[usize]) -> u64 {
        let mut dims: Vec<u64> = x.iter().map(|&d| d as u64).collect();
        let mut held = volume(&dims);
        for (&s, axis) in self.scale.iter().zip(2..dims.len()) {
            dims[axis] = dims[axis].saturating_mul(s as u64);
            held = held.saturating_add(volume(&dims));
        }
        held
    }

    fn run(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut y = x.clone();
        for (a, &s) in self.scale.iter().enumerate() {
            let rows: Vec<u32> = (0..y.dim(a + 2)? * s).map(|i| (i / s) as u32).collect();
            y = y.index_select(&Tensor::new(rows, &Device::Cpu)?, a + 2)?;
        }
        Ok(y)
    }

    fn reads(&self, x: &[usize], o: &[usize]) -> Vec<usize> {
        let read: Vec<usize> =
            o.iter().enumerate().map(|(a, &i)| if a < 2 { i } else { i / self.scale[a - 2] }).collect();
        vec![flatten(&read, x)]
    }

    fn color(&self, o: &[usize]) -> usize {
        // Outputs s or more apart along an axis read different inputs.
        let residues: Vec<usize> = o[2..].iter().zip(&self.scale).map(|(&i, &s)| i % s).collect();
        flatten(&residues, &self.scale)
    }
}

/// A bias `b[O]` added to a convolution's output `[1, O, *out]` (PyTorch's `bias = b`),
/// broadcast along the spatial axes: exact on integers.
pub fn add_bias(y: &Array, b: &Array) -> Result<Array, LayerError> {
    let bias = Bias::of(y, b)?;
    forward(&bias, &bias.b)
}

/// `∂(y + b)/∂b`, `[output elements, O]` (the output flattened row-major without the batch
/// axis), by candle's autograd through the broadcast addition: 1 where the output is in
/// channel o, else 0 (exact).
pub fn bias_jacobian(y: &Array, b: &Array) -> Result<Array, LayerError> {
    let bias = Bias::of(y, b)?;
    jacobian(&bias, &bias.b)
}

/// The bias as a layer whose input is `b` with a batch axis, `[1, O]`, the convolution's
/// output `y` fixed.
struct Bias {
    y: Tensor,
    b: Array,
}

impl Bias {
    /// Checks the shapes: `y` `[1, O, *out]`, `b` `[O]`.
    fn of(y: &Array, b: &Array) -> Result<Bias, LayerError> {
        if y.shape.len() < 2 || y.shape[0] != 1 || b.shape != [y.shape[1]] {
            return refused(format!(
                "a bias is shaped [O] for an output [1, O, ...], not {:?} for {:?}",
                b.shape, y.shape
            ));
        }
        holds(y, "the output")?;
        holds(b, "the bias")?;
        Ok(Bias { y: tensor(y)?, b: Array { shape: vec![1, b.data.len()], data: b.data.clone() } })
    }
}

impl Layer for Bias {
    const COMPOSITIONS: &'static [&'static str] = &[];

    fn output_shape(&self, b: &[usize]) -> Result<Vec<usize>, LayerError> {
        let out = self.y.dims().to_vec();
        if b != [1, out[1]] {
            return refused(format!("a bias is shaped {:?}, not [{}]", &b[1..], out[1]));
        }
        Ok(out)
    }

    fn footprint(&self, b: &[usize]) -> u64 {
        // The bias, its broadcast and the sum.
        volume(&[b.iter().product::<usize>() as u64]).saturating_add((self.y.elem_count() as u64).saturating_mul(2))
    }

    fn run(&self, b: &Tensor) -> candle_core::Result<Tensor> {
        // b is [B, O]: each batch entry's bias along the output's channel axis.
        let (batch, o) = b.dims2()?;
        let spatial = self.y.rank() - 2;
        let column: Vec<usize> = [batch, o].into_iter().chain(std::iter::repeat_n(1, spatial)).collect();
        b.reshape(column)?.broadcast_add(&self.y)
    }

    fn reads(&self, _: &[usize], o: &[usize]) -> Vec<usize> {
        vec![o[1]]
    }

    fn color(&self, o: &[usize]) -> usize {
        // Outputs of one position, each channel's, read their own bias.
        flatten(&o[2..], &self.y.dims()[2..])
    }
}

/// A gradient of a layer, or of a bias, as the engine computes it from an upstream
/// gradient `g` `[1, C, *out]` (batch 1), with no convolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GradientLayer {
    /// Nearest upsampling's gradient: each window of `s` entries per axis summed, exact on
    /// integers (PyTorch's `avg_pool2d(g, s, divisor_override = 1)`): average pooling's
    /// window sums without its division.
    SumPool {
        /// The factor per spatial axis.
        scale: Vec<usize>,
    },
    /// Average pooling's gradient where its windows tile the input from its start: `g`
    /// upsampled by `kernel` (nearest), zero-padded by `rest` at the end of each axis,
    /// then divided once by `∏k`.
    Upsampled {
        /// The window's length per spatial axis.
        kernel: Vec<usize>,
        /// The inputs past the last window per spatial axis.
        rest: Vec<usize>,
    },
    /// A bias's gradient: `g` summed over the batch and every spatial axis, `[O]`, exact
    /// on integers.
    BiasSum,
}

impl GradientLayer {
    /// The composition in candle-core's API on a tensor named `g` shaped `shape`, or why
    /// it is refused.
    pub fn candle(&self, g: &str, shape: &[usize]) -> Result<String, LayerError> {
        match self {
            GradientLayer::SumPool { scale } => Self::pool(scale).sums_candle(g, shape),
            GradientLayer::Upsampled { kernel, rest } => {
                let mut text = UpsampleNearest { scale: kernel.clone() }.candle(g, shape)?;
                for (axis, &r) in (2..).zip(rest).filter(|(_, &r)| r > 0) {
                    text = format!("{text}.pad_with_zeros({axis}, 0, {r})?");
                }
                let size = kernel.iter().map(|&k| k as u128).product::<u128>();
                Ok(format!("{text}.broadcast_div(&Tensor::new({size}f64, &Device::Cpu)?)?"))
            }
            GradientLayer::BiasSum => {
                let dims: Vec<String> = Self::summed(shape)?.iter().map(usize::to_string).collect();
                Ok(format!("{g}.sum(({}))?", dims.join(", ")))
            }
        }
    }

    /// The gradient on `g`.
    pub fn run(&self, g: &Array) -> Result<Array, LayerError> {
        let y = match self {
            GradientLayer::SumPool { scale } => {
                let pool = Self::pool(scale);
                checked(&pool, g)?;
                guarded("sum_pool", || pool.window_sums(&tensor(g)?))?
            }
            GradientLayer::Upsampled { kernel, rest } => {
                let up = UpsampleNearest { scale: kernel.clone() };
                checked(&up, g)?;
                if rest.len() != kernel.len() {
                    return refused(format!("{} paddings for {} axes", rest.len(), kernel.len()));
                }
                let size = kernel.iter().map(|&k| k as f64).product::<f64>();
                guarded("upsampled", || {
                    let mut y = up.run(&tensor(g)?)?;
                    for (axis, &r) in (2..).zip(rest).filter(|(_, &r)| r > 0) {
                        y = y.pad_with_zeros(axis, 0, r)?;
                    }
                    y.broadcast_div(&Tensor::new(size, &Device::Cpu)?)
                })?
            }
            GradientLayer::BiasSum => {
                holds(g, "the upstream gradient")?;
                let dims = Self::summed(&g.shape)?;
                guarded("bias_gradient", || tensor(g)?.sum(dims))?
            }
        };
        Ok(array(&y)?)
    }

    /// The sum-pooling's windows, as an average pooling's.
    fn pool(scale: &[usize]) -> AvgPool {
        AvgPool { kernel: scale.to_vec(), stride: scale.to_vec(), padding: vec![0; scale.len()] }
    }

    /// The axes a bias's gradient sums over: the batch and the spatial axes.
    fn summed(shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        if shape.len() < 2 {
            return refused(format!("the upstream gradient is shaped {shape:?}, not [1, O, ...]"));
        }
        Ok([0].into_iter().chain(2..shape.len()).collect())
    }
}

/// Whether an engine value `engine` is the exact rational `numerator / denominator`,
/// within `|engine·d - p| ≤ 2⁻⁴⁰·max(1, |p|)` (an error relative to `p / d` of 2⁻⁴⁰,
/// absolute `2⁻⁴⁰/d` near 0). The left side is computed with one rounding (a fused
/// multiply-add; `p` and `d` convert to f64 exactly up to 2⁵³, and within a relative 2⁻⁵³
/// past it), so the test is the bound's, up to a relative 2⁻⁵² of the bound itself.
///
/// Why 2⁻⁴⁰: the engine gives `p / d` rounded once (relative error ≤ 2⁻⁵³), or after a
/// few roundings; 2⁻⁴⁰ leaves room for 2¹³ of them. Another rational with the same
/// denominator, `(p ± 1) / d`, is `1` away in `engine·d`, so it cannot also agree while
/// `|p| < 2³⁹`: the test tells numerators apart up to that size (pooling sums of integer
/// inputs stay far below it). A zero denominator, or an engine value that is not finite,
/// never agrees.
pub fn agrees(engine: f64, numerator: i64, denominator: u64) -> bool {
    if denominator == 0 || !engine.is_finite() {
        return false;
    }
    let (p, d) = (numerator as f64, denominator as f64);
    let error = engine.mul_add(d, -p).abs();
    error <= (2f64).powi(-40) * p.abs().max(1.0)
}

/// A layer run on candle as an exact composition: its shape checks, its composition on a
/// batch and the structure of its Jacobian, and from them its output and its Jacobian.
pub trait Layer {
    /// The compositions its forward uses, as a run's detail states them.
    const COMPOSITIONS: &'static [&'static str];

    /// The output's shape `[1, ...]` for an input of shape `x` (with its batch axis of 1),
    /// or the call's refusal, in PyTorch's words where PyTorch refuses it.
    fn output_shape(&self, x: &[usize]) -> Result<Vec<usize>, LayerError>;

    /// How many values [`Layer::run`] holds at most on one input shaped `x`. Saturating,
    /// for any parameters.
    fn footprint(&self, x: &[usize]) -> u64;

    /// The composition on a batch `[B, ...]` of inputs, whose outputs are `[B, ...]`.
    fn run(&self, x: &Tensor) -> candle_core::Result<Tensor>;

    /// The inputs (flat indices, without order) that output `o` (a multi-index of the
    /// output, batch axis included) reads on an input shaped `x`: the layer's semantics,
    /// PyTorch's, which the composition keeps exactly.
    fn reads(&self, x: &[usize], o: &[usize]) -> Vec<usize>;

    /// Output `o`'s color: outputs of one color read no input in common.
    fn color(&self, o: &[usize]) -> usize;

    /// The output `[1, ...]` (exact, or for average pooling each window's exact sum divided
    /// once by its size, as PyTorch rounds it), and the compositions used.
    fn forward(&self, x: &Array) -> Result<(Array, Vec<&'static str>), LayerError> {
        Ok((forward(self, x)?, Self::COMPOSITIONS.to_vec()))
    }

    /// `∂y/∂x`, `[output elements, input elements]`, both flattened row-major without the
    /// batch axis, by candle's autograd through the composition (see
    /// [`Layer::jacobian_x_rows`]).
    fn jacobian_x(&self, x: &Array) -> Result<Array, LayerError> {
        jacobian(self, x)
    }

    /// `∂y/∂x` as sparse rows: per output, the inputs it reads with their derivatives, by
    /// candle's autograd and a compressed Jacobian (Curtis, Powell and Reid): the layer is
    /// linear, and which inputs each output reads is fixed by its parameters
    /// ([`Layer::reads`]), not by the values. Outputs of one color ([`Layer::color`]) read
    /// no input in common, so one backward pass of the sum of their outputs gives, at each
    /// input, the derivative of the one output of that color reading it. All colors run as
    /// one batch of copies of `x` (a `Var`), each copy's outputs masked to its color, in
    /// batches of at most 2²² values. A gradient at an input no output of its color reads
    /// is the engine departing from the layer's structure: an error.
    fn jacobian_x_rows(&self, x: &Array) -> Result<SparseRows, LayerError> {
        jacobian_rows(self, x)
    }
}

/// The layer's output on `x`.
fn forward(layer: &(impl Layer + ?Sized), x: &Array) -> Result<Array, LayerError> {
    checked(layer, x)?;
    let y = guarded("forward", || layer.run(&tensor(x)?))?;
    Ok(array(&y)?)
}

/// `∂y/∂x` dense (see [`Layer::jacobian_x`]).
fn jacobian(layer: &(impl Layer + ?Sized), x: &Array) -> Result<Array, LayerError> {
    let (outputs, inputs) = (checked(layer, x)?.iter().product::<usize>(), x.data.len());
    let bytes = outputs.checked_mul(inputs).and_then(|e| e.checked_mul(size_of::<f64>()));
    if bytes.is_none_or(|b| isize::try_from(b).is_err()) {
        return refused(format!("a Jacobian of {outputs} outputs by {inputs} inputs is too large"));
    }
    let rows = jacobian_rows(layer, x)?;
    let mut data = vec![0.0; outputs * inputs];
    for (r, row) in rows.iter().enumerate() {
        row.iter().for_each(|&(c, v)| data[r * inputs + c] = v);
    }
    Ok(Array { shape: vec![outputs, inputs], data })
}

/// `∂y/∂x` as sparse rows (see [`Layer::jacobian_x_rows`]).
fn jacobian_rows(layer: &(impl Layer + ?Sized), x: &Array) -> Result<SparseRows, LayerError> {
    let out = checked(layer, x)?;
    let (outputs, inputs) = (out.iter().product::<usize>(), x.data.len());
    let colors: Vec<usize> = (0..outputs).map(|r| layer.color(&unflatten(r, &out))).collect();
    let count = colors.iter().max().map_or(0, |&c| c + 1);
    let mut by_color: Vec<Vec<usize>> = vec![Vec::new(); count];
    colors.iter().enumerate().for_each(|(r, &c)| by_color[c].push(r));
    let mut rows: SparseRows = vec![Vec::new(); outputs];
    // Each copy holds the input, the layer's values, the mask and the gradient.
    let per_copy = layer.footprint(&x.shape).saturating_add((inputs + outputs) as u64);
    let per_pass = usize::try_from(PASS_VALUES as u64 / per_copy.max(1)).unwrap_or(1).max(1);
    for first in (0..count).step_by(per_pass) {
        let copies = per_pass.min(count - first);
        let batch = Tensor::from_vec(x.data.repeat(copies), batched(copies, &x.shape), &Device::Cpu)?;
        let mut mask = vec![0.0; copies * outputs];
        for (b, color) in by_color[first..first + copies].iter().enumerate() {
            color.iter().for_each(|&r| mask[b * outputs + r] = 1.0);
        }
        let mask = Tensor::from_vec(mask, batched(copies, &out), &Device::Cpu)?;
        let var = Var::from_tensor(&batch)?;
        let grads = guarded("jacobian_x", || (layer.run(var.as_tensor())? * mask)?.sum_all()?.backward())?;
        let grad = match grads.get(var.as_tensor()) {
            Some(g) => g.flatten_all()?.to_vec1::<f64>()?,
            None => vec![0.0; copies * inputs],
        };
        for (b, color) in by_color[first..first + copies].iter().enumerate() {
            let grad = &grad[b * inputs..(b + 1) * inputs];
            let mut claimed = vec![false; inputs];
            for &r in color {
                let mut row: Vec<(usize, f64)> =
                    layer.reads(&x.shape, &unflatten(r, &out)).into_iter().map(|c| (c, grad[c])).collect();
                row.sort_by_key(|&(c, _)| c);
                for &(c, _) in &row {
                    if std::mem::replace(&mut claimed[c], true) {
                        let color = first + b;
                        return Err(EngineError(format!("two outputs of color {color} read input {c}")).into());
                    }
                }
                rows[r] = row;
            }
            let stray = (0..inputs).filter(|&c| !claimed[c] && grad[c] != 0.0).count();
            if stray > 0 {
                return Err(EngineError(format!(
                    "the gradient of color {} has {stray} values at inputs none of its outputs reads",
                    first + b
                ))
                .into());
            }
        }
    }
    Ok(rows)
}

/// The multi-index of flat index `r` in a row-major `shape`.
fn unflatten(mut r: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &d) in index.iter_mut().zip(shape).rev() {
        *i = r % d.max(1);
        r /= d.max(1);
    }
    index
}

/// The flat index of a multi-index in a row-major `shape`.
fn flatten(index: &[usize], shape: &[usize]) -> usize {
    index.iter().zip(shape).fold(0, |flat, (&i, &d)| flat * d + i)
}

/// The output's shape, once the call is found to be one PyTorch makes, on values that fill
/// the input's shape, within [`MOST_VALUES`].
fn checked(layer: &(impl Layer + ?Sized), x: &Array) -> Result<Vec<usize>, LayerError> {
    let out = layer.output_shape(&x.shape)?;
    holds(x, "the input")?;
    let held = layer.footprint(&x.shape);
    if held > MOST_VALUES {
        return refused(format!("the layer would hold {held} values in the engine, more than {MOST_VALUES}"));
    }
    Ok(out)
}

/// `shape` (with its batch axis of 1) with a batch of `rows` instead.
fn batched(rows: usize, shape: &[usize]) -> Vec<usize> {
    [rows].into_iter().chain(shape[1..].iter().copied()).collect()
}

/// The channels of an input shaped `[1, C, *spatial]` with `axes` spatial axes, or a
/// refusal naming what is wrong.
fn batch_of_one(x: &[usize], axes: usize) -> Result<usize, LayerError> {
    if x.len() != axes + 2 {
        return refused(format!("the input is shaped {x:?}, not [1, C] and {axes} spatial axes"));
    }
    if x[0] != 1 {
        return refused(format!("the batch is {}, not 1", x[0]));
    }
    Ok(x[1])
}

/// The output's shape `[1, C, *lengths]`, refused where its size overflows.
fn sized(c: usize, lengths: impl IntoIterator<Item = u128>) -> Result<Vec<usize>, LayerError> {
    let lengths: Vec<u128> = lengths.into_iter().collect();
    let shape: Option<Vec<usize>> =
        [1, c].into_iter().map(Ok).chain(lengths.iter().map(|&o| usize::try_from(o))).collect::<Result<_, _>>().ok();
    match shape.filter(|s| s.iter().try_fold(1usize, |p, &d| p.checked_mul(d)).is_some()) {
        Some(shape) => Ok(shape),
        None => refused(format!("an output of {c} channels by {lengths:?} is too large")),
    }
}

/// Refuses an array whose values do not fill its shape.
fn holds(a: &Array, name: &str) -> Result<(), LayerError> {
    if a.shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d)) != Some(a.data.len()) {
        return refused(format!("{name} is shaped {:?} but holds {} values", a.shape, a.data.len()));
    }
    Ok(())
}

/// How many values a tensor of these dimensions holds, saturating.
fn volume(dims: &[u64]) -> u64 {
    dims.iter().fold(1u64, |p, &d| p.saturating_mul(d))
}

/// A shape as a Rust tuple, `(1, 2, 3)`.
fn tuple(dims: &[usize]) -> String {
    format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_tells_a_rational_from_its_neighbours() {
        assert!(agrees(7.0 / 3.0, 7, 3));
        assert!(!agrees(7.0 / 3.0, 8, 3) && !agrees(7.0 / 3.0, 6, 3));
        // Multiplying by a rounded 1/3 is off by at most an ulp or two: still 7/3.
        assert!(agrees(7.0 * (1.0 / 3.0), 7, 3));
        assert!(agrees(0.0, 0, 9) && !agrees(1e-11, 0, 9) && agrees(1e-13, 0, 9));
        assert!(!agrees(f64::NAN, 0, 1) && !agrees(1.0, 1, 0));
        let big = (1i64 << 38) + 1;
        assert!(agrees(big as f64 / 5.0, big, 5) && !agrees(big as f64 / 5.0, big + 1, 5));
    }

    /// Average pooling with a fault: run by candle's own `avg_pool2d` (whose backward gives
    /// the last row and column a gradient where the windows do not tile the input), or
    /// with one color for every output.
    struct Faulty {
        pool: AvgPool,
        candle: bool,
    }

    impl Layer for Faulty {
        const COMPOSITIONS: &'static [&'static str] = &[];

        fn output_shape(&self, x: &[usize]) -> Result<Vec<usize>, LayerError> {
            self.pool.output_shape(x)
        }
        fn footprint(&self, x: &[usize]) -> u64 {
            self.pool.footprint(x)
        }
        fn run(&self, x: &Tensor) -> candle_core::Result<Tensor> {
            let (k, s) = (&self.pool.kernel, &self.pool.stride);
            match self.candle {
                true => x.avg_pool2d_with_stride((k[0], k[1]), (s[0], s[1])),
                false => self.pool.run(x),
            }
        }
        fn reads(&self, x: &[usize], o: &[usize]) -> Vec<usize> {
            self.pool.reads(x, o)
        }
        fn color(&self, o: &[usize]) -> usize {
            if self.candle {
                self.pool.color(o)
            } else {
                0
            }
        }
    }

    #[test]
    fn a_gradient_where_no_output_of_its_pass_reads_or_colors_that_meet_are_errors() {
        let pool = AvgPool { kernel: vec![2, 2], stride: vec![2, 2], padding: vec![0, 0] };
        let x = Array { shape: vec![1, 1, 5, 5], data: (0..25).map(f64::from).collect() };
        assert_eq!(jacobian_rows(&pool, &x).unwrap().len(), 4);
        let error = jacobian_rows(&Faulty { pool: pool.clone(), candle: true }, &x).unwrap_err();
        // Candle's gradient reaches row 4 and column 4: 9 inputs no window reads.
        assert_eq!(
            error.to_string(),
            "the engine (candle) failed: the gradient of color 0 has 9 values at inputs none of its outputs reads"
        );
        let overlapping = AvgPool { kernel: vec![3, 1], stride: vec![1, 1], padding: vec![0, 0] };
        let error = jacobian_rows(&Faulty { pool: overlapping, candle: false }, &x).unwrap_err();
        assert_eq!(error.to_string(), "the engine (candle) failed: two outputs of color 0 read input 5");
    }
}
