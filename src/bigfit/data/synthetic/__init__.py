"""Synthetic datasets with a known ground truth, written in bounded memory.

:func:`make_dataset` writes a directory of Parquet or CSV files for tests and
benchmarks, plus ``_truth.json`` (the leading underscore keeps it out of Arrow dataset
discovery) holding the parameters the data was drawn from, so that a fitted model can
be checked against the truth (:class:`DatasetTruth`).

Rows are drawn in fixed blocks of 65,536 rows, each from its own random stream derived
from ``(seed, block number)``.  Row ``i`` is therefore the same whatever the number of
files, the row-group size or the total number of rows (a smaller dataset is a prefix of
a larger one), and memory holds one block and one row group at a time.

The model, per kind (``z`` are independent standard normal latent features):

- numeric features ``f_j = mean_j + std_j * z_j`` with a random offset and a scale
  spread over three decades, so that standardisation matters;
- categorical ``c_k`` uniform over its levels ``"c<k>_<i>"``, each level with an
  additive effect;
- ``classification``: ``y = 1[f @ coef + intercept + effects + noise * logistic > 0]``,
  then each label flipped with probability ``label_noise``;
- ``regression``: ``y = f @ coef + intercept + effects + noise * normal``;
- ``blobs``: ``y`` is a cluster drawn uniformly from ``n_clusters``, and ``z`` an
  isotropic gaussian (standard deviation ``noise``) around that cluster's centre.

Modules: ``_spec`` validates the parameters, ``_model`` draws the truth and the rows,
``_rows`` turns row ranges into Arrow record batches, ``_truth`` holds the truth and its
file, ``_make`` writes the files.
"""

from __future__ import annotations

from bigfit.data.synthetic._make import make_dataset
from bigfit.data.synthetic._truth import TRUTH_FILE, DatasetTruth

__all__ = ["TRUTH_FILE", "DatasetTruth", "make_dataset"]
