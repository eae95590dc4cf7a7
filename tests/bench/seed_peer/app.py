"""seed_peer/app.py — the seed's accept path, as a benchmark peer (tests/bench/bench_ingress.py).

What the seed's stack did for POST /api/{tenant}/chat, and nothing more: PyJWT RS256 verification
of the bearer token (the tenant claim must match the path), one asyncpg INSERT of the job row,
a confluent-kafka produce to the chat requests topic whose delivery report is awaited, 202 with
the job id. Run with Debian's python3-fastapi and python3-uvicorn (2 workers):

    SEED_PEER_DATABASE_URL=... SEED_PEER_KAFKA_BROKERS=... SEED_PEER_JWT_PUBLIC_KEY_FILE=... \\
      python3 -m uvicorn app:app --workers 2 --app-dir tests/bench/seed_peer --port PORT

Its table (seed_peer_jobs) is its own, made on start-up: the peer shares AgentHub's PostgreSQL
and broker but none of its schema. Bench only: no limits, no idempotency, no audit.
"""
import asyncio
import json
import os
import uuid

import asyncpg
import jwt
from confluent_kafka import Producer
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TOPIC = os.environ.get("SEED_PEER_TOPIC", "agenthub.chat.requests")
# Parsed once: jwt.decode() given the PEM text parses (and checks) the RSA key on every call,
# ~4 ms here against ~0.3 ms with the key object; the peer is not to be slowed by that.
with open(os.environ["SEED_PEER_JWT_PUBLIC_KEY_FILE"], "rb") as f:
    PUBLIC_KEY = serialization.load_pem_public_key(f.read())

app = FastAPI()
state = {}


async def _poll_loop(producer):
    """Delivery reports are served on the event loop's own thread (poll(0) every millisecond):
    a separate polling thread would take the GIL once per report and, while the loop is busy,
    wait out the interpreter's 5 ms switch interval each time."""
    while True:
        producer.poll(0)
        await asyncio.sleep(0.001)


@app.on_event("startup")
async def startup():
    state["pool"] = await asyncpg.create_pool(os.environ["SEED_PEER_DATABASE_URL"], min_size=4,
                                              max_size=int(os.environ.get("SEED_PEER_POOL", "16")))
    async with state["pool"].acquire() as c:
        try:
            await c.execute("CREATE TABLE IF NOT EXISTS seed_peer_jobs ("
                            " job_id uuid PRIMARY KEY, tenant_id text NOT NULL,"
                            " user_id text NOT NULL, message text NOT NULL,"
                            " status text NOT NULL DEFAULT 'queued',"
                            " created_at timestamptz NOT NULL DEFAULT now())")
        except asyncpg.UniqueViolationError:
            pass  # the other worker made it at the same moment
    state["producer"] = Producer({"bootstrap.servers": os.environ["SEED_PEER_KAFKA_BROKERS"],
                                  "acks": "all", "enable.idempotence": True})
    state["poller"] = asyncio.get_running_loop().create_task(_poll_loop(state["producer"]))


@app.on_event("shutdown")
async def shutdown():
    state["poller"].cancel()
    state["producer"].flush(5)
    await state["pool"].close()


def _error(status, code):
    return JSONResponse({"error": {"code": code}}, status_code=status)


async def _deliver(key, value):
    fut = asyncio.get_running_loop().create_future()

    def done(err, msg):  # on the loop's thread (_poll_loop)
        if fut.done():
            return
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(RuntimeError(str(err)))

    state["producer"].produce(TOPIC, key=key, value=value, on_delivery=done)
    await fut


@app.post("/api/{tenant}/chat", status_code=202)
async def chat(tenant: str, request: Request):
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return _error(401, "unauthorized")
    try:
        claims = jwt.decode(auth[7:], PUBLIC_KEY, algorithms=["RS256"])
    except jwt.PyJWTError:
        return _error(401, "unauthorized")
    if claims.get("tenant_id") != tenant:
        return _error(403, "forbidden")
    try:
        body = await request.json()
        message = body["message"]
        if not isinstance(message, str) or not message:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return _error(400, "invalid_request")
    job_id = uuid.uuid4()
    user = str(claims.get("sub", ""))
    async with state["pool"].acquire() as c:
        await c.execute("INSERT INTO seed_peer_jobs (job_id, tenant_id, user_id, message)"
                        " VALUES ($1, $2, $3, $4)", job_id, tenant, user, message)
    payload = json.dumps({"job_id": str(job_id), "tenant_id": tenant, "user_id": user,
                          "message": message}).encode()
    try:
        await _deliver(str(job_id).encode(), payload)
    except RuntimeError:
        return _error(503, "unavailable")
    return {"job_id": str(job_id), "status": "queued"}
