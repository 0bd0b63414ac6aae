"""Training (02_finetune): the trainer, its validation check, several processes, pre-flight and merged export.

LoRA training with TRL's ``SFTTrainer`` into ``adapters/<run>/`` (:mod:`~inkwell.training.train`), the periodic
validation CER and early stopping (:mod:`~inkwell.training.monitor`), torchrun/accelerate ranks
(:mod:`~inkwell.training.distributed`), the machine and memory check before loading
(:mod:`~inkwell.training.preflight`) and a merged checkpoint with a parity check (:mod:`~inkwell.training.export`).

Imports :mod:`inkwell.core`, :mod:`inkwell.models`, :mod:`inkwell.data` and :mod:`inkwell.evaluation`.
"""
