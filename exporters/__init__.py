"""Exporters: PyTorch checkpoints to the formats the daemon runs (CTranslate2, ONNX).

Only this package needs torch (``pip install .[export]``); the daemon (``telephrase``) loads
what it writes through the model registry and never imports torch.  Every exporter verifies
its output against the PyTorch original and writes a registry entry, so the daemon can load
the result by name.
"""
