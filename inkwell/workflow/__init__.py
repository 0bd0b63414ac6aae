"""The notebooks' steps: short functions the cells call, parameter checks, the command line, learning curves.

Notebook-level steps (:mod:`~inkwell.workflow.steps`), the parameters checked before anything loads
(:mod:`~inkwell.workflow.validate`), a notebook's ``parameters`` cell on the command line
(:mod:`~inkwell.workflow.cli`) and learning curves (:mod:`~inkwell.workflow.curve`).

The top stage: imports every other stage.
"""
