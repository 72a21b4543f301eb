"""The Flask side of the example: POST /sum or /downsample queues a task, GET /result/<id>.

    SHMQ_BROKER_URL=shmq:// flask --app app run --without-threads   (or amqp://guest@127.0.0.1//)

rpc:// sends a result to the thread that queued the task, once: serve from one thread.
    curl -X POST -H 'Content-Type: application/json' -d '{"numbers": [1, 2, 3]}' \\
         http://127.0.0.1:5000/sum
    curl http://127.0.0.1:5000/result/<id>
"""
from celery.result import AsyncResult
from flask import Flask, jsonify, request

from tasks import app as celery_app
from tasks import downsample, total

app = Flask(__name__)


def bad(message):
    return jsonify(error=message), 400


@app.post("/sum")
def post_sum():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("numbers"), list) or \
            not all(isinstance(n, (int, float)) and not isinstance(n, bool)
                    for n in body["numbers"]):
        return bad('expected JSON {"numbers": [1, 2, ...]}')
    return jsonify(id=total.delay(body["numbers"]).id), 202


@app.post("/downsample")
def post_downsample():
    body = request.get_json(silent=True)
    try:
        pixels, width, factor = body["pixels"], int(body["width"]), int(body.get("factor", 2))
        if not all(isinstance(p, int) and 0 <= p <= 255 for p in pixels):
            raise ValueError
        if width <= 0 or factor <= 0 or len(pixels) % width:
            raise ValueError
    except (TypeError, KeyError, ValueError):
        return bad('expected JSON {"pixels": [0..255, ...], "width": W, "factor": F}')
    return jsonify(id=downsample.delay(pixels, width, factor).id), 202


@app.get("/result/<task_id>")
def get_result(task_id):
    """The task's state; with ?wait=SECONDS, wait that long for it to finish."""
    res = AsyncResult(task_id, app=celery_app)
    wait = request.args.get("wait", type=float)
    if wait:
        try:
            res.get(timeout=wait, propagate=False)
        except Exception:  # noqa: BLE001  a timeout: report the state as it is
            pass
    if res.successful():
        return jsonify(id=task_id, state=res.state, result=res.result)
    if res.failed():
        return jsonify(id=task_id, state=res.state, error=str(res.result)), 500
    return jsonify(id=task_id, state=res.state), 202
