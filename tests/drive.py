"""Run a task's steps in this process, one after the other, ignoring their delays — for tests of the
services' logic. (The end-to-end tests run the same steps through real workers.)"""

from imagetasks import services


def drive(task_id: str, *, max_steps: int = 100) -> list[services.NextStep]:
    steps = []
    step = services.task_process(task_id=task_id)
    while step is not None and len(steps) < max_steps:
        steps.append(step)
        if step.action == "poll":
            step = services.task_poll(task_id=task_id, seq=step.seq)
        elif step.action == "store":
            step = services.task_store(task_id=task_id, seq=step.seq, payload=step.payload)
        else:
            step = services.task_process(task_id=task_id)
    return steps
