"""The peer: the same two routes on FastAPI, written the way the original design had them (bench
only; never a runtime dependency). Plain FastAPI: response models validate the output, uvicorn's
own access log is the per-request line. It does less than the Flask service (no request id, no
check for unknown query parameters, a plain-text log line), so the comparison is, if anything,
tilted towards the peer."""

from fastapi import FastAPI
from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str


class Prediction(BaseModel):
    score: float = Field(ge=0, le=1)


app = FastAPI(title="Predict API (FastAPI peer)")


@app.get("/health", response_model=Health)
async def health() -> Health:
    return Health(status="ok")


@app.get("/predict", response_model=Prediction)
async def predict() -> Prediction:
    return Prediction(score=0.75)
