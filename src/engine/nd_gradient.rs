//! A gradient's engine call over several spatial axes: a [`ConvNd`] call, with channels
//! moved to the batch for a weight's gradient, then cropped and reversed per axis.

use super::nd::ConvNd;
use super::{array, tensor, Array, EngineError};

/// An engine call that computes a gradient of a 2-D or 3-D convolution, at concrete sizes:
/// `conv` on two operands, with each operand's channels moved to the batch axis first and
/// the result's batch and channel axes swapped back where `channels_as_batch` (only the
/// weight's, with groups), then cropped along each spatial axis (`crop`) and reversed along
/// every spatial axis where `flip_result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradientCallNd {
    /// The convolution called.
    pub conv: ConvNd,
    /// Channels as the batch (a weight's gradient).
    pub channels_as_batch: bool,
    /// The part of each spatial axis kept, `(start, length)`; `None` keeps all of it.
    pub crop: Vec<Option<(usize, usize)>>,
    /// Whether the result is reversed along its spatial axes.
    pub flip_result: bool,
}

impl GradientCallNd {
    /// The call on an input `[C, *n]` and a weight in the engine's layout (`[O, C/G, *k]`,
    /// transposed `[C, O/G, *k]`; with channels as batch, `[C', *n']`): the gradient in its
    /// tensor's engine layout, and the compositions that made the convolution (see
    /// [`ConvNd::forward`]).
    pub fn run(&self, input: &Array, weight: &Array) -> Result<(Array, Vec<&'static str>), EngineError> {
        let batched = |a: &Array| Array { shape: [&[1], a.shape.as_slice()].concat(), data: a.data.clone() };
        let (y, used) = match self.channels_as_batch {
            false => {
                let (y, used) = self.conv.forward(&batched(input), weight)?;
                (Array { shape: y.shape[1..].to_vec(), data: y.data }, used)
            }
            true => {
                // The weight [C', *n'] as C' output channels of one input channel each.
                let moved =
                    Array { shape: [&weight.shape[..1], &[1], &weight.shape[1..]].concat(), data: weight.data.clone() };
                match self.conv.groups {
                    // Each input channel is its own group: [1, C', *k'] is [C', 1, *k'].
                    1 => self.per_input_channel(input, &moved)?,
                    _ => {
                        let (y, used) = self.conv.forward(&batched(input), &moved)?;
                        (Array { shape: [&y.shape[1..2], &[1], &y.shape[2..]].concat(), data: y.data }, used)
                    }
                }
            }
        };
        Ok((self.cropped_and_flipped(y)?, used))
    }

    /// `conv(inputᵀ, weightᵀ)ᵀ` with one group: each input channel convolved alone (the
    /// batch of one), the outputs `[C', *k']` interleaved as `[C', C, *k']`.
    fn per_input_channel(&self, input: &Array, moved: &Array) -> Result<(Array, Vec<&'static str>), EngineError> {
        let c = input.shape[0];
        let plane: usize = input.shape[1..].iter().product();
        let mut outs = Vec::with_capacity(c);
        let mut used = Vec::new();
        for a in 0..c {
            let one = Array {
                shape: [&[1, 1], &input.shape[1..]].concat(),
                data: input.data[a * plane..(a + 1) * plane].to_vec(),
            };
            let (y, u) = self.conv.forward(&one, moved)?;
            used.extend(u.into_iter().filter(|u| !used.contains(u)).collect::<Vec<_>>());
            outs.push(y);
        }
        let Some(first) = outs.first() else {
            return Ok((Array { shape: [&[moved.shape[0], 0], &moved.shape[2..]].concat(), data: Vec::new() }, used));
        };
        let (outputs, spatial) = (first.shape[1], first.shape[2..].to_vec());
        let size: usize = spatial.iter().product();
        let mut data = vec![0.0; outputs * c * size];
        for (a, y) in outs.iter().enumerate() {
            for b in 0..outputs {
                data[(b * c + a) * size..(b * c + a + 1) * size].copy_from_slice(&y.data[b * size..(b + 1) * size]);
            }
        }
        Ok((Array { shape: [vec![outputs, c], spatial].concat(), data }, used))
    }

