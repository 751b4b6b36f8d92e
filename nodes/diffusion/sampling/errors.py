"""The one error the sampling code raises on purpose: bad input, naming the KSampler input that caused it."""


class SamplingInputError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
