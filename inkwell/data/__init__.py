"""Data in (01_data): label formats, image checks, input scans, the processed data set and its splits.

Label formats behind one face (:mod:`~inkwell.data.formats`), image opening and checks (:mod:`~inkwell.data.images`),
scans and PDFs to read (:mod:`~inkwell.data.sources`), the processed ``DatasetDict`` with its report
(:mod:`~inkwell.data.dataset`), grouped splits (:mod:`~inkwell.data.splits`), synthetic lines
(:mod:`~inkwell.data.synth`) and corrected readings turned into training folders (:mod:`~inkwell.data.corrections`).

Imports :mod:`inkwell.core` and :mod:`inkwell.models` (the family table's limits).
"""
