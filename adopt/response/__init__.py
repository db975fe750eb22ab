"""Response models: p(click) and p(conversion | click) per impression, calibrated, with metrics.

Sits between the warehouse's ``training_examples`` (and the embeddings) and the
response curves. LightGBM (`LightGBMResponse`) and a BERT cross-encoder
(``adopt.response.bert``, trained on Ray Train by ``adopt.response.train_bert``)
share the time split, calibration, downsampling correction, metrics and model
card defined here; ``attach_text_features`` joins the embedding vectors and
texts they read onto any (user, ad) rows. The BERT modules load torch and transformers, so they are
imported from their own modules rather than re-exported here.
"""

from __future__ import annotations

from adopt.response.calibration import (
    IsotonicCalibrator,
    PlattCalibrator,
    fit_calibrator,
    load_calibrator,
)
from adopt.response.card import ModelCard, data_fingerprint, library_versions
from adopt.response.features import Features
from adopt.response.lgbm import LightGBMResponse
from adopt.response.metrics import (
    calibration_ratio,
    evaluate,
    expected_calibration_error,
    format_metrics,
    log_loss,
    normalized_entropy,
    reliability_table,
    roc_auc,
)
from adopt.response.run import (
    evaluate_response,
    fitted_features,
    load_examples,
    load_response,
    predict_response,
    prepare_rows,
    train_response,
)
from adopt.response.sampling import correct_downsampled, downsample_negatives
from adopt.response.split import TimeSplit, cold_start_flag, time_split
from adopt.response.text_features import attach_text_features, has_embeddings

__all__ = [
    "Features",
    "IsotonicCalibrator",
    "LightGBMResponse",
    "ModelCard",
    "PlattCalibrator",
    "TimeSplit",
    "attach_text_features",
    "calibration_ratio",
    "cold_start_flag",
    "correct_downsampled",
    "data_fingerprint",
    "downsample_negatives",
    "evaluate",
    "evaluate_response",
    "expected_calibration_error",
    "fit_calibrator",
    "format_metrics",
    "fitted_features",
    "has_embeddings",
    "library_versions",
    "load_calibrator",
    "load_examples",
    "load_response",
    "log_loss",
    "normalized_entropy",
    "predict_response",
    "prepare_rows",
    "reliability_table",
    "roc_auc",
    "time_split",
    "train_response",
]
