"""Evaluation: the organizers' OCR scoring, run_all_steps, reports, comparisons and figures.

The tools that load a network import Keras through :func:`hdc.keras_import.import_keras`,
which keeps TensorFlow's start-up lines quiet (``TF_CPP_MIN_LOG_LEVEL``, default 3).
"""
