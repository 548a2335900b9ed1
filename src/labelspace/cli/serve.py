"""``serve``: the web page and HTTP API (``labelspace.serve``)."""
from __future__ import annotations

from typing import List

import typer

from labelspace.cli import DEVICE, PRECISION, app


@app.command()
def serve(
    model: List[str] = typer.Option([], "--model", "-m",
                                    help="Method spec to load (labelspace list: conse:IMAGE+TEXT, clip:MODEL, "
                                    "devise:FOLDER, ...); repeat for several, the first is the default "
                                    "[default: conse:efficientnet-lite0+glove-6b-50d]."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=1, help="Inference threads."),
    queue: int = typer.Option(16, min=0, help="Requests that may wait for a worker; more are answered 503."),
    device: str = DEVICE, precision: str = PRECISION,
):
    """Serve the zero-shot web page and HTTP API (POST /classify, GET /models, GET /healthz)."""
    import uvicorn

    from labelspace.serve import DEFAULT_MODEL, create_app
    from labelspace.serve.run import server_config

    model = model or [DEFAULT_MODEL]
    typer.echo(f"loading {', '.join(model)} ...", err=True)
    app = create_app(model, workers=workers, queue=queue, device=device, precision=precision)
    uvicorn.Server(server_config(app, host, port, log_level="info")).run()
