"""Attention captured from models as plain data: timm ViT and Swin runs, one head recomputed step by step."""