    /// The result cropped along each spatial axis, then reversed along them all where asked.
    fn cropped_and_flipped(&self, y: Array) -> Result<Array, EngineError> {
        let d = self.conv.stride.len();
        let first = y.shape.len() - d;
        if y.data.is_empty() || (self.crop.iter().all(Option::is_none) && !self.flip_result) {
            let shape = (y.shape.iter().enumerate())
                .map(|(a, &l)| {
                    a.checked_sub(first).and_then(|s| self.crop.get(s).cloned().flatten()).map_or(l, |c| c.1)
                })
                .collect();
            return Ok(Array { shape, data: y.data });
        }
        let mut t = tensor(&y)?;
        for (a, kept) in self.crop.iter().enumerate() {
            if let Some((start, len)) = *kept {
                t = t.narrow(first + a, start, len)?;
            }
        }
        if self.flip_result {
            // candle flips by index_select, which reads contiguous tensors only.
            t = t.contiguous()?.flip(&(first..first + d).collect::<Vec<_>>())?;
        }
        array(&t.contiguous()?)
    }

    /// How many values the call holds at once, at most: its operands and output, and the
    /// unfolded input candle multiplies by the kernel (one output position by a group's
    /// input channels and kernel positions per row), on operands laid out as
    /// [`GradientCallNd::run`] takes them.
    pub fn footprint(&self, input: &[usize], weight: &[usize]) -> u64 {
        let count = |s: &[usize]| s.iter().fold(1u64, |p, &d| p.saturating_mul(d as u64));
        let d = self.conv.stride.len();
        let (channels, kernel) = match self.channels_as_batch {
            true => (1, count(&weight[1..])),
            false => (weight.get(1).copied().unwrap_or(1) as u64, count(&weight[weight.len() - d..])),
        };
        let x = [&[1], input].concat();
        let w: Vec<usize> = match self.channels_as_batch {
            true => [&weight[..1], &[1], &weight[1..]].concat(),
            false => weight.to_vec(),
        };
        let shape = self.conv.output_shape(&x, &w);
        let out = count(&shape);
        let positions = count(&shape[2..]).max(count(&input[input.len() - d..]));
        let unfolded =
            positions.saturating_mul(channels).saturating_mul(kernel).saturating_mul(self.conv.groups as u64);
        count(input).saturating_add(count(weight)).saturating_add(out).saturating_add(unfolded)
    }

    /// The same call in candle-core's API, on tensors named `input` and `weight` (laid out
    /// as [`GradientCallNd::run`] takes them), where one candle call makes the convolution;
    /// otherwise why it takes several, which the run's findings name.
    pub fn candle(&self, input: &str, weight: &str) -> String {
        let c = &self.conv;
        let d = c.stride.len();
        let same = |v: &[usize]| v.iter().all(|&x| x == v[0]);
        let pads: Vec<usize> = c.padding.iter().flat_map(|&(b, e)| [b, e]).collect();
        let name = if c.transposed { "conv_transpose" } else { "conv" };
        let why = match (d, c.transposed) {
            (3, _) => Some(format!("candle has no {name}3d")),
            (_, true) if c.groups != 1 => Some("candle's conv_transpose2d has no groups".to_string()),
            _ if !(same(&c.stride) && same(&c.dilation) && same(&pads) && same(&c.output_padding)) => {
                Some(format!("candle's {name}2d takes one padding, stride and dilation for both axes"))
            }
            _ => None,
        };
        if let Some(why) = why {
            return format!("no single candle call: {why}; symconv composes it exactly (see the findings)");
        }
        let moved_input = self.channels_as_batch && c.groups == 1;
        let a = if moved_input { format!("{input}.unsqueeze(1)?") } else { format!("{input}.unsqueeze(0)?") };
        let b = if self.channels_as_batch { format!("{weight}.unsqueeze(1)?") } else { weight.to_string() };
        let b = if c.flip { format!("{b}.flip(&[2, 3])?") } else { b };
        let mut y = match c.transposed {
            true => format!(
                "{a}.conv_transpose2d(&{b}, {}, {}, {}, {})?",
                pads[0], c.output_padding[0], c.stride[0], c.dilation[0]
            ),
            false => format!("{a}.conv2d(&{b}, {}, {}, {}, {})?", pads[0], c.stride[0], c.dilation[0], c.groups),
        };
        y = if self.channels_as_batch { format!("{y}.transpose(0, 1)?") } else { format!("{y}.squeeze(0)?") };
        let first = if self.channels_as_batch { 2 } else { 1 };
        for (a, kept) in self.crop.iter().enumerate() {
            if let Some((start, len)) = kept {
                y = format!("{y}.narrow({}, {start}, {len})?", first + a);
            }
        }
        if self.flip_result {
            y = format!("{y}.flip(&[{}, {}])?", first, first + 1);
        }
        y
    }
}
