"""How a task reads, in one place: the API's answers, webhooks, server-sent events and the admin all
show a task through these functions."""

from jimeng_server.api import timestamp

from .kinds import kind_get
from .models import ImageTask, Status
from .selectors import queue_place
from .storage import file_url

STATUS_MESSAGES = {
    Status.PENDING: "任务排队中，请稍后查询",
    Status.PROCESSING: "任务处理中，请稍后查询",
    Status.COMPLETED: "任务已完成",
    Status.CANCELED: "任务已取消",
}
CREATED_MESSAGE = "任务已创建，正在处理中"


def task_result(task: ImageTask, request=None) -> dict | None:
    """A completed task's result as its kind reads it; once its files expired, says so. A running set
    shows the images it has kept so far."""
    if not task.result or task.status not in (Status.COMPLETED, Status.PROCESSING):
        return None
    kind = kind_get(task.kind)
    if task.status == Status.PROCESSING:
        if not task.result.get("images") or task.result.get("attempt") != task.attempts:
            return None
        return kind.result_answer(task.result, lambda name: file_url(name, request))
    if task.files_expired_at is not None:
        what = kind.output
        return {
            f"{what[:-1]}_url": None,
            what: [],
            "expired": True,
            "expired_at": timestamp(task.files_expired_at),
            "message": f"The {what} expired: they were deleted at the end of the retention period.",
        }
    return kind.result_answer(task.result, lambda name: file_url(name, request))


def task_message(task: ImageTask) -> str:
    if task.status == Status.FAILED:
        return task.error_message or "任务失败"
    return STATUS_MESSAGES[task.status]


def task_summary(task: ImageTask, request=None) -> dict:
    """What the polling endpoint answers: the seed's fields, and the result once there is one."""
    data = {
        "task_id": task.id,
        "type": task.kind,
        "status": task.status,
        "message": task_message(task),
        "provider": task.provider,
    }
    result = task_result(task, request)
    if result is not None:
        data["result"] = result
    if task.status == Status.FAILED:
        data["error"] = {"code": task.error_code, "message": task.error_message}
    if task.status == Status.PENDING:
        data.update(queue_place(task) or {})  # where it stands in line, and when it should start
    return data


def task_detail(task: ImageTask, request=None) -> dict:
    """Everything a client may see about its task."""
    return {
        **task_summary(task, request),
        "user_id": task.user_id,
        "external_task_id": task.external_task_id or None,
        "webhook_url": task.webhook_url or None,
        "model": task.model,
        "prompt": task.prompt,
        "params": task.params,
        "upstream_task_id": task.upstream_task_id or None,
        "attempts": task.attempts,
        "created_at": timestamp(task.created_at),
        "started_at": timestamp(task.started_at),
        "finished_at": timestamp(task.finished_at),
        "updated_at": timestamp(task.updated_at),
    }
