"""Offline side: data split, model training, ONNX export, offline evaluation."""
