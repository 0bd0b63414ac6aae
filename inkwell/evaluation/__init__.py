"""Evaluation (03_evaluate): line scores, bootstrap intervals, evaluation folders, comparison.csv, alignment.

CER/WER per line and per system with paired bootstrap intervals, ``predictions.csv``, ``metrics.json`` and the
shared ``comparison.csv`` (:mod:`~inkwell.evaluation.evaluate`), and the character alignment behind the diffs
(:mod:`~inkwell.evaluation.align`).

Imports :mod:`inkwell.core` and :mod:`inkwell.models` (run records). It sits below training because training's
validation check scores lines with these same functions.
"""
