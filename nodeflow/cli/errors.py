EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class CliError(Exception):
    """An error the CLI reports in one line, with its exit code (2: invalid input, nothing was run)."""

    def __init__(self, message: str, code: int = EXIT_INVALID):
        super().__init__(message)
        self.code = code
