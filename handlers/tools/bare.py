"""The bench's baseline: a bare Flask endpoint served the same way as the real app."""

from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/wechat")
def wechat():
    """Read the body and answer `success`, nothing else."""
    request.get_data()
    return Response("success", mimetype="text/plain")
