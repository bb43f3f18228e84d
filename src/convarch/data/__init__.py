"""Datasets (image folders, built-in real data) and the preprocessing that fits them to a model."""

from convarch.data.builtin import BUILTIN, TensorImages
from convarch.data.datasets import DataBundle, Side, load_data
from convarch.data.preprocess import Preprocessing, model_preprocessing

__all__ = ["BUILTIN", "DataBundle", "Preprocessing", "Side", "TensorImages", "load_data", "model_preprocessing"]
