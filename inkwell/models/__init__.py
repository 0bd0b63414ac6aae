"""Models: the family table, loading on both backends, prompt and collator, decoding, and the run records.

One entry per model family (:mod:`~inkwell.models.families`), published sizes and tiny random-weight models built
offline (:mod:`~inkwell.models.published`, :mod:`~inkwell.models.tiny`), loading with Unsloth or transformers + PEFT
and one 4-bit layout (:mod:`~inkwell.models.loading`, :mod:`~inkwell.models.quantization`,
:mod:`~inkwell.models.unsloth_backend`), the prompt, image fitting and collator (:mod:`~inkwell.models.prompt`),
greedy decoding with a confidence per line (:mod:`~inkwell.models.decode`), what the model sees of a line
(:mod:`~inkwell.models.view`), and ``run.json`` with finding and picking runs (:mod:`~inkwell.models.runs`).

Imports :mod:`inkwell.core` only. It sits below data in: 01_data fits lines to the strictest limit of the family
table, and nothing here reads a data set.
"""
