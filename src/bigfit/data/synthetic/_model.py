"""The generating model: draw the true parameters, then rows block by block."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from bigfit.data.synthetic._spec import Spec
from bigfit.data.synthetic._truth import DatasetTruth

# The unit of determinism: changing it changes every dataset, so bump
# GENERATOR_VERSION with it (and with any change to the draws below).
BLOCK_ROWS = 65_536
GENERATOR_VERSION = 1

_SIGNAL_STD = 3.0  # standard deviation of the numeric part of the latent signal
_EFFECT_STD = 0.5  # standard deviation of each categorical level's effect
_CENTER_BOX = 10.0  # blob centres are uniform in [-10, 10] in standardised units


@dataclass(frozen=True, eq=False)
class Block:
    """Rows as column-major numpy arrays: one numpy row per dataset column."""

    numeric: np.ndarray  # (n_numeric, n) float64, raw scale
    codes: np.ndarray  # (n_categorical, n) int32 level indices
    y: np.ndarray  # (n,)
    missing: np.ndarray | None  # (n_numeric + n_categorical, n) bool

    def slice(self, start: int, stop: int) -> Block:
        """Return rows ``start`` to ``stop`` (views, no copy)."""
        missing = None if self.missing is None else self.missing[:, start:stop]
        return Block(self.numeric[:, start:stop], self.codes[:, start:stop],
                     self.y[start:stop], missing)

    @staticmethod
    def concat(blocks: list[Block]) -> Block:
        """Return the rows of ``blocks`` one after the other."""
        if len(blocks) == 1:
            return blocks[0]
        masks = [b.missing for b in blocks if b.missing is not None]
        return Block(
            np.concatenate([b.numeric for b in blocks], axis=1),
            np.concatenate([b.codes for b in blocks], axis=1),
            np.concatenate([b.y for b in blocks]),
            np.concatenate(masks, axis=1) if masks else None,
        )


@dataclass(frozen=True, eq=False)
class Model:
    """The drawn parameters, in standardised units, and the per-block sampler."""

    spec: Spec
    means: np.ndarray
    stds: np.ndarray
    weights: np.ndarray  # of the latent z
    bias: float
    effects: tuple[np.ndarray, ...]
    centers: np.ndarray | None  # latent blob centres (n_clusters, n_numeric)

    @classmethod
    def draw(cls, spec: Spec) -> Model:
        """Draw the true parameters from the seed's first random stream."""
        rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(0,)))
        n = spec.n_numeric
        stds = 10.0 ** rng.uniform(-1.0, 2.0, n)
        means = rng.uniform(-100.0, 100.0, n)
        weights = np.zeros(n)
        informative = rng.permutation(n)[: spec.n_informative]
        weights[informative] = rng.standard_normal(spec.n_informative)
        if spec.n_informative:
            weights *= _SIGNAL_STD / np.linalg.norm(weights)
        bias = float(rng.uniform(-1.0, 1.0))
        effects = tuple(rng.normal(0.0, _EFFECT_STD, levels) for levels in spec.levels)
        centers = None
        if spec.kind == "blobs":
            centers = rng.uniform(-_CENTER_BOX, _CENTER_BOX, (spec.n_clusters, n))
        return cls(spec, means, stds, weights, bias, effects, centers)

    def block(self, index: int) -> Block:
        """Draw block ``index``: rows ``index * BLOCK_ROWS`` to ``(index + 1) * BLOCK_ROWS``."""
        spec, size = self.spec, BLOCK_ROWS
        rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(1, index)))
        if spec.kind == "blobs":
            assert self.centers is not None
            y = rng.integers(0, spec.n_clusters, size)
            z = rng.standard_normal((spec.n_numeric, size))
            z *= spec.noise
            z += self.centers.T[:, y]
        else:
            z = rng.standard_normal((spec.n_numeric, size))
        codes = np.empty((len(spec.levels), size), dtype=np.int32)
        for k, levels in enumerate(spec.levels):
            codes[k] = rng.integers(0, levels, size, dtype=np.int32)
        if spec.kind != "blobs":
            y = self._target(rng, z, codes)
        missing = None
        if spec.missing_fraction > 0:
            missing = rng.random((z.shape[0] + codes.shape[0], size)) < spec.missing_fraction
        z *= self.stds[:, None]
        z += self.means[:, None]
        return Block(z, codes, y, missing)

    def _target(self, rng: np.random.Generator, z: np.ndarray, codes: np.ndarray) -> np.ndarray:
        signal = self.weights @ z + self.bias
        for k, effects in enumerate(self.effects):
            signal += effects[codes[k]]
        if self.spec.kind == "regression":
            return signal + self.spec.noise * rng.standard_normal(signal.shape[0])
        positive = signal + self.spec.noise * rng.logistic(size=signal.shape[0]) > 0
        flipped = rng.random(signal.shape[0]) < self.spec.label_noise
        return (positive ^ flipped).astype(np.int64)

    def schema(self) -> pa.Schema:
        """Return the Arrow schema of the rows: f0.., c0.. (dictionary strings), y."""
        target = pa.float64() if self.spec.kind == "regression" else pa.int64()
        return pa.schema(
            [pa.field(f"f{j}", pa.float64()) for j in range(self.spec.n_numeric)]
            + [pa.field(f"c{k}", pa.dictionary(pa.int32(), pa.string()))
               for k in range(len(self.spec.levels))]
            + [pa.field("y", target)]
        )

    def truth(self, *, rows: int, format: str, files: tuple[str, ...]) -> DatasetTruth:
        """Return the truth on the raw scale of the written columns."""
        spec = self.spec
        linear = spec.kind != "blobs"
        coef = self.weights / self.stds
        categorical = tuple(f"c{k}" for k in range(len(spec.levels)))
        centers = None if self.centers is None else self.means + self.stds * self.centers
        return DatasetTruth(
            kind=spec.kind, seed=spec.seed, rows=rows, format=format, files=files,
            numeric_columns=tuple(f"f{j}" for j in range(spec.n_numeric)),
            categorical_columns=categorical, target="y",
            feature_means=self.means, feature_stds=self.stds,
            coef=coef if linear else None,
            intercept=float(self.bias - coef @ self.means) if linear else None,
            category_effects=dict(zip(categorical, self.effects, strict=True)) if linear else {},
            categorical_levels=spec.levels,
            cluster_centers=centers,
            noise=spec.noise,
            label_noise=spec.label_noise if spec.kind == "classification" else 0.0,
            missing_fraction=spec.missing_fraction,
            generator_version=GENERATOR_VERSION,
        )
