"""Training shared by the methods that learn: a generic loop and atomic safetensors checkpoints."""
from labelspace.training.checkpoint import load_checkpoint, read_config, save_checkpoint
from labelspace.training.loop import TrainConfig, TrainResult, fit
from labelspace.training.select import grid_search

__all__ = ["TrainConfig", "TrainResult", "fit", "grid_search", "load_checkpoint", "read_config", "save_checkpoint"]
