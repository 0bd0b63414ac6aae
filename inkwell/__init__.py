"""Inkwell: teach a vision-language model to read one person's handwriting.

The package is cut by stage of the pipeline, one subpackage each, lowest first; a stage imports only its own
modules and the stages below it (``tests/test_architecture.py`` checks it):

* :mod:`inkwell.core`: paths, locked writes, CSV safety, quiet logging, progress, the locked stack;
* :mod:`inkwell.models`: model families, loading, prompt and collator, decoding, run records;
* :mod:`inkwell.data`: data in (formats, images, scans, the processed set, splits, synthetic lines);
* :mod:`inkwell.evaluation`: scores, evaluation folders, comparison.csv, alignment;
* :mod:`inkwell.training`: the trainer, its validation check, several processes, pre-flight, export;
* :mod:`inkwell.reading`: page mode, the demo reader, readings, classic and bulk OCR;
* :mod:`inkwell.views`: HTML, figures, widgets;
* :mod:`inkwell.workflow`: the notebooks' steps, parameter checks, the command line, learning curves.

The notebooks do not import this package directly: ``helpers.py`` beside them is
their face over it. Importing the package imports nothing else, so it stays cheap.
"""

__version__ = "0.1.0"
