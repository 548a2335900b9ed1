"""Training shared by the methods that learn: a generic loop and atomic safetensors checkpoints."""
from labelspace.training.checkpoint import load_checkpoint, read_config, save_checkpoint
from labelspace.training.loop import TrainConfig, TrainResult, fit

__all__ = ["TrainConfig", "TrainResult", "fit", "load_checkpoint", "read_config", "save_checkpoint"]
