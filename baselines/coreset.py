"""Dataset-selection baselines: keep a few real images per class and ship them losslessly.

- `random-subset`: k images per class drawn at random (under the run's seed, or a `seed` parameter).
- `kmedoids-coreset`: CRUST-like (Mirzasoleiman et al. 2020): per class, the gradient of a briefly
  trained classifier's loss with respect to its last layer, k-medoids (`sklearn_extra.cluster.KMedoids`)
  in that gradient space, the medoids kept.
- `full-train-set`: every image: the ceiling row (what the classifier reaches on the real set).

Payload (all three): a sealed stream (`bench.coding.container.seal`) whose checksummed header holds
the format version, the byte codec and the number of kept images of each class, and whose body is
the kept images, sorted by class, as one IDX stream compressed with the harness's lossless byte
codecs (`byte_codec="best"` tries each and keeps the smallest); its content digest catches damage
that a checksum-less byte codec (brotli) would decode to other pixels. Labels follow from the class
counts, so they cost nothing more.
"""

from __future__ import annotations

import warnings

import numpy as np
from bench_baselines.labelled_set import check_storage, pack_labelled_set, unpack_labelled_set

from bench import DatasetCodec, create_codec, register_codec
from bench.api.profiles import ProfileSet
from bench.data.mnist import Split
from bench.learn.classifier import N_CLASSES, Budget, build_classifier, train_classifier
from bench.learn.model_cache import load_or_train
from bench.learn.model_file import load_tensors, pack_model, tensors_of, unpack_model

PER_CLASS_SIZES = (1, 10, 50, 100)
#: The probe classifier whose last-layer gradients embed the images: "briefly trained" (10 Adam
#: steps of 128 images, un-augmented: its gradients must describe the images themselves), in
#: every profile. A longer-trained probe makes k-medoids pick outliers (measured, default profile,
#: 10 per class): after 300 steps the probe fits 98.6% of the train split, so nearly every image's
#: gradient is ~0 and one medoid covers them all; the other medoids go to the rare large gradients:
#: 52% of the medoids were images the probe got wrong (random images: 2%), median gradient norm
#: 23.4 against 0.022, and the coreset scored 83.7% (62.7% before the classifier augmented small
#: sets), below random images: 93.0% (seed 0). With the probe after 50 steps: 91.5%; after 10: 94.4%.
PROBE_BUDGET = Budget(epochs=0, min_steps=10, augment_small_sets=False)


