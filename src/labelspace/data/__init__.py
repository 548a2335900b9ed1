"""Datasets and the on-disk feature cache."""
from labelspace.data.datasets import (
    ArrayImages,
    FileImages,
    ImageDataset,
    bundled_photos,
    csv_images,
    fashion_mnist,
    image_folder,
    load_dataset,
    synthetic,
)
from labelspace.data import captions, eval_sets, native  # noqa: F401  (they register datasets and caption sources)
from labelspace.data.features import Features, extract_features

__all__ = [
    "ArrayImages", "FileImages", "ImageDataset", "Features", "bundled_photos", "csv_images",
    "extract_features", "fashion_mnist", "image_folder", "load_dataset", "synthetic",
]
