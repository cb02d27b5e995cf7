"""Training scripts for the learned components (run as ``python -m sparsecodec.training.X``)."""
