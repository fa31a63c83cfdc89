"""The models the weightless codec learns (encoder and decoder as mirrors), and the fixed prior for the first chunk.

Every model predicts a pixel from pixels already coded (above, and to the left in its row), in
two stages, so that an entropy coder never needs a 256-entry table per pixel:

    coarse = value // 16   (16 classes), then
    fine   = value %  16   (16 classes) given the coarse class.

Two methods matter for the codec, and they must behave identically on both sides:
- `step_*`: one pixel position for every image of a chunk at once (B rows): what the decoder
  can compute, and therefore exactly what the encoder computes too;
- `loss`: teacher-forced mean negative log-likelihood over whole images, used for the update
  that encoder and decoder both make after a chunk.

Everything is dense matrix arithmetic (one-hot products instead of embedding look-ups), which
torch computes deterministically on CPU and, with deterministic algorithms, on CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.data.mnist import PIXELS, SIDE

from . import MODELS as MODEL_NAMES

BINS = 16  # coarse classes; each holds 16 fine values
FINE_HIDDEN = 32


def causal_offsets(rows_above: int, half_width: int, left: int) -> list[tuple[int, int]]:
    """(row, column) offsets of the already-coded neighbours a pixel is predicted from."""
    offsets = [(-dr, dc) for dr in range(rows_above, 0, -1) for dc in range(-half_width, half_width + 1)]
    return offsets + [(0, -dc) for dc in range(left, 0, -1)]


class Canvas:
    """The images of one chunk as coded so far, zero-padded so every neighbour index is valid.

    MNIST's background is 0, so padding with 0 makes the border look like more background.
    """

    def __init__(self, batch: int, pad: int, device: str):
        self.pad = pad
        self.width = SIDE + 2 * pad
        self.values = torch.zeros(batch, (SIDE + pad) * self.width, device=device)

    def put(self, t: int, pixels: torch.Tensor) -> None:
        r, c = divmod(t, SIDE)
        self.values[:, (r + self.pad) * self.width + c + self.pad] = pixels.to(self.values.dtype) / 255.0


class PixelModel(nn.Module):
    """Shared parts: neighbourhood features, per-position bias, the two-stage output heads."""

    def __init__(self, neighbourhood: tuple[int, int, int], hidden: int):
        super().__init__()
        self.offsets = offsets = causal_offsets(*neighbourhood)
        self.pad = max(max(-dr for dr, _ in offsets), max(abs(dc) for _, dc in offsets))
        width = SIDE + 2 * self.pad
        index = np.empty((PIXELS, len(offsets)), dtype=np.int64)
        for t in range(PIXELS):
            r, c = divmod(t, SIDE)
            index[t] = [(r + dr + self.pad) * width + c + dc + self.pad for dr, dc in offsets]
        self.register_buffer("neighbour_index", torch.from_numpy(index), persistent=False)
        self.hidden = hidden
        self.features_in = nn.Linear(3 * len(offsets), hidden)
        # A learned bias per pixel position: digits are centred, so position says a lot.
        self.position = nn.Parameter(torch.zeros(PIXELS, hidden))
        self.coarse_head = nn.Linear(hidden, BINS)
        self.fine_from_hidden = nn.Linear(hidden, FINE_HIDDEN)
        self.fine_from_bin = nn.Linear(BINS, FINE_HIDDEN, bias=False)
        self.fine_head = nn.Linear(FINE_HIDDEN, BINS)

    @staticmethod
    def _features(values: torch.Tensor) -> torch.Tensor:
        # Value, "is background" and "is saturated ink": the three things a pixel's neighbours say.
        return torch.cat([values, (values == 0).to(values.dtype), (values > 0.98).to(values.dtype)], dim=-1)

    def _image_features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 28, 28) uint8 -> (N, 784, 3K) features of every pixel's causal neighbourhood."""
        padded = F.pad(images.to(torch.float32) / 255.0, (self.pad, self.pad, self.pad, 0))
        return self._features(padded.reshape(len(images), -1)[:, self.neighbour_index])

    def _step_features(self, canvas: Canvas, t: int) -> torch.Tensor:
        return self._features(canvas.values[:, self.neighbour_index[t]])

    def _fine_logits(self, hidden: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(coarse, BINS).to(hidden.dtype)
        return self.fine_head(F.relu(self.fine_from_hidden(hidden) + self.fine_from_bin(one_hot)))

    def _nll(self, hidden: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood (nats per pixel) of the images under hidden states (N, 784, H)."""
        hidden = hidden.reshape(-1, self.hidden)
        target = images.reshape(-1).to(torch.int64)
        coarse, fine = target // BINS, target % BINS
        return F.cross_entropy(self.coarse_head(hidden), coarse) + F.cross_entropy(
            self._fine_logits(hidden, coarse), fine
        )

    # -- the lockstep interface --------------------------------------------------------------
    def start(self, batch: int, device: str):
        """Per-chunk decoding state."""
        return {"canvas": Canvas(batch, self.pad, device)}

    def step_hidden(self, state, t: int) -> torch.Tensor:
        raise NotImplementedError

    def step_coarse_probs(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.coarse_head(hidden), dim=-1)

    def step_fine_probs(self, hidden: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self._fine_logits(hidden, coarse), dim=-1)

    def step_commit(self, state, t: int, pixels: torch.Tensor) -> None:
        state["canvas"].put(t, pixels)

    def hidden_all(self, images: torch.Tensor) -> torch.Tensor:
        """Hidden states of every position of whole, known images at once (N, 784, H)."""
        raise NotImplementedError

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        return self._nll(self.hidden_all(images), images)

    def gradients(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The gradient of `loss(images)` for every parameter, in `parameters()` order."""
        return list(torch.autograd.grad(self.loss(images), list(self.parameters())))


@dataclass
class MergedRows:
    """`CausalMLP.merged_rows`: the inputs and targets of a batch's distinct loss rows."""

    rows: int  # pixels in the batch: the mean's divisor
    features: torch.Tensor  # (M, 3K)
    position: torch.Tensor  # (M,) pixel position of each row
    coarse: torch.Tensor  # (M, 1) coarse target
    weight: torch.Tensor  # (M, 1) how many pixels the row stands for
    fine_counts: torch.Tensor  # (M, 16) how many of them have each fine target


class CausalMLP(PixelModel):
    """An MLP on each pixel's causal neighbourhood: a PixelCNN with a small, fixed receptive field.

    Decoding needs only the neighbourhood of the current position, so a chunk's images are decoded
    in lockstep with one small matrix product per layer and position.
    """

    def __init__(self, neighbourhood: tuple[int, int, int], hidden: int, layers: int):
        super().__init__(neighbourhood, hidden)
        self.trunk = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        # A pixel's neighbourhood as a convolution kernel over the image padded as `_image_features`
        # pads it: `merged_rows` counts inked neighbours with it.
        kernel = torch.zeros(1, 1, self.pad + 1, 2 * self.pad + 1)
        for dr, dc in self.offsets:
            kernel[0, 0, self.pad + dr, self.pad + dc] = 1.0
        self.register_buffer("causal_kernel", kernel, persistent=False)
        # The features of an all-background neighbourhood: every quiet row's.
        self.register_buffer("background_features", self._features(torch.zeros(1, len(self.offsets))),
                             persistent=False)

    def _hidden(self, features: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        hidden = F.relu(self.features_in(features) + position)
        for layer in self.trunk:
            hidden = F.relu(layer(hidden))
        return hidden

    def step_hidden(self, state, t: int) -> torch.Tensor:
        return self._hidden(self._step_features(state["canvas"], t), self.position[t])

    def hidden_all(self, images: torch.Tensor) -> torch.Tensor:
        return self._hidden(self._image_features(images), self.position)

    @torch.no_grad()
    def gradients(self, images: torch.Tensor) -> list[torch.Tensor]:
        """`PixelModel.gradients` by hand: the same mean loss's gradient as autograd's, for less work.
        Agrees with autograd to float32 rounding (tests/test_weightless.py); encoder and decoder
        both call it, so their weights stay identical."""
        merged = self.merged_rows(images)
        return self.row_gradients(merged, slice(None))

    @torch.no_grad()
    def merged_rows(self, images: torch.Tensor) -> MergedRows:
        """The loss's rows (one per pixel), with the rows that are the same computation made one.

        About 64% of MNIST's pixels have an all-background neighbourhood; such a pixel's hidden
        state and tables depend on its position alone, so the rows of one position and coarse class
        are computed once and weighted by how many pixels they stand for (the softmax term times
        the count, minus the count of each target: exactly the sum of the rows' gradients). On a
        batch of 8 images that leaves about half the rows."""
        count, device = len(images), images.device
        rows = count * PIXELS
        padded = F.pad(images, (self.pad, self.pad, self.pad, 0))
        # How many inked neighbours each pixel has: a sum of 0s and 1s, exact in float32.
        inked = F.conv2d((padded > 0).to(torch.float32).unsqueeze(1), self.causal_kernel).reshape(-1)
        busy_mask = inked > 0
        busy = busy_mask.nonzero()[:, 0]
        target = images.reshape(-1).to(torch.int64)
        coarse_all, fine_all = target // BINS, target % BINS
        # Merged rows: every busy row in row order, then each (position, coarse) that quiet rows hold.
        key = torch.arange(rows, device=device).remainder_(PIXELS).mul_(BINS).add_(coarse_all)
        key.masked_fill_(busy_mask, PIXELS * BINS)  # busy rows counted in a last, discarded bin
        quiet_count = torch.bincount(key, minlength=PIXELS * BINS + 1)[:-1]
        held = quiet_count.nonzero()[:, 0]
        quiet_group = torch.cumsum(quiet_count > 0, 0).add_(len(busy) - 1)
        group = torch.where(busy_mask, torch.cumsum(busy_mask, 0).sub_(1),
                            quiet_group.index_select(0, key.clamp_(max=PIXELS * BINS - 1)))
        cells = padded[0].numel()
        neighbours = padded.take(self.neighbour_index.index_select(0, busy % PIXELS)
                                 .add_((busy // PIXELS).mul_(cells).unsqueeze(1)))  # uint8, as `_image_features` reads
        merged = len(busy) + len(held)
        return MergedRows(
            rows=rows,
            features=torch.cat([self._features(neighbours.to(torch.float32) / 255.0),
                                self.background_features.expand(len(held), -1)]),
            position=torch.cat([busy % PIXELS, held // BINS]),
            coarse=torch.cat([coarse_all.index_select(0, busy), held % BINS]).unsqueeze(1),
            weight=torch.cat([torch.ones(len(busy), device=device),
                              quiet_count.index_select(0, held).to(torch.float32)]).unsqueeze(1),
            # How many of each merged row's pixels have each fine target: integers, exact in any order.
            fine_counts=torch.bincount(group * BINS + fine_all, minlength=merged * BINS).view(merged, BINS),
        )

    @torch.no_grad()
    def row_gradients(self, merged: MergedRows, part: slice) -> list[torch.Tensor]:
        """The mean loss's gradient from the merged rows in `part` alone (divided by all the rows):
        the parts of a partition sum to the whole gradient.

        Autograd's one op per broadcast, slice and one-hot goes: the coarse head and the fine
        stage's hidden layer are one product, the coarse class enters as a gathered weight row and
        relu's backward is `threshold_backward` on the kept activations."""
        features, position, coarse = merged.features[part], merged.position[part], merged.coarse[part]
        weight, scale = merged.weight[part], 1.0 / merged.rows
        pre = torch.addmm(self.features_in.bias, features, self.features_in.weight.t())
        acts = [pre.add_(self.position.index_select(0, position)).relu_()]
        for layer in self.trunk:
            acts.append(torch.addmm(layer.bias, acts[-1], layer.weight.t()).relu_())
        hidden = acts[-1]
        heads_w = torch.cat([self.coarse_head.weight, self.fine_from_hidden.weight])  # (16 + FINE_HIDDEN, H)
        heads = torch.addmm(torch.cat([self.coarse_head.bias, self.fine_from_hidden.bias]), hidden, heads_w.t())
        # d(summed cross-entropy)/d(logits) = weight * softmax - (how many of the rows have each target).
        d_coarse = torch.softmax(heads[:, :BINS], dim=-1).mul_(weight).scatter_add_(1, coarse, -weight)
        fine_in = heads[:, BINS:].add_(self.fine_from_bin.weight.t().index_select(0, coarse[:, 0])).relu_()
        d_fine = torch.softmax(torch.addmm(self.fine_head.bias, fine_in, self.fine_head.weight.t()), dim=-1)
        d_fine.mul_(weight).sub_(merged.fine_counts[part]).mul_(scale)
        d_fine_in = torch.ops.aten.threshold_backward(d_fine @ self.fine_head.weight, fine_in, 0)
        d_heads = torch.cat([d_coarse.mul_(scale), d_fine_in], dim=1)
        heads_grad = d_heads.t() @ hidden
        heads_bias = d_heads.sum(0)
        grads = {
            "coarse_head.weight": heads_grad[:BINS], "coarse_head.bias": heads_bias[:BINS],
            "fine_from_hidden.weight": heads_grad[BINS:], "fine_from_hidden.bias": heads_bias[BINS:],
            "fine_from_bin.weight": (torch.zeros(BINS, FINE_HIDDEN, device=hidden.device)
                                     .index_add_(0, coarse[:, 0], d_fine_in).t().contiguous()),
            "fine_head.weight": d_fine.t() @ fine_in, "fine_head.bias": d_fine.sum(0),
        }
        d_hidden = d_heads @ heads_w
        for i in range(len(self.trunk) - 1, -1, -1):
            d_pre = torch.ops.aten.threshold_backward(d_hidden, acts[i + 1], 0)
            grads[f"trunk.{i}.weight"], grads[f"trunk.{i}.bias"] = d_pre.t() @ acts[i], d_pre.sum(0)
            d_hidden = d_pre @ self.trunk[i].weight
        d_pre = torch.ops.aten.threshold_backward(d_hidden, acts[0], 0)
        grads["features_in.weight"] = d_pre.t() @ features
        grads["features_in.bias"] = d_pre.sum(0)
        grads["position"] = torch.zeros_like(self.position).index_add_(0, position, d_pre)
        return [grads[name] for name, _ in self.named_parameters()]


class PixelLSTM(PixelModel):
    """The write-up's model scaled to pixels: a one-layer LSTM and a linear head, run along the
    raster scan of each image; its input at each pixel is the same causal neighbourhood the MLP
    sees, so the LSTM's memory is the only difference between the two."""

    def __init__(self, neighbourhood: tuple[int, int, int], hidden: int, layers: int):
        super().__init__(neighbourhood, hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True)

    def start(self, batch: int, device: str):
        state = super().start(batch, device)
        state["lstm"] = None  # zeros
        return state

    def step_hidden(self, state, t: int) -> torch.Tensor:
        inputs = F.relu(self.features_in(self._step_features(state["canvas"], t)) + self.position[t])
        out, state["lstm"] = self.lstm(inputs[:, None, :], state["lstm"])
        return out[:, 0, :]

    def hidden_all(self, images: torch.Tensor) -> torch.Tensor:
        inputs = F.relu(self.features_in(self._image_features(images)) + self.position)
        return self.lstm(inputs)[0]


MODELS = {"causal": CausalMLP, "lstm": PixelLSTM}
assert tuple(MODELS) == MODEL_NAMES, "the package's model names and the models built here differ"


def build_model(config: dict, device: str) -> PixelModel:
    """The model's fixed initialisation: drawn from `config["seed"]`, never stored."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        model = MODELS[config["model"]](tuple(config["neighbourhood"]), config["hidden"], config["layers"])
    return model.to(device)


def prior_tables() -> tuple[np.ndarray, np.ndarray]:
    """The fixed prior for the first chunk, as (coarse probs (16,), fine probs given coarse (16, 16)).

    A round-number guess at what a digit's pixels look like (mostly background 0, some saturated
    ink near 255, the rest spread evenly), not fitted to any data.
    """
    p = np.full(256, 0.10 / 251)
    p[0] = 0.80
    p[251:] = 0.10 / 5
    p /= p.sum()
    by_bin = p.reshape(BINS, BINS)
    coarse = by_bin.sum(axis=1)
    return coarse, by_bin / coarse[:, None]


class CausalSteps:
    """`CausalMLP`'s lockstep interface for one chunk, with the per-position work cut to a few fused ops.

    Coding is a loop of 784 positions x 2 stages of small products, so per-op dispatch costs as
    much as the arithmetic: the canvas holds each pixel's three features already (value, "is
    background", "is saturated ink"; one gather reads a position's 3K features), biases ride in
    `addmm`, activations run in place, and the coarse class enters the fine stage as a row of
    `fine_from_bin`'s weights (what the one-hot product gives, without the product). Encoder and
    decoder both code with this class and the same row counts, so their tables stay bit-identical;
    training (`PixelModel.loss`) is untouched.
    """

    def __init__(self, model: CausalMLP, batch: int):
        with torch.no_grad():
            device = model.position.device
            self.w_in = model.features_in.weight.detach().t().contiguous()
            # (features_in bias + position bias) per position, added by addmm.
            self.bias_in = (model.features_in.bias.detach() + model.position.detach()).contiguous()
            self.trunk = [(layer.bias.detach().clone(), layer.weight.detach().t().contiguous()) for layer in model.trunk]
            self.coarse = (model.coarse_head.bias.detach().clone(), model.coarse_head.weight.detach().t().contiguous())
            self.fine_hidden = (model.fine_from_hidden.bias.detach().clone(),
                                model.fine_from_hidden.weight.detach().t().contiguous())
            self.fine_bin = model.fine_from_bin.weight.detach().t().contiguous()  # (16, FINE_HIDDEN)
            self.fine = (model.fine_head.bias.detach().clone(), model.fine_head.weight.detach().t().contiguous())
            pad, width = model.pad, SIDE + 2 * model.pad
            cells = (SIDE + pad) * width
            index = model.neighbour_index  # (784, K) cells of each position's neighbours
            # Canvas planes [value | value == 0 | value > 0.98]: the order `PixelModel._features` concatenates.
            self.gather = torch.cat([index, index + cells, index + 2 * cells], dim=1).contiguous()
            # Cell-major, so a position's features are whole rows: a gather of contiguous rows, read
            # by addmm through a transposed view (no copy).
            self.canvas = torch.zeros(3 * cells, batch, device=device)
            self.canvas[cells : 2 * cells] = 1.0  # padding reads as background, as a zero value does
            own = torch.tensor([(r + pad) * width + c + pad for r in range(SIDE) for c in range(SIDE)], device=device)
            self.put_cells = torch.stack([own, own + cells, own + 2 * cells], dim=1)  # (784, 3)
            values = torch.arange(256, device=device).to(torch.float32) / 255.0  # as `Canvas.put` scales
            self.features_of = torch.stack([values, (values == 0).to(values.dtype), (values > 0.98).to(values.dtype)])
        self.hidden = None

    def coarse_probs(self, t: int) -> torch.Tensor:
        hidden = torch.addmm(self.bias_in[t], self.canvas.index_select(0, self.gather[t]).t(), self.w_in).relu_()
        for bias, weight in self.trunk:
            hidden = torch.addmm(bias, hidden, weight).relu_()
        self.hidden = hidden
        return torch.softmax(torch.addmm(self.coarse[0], hidden, self.coarse[1]), dim=-1)

    def fine_probs(self, coarse: torch.Tensor) -> torch.Tensor:
        fine = torch.addmm(self.fine_hidden[0], self.hidden, self.fine_hidden[1])
        fine += self.fine_bin.index_select(0, coarse)
        return torch.softmax(torch.addmm(self.fine[0], fine.relu_(), self.fine[1]), dim=-1)

    def commit(self, t: int, pixels: torch.Tensor) -> None:
        self.canvas.index_copy_(0, self.put_cells[t], self.features_of.index_select(1, pixels))
