"""Rebuilding sohoa's Vietnamese OCR model from ``shared/data`` (see scripts/train_vie.sh)."""