class _SubsetCodec(DatasetCodec):
    """Base: subclasses choose the indices to keep; storage is shared."""

    def __init__(self, byte_codec: str = "best"):
        check_storage("lossless", byte_codec)
        self.byte_codec = byte_codec

    def select(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def compress_dataset(self, images: np.ndarray, labels: np.ndarray) -> bytes:
        keep = np.sort(self.select(images, labels))
        self.n_selected = len(keep)
        return pack_labelled_set(images[keep], labels[keep], byte_codec=self.byte_codec)

    def decompress_dataset(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        return unpack_labelled_set(data)

    def extra_columns(self) -> dict:
        return {"n_selected": getattr(self, "n_selected", None)}


def _check_per_class(per_class) -> int:
    if not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1:
        raise ValueError(f"per_class must be a positive integer, got {per_class!r}")
    return per_class


@register_codec("full-train-set", configs=[{"byte_codec": "lzma"}], roles=["dataset-ceiling"])
class FullTrainSet(_SubsetCodec):
    """Every training image, stored losslessly: the ceiling row of the dataset codecs."""

    def select(self, images, labels):
        return np.arange(len(images))


def _check_selection_seed(seed) -> int | None:
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def _selection_rng(codec) -> np.random.Generator:
    """The random draw of a seeded selection: its `seed` parameter where given, else the run's seed, so
    that `bench run --seeds` draws another selection (and trains another judge) under each seed."""
    return np.random.default_rng(codec.ctx.seed if codec.seed is None else codec.seed)


@register_codec("random-subset", configs=[{"per_class": k} for k in PER_CLASS_SIZES])
class RandomSubset(_SubsetCodec):
    """`per_class` training images of each class drawn at random (`seed`: None, the run's seed)."""

    def __init__(self, per_class: int = 10, seed: int | None = None, byte_codec: str = "best"):
        super().__init__(byte_codec)
        self.per_class = _check_per_class(per_class)
        self.seed = _check_selection_seed(seed)

    def select(self, images, labels):
        rng = _selection_rng(self)
        chosen = []
        for c in range(N_CLASSES):
            members = np.flatnonzero(labels == c)
            chosen.append(rng.choice(members, size=min(self.per_class, len(members)), replace=False))
        return np.concatenate(chosen)


def gradient_embedding(model, images: np.ndarray, labels: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the last layer's loss gradient as two factors: (softmax - onehot) and [features, 1].

    The gradient of cross-entropy w.r.t. the last Linear layer's (weight, bias) is the outer product
    (p - y) x [h, 1], h being the layer's input. Distances between outer products follow from the
    factors' Gram matrices (`pairwise_gradient_distances`), so the 1,290-dim vectors are never built.
    """
    import torch

    body, head = model[:-1], model[-1]
    errors, features = [], []
    with torch.no_grad():
        for start in range(0, len(images), 1000):
            x = torch.tensor(images[start:start + 1000], dtype=torch.float32, device=device).unsqueeze(1) / 255.0
            h = body(x)
            p = torch.softmax(head(h), dim=1)
            errors.append(p.cpu().numpy())
            features.append(h.cpu().numpy())
    error = np.concatenate(errors).astype(np.float64)
    error[np.arange(len(labels)), labels] -= 1.0
    feature = np.concatenate(features).astype(np.float64)
    return error, np.hstack([feature, np.ones((len(feature), 1))])


def pairwise_gradient_distances(error: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Euclidean distances between the gradients g_i = error_i x feature_i (outer products).

    In place on two (n, n) float64 arrays: a class of 6,000 images makes 288 MB each, and fresh
    temporaries of that size cost more than the arithmetic (2.3-4.3 s against 0.5-1.4 s per class
    measured, the same bits: each element is (|g_i|^2 + |g_j|^2) - 2 <g_i, g_j> as before)."""
    gram = feature @ feature.T
    gram *= error @ error.T  # <g_i, g_j> = <e_i, e_j> <f_i, f_j>
    norms = np.diag(gram).copy()
    distances = np.add.outer(norms, norms)
    gram *= 2
    distances -= gram
    np.maximum(distances, 0.0, out=distances)
    return np.sqrt(distances, out=distances)


@register_codec("kmedoids-coreset", configs=[{"per_class": k} for k in PER_CLASS_SIZES])
class KMedoidsCoreset(_SubsetCodec):
    """CRUST-like coreset: per class, k-medoids over last-layer loss gradients of a briefly trained CNN."""

    uses_torch = True
    profiles = ProfileSet(smoke=PROBE_BUDGET, default=PROBE_BUDGET, full=PROBE_BUDGET)

    def __init__(self, per_class: int = 10, byte_codec: str = "best"):
        super().__init__(byte_codec)
        self.per_class = _check_per_class(per_class)

    def _probe(self, images: np.ndarray, labels: np.ndarray):
        """The briefly trained classifier, cached by the data it was trained on (shared by every k)."""

        def train() -> bytes:
            model, _ = train_classifier(images, labels, self.ctx, self.profiles[self.ctx.profile])
            return pack_model({}, tensors_of(model))

        digest = Split("train", images, labels).digest
        # Keyed by no parameter: the probe does not depend on k or the byte codec.
        blob = load_or_train(self.identity.with_params({}), digest, self.ctx, train, tag="probe")
        return load_tensors(build_classifier(), unpack_model(blob, "coreset probe"), device=self.ctx.device).eval()

    def select(self, images, labels):
        labels = np.asarray(labels, dtype=np.int64)
        return self.medoids(self.embedding(images, labels), labels, self.per_class)

    def embedding(self, images, labels) -> tuple[np.ndarray, np.ndarray]:
        """The gradient embedding of every image (`gradient_embedding`) under the cached probe."""
        return gradient_embedding(self._probe(images, labels), images, labels, self.ctx.device)

    def medoids(self, embedding: tuple[np.ndarray, np.ndarray], labels: np.ndarray, per_class: int,
                distances_of: dict | None = None) -> np.ndarray:
        """Per class, the indices of the `per_class` medoids of its images' gradients. `distances_of`
        (class -> distance matrix) keeps the matrices for a caller that asks for several counts."""
        from sklearn_extra.cluster import KMedoids

        error, feature = embedding
        chosen = []
        for c in range(N_CLASSES):
            members = np.flatnonzero(labels == c)
            if len(members) <= per_class:
                chosen.append(members)
                continue
            if distances_of is not None and c in distances_of:
                distances = distances_of[c]
            else:
                distances = pairwise_gradient_distances(error[members], feature[members])
                if distances_of is not None:
                    distances_of[c] = distances
            with warnings.catch_warnings():  # scikit-learn-extra 0.3 calls a helper sklearn 1.8 deprecates
                warnings.simplefilter("ignore", FutureWarning)
                medoids = KMedoids(per_class, metric="precomputed", method="alternate", init="k-medoids++",
                                   max_iter=300, random_state=self.ctx.seed).fit(distances)
            chosen.append(members[np.unique(medoids.medoid_indices_)])
        return np.concatenate(chosen)

# --------------------------------------------------------------------------- compressed coresets

#: The byte budgets of the full suite's sweep (1 KB to 100 KB), and the storages swept at each.
BUDGETS = (1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 100_000)
#: Binary storage in the sweep: it kept the most accuracy per byte of the storages tried (docs/codecs.md);
#: one WebP mosaic point per codec is there to show the comparison in a run's own rows.
WEBP_POINT = {"budget_bytes": 16_000, "storage": "webp"}


def _check_budget(budget_bytes) -> int:
    if not isinstance(budget_bytes, int) or isinstance(budget_bytes, bool) or budget_bytes < 1:
        raise ValueError(f"budget_bytes must be a positive integer, got {budget_bytes!r}")
    return budget_bytes


class _BudgetFilled(DatasetCodec):
    """Base of the compressed coresets: the same number of images of each class, as many as fit in
    `budget_bytes` once stored with a lossy `storage` (bench_baselines.labelled_set): smaller images,
    so more of them in the same bytes. Subclasses choose which k images of each class."""

    family_of_selection = ""

    def __init__(self, budget_bytes: int = 16_000, storage: str = "binary", quality: int = 0,
                 byte_codec: str = "best"):
        self.budget_bytes = _check_budget(budget_bytes)
        check_storage(storage, byte_codec, quality)
        self.storage, self.quality, self.byte_codec = storage, quality, byte_codec

    def choose(self, images: np.ndarray, labels: np.ndarray, per_class: int) -> np.ndarray:
        raise NotImplementedError

    def _stream(self, images, labels, per_class: int) -> bytes:
        keep = np.sort(self.choose(images, labels, per_class))
        return pack_labelled_set(images[keep], labels[keep], self.storage, self.byte_codec, self.quality)

    def fill(self, images, labels, first_guess: int) -> tuple[int, bytes]:
        """The largest per-class count whose stream fits the budget, searched from `first_guess`:
        the stream's size grows with the count by about the same bytes per step, so each step jumps
        to the count the last size predicts, then walks the last steps one by one."""
        largest = int(np.bincount(labels, minlength=N_CLASSES).max())
        sizes: dict[int, bytes] = {}

        def stream(k: int) -> bytes:
            if k not in sizes:
                sizes[k] = self._stream(images, labels, k)
            return sizes[k]

        k = max(1, min(first_guess, largest))
        for _ in range(8):
            guess = max(1, min(largest, int(k * self.budget_bytes / len(stream(k)))))
            if guess == k:
                break
            k = guess
        while k > 1 and len(stream(k)) > self.budget_bytes:
            k -= 1
        if len(stream(k)) > self.budget_bytes:
            raise ValueError(f"budget_bytes={self.budget_bytes} is below the smallest {self.name} stream "
                             f"(1 image per class under storage {self.storage}: {len(stream(1))} B)")
        while k < largest and len(stream(k + 1)) <= self.budget_bytes:
            k += 1
        return k, stream(k)

    def compress_dataset(self, images: np.ndarray, labels: np.ndarray) -> bytes:
        labels = np.asarray(labels)
        self.per_class, payload = self.fill(images, labels, self.first_guess(images, labels))
        self.n_selected = self.per_class * N_CLASSES
        return payload

    def first_guess(self, images, labels) -> int:
        return 1

    def decompress_dataset(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        return unpack_labelled_set(data)

    def extra_columns(self) -> dict:
        return {"n_selected": getattr(self, "n_selected", None), "per_class": getattr(self, "per_class", None)}


def _compressed_configs() -> list[dict]:
    return [{"budget_bytes": b} for b in BUDGETS] + [WEBP_POINT]


@register_codec("compressed-random", configs=_compressed_configs())
class CompressedRandom(_BudgetFilled):
    """Random images of each class (a seeded order per class; the first k kept), as many as fit the
    byte budget under a lossy storage."""

    def __init__(self, budget_bytes: int = 16_000, storage: str = "binary", quality: int = 0,
                 byte_codec: str = "best", seed: int | None = None):
        super().__init__(budget_bytes, storage, quality, byte_codec)
        self.seed = _check_selection_seed(seed)
        self._orders: dict | None = None

    def choose(self, images, labels, per_class):
        if self._orders is None:
            rng = _selection_rng(self)
            self._orders = {c: rng.permutation(np.flatnonzero(labels == c)) for c in range(N_CLASSES)}
        return np.concatenate([self._orders[c][:per_class] for c in range(N_CLASSES)])

    def first_guess(self, images, labels):
        # Sizes grow monotonically with k here (each k's images include k-1's): double, then bisect,
        # so no stream much larger than the budget is ever compressed.
        largest = int(np.bincount(labels, minlength=N_CLASSES).max())

        def fits(k: int) -> bool:
            return len(self._stream(images, labels, k)) <= self.budget_bytes

        low, high = 1, 2
        while high <= largest and fits(high):
            low, high = high, 2 * high
        high = min(high - 1, largest)
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if fits(mid) else (low, mid - 1)
        return low


@register_codec("compressed-kmedoids", configs=_compressed_configs())
class CompressedKMedoids(_BudgetFilled):
    """The k-medoids coreset's images (kmedoids-coreset), as many per class as fit the byte budget
    under a lossy storage. The first count tried is what the same budget holds of random images."""

    uses_torch = True

    def __init__(self, budget_bytes: int = 16_000, storage: str = "binary", quality: int = 0,
                 byte_codec: str = "best"):
        super().__init__(budget_bytes, storage, quality, byte_codec)
        self._embedding = None
        self._distances: dict = {}  # class -> distances, for the several counts `fill` tries (2.9 GB in all)

    def choose(self, images, labels, per_class):
        # The kmedoids-coreset codec's probe and medoids: its cells and these share one cached probe.
        coreset = create_codec("kmedoids-coreset", self.ctx, per_class=per_class)
        labels = np.asarray(labels, dtype=np.int64)
        if self._embedding is None:
            self._embedding = coreset.embedding(images, labels)
        return coreset.medoids(self._embedding, labels, per_class, self._distances)

    def compress_dataset(self, images: np.ndarray, labels: np.ndarray) -> bytes:
        try:
            return super().compress_dataset(images, labels)
        finally:
            self._embedding, self._distances = None, {}  # free the matrices once the count is found

    def first_guess(self, images, labels):
        proxy = create_codec("compressed-random", self.ctx, budget_bytes=self.budget_bytes, storage=self.storage,
                             quality=self.quality, byte_codec=self.byte_codec)
        return proxy.first_guess(images, labels)
