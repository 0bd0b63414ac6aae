"""Views: HTML, figures and widgets built from what the other stages return.

HTML for samples, diffs, tables and pages (:mod:`~inkwell.views.render`), matplotlib figures
(:mod:`~inkwell.views.plots`), the inspector and the upload box (:mod:`~inkwell.views.widgets`) and the corrector
(:mod:`~inkwell.views.corrector`, its line editor :mod:`~inkwell.views.editor`). Every widget has a static HTML
copy for saved notebooks.

Imports every lower stage; nothing below imports it.
"""
