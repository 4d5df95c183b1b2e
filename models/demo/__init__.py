"""The bundled demo tasks: their data, their training code and their weights (weights/)."""
import pathlib

WEIGHTS_DIR = pathlib.Path(__file__).resolve().parent / "weights"  # demo checkpoints: <name>.safetensors + <name>.json
