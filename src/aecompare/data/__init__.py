"""Data: sources (generated, embedded, files), the one-class split and input scaling."""

from aecompare.data.preprocessing import Scaler
from aecompare.data.sources import (
    DATA_ENV,
    SOURCES,
    Dataset,
    available_datasets,
    load_dataset,
    resolve_data_dir,
)
from aecompare.data.split import OneClassSplit, one_class_split

__all__ = [
    "DATA_ENV",
    "SOURCES",
    "Dataset",
    "OneClassSplit",
    "Scaler",
    "available_datasets",
    "load_dataset",
    "one_class_split",
    "resolve_data_dir",
]
