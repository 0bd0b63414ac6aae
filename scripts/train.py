"""Train an adapter headless: 02_finetune's steps, with its parameters, in one process or several.

The defaults are 02_finetune's own ``parameters`` cell; ``-p NAME VALUE`` changes one (values are
Python literals where they parse as one, as with papermill's ``-p``). The steps are the notebook's:
check the parameters, load the data, pick the run folder, pre-flight, load the model, attach LoRA,
train with validation, check the saved adapter on validation lines. The run lands in
``adapters/<run_name>/`` exactly as the notebook writes it.

    python scripts/train.py -p model_name data/models/tiny -p dataset_name synthetic -p max_steps 6
    torchrun --nproc_per_node 4 scripts/train.py -p batch_size 2 -p grad_accum 2 ...   # DDP, one machine
    accelerate launch --multi_gpu --num_processes 2 scripts/train.py -p ...             # the same through accelerate
    python scripts/train.py --help                                                       # every parameter

With several processes each one trains on ``batch_size`` lines of every step (effective batch
``batch_size x grad_accum x processes``, recorded in run.json's metrics); only the main process
(rank 0) prints and writes the run folder.
On CPUs the processes use gloo (``accelerate launch --multi_gpu`` works there too: without
a GPU it starts CPU processes; ``--cpu --num_processes 2`` starts a single process).
"""

from __future__ import annotations

import sys

import helpers

NOTEBOOK = "02_finetune"


def main(argv: list[str] | None = None) -> int:
    """Run 02_finetune's steps with the parameters on the command line; return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__ + f"\nParameters ({NOTEBOOK}'s parameters cell):\n\n" + helpers.describe_parameters(NOTEBOOK))
        return 0
    parameters = helpers.parse_overrides(args, helpers.notebook_parameters(NOTEBOOK))
    main_process = helpers.is_main_process()

    def say(text: object) -> None:
        if main_process and str(text):
            print(text, flush=True)

    # 02_finetune, cell "parameters" + the cell after it
    family = helpers.check_finetune_parameters(parameters)
    data = helpers.load_processed(parameters["dataset_name"])
    train = helpers.take_lines(data["train"], parameters["max_train_lines"])
    resume = parameters["resume"]
    resume_run = helpers.find_interrupted(resume) if resume else None
    run_dir = resume_run.path.with_name(resume_run.name) if resume_run else helpers.new_run_dir(parameters["run_name"])
    lora = helpers.LoraSettings.from_parameters(parameters)
    settings = helpers.TrainSettings.from_parameters(parameters)
    say(f"{family} model, {len(train)} training lines -> {run_dir}" + (" (resumed)" if resume_run else ""))
    say(helpers.describe_interrupted())
    # pre-flight, load the base model
    say(helpers.preflight(parameters).text())
    loaded = helpers.load_model(parameters["model_name"], load_in_4bit=parameters["load_in_4bit"],
                                backend=parameters["backend"], trust_remote_code=parameters["trust_remote_code"])
    say(loaded.describe())
    # attach LoRA and train
    helpers.add_lora(loaded, lora)
    result = helpers.train_adapter(loaded, train, settings, run_dir, lora=lora, parameters=parameters,
                                   dataset=helpers.dataset_info(parameters["dataset_name"], data),
                                   validation=data["validation"], resume=resume_run)
    say(helpers.describe_training(result))
    # quick check on validation lines (the main process; it adds the scores to run.json)
    check = helpers.quick_validation(loaded, data["validation"], parameters["eval_lines"], settings, result.run_dir)
    say(check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
