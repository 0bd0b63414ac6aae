"""Inkwell: teach a vision-language model to read one person's handwriting.

The modules follow the pipeline; lower layers never import higher ones.

* bottom: :mod:`~inkwell.paths`, :mod:`~inkwell.families`, :mod:`~inkwell.images`;
* middle: :mod:`~inkwell.formats`, :mod:`~inkwell.data`, :mod:`~inkwell.synth`,
  :mod:`~inkwell.tiny`, :mod:`~inkwell.model`, :mod:`~inkwell.prompt`,
  :mod:`~inkwell.train`, :mod:`~inkwell.decode`, :mod:`~inkwell.evaluate`,
  :mod:`~inkwell.align`, :mod:`~inkwell.runs`;
* top: :mod:`~inkwell.render`, :mod:`~inkwell.plots`, :mod:`~inkwell.widgets`,
  :mod:`~inkwell.workflow`.

The notebooks do not import this package directly: ``helpers.py`` beside them is
their face over it. Importing the package imports nothing else, so it stays cheap.
"""

__version__ = "0.1.0"
