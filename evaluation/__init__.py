"""Evaluation: the organizers' OCR scoring, reports, comparisons, ablation and scans.

The tools that load a network start TensorFlow; its C++ start-up chatter is silenced
here, before any of them imports Keras (an explicit TF_CPP_MIN_LOG_LEVEL wins).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
