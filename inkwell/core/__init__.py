"""Shared basics at the bottom of every stage: where files live and how they are written.

The project's paths and file-layout rules, locked and atomic writes (:mod:`~inkwell.core.paths`), CSV cells made
safe for spreadsheets (:mod:`~inkwell.core.csvsafe`), quiet logging (:mod:`~inkwell.core.quiet`), progress bars
(:mod:`~inkwell.core.progress`), the locked stack (:mod:`~inkwell.core.stack`) and git's view of saved notebooks
(:mod:`~inkwell.core.notebook_git`).

Imports nothing from the other stages.
"""
