"""Reading (04_demo): lines found on pages, the demo reader, readings files, classic OCR and bulk OCR.

Box geometry and cleanup (:mod:`~inkwell.reading.layout`) and page mode with PP-OCR's detector
(:mod:`~inkwell.reading.pages`), scored against line ground truth (:mod:`~inkwell.reading.linescore`); the
classic-OCR baseline (:mod:`~inkwell.reading.baselines`); reading lines, pages and PDFs with a model
(:mod:`~inkwell.reading.demo`); ``readings.csv``, text and PAGE-XML (:mod:`~inkwell.reading.readings`); bulk OCR on
vLLM (:mod:`~inkwell.reading.bulk`).

Imports :mod:`inkwell.core`, :mod:`inkwell.models`, :mod:`inkwell.data` and :mod:`inkwell.evaluation`; never
:mod:`inkwell.training` (training and reading do not import each other).
"""
