"""The HTTP faces: each registers its routes and turns requests into storage calls."""


class Face:
    """What every face is built from: the application's backend and
    configuration. A face adds ``register(router)`` and its handlers."""

    def __init__(self, app) -> None:
        self.app = app
        self.backend = app.backend
        self.config = app.config
