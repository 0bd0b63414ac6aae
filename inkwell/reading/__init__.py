"""Reading (04_demo): lines found on pages, the demo reader, readings files, classic OCR and bulk OCR.

Lines found on a page as straight stages, one module each (:mod:`~inkwell.reading.lines`: find, clean, join, marks,
split, order, outline, kinds, cut; PP-OCR's detector or kraken's segmenter), an image taken as a line or a page
(:mod:`~inkwell.reading.pages`), scored against line ground truth (:mod:`~inkwell.reading.linescore`); the
classic-OCR baseline (:mod:`~inkwell.reading.baselines`); reading lines, pages and PDFs with a model
(:mod:`~inkwell.reading.demo`); ``readings.csv``, text and PAGE-XML (:mod:`~inkwell.reading.readings`); bulk OCR on
vLLM (:mod:`~inkwell.reading.bulk`).

Imports :mod:`inkwell.core`, :mod:`inkwell.models`, :mod:`inkwell.data` and :mod:`inkwell.evaluation`; never
:mod:`inkwell.training` (training and reading do not import each other).
"""
